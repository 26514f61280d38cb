"""A local fake of GitHub's "get a workflow run" REST endpoints, with its rate limits and ETags.

Serves, on loopback:

* ``GET /repos/{owner}/{repo}/actions/runs/{run_id}`` (``get-workflow-run``): the run as of
  its latest attempt;
* ``GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{n}``
  (``get-workflow-run-attempt``): one attempt of it.

What it copies from the real API (docs.github.com REST reference and "Rate limits for the
REST API"; responses recorded in PyGithub's ``tests/ReplayData``):

* the workflow-run JSON (``id``, ``run_attempt``, ``status``, ``conclusion``, ``created_at``,
  ``updated_at``, ``run_started_at``, ``html_url``, ``head_branch``, ``repository``,
  ``previous_attempt_url``, ...), timestamps as ``2026-01-01T00:00:00Z``;
* errors as ``{"message": ..., "documentation_url": ..., "status": "404"}``; a run, attempt or
  repository the token cannot see is ``404 Not Found``; no ``Authorization`` is ``401``
  ``Requires authentication``, an unknown token ``401 Bad credentials``; no ``User-Agent``
  is ``403``;
* ``Authorization: Bearer <token>`` (or the older ``token <token>``);
* an ``ETag`` on every 200. Real GitHub sends weak ones (``W/"<sha256>"``) for these
  endpoints and answers a matching ``If-None-Match`` with ``304`` and the tag in its strong
  form; ``weak_etags=False`` sends strong tags instead. A 304 carries the rate-limit headers
  and does not count against ``x-ratelimit-remaining``;
* ``x-ratelimit-limit``, ``-remaining``, ``-used``, ``-reset`` (epoch seconds) and
  ``-resource: core`` on every authenticated answer; an exhausted budget answers ``403`` (or
  ``429``) with ``x-ratelimit-remaining: 0`` and "API rate limit exceeded ...";
* secondary rate limits (:meth:`FakeGithub.inject_secondary_limit`): ``403`` or ``429`` with
  "You have exceeded a secondary rate limit ..." and, when given, ``retry-after`` seconds,
  without the ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from reaper.sandbox.ci._server import UNMATCHED, FakeApiServer, Reply

GET_RUN = "get-workflow-run"
GET_ATTEMPT = "get-workflow-run-attempt"
RUN_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
"""``status`` values of a workflow run (the REST reference's enum)."""
CONCLUSIONS = (
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "stale",
    "startup_failure",
)

_DOCS = "https://docs.github.com/rest"
_RUN_DOCS = f"{_DOCS}/actions/workflow-runs#get-a-workflow-run"
_ATTEMPT_DOCS = f"{_DOCS}/actions/workflow-runs#get-a-workflow-run-attempt"
_PRIMARY_DOCS = f"{_DOCS}/overview/rate-limits-for-the-rest-api#primary-rate-limit"
_SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/"
    "rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
_ROUTE = re.compile(
    r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs/(?P<run>\d+)"
    r"(?:/attempts/(?P<attempt>\d+))?/?"
)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Attempt:
    """One attempt of a workflow run, as the fake holds it."""

    number: int
    status: str
    conclusion: str | None
    created_at: datetime
    updated_at: datetime
    run_started_at: datetime


@dataclass
class _Run:
    repository: str
    run_id: int
    name: str
    head_branch: str
    event: str
    run_number: int
    attempts: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class GithubRateLimit:
    """The primary (``core``) budget as the fake holds it."""

    limit: int
    remaining: int
    reset_at: int
    """Epoch seconds when the window ends and ``remaining`` refills to ``limit``."""

    @property
    def used(self) -> int:
        return self.limit - self.remaining


@dataclass
class _Secondary:
    times: int
    retry_after: int | None
    status: int


class FakeGithub(FakeApiServer):
    """GitHub's workflow-run endpoints on loopback. See the module docstring for fidelity.

    ``clock`` (epoch seconds) drives timestamps and rate-limit windows; share a
    :class:`~reaper.sandbox.ci.clock.FakeClock` with the code under test to move both.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
        weak_etags: bool = True,
        rate_limit: int = 5000,
        window: int = 3600,
    ) -> None:
        super().__init__(clock=clock, latency=latency)
        self._weak_etags = weak_etags
        self._runs: dict[tuple[str, int], _Run] = {}
        self._tokens: dict[str, frozenset[str] | None] = {}
        self._window = window
        self._limit = GithubRateLimit(rate_limit, rate_limit, int(clock()) + window)
        self._limit_status = 403
        self._secondary: _Secondary | None = None

    # -- seeding -----------------------------------------------------------------------

    def grant(self, token: str, *repositories: str) -> None:
        """Accept ``token``; it sees ``repositories`` (``owner/repo``), or all when none given."""
        with self._lock:
            self._tokens[token] = frozenset(r.lower() for r in repositories) or None

    def revoke(self, token: str) -> None:
        """Make ``token`` unknown (``401 Bad credentials``)."""
        with self._lock:
            self._tokens.pop(token, None)

    def add_run(
        self,
        repository: str,
        run_id: int,
        *,
        status: str = "in_progress",
        conclusion: str | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        name: str = "CI",
        head_branch: str = "main",
        event: str = "push",
    ) -> None:
        """Seed a run with one attempt. A finished run: ``status="completed"``, a
        ``conclusion`` and ``updated_at`` (when it finished)."""
        _check_state(status, conclusion)
        created = created_at or self._now_dt()
        with self._lock:
            key = _key(repository, run_id)
            if key in self._runs:
                raise ValueError(f"run {run_id} of {repository} already exists")
            run = _Run(repository, run_id, name, head_branch, event, len(self._runs) + 1)
            run.attempts.append(
                Attempt(1, status, conclusion, created, updated_at or created, created)
            )
            self._runs[key] = run

    def rerun(self, repository: str, run_id: int, *, at: datetime | None = None) -> int:
        """Start a new attempt of a run (``queued``); returns its number."""
        when = at or self._now_dt()
        with self._lock:
            run = self._run(repository, run_id)
            number = len(run.attempts) + 1
            run.attempts.append(Attempt(number, "queued", None, when, when, when))
            return number

    def update_run(
        self,
        repository: str,
        run_id: int,
        *,
        status: str,
        conclusion: str | None = None,
        at: datetime | None = None,
        attempt: int | None = None,
    ) -> None:
        """Change an attempt's state (the latest one unless ``attempt`` is given); ``at``
        becomes its ``updated_at``."""
        _check_state(status, conclusion)
        when = at or self._now_dt()
        with self._lock:
            run = self._run(repository, run_id)
            index = (attempt or len(run.attempts)) - 1
            if not 0 <= index < len(run.attempts):
                raise KeyError(f"run {run_id} of {repository} has no attempt {attempt}")
            run.attempts[index] = replace(
                run.attempts[index], status=status, conclusion=conclusion, updated_at=when
            )

    def finish_run(
        self,
        repository: str,
        run_id: int,
        *,
        at: datetime | None = None,
        conclusion: str = "success",
        attempt: int | None = None,
    ) -> None:
        """Complete an attempt at ``at`` (now by default) with ``conclusion``."""
        self.update_run(
            repository, run_id, status="completed", conclusion=conclusion, at=at, attempt=attempt
        )

    def delete_run(self, repository: str, run_id: int) -> None:
        """Remove a run: it answers ``404`` from now on."""
        with self._lock:
            self._runs.pop(_key(repository, run_id), None)

    def attempts(self, repository: str, run_id: int) -> tuple[Attempt, ...]:
        with self._lock:
            return tuple(self._run(repository, run_id).attempts)

    # -- rate limits -------------------------------------------------------------------

    def set_rate_limit(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_at: float | None = None,
        status: int | None = None,
    ) -> None:
        """Set the primary budget. ``reset_at`` (epoch seconds) ends the current window;
        after it the budget refills to ``limit`` for a new window. ``status``: 403 (GitHub's
        usual answer when exhausted) or 429."""
        if status not in (None, 403, 429):
            raise ValueError(f"GitHub answers an exhausted budget with 403 or 429, not {status}")
        with self._lock:
            current = self._current_limit()
            new_limit = current.limit if limit is None else limit
            self._limit = GithubRateLimit(
                new_limit,
                min(new_limit, current.remaining if remaining is None else remaining),
                current.reset_at if reset_at is None else int(reset_at),
            )
            self._limit_status = status or self._limit_status

    @property
    def rate_limit(self) -> GithubRateLimit:
        with self._lock:
            return self._current_limit()

    def inject_secondary_limit(
        self, *, times: int = 1, retry_after: int | None = 60, status: int = 403
    ) -> None:
        """Answer the next ``times`` authenticated requests with a secondary-rate-limit error.

        ``retry_after`` None leaves out the ``retry-after`` header (GitHub then says to wait
        at least a minute).
        """
        if status not in (403, 429):
            raise ValueError(f"a secondary rate limit is a 403 or a 429, not {status}")
        with self._lock:
            self._secondary = _Secondary(times, retry_after, status) if times > 0 else None

    # -- serving -----------------------------------------------------------------------

    def _route(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[str, Reply]:
        match = _ROUTE.fullmatch(path)
        if match is None or method not in ("GET", "HEAD"):
            return UNMATCHED, _error(404, "Not Found", _DOCS)
        endpoint = GET_ATTEMPT if match["attempt"] else GET_RUN
        docs = _ATTEMPT_DOCS if match["attempt"] else _RUN_DOCS
        if not headers.get("user-agent"):
            return endpoint, _error(
                403,
                "Request forbidden by administrative rules. "
                "Please make sure your request has a User-Agent header",
                _DOCS,
            )
        token = _bearer(headers.get("authorization", ""))
        if token is None:
            return endpoint, _error(401, "Requires authentication", docs)
        if token not in self._tokens:
            return endpoint, _error(401, "Bad credentials", _DOCS)
        injected = self._injected_error()
        if injected is not None:
            return endpoint, injected
        if self._secondary is not None:
            return endpoint, self._secondary_reply()
        budget = self._current_limit()
        if budget.remaining <= 0:
            return endpoint, _error(
                self._limit_status,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                "for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
                _PRIMARY_DOCS,
                self._limit_headers(budget),
            )
        repository = f"{match['owner']}/{match['repo']}"
        payload = self._payload(token, repository, int(match["run"]), match["attempt"])
        if payload is None:
            return endpoint, self._counted(_error(404, "Not Found", docs))
        body = json.dumps(payload, separators=(",", ":")).encode()
        digest = hashlib.sha256(body).hexdigest()
        if _etag_matches(headers.get("if-none-match", ""), digest):
            # Not counted against the budget, as GitHub documents for a conditional request.
            return endpoint, Reply(304, {"ETag": f'"{digest}"', **self._limit_headers(budget)})
        etag = f'W/"{digest}"' if self._weak_etags else f'"{digest}"'
        reply = Reply(
            200,
            {
                "Content-Type": "application/json; charset=utf-8",
                "Cache-Control": "private, max-age=60, s-maxage=60",
                "ETag": etag,
                "X-GitHub-Api-Version-Selected": "2022-11-28",
            },
            body,
        )
        return endpoint, self._counted(reply)

    def _counted(self, reply: Reply) -> Reply:
        """``reply`` after spending one request of the budget, with the rate-limit headers."""
        budget = self._current_limit()
        self._limit = replace(budget, remaining=budget.remaining - 1)
        return replace(reply, headers={**reply.headers, **self._limit_headers(self._limit)})

    def _secondary_reply(self) -> Reply:
        assert self._secondary is not None
        secondary = self._secondary
        secondary.times -= 1
        if secondary.times <= 0:
            self._secondary = None
        retry_after = secondary.retry_after
        headers = {} if retry_after is None else {"retry-after": str(retry_after)}
        return _error(
            secondary.status,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            "request ID 0000:0000:0000000:0000000:00000000.",
            _SECONDARY_DOCS,
            headers,
        )

    def _current_limit(self) -> GithubRateLimit:
        """The budget, refilled if its window has ended."""
        now = self._now()
        if now >= self._limit.reset_at:
            self._limit = GithubRateLimit(
                self._limit.limit, self._limit.limit, int(now) + self._window
            )
        return self._limit

    @staticmethod
    def _limit_headers(budget: GithubRateLimit) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(budget.limit),
            "x-ratelimit-remaining": str(max(budget.remaining, 0)),
            "x-ratelimit-used": str(min(budget.used, budget.limit)),
            "x-ratelimit-reset": str(budget.reset_at),
            "x-ratelimit-resource": "core",
        }

    def _payload(
        self, token: str, repository: str, run_id: int, attempt: str | None
    ) -> dict[str, Any] | None:
        visible = self._tokens[token]
        if visible is not None and repository.lower() not in visible:
            return None
        run = self._runs.get(_key(repository, run_id))
        if run is None:
            return None
        if attempt is None:
            return self._run_json(run, run.attempts[-1], attempt_path=False)
        number = int(attempt)
        if not 1 <= number <= len(run.attempts):
            return None
        return self._run_json(run, run.attempts[number - 1], attempt_path=True)

    def _run_json(self, run: _Run, attempt: Attempt, *, attempt_path: bool) -> dict[str, Any]:
        owner, name = run.repository.split("/", 1)
        api = f"{self.url}/repos/{run.repository}"
        run_url = f"{api}/actions/runs/{run.run_id}"
        scoped = f"{run_url}/attempts/{attempt.number}" if attempt_path else run_url
        repo_id = int(hashlib.sha256(run.repository.lower().encode()).hexdigest()[:8], 16)
        owner_json = {
            "login": owner,
            "id": repo_id // 7 + 1,
            "type": "Organization",
            "url": f"{self.url}/users/{owner}",
            "html_url": f"https://github.com/{owner}",
            "site_admin": False,
        }
        sha = hashlib.sha1(f"{run.repository}:{run.run_id}".encode(), usedforsecurity=False)
        return {
            "id": run.run_id,
            "name": run.name,
            "node_id": f"WFR_fake{run.run_id}",
            "head_branch": run.head_branch,
            "head_sha": sha.hexdigest(),
            "path": ".github/workflows/ci.yml",
            "display_title": run.name,
            "run_number": run.run_number,
            "event": run.event,
            "status": attempt.status,
            "conclusion": attempt.conclusion,
            "workflow_id": 1000 + repo_id % 1000,
            "check_suite_id": run.run_id * 10 + attempt.number,
            "url": run_url,
            "html_url": f"https://github.com/{run.repository}/actions/runs/{run.run_id}",
            "pull_requests": [],
            "created_at": _ts(attempt.created_at),
            "updated_at": _ts(attempt.updated_at),
            "run_attempt": attempt.number,
            "referenced_workflows": [],
            "run_started_at": _ts(attempt.run_started_at),
            "jobs_url": f"{scoped}/jobs",
            "logs_url": f"{scoped}/logs",
            "artifacts_url": f"{run_url}/artifacts",
            "cancel_url": f"{run_url}/cancel",
            "rerun_url": f"{run_url}/rerun",
            "previous_attempt_url": (
                f"{run_url}/attempts/{attempt.number - 1}" if attempt.number > 1 else None
            ),
            "workflow_url": f"{api}/actions/workflows/{1000 + repo_id % 1000}",
            "repository": {
                "id": repo_id,
                "node_id": f"R_fake{repo_id}",
                "name": name,
                "full_name": run.repository,
                "private": True,
                "owner": owner_json,
                "html_url": f"https://github.com/{run.repository}",
                "fork": False,
                "url": api,
            },
        }

    def _run(self, repository: str, run_id: int) -> _Run:
        run = self._runs.get(_key(repository, run_id))
        if run is None:
            raise KeyError(f"no run {run_id} in {repository}")
        return run

    def _now_dt(self) -> datetime:
        return datetime.fromtimestamp(self._now(), UTC)


def _key(repository: str, run_id: int) -> tuple[str, int]:
    if repository.count("/") != 1:
        raise ValueError(f"repository must be owner/repo, not {repository!r}")
    return repository.lower(), run_id


def _check_state(status: str, conclusion: str | None) -> None:
    if status not in RUN_STATUSES:
        raise ValueError(f"unknown run status {status!r} (valid: {', '.join(RUN_STATUSES)})")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise ValueError(f"unknown conclusion {conclusion!r} (valid: {', '.join(CONCLUSIONS)})")
    if (status == "completed") != (conclusion is not None):
        raise ValueError("a completed run has a conclusion, and only a completed run has one")


def _bearer(value: str) -> str | None:
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() in ("bearer", "token") and credential.strip():
        return credential.strip()
    return None


def _etag_matches(if_none_match: str, digest: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): ``W/"x"`` matches ``"x"``; ``*`` matches anything."""
    for candidate in _split_etags(if_none_match):
        if candidate == "*" or candidate.removeprefix("W/") == f'"{digest}"':
            return True
    return False


def _split_etags(value: str) -> Iterable[str]:
    return (part.strip() for part in value.split(",") if part.strip())


def _error(status: int, message: str, docs: str, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply.json(
        status,
        {"message": message, "documentation_url": docs, "status": str(status)},
        headers,
    )
