"""RunLookup against the GitLab fake, over real HTTP: encoded paths, states, RateLimit, 429s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from reaper.pipelines import GitlabSource, RunLookup, RunRef, RunState, RunStatus, UnknownReason
from reaper.sandbox.ci import GET_PIPELINE, FakeClock, FakeGitlab

TOKEN = "glpat-fakeFAKEfake0123456789"
PROJECT = "platform/infra"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gitlab(clock: FakeClock) -> Iterator[FakeGitlab]:
    with FakeGitlab(clock=clock) as fake:
        fake.grant(TOKEN, PROJECT, "platform/team/infra")
        yield fake


def lookup_for(
    gitlab: FakeGitlab, clock: FakeClock, *, project: str = PROJECT, **options: Any
) -> RunLookup:
    return RunLookup(
        {"infra": GitlabSource(project, gitlab.url, "GL_TOKEN")},
        environ={"GL_TOKEN": TOKEN},
        clock=clock,
        sleep=clock.sleep,
        **options,
    )


def refs(*pipeline_ids: int) -> list[RunRef]:
    return [RunRef("infra", pipeline_id) for pipeline_id in pipeline_ids]


def test_pipelines_are_active_finished_or_unknown(gitlab: FakeGitlab, clock: FakeClock) -> None:
    finished_at = clock.now() - timedelta(minutes=2)
    gitlab.add_pipeline(PROJECT, 1, status="running")
    gitlab.add_pipeline(PROJECT, 2, status="failed", finished_at=finished_at)
    gitlab.add_pipeline(PROJECT, 3, status="manual")

    result = lookup_for(gitlab, clock).lookup(refs(1, 2, 3, 4))

    assert result[RunRef("infra", 1)] == RunStatus.active("running")
    assert result[RunRef("infra", 2)] == RunStatus.finished(finished_at, "failed")
    assert result[RunRef("infra", 3)].state is RunState.ACTIVE
    missing = result[RunRef("infra", 4)]
    assert (missing.reason, missing.detail) == (UnknownReason.NOT_FOUND, "HTTP 404: 404 Not found")


@pytest.mark.parametrize(
    ("project", "path"),
    [
        pytest.param(PROJECT, "/api/v4/projects/platform%2Finfra/pipelines/7", id="group"),
        pytest.param(
            "platform/team/infra",
            "/api/v4/projects/platform%2Fteam%2Finfra/pipelines/7",
            id="subgroup",
        ),
    ],
)
def test_the_project_path_is_url_encoded(
    gitlab: FakeGitlab, clock: FakeClock, project: str, path: str
) -> None:
    gitlab.add_pipeline(project, 7)

    result = lookup_for(gitlab, clock, project=project).lookup(refs(7))

    assert result[RunRef("infra", 7)].state is RunState.ACTIVE
    assert [r.path for r in gitlab.requests()] == [path]


def test_many_resources_of_one_pipeline_cost_one_request(
    gitlab: FakeGitlab, clock: FakeClock
) -> None:
    gitlab.add_pipeline(PROJECT, 7)
    result = lookup_for(gitlab, clock).lookup([RunRef("infra", 7)] * 30)
    assert result.stats.requests == 1
    assert gitlab.stats().requests == {GET_PIPELINE: 1}


def test_a_project_the_token_cannot_see_is_not_found(gitlab: FakeGitlab, clock: FakeClock) -> None:
    gitlab.add_pipeline("platform/secret", 7)
    status = lookup_for(gitlab, clock, project="platform/secret").lookup(refs(7))[
        RunRef("infra", 7)
    ]
    assert (status.reason, status.detail) == (
        UnknownReason.NOT_FOUND,
        "HTTP 404: 404 Project Not Found",
    )


def test_an_attempt_suffix_is_refused_without_a_request(
    gitlab: FakeGitlab, clock: FakeClock
) -> None:
    gitlab.add_pipeline(PROJECT, 7)
    status = lookup_for(gitlab, clock).lookup([RunRef("infra", 7, 2)])[RunRef("infra", 7, 2)]
    assert status.reason is UnknownReason.UNSUPPORTED
    assert gitlab.stats().total == 0


def test_without_a_token_nothing_is_sent(gitlab: FakeGitlab, clock: FakeClock) -> None:
    lookup = RunLookup(
        {"infra": GitlabSource(PROJECT, gitlab.url, "GL_TOKEN")}, environ={}, clock=clock
    )
    assert lookup.lookup(refs(7))[RunRef("infra", 7)].reason is UnknownReason.NO_TOKEN
    assert gitlab.stats().total == 0


def test_no_request_is_sent_past_ratelimit_remaining(gitlab: FakeGitlab, clock: FakeClock) -> None:
    for pipeline_id in range(1, 6):
        gitlab.add_pipeline(PROJECT, pipeline_id)
    gitlab.set_rate_limit(limit=3, observed=0, reset_at=clock() + 60)

    result = lookup_for(gitlab, clock, max_workers=4, max_wait=10).lookup(refs(1, 2, 3, 4, 5))

    assert result.stats.requests == 3
    assert gitlab.stats().by_status == {200: 3}, "no 429 was provoked"
    assert result.stats.unknown_reasons == {UnknownReason.RATE_LIMITED: 2}


def test_a_reset_within_the_bound_is_waited_for(gitlab: FakeGitlab, clock: FakeClock) -> None:
    for pipeline_id in range(1, 5):
        gitlab.add_pipeline(PROJECT, pipeline_id)
    gitlab.set_rate_limit(limit=2, observed=0, reset_at=clock() + 45)

    result = lookup_for(gitlab, clock, max_workers=1, max_wait=60).lookup(refs(1, 2, 3, 4))

    assert result.stats.unknown == 0
    assert clock.sleeps == (45.0,)
    assert gitlab.stats().by_status == {200: 4}


def test_a_429_with_retry_after_is_waited_out_and_retried(
    gitlab: FakeGitlab, clock: FakeClock
) -> None:
    gitlab.add_pipeline(PROJECT, 7)
    gitlab.inject_throttle(times=1, retry_after=12)

    result = lookup_for(gitlab, clock, max_wait=30).lookup(refs(7))

    assert result[RunRef("infra", 7)].state is RunState.ACTIVE
    assert clock.sleeps == (12.0,)
    assert [r.status for r in gitlab.requests()] == [429, 200]
    assert result.stats.throttled == 1


def test_a_429_found_at_the_limit_stops_the_sweep(gitlab: FakeGitlab, clock: FakeClock) -> None:
    for pipeline_id in range(1, 4):
        gitlab.add_pipeline(PROJECT, pipeline_id)
    gitlab.set_rate_limit(limit=5, observed=5, reset_at=clock() + 50)

    result = lookup_for(gitlab, clock, max_workers=1, max_wait=20).lookup(refs(1, 2, 3))

    assert result.stats.unknown_reasons == {UnknownReason.RATE_LIMITED: 3}
    assert gitlab.stats().by_status == {429: 1}
    assert "50s" in result[RunRef("infra", 1)].detail


def test_a_429_without_retry_after_waits_a_minute(gitlab: FakeGitlab, clock: FakeClock) -> None:
    gitlab.add_pipeline(PROJECT, 7)
    gitlab.inject_throttle(times=1, retry_after=None)

    result = lookup_for(gitlab, clock, max_wait=120).lookup(refs(7))

    assert result[RunRef("infra", 7)].state is RunState.ACTIVE
    assert clock.sleeps == (60.0,)


def test_conditional_requests_work_where_gitlab_sends_etags_and_still_count(
    clock: FakeClock,
) -> None:
    with FakeGitlab(clock=clock, etags=True) as gitlab:
        gitlab.grant(TOKEN)
        gitlab.add_pipeline(PROJECT, 7, status="success", finished_at=clock.now())
        lookup = lookup_for(gitlab, clock)
        first = lookup.lookup(refs(7))

        second = lookup.lookup(refs(7))

        assert second[RunRef("infra", 7)].finished_at == first[RunRef("infra", 7)].finished_at
        assert second.stats.not_modified == 1
        assert [r.status for r in gitlab.requests()] == [200, 304]
        assert gitlab.rate_limit.observed == 2


def test_a_server_without_rate_limit_headers_is_asked_concurrently(clock: FakeClock) -> None:
    with FakeGitlab(clock=clock, rate_limit=None, latency=0.1) as gitlab:
        gitlab.grant(TOKEN)
        for pipeline_id in range(1, 10):
            gitlab.add_pipeline(PROJECT, pipeline_id)

        result = lookup_for(gitlab, clock, max_workers=3).lookup(refs(*range(1, 10)))

        assert result.stats.states == {RunState.ACTIVE: 9}
        assert 2 <= gitlab.stats().peak_in_flight <= 3
