"""GitLab CI: how to ask about a pipeline, and how to read the answers. Pure.

Endpoint: "Get a single pipeline" (``/api/v4/projects/{url-encoded path}/pipelines/{id}``).
A pipeline is ``FINISHED`` when its status is ``success``, ``failed``, ``canceled`` or
``skipped``, at its ``finished_at`` (its ``updated_at`` when GitLab left that empty, as it
may for a skipped pipeline); ``created``, ``waiting_for_resource``, ``preparing``,
``pending``, ``running``, ``canceling``, ``manual`` and ``scheduled`` are ``ACTIVE``; a status
reaper does not know is ``UNKNOWN``, so a new state is never taken for an end.

Rate limits (GitLab's "User and IP rate limits"): ``RateLimit-Remaining`` and
``RateLimit-Reset`` on every answer; a 429 waits ``Retry-After`` seconds, else until
``RateLimit-Reset``, else a minute. Every request counts, 304s included.

GitLab pipelines have no attempts (a retried job stays in its pipeline), so a reference with
an attempt suffix is refused as ``UNSUPPORTED`` rather than guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reaper import __version__
from reaper.pipelines.model import RunRef, RunStatus, UnknownReason, parse_api_time
from reaper.pipelines.sources import GitlabSource
from reaper.pipelines.wire import Answer, Budget, Throttle, ThrottleKind

FINISHED = frozenset({"success", "failed", "canceled", "skipped"})
ACTIVE = frozenset(
    {
        "created",
        "waiting_for_resource",
        "preparing",
        "pending",
        "running",
        "canceling",
        "manual",
        "scheduled",
    }
)
THROTTLE_FALLBACK_WAIT = 60.0
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class GitlabApi:
    """The :class:`~reaper.pipelines.wire.RunApi` of one GitLab source."""

    source: GitlabSource

    @property
    def root(self) -> str:
        return self.source.api_root

    @property
    def free_not_modified(self) -> bool:
        return False

    def refuse(self, ref: RunRef) -> RunStatus | None:
        if ref.attempt is None:
            return None
        return RunStatus.unknown(
            UnknownReason.UNSUPPORTED,
            f"GitLab pipelines have no attempts; tag the pipeline id alone, not {ref.tag_value}",
        )

    def url(self, ref: RunRef) -> str:
        return self.source.pipeline_url(ref)

    def headers(self, token: str) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
            "User-Agent": f"reaper/{__version__}",
        }

    def budget(self, answer: Answer) -> Budget | None:
        remaining = _int(answer.headers.get("ratelimit-remaining"))
        if remaining is None:
            return None
        reset = _int(answer.headers.get("ratelimit-reset"))
        return Budget(remaining, None if reset is None else float(reset))

    def throttle(self, answer: Answer, now: float) -> Throttle | None:
        if answer.status != 429:
            return None
        retry_after = _int(answer.headers.get("retry-after"))
        if retry_after is not None:
            return Throttle(ThrottleKind.SECONDARY, now + max(retry_after, 0))
        reset = _int(answer.headers.get("ratelimit-reset"))
        if reset is not None and reset > now:
            return Throttle(ThrottleKind.PRIMARY, float(reset))
        return Throttle(ThrottleKind.SECONDARY, now + THROTTLE_FALLBACK_WAIT)

    def status(self, ref: RunRef, body: bytes) -> RunStatus:
        return pipeline_status(ref, body)

    def error(self, answer: Answer) -> RunStatus:
        message = _message(answer.body) or "no message"
        detail = f"HTTP {answer.status}: {message}"
        if answer.status == 404:
            return RunStatus.unknown(UnknownReason.NOT_FOUND, detail)
        if answer.status in (401, 403):
            return RunStatus.unknown(UnknownReason.UNAUTHORIZED, detail)
        return RunStatus.unknown(UnknownReason.API_ERROR, detail)


def pipeline_status(ref: RunRef, body: bytes) -> RunStatus:
    """Pure: the verdict of a pipeline JSON body on ``ref``."""
    pipeline = _json_object(body)
    if pipeline is None:
        return RunStatus.unknown(UnknownReason.UNREADABLE, "the answer is not a JSON object")
    if pipeline.get("id") != ref.run_id:
        return RunStatus.unknown(
            UnknownReason.UNREADABLE,
            f"asked for pipeline {ref.run_id}, got {pipeline.get('id')!r}",
        )
    status = pipeline.get("status")
    if status in ACTIVE:
        return RunStatus.active(str(status))
    if status not in FINISHED:
        return RunStatus.unknown(UnknownReason.UNREADABLE, f"unknown pipeline status {status!r}")
    finished_at = parse_api_time(pipeline.get("finished_at")) or parse_api_time(
        pipeline.get("updated_at")
    )
    if finished_at is None:
        return RunStatus.unknown(
            UnknownReason.UNREADABLE, f"{status} pipeline without finished_at or updated_at"
        )
    return RunStatus.finished(finished_at, str(status))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the limit
        return None
    return decoded if isinstance(decoded, dict) else None


def _message(body: bytes) -> str:
    decoded = _json_object(body)
    if decoded is None:
        return body.decode("utf-8", "replace").strip()[:_MESSAGE_CHARS]
    message = decoded.get("message", decoded.get("error", ""))
    return str(message).strip()[:_MESSAGE_CHARS]


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None
