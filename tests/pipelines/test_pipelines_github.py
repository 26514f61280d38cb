"""RunLookup against the GitHub fake, over real HTTP: states, one call per run, ETags, limits."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from reaper.pipelines import (
    GithubSource,
    RunLookup,
    RunRef,
    RunState,
    RunStatus,
    UnknownReason,
)
from reaper.pipelines.github import GithubApi
from reaper.sandbox.ci import GET_ATTEMPT, GET_RUN, FakeClock, FakeGithub

TOKEN = "ghp_fakeFAKEfake0123456789abcdefABCDEF01"
REPO = "acme/app"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGithub]:
    with FakeGithub(clock=clock) as fake:
        fake.grant(TOKEN, REPO)
        yield fake


def lookup_for(
    github: FakeGithub,
    clock: FakeClock,
    *,
    environ: dict[str, str] | None = None,
    repository: str = REPO,
    **options: Any,
) -> RunLookup:
    return RunLookup(
        {"app": GithubSource(repository, "GH_TOKEN", github.url)},
        environ={"GH_TOKEN": TOKEN} if environ is None else environ,
        clock=clock,
        sleep=clock.sleep,
        **options,
    )


def refs(*run_ids: int) -> list[RunRef]:
    return [RunRef("app", run_id) for run_id in run_ids]


def test_runs_are_active_finished_or_unknown(github: FakeGithub, clock: FakeClock) -> None:
    finished_at = clock.now() - timedelta(minutes=3)
    github.add_run(REPO, 1)
    github.add_run(REPO, 2, status="completed", conclusion="cancelled", updated_at=finished_at)
    github.add_run(REPO, 3, status="waiting")
    github.add_run(REPO, 4)
    github.delete_run(REPO, 4)

    result = lookup_for(github, clock).lookup(refs(1, 2, 3, 4))

    assert result[RunRef("app", 1)] == RunStatus.active("in_progress")
    assert result[RunRef("app", 2)] == RunStatus.finished(finished_at, "completed (cancelled)")
    assert result[RunRef("app", 3)].state is RunState.ACTIVE
    deleted = result[RunRef("app", 4)]
    assert (deleted.state, deleted.reason) == (RunState.UNKNOWN, UnknownReason.NOT_FOUND)
    assert deleted.detail == "HTTP 404: Not Found"


def test_many_resources_of_one_run_cost_one_request(github: FakeGithub, clock: FakeClock) -> None:
    for run_id in (1, 2, 3):
        github.add_run(REPO, run_id)
    resources = [RunRef.parse("app", str(run_id)) for run_id in (1, 2, 3) for _ in range(40)]

    result = lookup_for(github, clock).lookup(resources)

    assert len(result.statuses) == 3
    assert result.stats.runs == 3
    assert result.stats.requests == 3
    assert sorted(r.path for r in github.requests()) == [
        f"/repos/{REPO}/actions/runs/{run_id}" for run_id in (1, 2, 3)
    ]


def test_an_attempt_suffix_asks_for_that_attempt(github: FakeGithub, clock: FakeClock) -> None:
    github.add_run(REPO, 4711)
    github.finish_run(REPO, 4711, at=clock.now(), conclusion="failure")
    clock.advance(120)
    github.rerun(REPO, 4711)

    result = lookup_for(github, clock).lookup(
        [RunRef.parse("app", "4711-1"), RunRef.parse("app", "4711-2"), RunRef("app", 4711)]
    )

    assert result[RunRef("app", 4711, 1)].state is RunState.FINISHED
    assert result[RunRef("app", 4711, 2)] == RunStatus.active("queued")
    assert result[RunRef("app", 4711)] == RunStatus.active("queued"), "the latest attempt"
    assert sorted(r.path for r in github.requests(GET_ATTEMPT)) == [
        f"/repos/{REPO}/actions/runs/4711/attempts/1",
        f"/repos/{REPO}/actions/runs/4711/attempts/2",
    ]
    assert github.stats().requests == {GET_RUN: 1, GET_ATTEMPT: 2}


@pytest.mark.parametrize(
    ("environ", "detail"),
    [
        pytest.param({}, "GH_TOKEN is not set", id="unset"),
        pytest.param({"GH_TOKEN": ""}, "GH_TOKEN is not set", id="empty"),
    ],
)
def test_without_a_token_nothing_is_sent(
    github: FakeGithub, clock: FakeClock, environ: dict[str, str], detail: str
) -> None:
    github.add_run(REPO, 1)

    result = lookup_for(github, clock, environ=environ).lookup(refs(1))

    status = result[RunRef("app", 1)]
    assert status.reason is UnknownReason.NO_TOKEN
    assert detail in status.detail
    assert github.stats().total == 0


def test_an_unconfigured_alias_is_unknown_and_names_the_configured_ones(
    github: FakeGithub, clock: FakeClock
) -> None:
    result = lookup_for(github, clock).lookup([RunRef("infra", 1)])

    status = result[RunRef("infra", 1)]
    assert status.reason is UnknownReason.UNCONFIGURED_SOURCE
    assert status.detail == "no source 'infra' is configured (configured: app)"
    assert github.stats().total == 0


def test_a_refused_token_is_tried_once_per_sweep(github: FakeGithub, clock: FakeClock) -> None:
    github.revoke(TOKEN)
    lookup = lookup_for(github, clock, max_workers=1)

    result = lookup.lookup(refs(1, 2, 3))

    assert result[RunRef("app", 1)].detail == "HTTP 401: Bad credentials"
    assert result.stats.unknown_reasons == {UnknownReason.UNAUTHORIZED: 3}
    assert "refused earlier in this sweep" in result[RunRef("app", 3)].detail
    assert github.stats().total == 1
    github.grant(TOKEN, REPO)
    github.add_run(REPO, 1)
    assert lookup.lookup(refs(1))[RunRef("app", 1)].state is RunState.ACTIVE, "next sweep asks"


def test_a_repository_the_token_cannot_see_is_not_found(
    github: FakeGithub, clock: FakeClock
) -> None:
    github.add_run("acme/secret", 1)
    status = lookup_for(github, clock, repository="acme/secret").lookup(refs(1))[RunRef("app", 1)]
    assert status.reason is UnknownReason.NOT_FOUND


def test_a_server_error_is_unknown_and_not_retried(github: FakeGithub, clock: FakeClock) -> None:
    github.add_run(REPO, 1)
    github.inject_error(502, "Server Error")

    status = lookup_for(github, clock).lookup(refs(1))[RunRef("app", 1)]

    assert (status.reason, status.detail) == (UnknownReason.API_ERROR, "HTTP 502: Server Error")
    assert github.stats().total == 1


@pytest.mark.parametrize("weak", [True, False], ids=["weak-etags", "strong-etags"])
def test_the_second_sweep_asks_conditionally_and_304s_are_free(
    clock: FakeClock, weak: bool
) -> None:
    with FakeGithub(clock=clock, weak_etags=weak) as github:
        github.grant(TOKEN, REPO)
        github.add_run(REPO, 1)
        github.add_run(REPO, 2, status="completed", conclusion="success", updated_at=clock.now())
        lookup = lookup_for(github, clock)
        first = lookup.lookup(refs(1, 2))
        remaining = github.rate_limit.remaining

        second = lookup.lookup(refs(1, 2))

        assert second.statuses == {
            ref: RunStatus(s.state, s.finished_at, s.reason, f"{s.detail} (not modified)")
            for ref, s in first.statuses.items()
        }
        assert (second.stats.requests, second.stats.not_modified) == (2, 2)
        assert github.stats().not_modified == 2
        assert all(r.conditional for r in github.requests()[2:])
        assert github.rate_limit.remaining == remaining, "304s cost GitHub's budget nothing"
        assert lookup.totals.requests == 4
        assert lookup.totals.not_modified == 2
        assert lookup.cached_runs == 2


def test_a_run_that_changed_is_read_afresh(github: FakeGithub, clock: FakeClock) -> None:
    github.add_run(REPO, 1)
    lookup = lookup_for(github, clock)
    assert lookup.lookup(refs(1))[RunRef("app", 1)].state is RunState.ACTIVE
    github.finish_run(REPO, 1, at=clock.now() + timedelta(minutes=1))

    second = lookup.lookup(refs(1))

    assert second[RunRef("app", 1)].finished_at == clock.now() + timedelta(minutes=1)
    assert second.stats.not_modified == 0
    assert [r.status for r in github.requests()] == [200, 200]


def test_a_deleted_run_loses_its_cached_answer(github: FakeGithub, clock: FakeClock) -> None:
    github.add_run(REPO, 1)
    lookup = lookup_for(github, clock)
    lookup.lookup(refs(1))
    github.delete_run(REPO, 1)

    assert lookup.lookup(refs(1))[RunRef("app", 1)].reason is UnknownReason.NOT_FOUND
    assert lookup.cached_runs == 0


def test_no_request_is_sent_once_the_primary_budget_is_spent(
    github: FakeGithub, clock: FakeClock
) -> None:
    for run_id in range(1, 6):
        github.add_run(REPO, run_id)
    github.set_rate_limit(limit=100, remaining=3, reset_at=clock() + 1800)
    lookup = lookup_for(github, clock, max_workers=4, max_wait=60)

    first = lookup.lookup(refs(1, 2, 3, 4, 5))

    assert first.stats.requests == 3
    assert [r.status for r in github.requests()] == [200, 200, 200], "no 403 was provoked"
    assert first.stats.unknown_reasons == {UnknownReason.RATE_LIMITED: 2}
    assert first.stats.states[RunState.ACTIVE] == 3
    assert clock.sleeps == (), "the reset is past the wait bound: nobody slept"

    clock.advance(600)
    assert lookup.lookup(refs(1, 2)).stats.requests == 0, "still the same window"

    clock.advance(1200)
    after_reset = lookup.lookup(refs(1, 2, 3, 4, 5))
    assert after_reset.stats.requests == 5
    assert after_reset.stats.unknown == 0


def test_a_reset_within_the_bound_is_waited_for(github: FakeGithub, clock: FakeClock) -> None:
    for run_id in range(1, 4):
        github.add_run(REPO, run_id)
    github.set_rate_limit(limit=100, remaining=1, reset_at=clock() + 20)
    lookup = lookup_for(github, clock, max_workers=1, max_wait=60)

    result = lookup.lookup(refs(1, 2, 3))

    assert result.stats.unknown == 0
    assert clock.sleeps == (20.0,)
    assert result.stats.waited_seconds == 20.0
    assert [r.status for r in github.requests()] == [200, 200, 200]
    assert [r.at for r in github.requests()][1:] == [clock() for _ in range(2)]


def test_a_budget_found_spent_by_a_403_stops_the_sweep(
    github: FakeGithub, clock: FakeClock
) -> None:
    for run_id in range(1, 5):
        github.add_run(REPO, run_id)
    github.set_rate_limit(limit=100, remaining=0, reset_at=clock() + 3000)

    result = lookup_for(github, clock, max_workers=1, max_wait=30).lookup(refs(1, 2, 3, 4))

    assert result.stats.requests == 1
    assert result.stats.throttled == 1
    assert result.stats.unknown_reasons == {UnknownReason.RATE_LIMITED: 4}
    assert github.stats().by_status == {403: 1}


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_within_the_bound_is_waited_out_and_retried(
    github: FakeGithub, clock: FakeClock, status: int
) -> None:
    github.add_run(REPO, 1)
    github.add_run(REPO, 2)
    github.inject_secondary_limit(times=1, retry_after=7, status=status)

    result = lookup_for(github, clock, max_workers=1, max_wait=30).lookup(refs(1, 2))

    assert result.stats.unknown == 0
    assert result.stats.throttled == 1
    assert clock.sleeps == (7.0,)
    assert [r.status for r in github.requests()] == [status, 200, 200]
    assert github.requests()[1].at == github.requests()[0].at + 7


def test_a_secondary_limit_past_the_bound_sends_nothing_more(
    github: FakeGithub, clock: FakeClock
) -> None:
    for run_id in range(1, 4):
        github.add_run(REPO, run_id)
    github.inject_secondary_limit(times=1, retry_after=120)

    result = lookup_for(github, clock, max_workers=1, max_wait=30).lookup(refs(1, 2, 3))

    assert result.stats.unknown_reasons == {UnknownReason.RATE_LIMITED: 3}
    assert github.stats().total == 1
    assert clock.sleeps == ()
    assert "120s" in result[RunRef("app", 1)].detail


def test_a_secondary_limit_without_retry_after_waits_a_minute(
    github: FakeGithub, clock: FakeClock
) -> None:
    github.add_run(REPO, 1)
    github.inject_secondary_limit(times=1, retry_after=None)

    result = lookup_for(github, clock, max_wait=90).lookup(refs(1))

    assert result[RunRef("app", 1)].state is RunState.ACTIVE
    assert clock.sleeps == (60.0,)


def test_repeated_throttles_give_up_after_max_attempts(
    github: FakeGithub, clock: FakeClock
) -> None:
    github.add_run(REPO, 1)
    github.inject_secondary_limit(times=5, retry_after=1)

    result = lookup_for(github, clock, max_attempts=3, max_wait=60).lookup(refs(1))

    assert result[RunRef("app", 1)].reason is UnknownReason.RATE_LIMITED
    assert github.stats().total == 3


def test_lookups_run_concurrently_within_the_worker_bound(clock: FakeClock) -> None:
    with FakeGithub(clock=clock, latency=0.1) as github:
        github.grant(TOKEN, REPO)
        for run_id in range(1, 13):
            github.add_run(REPO, run_id)

        result = lookup_for(github, clock, max_workers=3).lookup(refs(*range(1, 13)))

        assert result.stats.requests == 12
        assert 2 <= github.stats().peak_in_flight <= 3


def test_an_unknown_run_is_logged_once_per_sweep(
    github: FakeGithub, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    github.add_run(REPO, 1)
    lookup = lookup_for(github, clock)
    resources = [RunRef("app", 404)] * 25 + [RunRef("app", 1)] * 25

    with caplog.at_level(logging.INFO, logger="reaper.pipelines"):
        lookup.lookup(resources)
        lookup.lookup(resources)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        warnings
        == ["pipeline run state unknown run=app/404 reason=not-found: HTTP 404: Not Found"] * 2
    )
    summaries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert summaries[-1] == (
        "pipeline lookups runs=2 finished=0 active=1 unknown=1 requests=2 "
        "not_modified=1 throttled=0 waited=0.0s"
    )


def test_a_bug_reading_one_answer_costs_that_run_not_the_sweep(
    github: FakeGithub, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for run_id in (1, 2, 3):
        github.add_run(REPO, run_id)
    calls: list[int] = []
    original = GithubApi.throttle

    def throttle_failing_once(self: GithubApi, answer: Any, now: float) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return original(self, answer, now)

    monkeypatch.setattr(GithubApi, "throttle", throttle_failing_once)
    started = time.monotonic()

    result = lookup_for(github, clock, max_workers=3).lookup(refs(1, 2, 3))

    assert time.monotonic() - started < 5, "the failed probe did not leave the others waiting"
    assert result.stats.unknown_reasons == {UnknownReason.API_ERROR: 1}
    assert result.stats.states[RunState.ACTIVE] == 2
    [broken] = [s for s in result.statuses.values() if s.state is RunState.UNKNOWN]
    assert broken.detail == "internal error: RuntimeError: boom"


def test_totals_add_up_across_sweeps(github: FakeGithub, clock: FakeClock) -> None:
    github.add_run(REPO, 1)
    lookup = lookup_for(github, clock)
    for _ in range(3):
        lookup.lookup(refs(1, 2))

    totals = lookup.totals
    assert (totals.runs, totals.requests, totals.not_modified) == (6, 6, 2)
    assert totals.states == {RunState.ACTIVE: 3, RunState.UNKNOWN: 3}
    assert totals.unknown_reasons == {UnknownReason.NOT_FOUND: 3}
