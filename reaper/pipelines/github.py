"""GitHub Actions: how to ask about a workflow run, and how to read the answers. Pure.

Endpoints: "Get a workflow run" (``/repos/{owner}/{repo}/actions/runs/{run_id}``) and, for
a reference with an attempt, "Get a workflow run attempt" (``.../attempts/{n}``). A run is
``FINISHED`` when its ``status`` is ``completed``, at its ``updated_at`` (the time of the
last change, which for a completed attempt is its completion); any other status
(``queued``, ``in_progress``, ``waiting``, ``requested``, ``pending``) is ``ACTIVE``.

Rate limits, as GitHub's "Rate limits for the REST API" prescribes: a 403 or 429 with
``retry-after`` waits that long; one with ``x-ratelimit-remaining: 0`` waits for
``x-ratelimit-reset``; one whose message says "secondary rate limit" without either waits
a minute. Any other 403 is a refusal of the token. 304s are free.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from reaper import __version__
from reaper.pipelines.model import RunRef, RunStatus, UnknownReason, parse_api_time
from reaper.pipelines.sources import GithubSource
from reaper.pipelines.wire import Answer, Budget, Throttle, ThrottleKind

API_VERSION = "2022-11-28"
SECONDARY_FALLBACK_WAIT = 60.0
_SECONDARY = re.compile(r"(?i)\bsecondary rate\b")
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class GithubApi:
    """The :class:`~reaper.pipelines.wire.RunApi` of one GitHub source."""

    source: GithubSource

    @property
    def root(self) -> str:
        return self.source.api_root

    @property
    def free_not_modified(self) -> bool:
        return True

    def refuse(self, ref: RunRef) -> RunStatus | None:
        return None

    def url(self, ref: RunRef) -> str:
        return self.source.run_url(ref)

    def headers(self, token: str) -> dict[str, str]:
        return {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "User-Agent": f"reaper/{__version__}",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def budget(self, answer: Answer) -> Budget | None:
        remaining = _int(answer.headers.get("x-ratelimit-remaining"))
        if remaining is None:
            return None
        reset = _int(answer.headers.get("x-ratelimit-reset"))
        return Budget(remaining, None if reset is None else float(reset))

    def throttle(self, answer: Answer, now: float) -> Throttle | None:
        if answer.status not in (403, 429):
            return None
        retry_after = _int(answer.headers.get("retry-after"))
        if retry_after is not None:
            return Throttle(ThrottleKind.SECONDARY, now + max(retry_after, 0))
        if answer.headers.get("x-ratelimit-remaining") == "0":
            reset = _int(answer.headers.get("x-ratelimit-reset"))
            until = float(reset) if reset is not None and reset > now else now + 60.0
            return Throttle(ThrottleKind.PRIMARY, until)
        if answer.status == 429 or _SECONDARY.search(_message(answer.body)):
            return Throttle(ThrottleKind.SECONDARY, now + SECONDARY_FALLBACK_WAIT)
        return None

    def status(self, ref: RunRef, body: bytes) -> RunStatus:
        return run_status(ref, body)

    def error(self, answer: Answer) -> RunStatus:
        message = _message(answer.body) or "no message"
        detail = f"HTTP {answer.status}: {message}"
        if answer.status == 404:
            return RunStatus.unknown(UnknownReason.NOT_FOUND, detail)
        if answer.status in (401, 403):
            return RunStatus.unknown(UnknownReason.UNAUTHORIZED, detail)
        return RunStatus.unknown(UnknownReason.API_ERROR, detail)


def run_status(ref: RunRef, body: bytes) -> RunStatus:
    """Pure: the verdict of a workflow-run (or attempt) JSON body on ``ref``."""
    run = _json_object(body)
    if run is None:
        return RunStatus.unknown(UnknownReason.UNREADABLE, "the answer is not a JSON object")
    if run.get("id") != ref.run_id:
        return RunStatus.unknown(
            UnknownReason.UNREADABLE, f"asked for run {ref.run_id}, got {run.get('id')!r}"
        )
    if ref.attempt is not None and run.get("run_attempt") != ref.attempt:
        return RunStatus.unknown(
            UnknownReason.UNREADABLE,
            f"asked for attempt {ref.attempt}, got {run.get('run_attempt')!r}",
        )
    status = run.get("status")
    if not isinstance(status, str) or not status:
        return RunStatus.unknown(UnknownReason.UNREADABLE, "the run has no status")
    if status != "completed":
        return RunStatus.active(status)
    finished_at = parse_api_time(run.get("updated_at"))
    if finished_at is None:
        return RunStatus.unknown(
            UnknownReason.UNREADABLE, f"completed run with updated_at {run.get('updated_at')!r}"
        )
    return RunStatus.finished(finished_at, f"completed ({run.get('conclusion')})")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the limit
        return None
    return decoded if isinstance(decoded, dict) else None


def _message(body: bytes) -> str:
    decoded = _json_object(body)
    message = decoded.get("message") if decoded else body.decode("utf-8", "replace")
    return str(message).strip()[:_MESSAGE_CHARS]


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None
