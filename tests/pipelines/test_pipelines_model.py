"""The pure parts of pipeline lookups: tags, sources, verdicts, throttles, budgets, redaction."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reaper.errors import ReaperError
from reaper.pipelines import (
    GithubSource,
    GitlabSource,
    InvalidRunTag,
    InvalidSource,
    PipelineLookupError,
    RunRef,
    RunState,
    RunStatus,
    UnknownReason,
    run_ref_from_tags,
)
from reaper.pipelines.cache import EtagCache
from reaper.pipelines.github import GithubApi, run_status
from reaper.pipelines.gitlab import GitlabApi, pipeline_status
from reaper.pipelines.ratelimit import RateGate
from reaper.pipelines.redact import Redactor, Secret
from reaper.pipelines.wire import Answer, Budget, Throttle, ThrottleKind

NOW = 1_767_225_600.0
GITHUB = GithubApi(GithubSource("acme/app", "GH_TOKEN"))
GITLAB = GitlabApi(GitlabSource("platform/infra", "https://gitlab.example.com", "GL_TOKEN"))


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


# -- tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "value", "expected"),
    [
        pytest.param("infra", "4711", RunRef("infra", 4711), id="run"),
        pytest.param("infra", "4711-2", RunRef("infra", 4711, 2), id="run-with-attempt"),
        pytest.param("gh_app-2", " 26365060973 ", RunRef("gh_app-2", 26365060973), id="padded"),
        pytest.param("a", "1-1", RunRef("a", 1, 1), id="shortest"),
    ],
)
def test_tag_values_name_a_run(alias: str, value: str, expected: RunRef) -> None:
    assert RunRef.parse(alias, value) == expected


@pytest.mark.parametrize(
    ("alias", "value", "complaint"),
    [
        pytest.param("infra", "abc", "not a run id", id="not-a-number"),
        pytest.param("infra", "4711-", "not a run id", id="dangling-dash"),
        pytest.param("infra", "4711-0", "not a run id", id="attempt-zero"),
        pytest.param("infra", "0", "not a run id", id="run-zero"),
        pytest.param("infra", "4711-2-3", "not a run id", id="two-suffixes"),
        pytest.param("infra", "-2", "not a run id", id="no-run"),
        pytest.param("Infra", "4711", "not a label value", id="upper-case-alias"),
        pytest.param("acme/app", "4711", "not a label value", id="slash-in-alias"),
        pytest.param("-infra", "4711", "not a label value", id="alias-starts-with-dash"),
        pytest.param("a" * 64, "4711", "not a label value", id="alias-too-long"),
        pytest.param("", "4711", "not a label value", id="empty-alias"),
    ],
)
def test_unreadable_tag_values_are_refused_with_the_rule(
    alias: str, value: str, complaint: str
) -> None:
    with pytest.raises(InvalidRunTag, match=complaint) as caught:
        RunRef.parse(alias, value)
    assert isinstance(caught.value, PipelineLookupError)
    assert isinstance(caught.value, ReaperError)


@given(
    alias=st.from_regex(r"[a-z0-9]([a-z0-9_-]{0,20}[a-z0-9])?", fullmatch=True),
    run_id=st.integers(1, 10**15),
    attempt=st.none() | st.integers(1, 99),
)
def test_a_refs_tag_value_parses_back_to_it(alias: str, run_id: int, attempt: int | None) -> None:
    ref = RunRef(alias, run_id, attempt)
    assert RunRef.parse(alias, ref.tag_value) == ref


def test_run_refs_are_dedup_keys() -> None:
    refs = {RunRef.parse("infra", "4711") for _ in range(50)} | {RunRef("infra", 4711, 2)}
    assert len(refs) == 2


def test_tags_name_a_run_only_when_both_are_present() -> None:
    keys = {"run_key": "reaper-pipeline", "source_key": "reaper-ci-source"}
    assert run_ref_from_tags(
        {"reaper-pipeline": "4711-2", "reaper-ci-source": "app"}, **keys
    ) == RunRef("app", 4711, 2)
    assert run_ref_from_tags({"reaper-pipeline": "4711"}, **keys) is None
    assert run_ref_from_tags({"reaper-ci-source": "app"}, **keys) is None


# -- verdicts ------------------------------------------------------------------------------


def test_a_verdict_keeps_its_invariants() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert RunStatus.finished(at).finished_at == at
    with pytest.raises(ValueError, match="timezone-aware"):
        RunStatus.finished(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="finished_at is set exactly"):
        RunStatus(RunState.ACTIVE, finished_at=at)
    with pytest.raises(ValueError, match="reason is set exactly"):
        RunStatus(RunState.UNKNOWN)


@pytest.mark.parametrize("status", ["queued", "in_progress", "waiting", "requested", "pending"])
def test_a_github_run_not_completed_is_active(status: str) -> None:
    verdict = run_status(
        RunRef("app", 7), body(id=7, status=status, updated_at="2026-01-01T00:00:00Z")
    )
    assert verdict == RunStatus.active(status)


@pytest.mark.parametrize("conclusion", ["success", "failure", "cancelled", "timed_out"])
def test_a_completed_github_run_finished_at_its_updated_at(conclusion: str) -> None:
    verdict = run_status(
        RunRef("app", 7, 2),
        body(
            id=7,
            run_attempt=2,
            status="completed",
            conclusion=conclusion,
            updated_at="2026-01-02T03:04:05Z",
        ),
    )
    assert verdict.state is RunState.FINISHED
    assert verdict.finished_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert conclusion in verdict.detail


@pytest.mark.parametrize(
    ("ref", "payload", "complaint"),
    [
        pytest.param(RunRef("app", 7), b"<html>", "not a JSON object", id="html"),
        pytest.param(RunRef("app", 7), b"[]", "not a JSON object", id="list"),
        pytest.param(RunRef("app", 7), body(id=8, status="completed"), "got 8", id="other-run"),
        pytest.param(
            RunRef("app", 7, 2),
            body(id=7, run_attempt=1, status="completed"),
            "attempt 2",
            id="other-attempt",
        ),
        pytest.param(RunRef("app", 7), body(id=7), "no status", id="no-status"),
        pytest.param(
            RunRef("app", 7),
            body(id=7, status="completed", updated_at=None),
            "updated_at",
            id="completed-without-time",
        ),
        pytest.param(
            RunRef("app", 7),
            body(id=7, status="completed", updated_at="2026-01-01T00:00:00"),
            "updated_at",
            id="time-without-offset",
        ),
    ],
)
def test_a_github_answer_that_is_not_the_run_is_unreadable(
    ref: RunRef, payload: bytes, complaint: str
) -> None:
    verdict = run_status(ref, payload)
    assert verdict.reason is UnknownReason.UNREADABLE
    assert complaint in verdict.detail


@pytest.mark.parametrize("verdict_of", [run_status, pipeline_status], ids=["github", "gitlab"])
def test_an_answer_nested_too_deeply_to_parse_is_unreadable(verdict_of: Any) -> None:
    verdict = verdict_of(RunRef("app", 7), b"[" * 100_000 + b"]" * 100_000)
    assert verdict.reason is UnknownReason.UNREADABLE
    assert verdict.detail == "the answer is not a JSON object"


@pytest.mark.parametrize("status", ["success", "failed", "canceled", "skipped"])
def test_a_finished_gitlab_pipeline_finished_at_its_finished_at(status: str) -> None:
    verdict = pipeline_status(
        RunRef("infra", 9),
        body(
            id=9,
            status=status,
            finished_at="2026-01-01T00:10:00.123Z",
            updated_at="2026-01-01T00:11:00.000Z",
        ),
    )
    assert verdict == RunStatus.finished(datetime(2026, 1, 1, 0, 10, 0, 123000, tzinfo=UTC), status)


def test_a_finished_gitlab_pipeline_without_finished_at_uses_updated_at() -> None:
    verdict = pipeline_status(
        RunRef("infra", 9),
        body(id=9, status="skipped", finished_at=None, updated_at="2026-01-01T00:11:00.000Z"),
    )
    assert verdict.finished_at == datetime(2026, 1, 1, 0, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    "status",
    [
        "created",
        "waiting_for_resource",
        "preparing",
        "pending",
        "running",
        "canceling",
        "manual",
        "scheduled",
    ],
)
def test_a_gitlab_pipeline_not_finished_is_active(status: str) -> None:
    assert pipeline_status(RunRef("infra", 9), body(id=9, status=status)) == RunStatus.active(
        status
    )


def test_a_gitlab_status_reaper_does_not_know_is_not_taken_for_an_end() -> None:
    verdict = pipeline_status(RunRef("infra", 9), body(id=9, status="archived"))
    assert verdict.reason is UnknownReason.UNREADABLE


def test_gitlab_refuses_attempts_before_asking() -> None:
    assert GITLAB.refuse(RunRef("infra", 9)) is None
    refused = GITLAB.refuse(RunRef("infra", 9, 2))
    assert refused is not None
    assert refused.reason is UnknownReason.UNSUPPORTED


@pytest.mark.parametrize(
    ("api", "status", "reason"),
    [
        pytest.param(GITHUB, 404, UnknownReason.NOT_FOUND, id="github-404"),
        pytest.param(GITHUB, 401, UnknownReason.UNAUTHORIZED, id="github-401"),
        pytest.param(GITHUB, 403, UnknownReason.UNAUTHORIZED, id="github-403"),
        pytest.param(GITHUB, 502, UnknownReason.API_ERROR, id="github-502"),
        pytest.param(GITLAB, 404, UnknownReason.NOT_FOUND, id="gitlab-404"),
        pytest.param(GITLAB, 500, UnknownReason.API_ERROR, id="gitlab-500"),
    ],
)
def test_error_answers_are_unknown_with_their_reason(
    api: GithubApi | GitlabApi, status: int, reason: UnknownReason
) -> None:
    verdict = api.error(Answer(status, {}, body(message="nope")))
    assert verdict.reason is reason
    assert verdict.detail == f"HTTP {status}: nope"


# -- throttles and budgets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            Answer(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 900)}),
            Throttle(ThrottleKind.PRIMARY, NOW + 900),
            id="primary-403",
        ),
        pytest.param(
            Answer(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 900)}),
            Throttle(ThrottleKind.PRIMARY, NOW + 900),
            id="primary-429",
        ),
        pytest.param(
            Answer(
                403, {"retry-after": "30"}, body(message="You have exceeded a secondary rate limit")
            ),
            Throttle(ThrottleKind.SECONDARY, NOW + 30),
            id="secondary-retry-after",
        ),
        pytest.param(
            Answer(403, {}, body(message="You have exceeded a secondary rate limit.")),
            Throttle(ThrottleKind.SECONDARY, NOW + 60),
            id="secondary-without-retry-after",
        ),
        pytest.param(
            Answer(429, {}, b""), Throttle(ThrottleKind.SECONDARY, NOW + 60), id="bare-429"
        ),
        pytest.param(
            Answer(403, {"x-ratelimit-remaining": "4999"}, body(message="Resource not accessible")),
            None,
            id="permission-403",
        ),
        pytest.param(Answer(404, {"x-ratelimit-remaining": "0"}), None, id="404-is-no-throttle"),
    ],
)
def test_github_throttles_follow_the_documented_rules(
    answer: Answer, expected: Throttle | None
) -> None:
    assert GITHUB.throttle(answer, NOW) == expected


@pytest.mark.parametrize(
    ("headers", "expected_until"),
    [
        pytest.param(
            {"retry-after": "30", "ratelimit-reset": str(int(NOW) + 50)}, NOW + 30, id="retry-after"
        ),
        pytest.param({"ratelimit-reset": str(int(NOW) + 50)}, NOW + 50, id="reset"),
        pytest.param({}, NOW + 60, id="neither"),
    ],
)
def test_gitlab_429s_wait_retry_after_else_the_reset_else_a_minute(
    headers: dict[str, str], expected_until: float
) -> None:
    throttle = GITLAB.throttle(Answer(429, headers, b"Retry later"), NOW)
    assert throttle is not None
    assert throttle.until == expected_until
    assert GITLAB.throttle(Answer(403, headers), NOW) is None


def test_budgets_are_read_from_either_apis_headers() -> None:
    assert GITHUB.budget(
        Answer(200, {"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1767229200"})
    ) == Budget(12, 1767229200.0)
    assert GITLAB.budget(
        Answer(200, {"ratelimit-remaining": "3", "ratelimit-reset": "1767225660"})
    ) == Budget(3, 1767225660.0)
    assert GITHUB.budget(Answer(200, {})) is None


def test_a_gate_lends_no_more_units_than_the_budget_has() -> None:
    gate = RateGate(free_not_modified=True)
    assert gate.acquire(NOW) == 0.0, "an unknown budget lends"
    gate.settle(Budget(2, NOW + 100), None, not_modified=False)

    lent = [gate.acquire(NOW) for _ in range(4)]

    assert lent == [0.0, 0.0, 100.0, 100.0]
    assert gate.acquire(NOW + 100) == 0.0, "a new window lends again"


def test_a_gate_gives_back_the_unit_of_a_free_304_only() -> None:
    free, counted = RateGate(free_not_modified=True), RateGate(free_not_modified=False)
    for gate in (free, counted):
        gate.settle(Budget(1, NOW + 100), None, not_modified=False)
        assert gate.acquire(NOW) == 0.0
        gate.settle(Budget(1, NOW + 100), None, not_modified=True)
    assert free.acquire(NOW) == 0.0
    assert counted.acquire(NOW) == 100.0


def test_a_gate_believes_the_lower_count_within_a_window() -> None:
    gate = RateGate(free_not_modified=True)
    gate.settle(Budget(10, NOW + 100), None, not_modified=False)
    for _ in range(5):
        gate.acquire(NOW)  # five requests in flight
    gate.settle(Budget(9, NOW + 100), None, not_modified=False)  # the first one's answer
    assert [gate.acquire(NOW) for _ in range(6)] == [0.0] * 5 + [100.0]


def test_while_the_budget_is_unknown_one_probe_goes_alone() -> None:
    gate = RateGate(free_not_modified=True, probe_timeout=5)
    assert gate.acquire(NOW) == 0.0  # the probe
    second: list[float] = []
    waiter = threading.Thread(target=lambda: second.append(gate.acquire(NOW)))
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive(), "the second request waits for the probe's answer"

    gate.settle(Budget(0, NOW + 40), None, not_modified=False)
    waiter.join(timeout=5)

    assert second == [40.0], "the probe's answer said the budget is spent"


def test_a_probe_without_an_answer_hands_over_to_the_next() -> None:
    gate = RateGate(free_not_modified=True, probe_timeout=5)
    assert gate.acquire(NOW) == 0.0
    gate.settle(None, None, not_modified=False, answered=False)  # the probe's request failed
    assert gate.acquire(NOW) == 0.0  # the next probe
    waiter = threading.Thread(target=gate.acquire, args=(NOW,))
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive(), "still probing: nothing is known of the budget yet"
    gate.settle(None, None, not_modified=False, answered=False)
    waiter.join(timeout=5)


def test_a_server_that_reports_no_budget_is_asked_without_one() -> None:
    gate = RateGate(free_not_modified=False, probe_timeout=5)
    assert gate.acquire(NOW) == 0.0
    gate.settle(None, None, not_modified=False)  # answered, without rate-limit headers
    assert [gate.acquire(NOW) for _ in range(3)] == [0.0, 0.0, 0.0], "no probe wait"
    gate.settle(Budget(0, NOW + 10), None, not_modified=False)  # headers after all
    assert gate.acquire(NOW) == 10.0


def test_a_gate_holds_off_until_a_throttle_ends() -> None:
    gate = RateGate(free_not_modified=True)
    gate.settle(None, Throttle(ThrottleKind.SECONDARY, NOW + 30), not_modified=False)
    assert gate.acquire(NOW) == 30.0
    assert gate.acquire(NOW + 30) == 0.0


def test_a_spent_budget_without_a_reset_holds_off_a_minute() -> None:
    gate = RateGate(free_not_modified=False)
    gate.settle(Budget(0, None), None, not_modified=False)
    assert gate.acquire(NOW) == 60.0
    assert gate.acquire(NOW + 59) == 1.0
    assert gate.acquire(NOW + 60) == 0.0


# -- sources -------------------------------------------------------------------------------


def test_github_urls_name_the_run_or_its_attempt() -> None:
    source = GithubSource("acme/app", "GH_TOKEN")
    assert source.run_url(RunRef("app", 4711)) == (
        "https://api.github.com/repos/acme/app/actions/runs/4711"
    )
    assert source.run_url(RunRef("app", 4711, 2)) == (
        "https://api.github.com/repos/acme/app/actions/runs/4711/attempts/2"
    )
    enterprise = GithubSource("acme/app", "GH_TOKEN", "https://ghe.example.com/api/v3/")
    assert enterprise.run_url(RunRef("app", 1)).startswith("https://ghe.example.com/api/v3/repos/")


@pytest.mark.parametrize(
    ("project", "encoded"),
    [
        pytest.param("platform/infra", "platform%2Finfra", id="group-project"),
        pytest.param("platform/team/infra", "platform%2Fteam%2Finfra", id="subgroup"),
        pytest.param("my.group/in fra", "my.group%2Fin%20fra", id="odd-characters"),
    ],
)
def test_gitlab_urls_encode_the_project_path(project: str, encoded: str) -> None:
    source = GitlabSource(project, "https://gitlab.example.com/", "GL_TOKEN")
    assert source.pipeline_url(RunRef("infra", 287)) == (
        f"https://gitlab.example.com/api/v4/projects/{encoded}/pipelines/287"
    )


@pytest.mark.parametrize(
    ("build", "complaint"),
    [
        pytest.param(lambda: GithubSource("acme", "T"), "not owner/repo", id="no-owner"),
        pytest.param(lambda: GithubSource("a/b/c", "T"), "not owner/repo", id="too-deep"),
        pytest.param(lambda: GithubSource("a/b", "GH-TOKEN"), "not an environment", id="env"),
        pytest.param(
            lambda: GithubSource("a/b", "T", "ftp://x"), "not an http", id="api-url-scheme"
        ),
        pytest.param(
            lambda: GitlabSource("p/q", "https://u:p@gitlab.example.com", "T"),
            "credentials",
            id="url-with-userinfo",
        ),
        pytest.param(lambda: GitlabSource("infra", "https://g", "T"), "group/project", id="flat"),
    ],
)
def test_unusable_sources_are_refused(build: Any, complaint: str) -> None:
    with pytest.raises(InvalidSource, match=complaint):
        build()


# -- redaction and the cache -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param("echo s3cret-v4lue here", "s3cret-v4lue", id="known-value"),
        pytest.param("Authorization: Bearer abcdefgh12345", "abcdefgh12345", id="auth-header"),
        pytest.param("{'PRIVATE-TOKEN': 'xyz-987'}", "xyz-987", id="private-token-repr"),
        pytest.param("sent bearer abc.def.ghi123", "abc.def.ghi123", id="bearer"),
        pytest.param("ghp_" + "a1" * 18 + " leaked", "ghp_" + "a1" * 18, id="github-pat"),
        pytest.param("glpat-" + "x" * 20, "glpat-" + "x" * 20, id="gitlab-pat"),
    ],
)
def test_redaction_masks_tokens(text: str, secret: str) -> None:
    redact = Redactor(["s3cret-v4lue"])
    assert secret not in redact(text)
    assert "***" in redact(text)
    assert "s3cret" not in repr(redact)


def test_redaction_leaves_ordinary_words_alone() -> None:
    redact = Redactor(["ab"])  # too short to mask by value
    text = "environment variable GH_TOKEN is not set; the token environment is empty"
    assert redact(text) == text


def test_the_etag_cache_forgets_the_least_recently_used() -> None:
    cache = EtagCache(max_entries=2)
    cache.put("a", '"1"', b"A")
    cache.put("b", '"2"', b"B")
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", '"3"', b"C")
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_a_secret_shows_itself_only_when_revealed() -> None:
    secret = Secret("s3cret-v4lue")
    assert "s3cret" not in repr(secret)
    assert "s3cret" not in str(secret)
    assert "s3cret" not in repr({"GH_TOKEN": secret})
    assert secret.reveal() == "s3cret-v4lue"
