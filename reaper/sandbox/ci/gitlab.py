"""A local fake of GitLab's "get a single pipeline" REST endpoint, with its rate-limit headers.

Serves ``GET /api/v4/projects/{id}/pipelines/{pipeline_id}`` (``get-pipeline``) on loopback,
where ``{id}`` is the numeric project id or the URL-encoded path (``platform%2Finfra``). An
unencoded path (``/projects/platform/infra/pipelines/1``) matches no route, as on GitLab.

What it copies from the real API (GitLab's ``doc/api/pipelines.md``, ``doc/api/rest`` and
``doc/administration/settings/user_and_ip_rate_limits.md``; python-gitlab's unit tests):

* the pipeline JSON (``id``, ``iid``, ``project_id``, ``status``, ``source``, ``ref``,
  ``sha``, ``created_at``, ``updated_at``, ``started_at``, ``finished_at``, ``duration``,
  ``web_url``, ``user``, ``detailed_status``, ...), timestamps as ``2026-01-01T00:00:00.000Z``;
* ``PRIVATE-TOKEN: <token>`` or ``Authorization: Bearer <token>``; none or an unknown one is
  ``401 {"message": "401 Unauthorized"}``; a project the token cannot see is
  ``404 {"message": "404 Project Not Found"}``; a missing pipeline
  ``404 {"message": "404 Not found"}``; an unmatched route ``404 {"error": "404 Not Found"}``;
* ``RateLimit-Name``, ``RateLimit-Limit``, ``RateLimit-Observed``, ``RateLimit-Remaining`` and
  ``RateLimit-Reset`` (epoch seconds) on every authenticated answer. Every request counts,
  and the one past the limit is throttled (Rack::Attack's rule): ``429`` with the plain-text
  body ``Retry later``, ``Retry-After`` (seconds) and ``RateLimit-ResetTime`` (HTTP date);
* :meth:`FakeGitlab.inject_throttle`: 429s from a limit the headers do not show (GitLab's
  application limits, or a CDN in front), with or without ``Retry-After``.

Not documented for this endpoint, so off by default: ``etags=True`` adds a weak ``ETag``
(Rails' ``Rack::ETag``) and answers a matching ``If-None-Match`` with 304, which still counts.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

from reaper.sandbox.ci._server import UNMATCHED, FakeApiServer, Reply

GET_PIPELINE = "get-pipeline"
PIPELINE_STATUSES = (
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "running",
    "success",
    "failed",
    "canceled",
    "skipped",
    "manual",
    "scheduled",
)
FINISHED_STATUSES = frozenset({"success", "failed", "canceled", "skipped"})
_THROTTLE_NAME = "throttle_authenticated_api"
_ROUTE = re.compile(r"/api/v4/projects/(?P<project>[^/]+)/pipelines/(?P<pipeline>\d+)/?")


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Pipeline:
    """A pipeline as the fake holds it."""

    project_id: int
    id: int
    iid: int
    status: str
    ref: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class GitlabRateLimit:
    """The authenticated-API throttle as the fake holds it."""

    limit: int
    observed: int
    reset_at: int
    """Epoch seconds when the period ends and ``observed`` starts again from zero."""

    @property
    def remaining(self) -> int:
        return max(self.limit - self.observed, 0)


class FakeGitlab(FakeApiServer):
    """GitLab's single-pipeline endpoint on loopback. See the module docstring for fidelity."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
        rate_limit: int | None = 2000,
        period: int = 60,
        etags: bool = False,
    ) -> None:
        """``rate_limit``: authenticated API requests per ``period`` seconds; None switches
        the throttle and its headers off (GitLab Self-Managed's default)."""
        super().__init__(clock=clock, latency=latency)
        self._throttled = rate_limit is not None
        self._projects: dict[str, int] = {}
        self._pipelines: dict[tuple[int, int], Pipeline] = {}
        self._tokens: dict[str, frozenset[int] | None] = {}
        self._period = period
        self._limit = GitlabRateLimit(rate_limit or 0, 0, int(clock()) + period)
        self._etags = etags
        self._injected: list[int | None] = []

    # -- seeding -----------------------------------------------------------------------

    def add_project(self, path: str, project_id: int | None = None) -> int:
        """Register ``group/project`` (idempotent); returns its numeric id."""
        with self._lock:
            if path in self._projects:
                return self._projects[path]
            new_id = project_id or 1000 + len(self._projects)
            if new_id in self._projects.values():
                raise ValueError(f"project id {new_id} is taken")
            self._projects[path] = new_id
            return new_id

    def grant(self, token: str, *projects: str) -> None:
        """Accept ``token``; it sees ``projects`` (paths), or all when none given."""
        with self._lock:
            ids = frozenset(self.add_project(p) for p in projects)
            self._tokens[token] = ids or None

    def add_pipeline(
        self,
        project: str,
        pipeline_id: int,
        *,
        status: str = "running",
        created_at: datetime | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        updated_at: datetime | None = None,
        ref: str = "main",
    ) -> None:
        """Seed a pipeline. A finished one: a finished status and its ``finished_at``."""
        _check_status(status)
        created = created_at or self._now_dt()
        with self._lock:
            project_id = self.add_project(project)
            if (project_id, pipeline_id) in self._pipelines:
                raise ValueError(f"pipeline {pipeline_id} of {project} already exists")
            iid = 1 + sum(1 for p in self._pipelines.values() if p.project_id == project_id)
            if status not in ("created", "pending") and started_at is None:
                started_at = created
            self._pipelines[(project_id, pipeline_id)] = Pipeline(
                project_id=project_id,
                id=pipeline_id,
                iid=iid,
                status=status,
                ref=ref,
                created_at=created,
                updated_at=updated_at or finished_at or created,
                started_at=started_at,
                finished_at=finished_at,
            )

    def update_pipeline(
        self,
        project: str,
        pipeline_id: int,
        *,
        status: str,
        at: datetime | None = None,
    ) -> None:
        """Move a pipeline to ``status`` at ``at`` (now by default). A finished status sets
        ``finished_at``; an active one clears it (a retried pipeline runs again)."""
        _check_status(status)
        when = at or self._now_dt()
        with self._lock:
            key = (self.add_project(project), pipeline_id)
            if key not in self._pipelines:
                raise KeyError(f"no pipeline {pipeline_id} in {project}")
            old = self._pipelines[key]
            self._pipelines[key] = replace(
                old,
                status=status,
                updated_at=when,
                started_at=old.started_at or when,
                finished_at=when if status in FINISHED_STATUSES else None,
            )

    def finish_pipeline(
        self, project: str, pipeline_id: int, *, at: datetime | None = None, status: str = "success"
    ) -> None:
        if status not in FINISHED_STATUSES:
            raise ValueError(f"{status!r} is not a finished status ({sorted(FINISHED_STATUSES)})")
        self.update_pipeline(project, pipeline_id, status=status, at=at)

    def delete_pipeline(self, project: str, pipeline_id: int) -> None:
        with self._lock:
            self._pipelines.pop((self.add_project(project), pipeline_id), None)

    # -- rate limits -------------------------------------------------------------------

    def set_rate_limit(
        self,
        *,
        limit: int | None = None,
        observed: int | None = None,
        reset_at: float | None = None,
    ) -> None:
        """Set the throttle (switching it on): requests allowed per period, how many the
        period has seen, and when it ends (epoch seconds; a new period then starts at zero)."""
        with self._lock:
            self._throttled = True
            current = self._current_limit()
            self._limit = GitlabRateLimit(
                current.limit if limit is None else limit,
                current.observed if observed is None else observed,
                current.reset_at if reset_at is None else int(reset_at),
            )

    @property
    def rate_limit(self) -> GitlabRateLimit:
        with self._lock:
            return self._current_limit()

    def inject_throttle(self, *, times: int = 1, retry_after: int | None = 30) -> None:
        """Answer the next ``times`` authenticated requests ``429 Retry later`` (uncounted)."""
        with self._lock:
            self._injected = [retry_after] * times

    # -- serving -----------------------------------------------------------------------

    def _route(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[str, Reply]:
        match = _ROUTE.fullmatch(path)
        if match is None or method not in ("GET", "HEAD"):
            return UNMATCHED, Reply.json(404, {"error": "404 Not Found"})
        token = headers.get("private-token", "").strip() or _bearer(
            headers.get("authorization", "")
        )
        if not token or token not in self._tokens:
            return GET_PIPELINE, Reply.json(401, {"message": "401 Unauthorized"})
        injected = self._injected_error()
        if injected is not None:
            return GET_PIPELINE, injected
        if self._injected:
            retry_after = self._injected.pop(0)
            extra = {} if retry_after is None else {"Retry-After": str(retry_after)}
            return GET_PIPELINE, Reply.text(429, "Retry later", extra)
        budget = self._current_limit()
        self._limit = budget = replace(budget, observed=budget.observed + 1)
        limit_headers = self._limit_headers(budget) if self._throttled else {}
        if self._throttled and budget.observed > budget.limit:
            wait = max(budget.reset_at - int(self._now()), 0)
            throttled = {
                **limit_headers,
                "RateLimit-ResetTime": formatdate(budget.reset_at, usegmt=True),
                "Retry-After": str(wait),
            }
            return GET_PIPELINE, Reply.text(429, "Retry later", throttled)
        project_id = self._project_id(unquote(match["project"]))
        visible = self._tokens[token]
        if project_id is None or (visible is not None and project_id not in visible):
            return GET_PIPELINE, Reply.json(
                404, {"message": "404 Project Not Found"}, limit_headers
            )
        pipeline = self._pipelines.get((project_id, int(match["pipeline"])))
        if pipeline is None:
            return GET_PIPELINE, Reply.json(404, {"message": "404 Not found"}, limit_headers)
        reply = Reply.json(200, self._pipeline_json(pipeline), limit_headers)
        if not self._etags:
            return GET_PIPELINE, reply
        digest = hashlib.sha256(reply.body).hexdigest()[:32]
        sent = headers.get("if-none-match", "").split(",")
        candidates = [tag.strip().removeprefix("W/") for tag in sent]
        if f'"{digest}"' in candidates:
            return GET_PIPELINE, Reply(304, {"ETag": f'W/"{digest}"', **limit_headers})
        return GET_PIPELINE, replace(reply, headers={**reply.headers, "ETag": f'W/"{digest}"'})

    def _project_id(self, ref: str) -> int | None:
        if ref.isdigit():
            return int(ref) if int(ref) in self._projects.values() else None
        return self._projects.get(ref)

    def _pipeline_json(self, pipeline: Pipeline) -> dict[str, Any]:
        path = next(p for p, i in self._projects.items() if i == pipeline.project_id)
        duration = (
            int((pipeline.finished_at - pipeline.started_at).total_seconds())
            if pipeline.finished_at and pipeline.started_at
            else None
        )
        sha = hashlib.sha1(f"{path}:{pipeline.id}".encode(), usedforsecurity=False).hexdigest()
        return {
            "id": pipeline.id,
            "iid": pipeline.iid,
            "project_id": pipeline.project_id,
            "name": None,
            "sha": sha,
            "ref": pipeline.ref,
            "status": pipeline.status,
            "source": "push",
            "created_at": _ts(pipeline.created_at),
            "updated_at": _ts(pipeline.updated_at),
            "web_url": f"{self.url}/{path}/-/pipelines/{pipeline.id}",
            "before_sha": "0" * 40,
            "tag": False,
            "yaml_errors": None,
            "user": {
                "id": 1,
                "username": "ci-bot",
                "name": "CI Bot",
                "state": "active",
                "web_url": f"{self.url}/ci-bot",
            },
            "started_at": _ts(pipeline.started_at),
            "finished_at": _ts(pipeline.finished_at),
            "committed_at": None,
            "duration": duration,
            "queued_duration": 0.5,
            "coverage": None,
            "detailed_status": {
                "icon": f"status_{pipeline.status}",
                "text": pipeline.status,
                "label": pipeline.status,
                "group": pipeline.status,
                "has_details": True,
                "details_path": f"/{path}/-/pipelines/{pipeline.id}",
            },
        }

    def _current_limit(self) -> GitlabRateLimit:
        now = self._now()
        if now >= self._limit.reset_at:
            self._limit = GitlabRateLimit(self._limit.limit, 0, int(now) + self._period)
        return self._limit

    @staticmethod
    def _limit_headers(budget: GitlabRateLimit) -> dict[str, str]:
        return {
            "RateLimit-Name": _THROTTLE_NAME,
            "RateLimit-Limit": str(budget.limit),
            "RateLimit-Observed": str(budget.observed),
            "RateLimit-Remaining": str(budget.remaining),
            "RateLimit-Reset": str(budget.reset_at),
        }

    def _now_dt(self) -> datetime:
        return datetime.fromtimestamp(self._now(), UTC)


def _check_status(status: str) -> None:
    if status not in PIPELINE_STATUSES:
        raise ValueError(
            f"unknown pipeline status {status!r} (valid: {', '.join(PIPELINE_STATUSES)})"
        )


def _bearer(value: str) -> str:
    scheme, _, credential = value.strip().partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""
