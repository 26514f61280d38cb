"""The GitHub fake over real HTTP: run JSON, auth, ETags, primary and secondary rate limits."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from reaper.sandbox.ci import GET_ATTEMPT, GET_RUN, FakeClock, FakeGithub

TOKEN = "ghp_fakeFAKEfake0123456789abcdefABCDEF01"
REPO = "acme/app"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass(frozen=True)
class Got:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, token: str | None = TOKEN, **headers: str) -> Got:
    all_headers = {k.replace("_", "-"): v for k, v in headers.items()}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=all_headers)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Got(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as err:
        with err:
            return Got(err.code, _lower(err.headers), err.read())


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGithub]:
    with FakeGithub(clock=clock) as fake:
        fake.grant(TOKEN, REPO)
        yield fake


def run_url(fake: FakeGithub, run_id: int, attempt: int | None = None, repo: str = REPO) -> str:
    url = f"{fake.url}/repos/{repo}/actions/runs/{run_id}"
    return url if attempt is None else f"{url}/attempts/{attempt}"


def test_an_in_progress_run_has_the_documented_shape(github: FakeGithub, clock: FakeClock) -> None:
    github.add_run(REPO, 4711, created_at=clock.now() - timedelta(minutes=5))

    got = get(run_url(github, 4711))

    assert got.status == 200
    assert got.headers["content-type"].startswith("application/json")
    run = got.json()
    assert run["id"] == 4711
    assert run["run_attempt"] == 1
    assert (run["status"], run["conclusion"]) == ("in_progress", None)
    assert run["created_at"] == "2025-12-31T23:55:00Z"
    for key in ("created_at", "updated_at", "run_started_at"):
        assert _TIMESTAMP.fullmatch(run[key]), key
    assert run["html_url"] == "https://github.com/acme/app/actions/runs/4711"
    assert run["head_branch"] == "main"
    assert run["repository"]["full_name"] == REPO
    assert run["repository"]["owner"]["login"] == "acme"
    assert run["previous_attempt_url"] is None
    assert run["url"] == run_url(github, 4711)


def test_finishing_a_run_sets_status_conclusion_and_updated_at(
    github: FakeGithub, clock: FakeClock
) -> None:
    github.add_run(REPO, 4711)
    finished = clock.now() + timedelta(minutes=7)

    github.finish_run(REPO, 4711, at=finished, conclusion="failure")

    run = get(run_url(github, 4711)).json()
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert run["updated_at"] == "2026-01-01T00:07:00Z"


def test_the_run_endpoint_shows_the_latest_attempt_and_attempts_their_own(
    github: FakeGithub, clock: FakeClock
) -> None:
    github.add_run(REPO, 4711)
    github.finish_run(REPO, 4711, at=clock.now(), conclusion="failure")
    clock.advance(600)
    assert github.rerun(REPO, 4711) == 2

    latest = get(run_url(github, 4711)).json()
    first = get(run_url(github, 4711, attempt=1)).json()
    second = get(run_url(github, 4711, attempt=2)).json()

    assert (latest["run_attempt"], latest["status"]) == (2, "queued")
    assert (first["run_attempt"], first["status"], first["conclusion"]) == (
        1,
        "completed",
        "failure",
    )
    assert second["previous_attempt_url"] == run_url(github, 4711, attempt=1)
    assert second["jobs_url"].endswith("/actions/runs/4711/attempts/2/jobs")
    assert get(run_url(github, 4711, attempt=3)).status == 404
    assert github.stats().requests == {GET_RUN: 1, GET_ATTEMPT: 3}


def test_a_deleted_run_is_the_documented_404(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    github.delete_run(REPO, 4711)

    got = get(run_url(github, 4711))

    assert got.status == 404
    assert got.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run",
        "status": "404",
    }


def test_a_repository_the_token_cannot_see_is_404_not_403(github: FakeGithub) -> None:
    github.add_run("acme/secret", 1)
    assert get(run_url(github, 1, repo="acme/secret")).status == 404
    github.grant("ghp_other", "acme/secret")
    assert get(run_url(github, 1, repo="acme/secret"), token="ghp_other").status == 200


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param(None, "Requires authentication", id="no-authorization"),
        pytest.param("ghp_unknown", "Bad credentials", id="unknown-token"),
    ],
)
def test_requests_without_a_known_token_are_401(
    github: FakeGithub, token: str | None, message: str
) -> None:
    github.add_run(REPO, 4711)
    got = get(run_url(github, 4711), token=token)
    assert got.status == 401
    assert got.json()["message"] == message


def test_the_older_token_scheme_is_accepted_too(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    got = get(run_url(github, 4711), token=None, Authorization=f"token {TOKEN}")
    assert got.status == 200


def test_a_request_without_user_agent_is_refused(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    parts = urlsplit(github.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.putrequest("GET", "/repos/acme/app/actions/runs/4711", skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {TOKEN}")
        connection.endheaders()
        assert connection.getresponse().status == 403
    finally:
        connection.close()


def test_unknown_paths_are_404_and_counted_as_unmatched(github: FakeGithub) -> None:
    assert get(f"{github.url}/repos/acme/app/actions/workflows").status == 404
    assert github.stats().requests == {"unmatched": 1}


def test_rate_limit_headers_count_down_on_every_counted_answer(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    github.set_rate_limit(limit=100, remaining=100)

    first = get(run_url(github, 4711))
    missing = get(run_url(github, 999))

    assert first.headers["x-ratelimit-limit"] == "100"
    assert first.headers["x-ratelimit-remaining"] == "99"
    assert first.headers["x-ratelimit-used"] == "1"
    assert first.headers["x-ratelimit-resource"] == "core"
    assert int(first.headers["x-ratelimit-reset"]) == github.rate_limit.reset_at
    assert missing.headers["x-ratelimit-remaining"] == "98", "a 404 counts too"


@pytest.mark.parametrize("weak", [True, False], ids=["weak-etags", "strong-etags"])
def test_a_matching_if_none_match_is_a_free_304(clock: FakeClock, weak: bool) -> None:
    with FakeGithub(clock=clock, weak_etags=weak) as fake:
        fake.grant(TOKEN, REPO)
        fake.add_run(REPO, 4711)
        first = get(run_url(fake, 4711))
        etag = first.headers["etag"]
        assert etag.startswith('W/"') is weak

        again = get(run_url(fake, 4711), If_None_Match=etag)

        assert again.status == 304
        assert again.body == b""
        assert again.headers["etag"] == etag.removeprefix("W/"), "GitHub answers the strong form"
        assert again.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
        assert fake.stats().not_modified == 1
        assert fake.requests()[-1].conditional


def test_a_changed_run_answers_200_with_a_new_etag(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    etag = get(run_url(github, 4711)).headers["etag"]
    github.finish_run(REPO, 4711)

    got = get(run_url(github, 4711), If_None_Match=etag)

    assert got.status == 200
    assert got.headers["etag"] != etag
    assert got.json()["status"] == "completed"


def test_an_exhausted_budget_is_403_until_the_window_resets(
    github: FakeGithub, clock: FakeClock
) -> None:
    github.add_run(REPO, 4711)
    github.set_rate_limit(limit=10, remaining=1, reset_at=clock() + 300)
    assert get(run_url(github, 4711)).status == 200

    refused = get(run_url(github, 4711))

    assert refused.status == 403
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == str(int(clock() + 300))
    assert refused.json()["message"].startswith("API rate limit exceeded")
    clock.advance(300)
    refilled = get(run_url(github, 4711))
    assert refilled.status == 200
    assert refilled.headers["x-ratelimit-remaining"] == "9"


def test_an_exhausted_budget_may_answer_429(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    github.set_rate_limit(remaining=0, status=429)
    assert get(run_url(github, 4711)).status == 429


def test_secondary_limits_answer_retry_after_and_the_documented_message(
    github: FakeGithub,
) -> None:
    github.add_run(REPO, 4711)
    github.inject_secondary_limit(times=2, retry_after=42)

    first, second, third = (get(run_url(github, 4711)) for _ in range(3))

    for refused in (first, second):
        assert refused.status == 403
        assert refused.headers["retry-after"] == "42"
        assert "x-ratelimit-remaining" not in refused.headers
        assert refused.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert third.status == 200


def test_a_secondary_limit_can_leave_out_retry_after_and_be_a_429(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    github.inject_secondary_limit(retry_after=None, status=429)
    got = get(run_url(github, 4711))
    assert got.status == 429
    assert "retry-after" not in got.headers


def test_injected_errors_come_before_the_run(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    github.inject_error(502, "Server Error")
    assert get(run_url(github, 4711)).status == 502
    assert get(run_url(github, 4711)).status == 200


def test_latency_delays_each_request_and_requests_overlap(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    github.latency = 0.2
    started = time.monotonic()
    threads = [threading.Thread(target=get, args=(run_url(github, 4711),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    stats = github.stats()
    assert stats.requests == {GET_RUN: 4}
    assert stats.peak_in_flight >= 2
    assert 0.2 <= elapsed < 0.8, "four requests of 0.2 s each overlapped"


def test_state_changes_while_serving_are_thread_safe(github: FakeGithub) -> None:
    github.set_rate_limit(limit=1000, remaining=1000)
    for run_id in range(1, 21):
        github.add_run(REPO, run_id)

    def finish_all() -> None:
        for run_id in range(1, 21):
            github.finish_run(REPO, run_id)

    writer = threading.Thread(target=finish_all)
    readers = [
        threading.Thread(target=get, args=(run_url(github, run_id),)) for run_id in range(1, 21)
    ]
    writer.start()
    for reader in readers:
        reader.start()
    for thread in [writer, *readers]:
        thread.join()

    assert github.stats().by_status == {200: 20}
    assert github.rate_limit.remaining == 980
    assert all(get(run_url(github, r)).json()["status"] == "completed" for r in range(1, 21))


def test_seeding_rejects_states_github_does_not_have(github: FakeGithub) -> None:
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        github.add_run(REPO, 1, status="done")
    with pytest.raises(ValueError, match="completed run has a conclusion"):
        github.add_run(REPO, 1, status="completed")


def test_reset_stats_forgets_requests_but_not_state(github: FakeGithub) -> None:
    github.add_run(REPO, 4711)
    get(run_url(github, 4711))
    github.reset_stats()
    assert github.stats().total == 0
    assert get(run_url(github, 4711)).status == 200
