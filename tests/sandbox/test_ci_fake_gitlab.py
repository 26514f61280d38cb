"""The GitLab fake over real HTTP: pipeline JSON, encoded paths, auth, RateLimit headers, 429s."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from reaper.sandbox.ci import GET_PIPELINE, FakeClock, FakeGitlab

TOKEN = "glpat-fakeFAKEfake0123456789"
PROJECT = "platform/infra"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@dataclass(frozen=True)
class Got:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, headers: Mapping[str, str] | None = None) -> Got:
    if headers is None:
        headers = {"PRIVATE-TOKEN": TOKEN}
    request = urllib.request.Request(url, headers=dict(headers))
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
def gitlab(clock: FakeClock) -> Iterator[FakeGitlab]:
    with FakeGitlab(clock=clock) as fake:
        fake.grant(TOKEN, PROJECT)
        yield fake


def pipeline_url(fake: FakeGitlab, pipeline_id: int, project: str = "platform%2Finfra") -> str:
    return f"{fake.url}/api/v4/projects/{project}/pipelines/{pipeline_id}"


def test_a_running_pipeline_has_the_documented_shape(gitlab: FakeGitlab, clock: FakeClock) -> None:
    gitlab.add_pipeline(PROJECT, 287, created_at=clock.now() - timedelta(seconds=90))

    got = get(pipeline_url(gitlab, 287))

    assert got.status == 200
    pipeline = got.json()
    assert pipeline["id"] == 287
    assert pipeline["iid"] == 1
    assert pipeline["project_id"] == gitlab.add_project(PROJECT)
    assert pipeline["status"] == "running"
    assert pipeline["created_at"] == "2025-12-31T23:58:30.000Z"
    assert _TIMESTAMP.fullmatch(pipeline["updated_at"])
    assert pipeline["finished_at"] is None
    assert pipeline["web_url"].endswith("/platform/infra/-/pipelines/287")
    assert pipeline["detailed_status"]["group"] == "running"


def test_finishing_sets_finished_at_and_duration(gitlab: FakeGitlab, clock: FakeClock) -> None:
    gitlab.add_pipeline(PROJECT, 287, started_at=clock.now())
    gitlab.finish_pipeline(PROJECT, 287, at=clock.now() + timedelta(seconds=34), status="failed")

    pipeline = get(pipeline_url(gitlab, 287)).json()

    assert pipeline["status"] == "failed"
    assert pipeline["finished_at"] == "2026-01-01T00:00:34.000Z"
    assert pipeline["updated_at"] == pipeline["finished_at"]
    assert pipeline["duration"] == 34


@pytest.mark.parametrize(
    "project",
    [
        pytest.param("platform%2Finfra", id="encoded-path"),
        pytest.param("platform%2finfra", id="lower-case-escape"),
        pytest.param("1000", id="numeric-id"),
    ],
)
def test_a_project_is_named_by_encoded_path_or_id(gitlab: FakeGitlab, project: str) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    assert gitlab.add_project(PROJECT) == 1000
    assert get(pipeline_url(gitlab, 287, project)).status == 200


def test_an_unencoded_path_matches_no_route(gitlab: FakeGitlab) -> None:
    gitlab.add_pipeline(PROJECT, 287)

    got = get(pipeline_url(gitlab, 287, project="platform/infra"))

    assert (got.status, got.json()) == (404, {"error": "404 Not Found"})
    assert gitlab.stats().requests == {"unmatched": 1}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"PRIVATE-TOKEN": TOKEN}, id="private-token"),
        pytest.param({"Authorization": f"Bearer {TOKEN}"}, id="bearer"),
    ],
)
def test_either_token_header_is_accepted(gitlab: FakeGitlab, headers: dict[str, str]) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    assert get(pipeline_url(gitlab, 287), headers).status == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"PRIVATE-TOKEN": "glpat-unknown"}, id="unknown-token"),
    ],
)
def test_requests_without_a_known_token_are_401(
    gitlab: FakeGitlab, headers: dict[str, str]
) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    got = get(pipeline_url(gitlab, 287), headers)
    assert (got.status, got.json()) == (401, {"message": "401 Unauthorized"})


def test_missing_pipelines_and_invisible_projects_are_their_404s(gitlab: FakeGitlab) -> None:
    gitlab.add_pipeline("platform/secret", 1)

    missing = get(pipeline_url(gitlab, 999))
    invisible = get(pipeline_url(gitlab, 1, "platform%2Fsecret"))

    assert (missing.status, missing.json()) == (404, {"message": "404 Not found"})
    assert (invisible.status, invisible.json()) == (404, {"message": "404 Project Not Found"})


def test_every_answer_carries_the_ratelimit_headers(gitlab: FakeGitlab, clock: FakeClock) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    gitlab.set_rate_limit(limit=10, observed=0, reset_at=clock() + 60)

    ok = get(pipeline_url(gitlab, 287))
    missing = get(pipeline_url(gitlab, 999))

    assert ok.headers["ratelimit-name"] == "throttle_authenticated_api"
    assert (ok.headers["ratelimit-limit"], ok.headers["ratelimit-observed"]) == ("10", "1")
    assert ok.headers["ratelimit-remaining"] == "9"
    assert ok.headers["ratelimit-reset"] == str(int(clock() + 60))
    assert missing.headers["ratelimit-remaining"] == "8", "a 404 counts too"


def test_the_request_past_the_limit_is_a_429_retry_later(
    gitlab: FakeGitlab, clock: FakeClock
) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    gitlab.set_rate_limit(limit=2, observed=1, reset_at=clock() + 45)
    assert get(pipeline_url(gitlab, 287)).status == 200

    throttled = get(pipeline_url(gitlab, 287))

    assert throttled.status == 429
    assert throttled.body == b"Retry later"
    assert throttled.headers["retry-after"] == "45"
    assert throttled.headers["ratelimit-remaining"] == "0"
    reset_time = parsedate_to_datetime(throttled.headers["ratelimit-resettime"])
    assert reset_time.timestamp() == clock() + 45
    clock.advance(45)
    assert get(pipeline_url(gitlab, 287)).headers["ratelimit-observed"] == "1"


@pytest.mark.parametrize("retry_after", [30, None], ids=["with-retry-after", "without"])
def test_injected_throttles_are_429s_the_headers_did_not_announce(
    gitlab: FakeGitlab, retry_after: int | None
) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    gitlab.inject_throttle(times=1, retry_after=retry_after)

    throttled = get(pipeline_url(gitlab, 287))

    assert throttled.status == 429
    assert throttled.headers.get("retry-after") == (None if retry_after is None else "30")
    assert get(pipeline_url(gitlab, 287)).status == 200
    assert gitlab.rate_limit.observed == 1, "the injected 429 was not counted"


def test_etags_are_off_unless_asked_for(gitlab: FakeGitlab) -> None:
    gitlab.add_pipeline(PROJECT, 287)
    assert "etag" not in get(pipeline_url(gitlab, 287)).headers


def test_with_etags_a_match_is_a_304_that_still_counts(clock: FakeClock) -> None:
    with FakeGitlab(clock=clock, etags=True) as fake:
        fake.grant(TOKEN)
        fake.add_pipeline(PROJECT, 287)
        etag = get(pipeline_url(fake, 287)).headers["etag"]
        assert etag.startswith('W/"')

        again = get(pipeline_url(fake, 287), {"PRIVATE-TOKEN": TOKEN, "If-None-Match": etag})

        assert (again.status, again.body) == (304, b"")
        assert again.headers["ratelimit-observed"] == "2"
        assert fake.stats().requests == {GET_PIPELINE: 2}
        assert fake.stats().not_modified == 1


def test_seeding_rejects_statuses_gitlab_does_not_have(gitlab: FakeGitlab) -> None:
    with pytest.raises(ValueError, match="unknown pipeline status 'done'"):
        gitlab.add_pipeline(PROJECT, 1, status="done")
    gitlab.add_pipeline(PROJECT, 2)
    with pytest.raises(ValueError, match="not a finished status"):
        gitlab.finish_pipeline(PROJECT, 2, status="running")


def test_a_switched_off_throttle_sends_no_ratelimit_headers(clock: FakeClock) -> None:
    with FakeGitlab(clock=clock, rate_limit=None) as fake:
        fake.grant(TOKEN)
        fake.add_pipeline(PROJECT, 287)
        got = get(pipeline_url(fake, 287))
        assert got.status == 200
        assert not [name for name in got.headers if name.startswith("ratelimit-")]
