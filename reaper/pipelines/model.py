"""Pure data of pipeline-run lookups: which run a resource belongs to, and what became of it.

Nothing here does I/O or reads a clock. ``RunRef.parse`` reads tag values; the verdicts
(:class:`RunStatus`) are built by :mod:`reaper.pipelines.github` and
:mod:`reaper.pipelines.gitlab` from API answers and consumed by the policy, which keeps
a resource whose run is ``ACTIVE`` or ``UNKNOWN`` and may act on one whose run is
``FINISHED`` once ``finished_at`` is far enough in the past.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reaper.pipelines.errors import InvalidRunTag

LABEL_VALUE = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
"""A value both a GCP label and a Kubernetes label accept, lower-case only: the common
ground of every provider reaper tags (AWS tags accept it too)."""
_RUN_VALUE = re.compile(r"(?P<run>[1-9][0-9]{0,19})(?:-(?P<attempt>[1-9][0-9]{0,4}))?")


@dataclass(frozen=True, slots=True)
class RunRef:
    """One CI run, as named by a resource's tags. Hashable: the dedup key of a sweep."""

    source_alias: str
    """The key of a configured source (a GitHub repository or a GitLab project)."""
    run_id: int
    """GitHub's workflow run id, or GitLab's pipeline id (the global ``id``, not ``iid``)."""
    attempt: int | None = None
    """GitHub's ``run_attempt``; None asks for the run as of its latest attempt."""

    @classmethod
    def parse(cls, source_alias: str, run_value: str) -> RunRef:
        """Pure: the run named by a source-alias tag value and a run tag value.

        ``run_value`` is ``<run id>`` or ``<run id>-<attempt>`` (``4711-2``: run 4711,
        attempt 2), e.g. ``${{ github.run_id }}-${{ github.run_attempt }}`` or
        ``$CI_PIPELINE_ID``. Both must be label values (lower-case ``[a-z0-9_-]``), which
        is why a repository is named by an alias and not by itself.
        """
        alias = source_alias.strip()
        if not LABEL_VALUE.fullmatch(alias):
            raise InvalidRunTag(
                f"source alias {source_alias!r} is not a label value "
                "(lower-case letters, digits, '_' and '-', 1-63, starting and ending "
                "with a letter or digit)"
            )
        match = _RUN_VALUE.fullmatch(run_value.strip())
        if match is None:
            raise InvalidRunTag(
                f"run {run_value!r} is not a run id or <run id>-<attempt> (e.g. 4711, 4711-2)"
            )
        attempt = match["attempt"]
        return cls(alias, int(match["run"]), int(attempt) if attempt else None)

    @property
    def tag_value(self) -> str:
        """The run tag value that names this run: ``4711`` or ``4711-2``."""
        return f"{self.run_id}" if self.attempt is None else f"{self.run_id}-{self.attempt}"

    @property
    def sort_key(self) -> tuple[str, int, int]:
        """Orders references by source, run and attempt (the latest-attempt reference first)."""
        return self.source_alias, self.run_id, self.attempt or 0

    def __str__(self) -> str:
        return f"{self.source_alias}/{self.tag_value}"


def run_ref_from_tags(tags: Mapping[str, str], *, run_key: str, source_key: str) -> RunRef | None:
    """Pure: the run a resource's tags name, or None when either tag is missing.

    Raises :class:`InvalidRunTag` when both are present and one cannot be read; the caller
    keeps such a resource (``Reason.INVALID_TAG``).
    """
    run_value, alias = tags.get(run_key), tags.get(source_key)
    if run_value is None or alias is None:
        return None
    return RunRef.parse(alias, run_value)


class RunState(StrEnum):
    """What became of a run. Only ``FINISHED`` lets a resource die with its run."""

    ACTIVE = "active"
    """Queued, running, waiting for approval or a manual job: its resources are in use."""
    FINISHED = "finished"
    """Over, whatever the outcome; ``RunStatus.finished_at`` says when."""
    UNKNOWN = "unknown"
    """Nobody could say; ``RunStatus.reason`` says why. Treat as not finished."""


class UnknownReason(StrEnum):
    """Why a run's state is ``UNKNOWN``."""

    UNCONFIGURED_SOURCE = "unconfigured-source"
    """The source alias names no configured source."""
    NO_TOKEN = "no-token"  # noqa: S105 (a reason, not a password)
    """The source's token environment variable is unset or empty; nothing was sent."""
    UNSUPPORTED = "unsupported"
    """The reference cannot be asked of this source (an attempt of a GitLab pipeline)."""
    NOT_FOUND = "not-found"
    """404: the run was deleted, never existed, or the token cannot see it."""
    UNAUTHORIZED = "unauthorized"
    """401 or 403: the token was refused."""
    RATE_LIMITED = "rate-limited"
    """The API's budget was spent and would not come back within the sweep's wait bound."""
    API_ERROR = "api-error"
    """Any other answer (5xx, a redirect elsewhere), or none (timeout, refused connection)."""
    UNREADABLE = "unreadable"
    """The answer was not the run asked for, or lacked a state or time reaper can use."""


@dataclass(frozen=True, slots=True)
class RunStatus:
    """The verdict on one run. Build it with :meth:`active`, :meth:`finished`, :meth:`unknown`."""

    state: RunState
    finished_at: datetime | None = None
    """When the run ended (aware); set exactly when ``state`` is ``FINISHED``."""
    reason: UnknownReason | None = None
    """Why the state is unknown; set exactly when ``state`` is ``UNKNOWN``."""
    detail: str = ""
    """A redacted, human-readable note: the API's status, an error message."""

    def __post_init__(self) -> None:
        if (self.state is RunState.FINISHED) != (self.finished_at is not None):
            raise ValueError("finished_at is set exactly when the run is finished")
        if self.finished_at is not None and self.finished_at.tzinfo is None:
            raise ValueError("finished_at must be timezone-aware")
        if (self.state is RunState.UNKNOWN) != (self.reason is not None):
            raise ValueError("reason is set exactly when the state is unknown")

    @classmethod
    def active(cls, detail: str = "") -> RunStatus:
        return cls(RunState.ACTIVE, detail=detail)

    @classmethod
    def finished(cls, at: datetime, detail: str = "") -> RunStatus:
        return cls(RunState.FINISHED, finished_at=at, detail=detail)

    @classmethod
    def unknown(cls, reason: UnknownReason, detail: str = "") -> RunStatus:
        return cls(RunState.UNKNOWN, reason=reason, detail=detail)


def parse_api_time(value: object) -> datetime | None:
    """Pure: an API timestamp (``2026-01-01T00:00:00Z``, ``...00.123Z``) as an aware datetime.

    None for anything else, including a time without an offset.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
