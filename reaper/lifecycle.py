"""Pure: the lifecycle state reaper keeps on resources themselves, as tags.

Marks live on the resource so owners see them in their console and so they survive
restarts without a local database. Values are label-safe (lowercase, digits, dashes,
epoch seconds) so the same scheme works for GCP labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

STATE = "reaper-state"
MARKED_AT = "reaper-marked-at"
ACTION = "reaper-action"
REASON = "reaper-reason"
QUARANTINED_AT = "reaper-quarantined-at"
FAILURES = "reaper-failures"
LAST_FAILURE_AT = "reaper-last-failure-at"
SIGNATURE = "reaper-signature"
"""Reserved for signed lifecycle state, not written yet: reaper's IAM policy already lets
reaper write it, and the example SCP already keeps every other principal from it."""

MARK_KEYS = (STATE, MARKED_AT, ACTION, REASON)
FAILURE_KEYS = (FAILURES, LAST_FAILURE_AT)
ALL_KEYS = (*MARK_KEYS, QUARANTINED_AT, *FAILURE_KEYS)
RESERVED_KEYS = (SIGNATURE,)
"""Lifecycle keys reaper does not write yet but keeps for itself (IAM policy, SCP)."""
_ANY_KEY = frozenset(ALL_KEYS)

# What reaper writes: ASCII digits only (str.isdigit also takes "²" and other scripts'
# digits, which int() then rejects or reads), and epochs of at most 11 digits (up to the
# year 5138), so adding a grace period or a backoff can never overflow a datetime.
_COUNT = re.compile(r"[0-9]+")
_EPOCH = re.compile(r"[0-9]{1,11}")


class State(StrEnum):
    MARKED = "marked"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class Lifecycle:
    """What reaper's own tags say about a resource."""

    state: State | None = None
    marked_at: datetime | None = None
    action: str | None = None
    """The action announced by the mark (``delete`` or ``quarantine``)."""
    reason: str | None = None
    quarantined_at: datetime | None = None
    failures: int = 0
    last_failure_at: datetime | None = None


_UNTOUCHED = Lifecycle()


class LifecycleTagError(ValueError):
    """One of reaper's own tags has a value reaper did not write."""


def read_lifecycle(tags: Mapping[str, str]) -> Lifecycle:
    """Parse reaper's lifecycle tags. Pure. Raises LifecycleTagError for odd values."""
    if _ANY_KEY.isdisjoint(tags):
        return _UNTOUCHED
    state_value = tags.get(STATE)
    state = None
    if state_value is not None:
        try:
            state = State(state_value)
        except ValueError:
            raise LifecycleTagError(f"tag {STATE}: unknown state {state_value!r}") from None
    failures_value = tags.get(FAILURES, "0")
    if not _COUNT.fullmatch(failures_value):
        raise LifecycleTagError(f"tag {FAILURES}: {failures_value!r} is not a count")
    return Lifecycle(
        state=state,
        marked_at=_epoch(tags, MARKED_AT),
        action=tags.get(ACTION),
        reason=tags.get(REASON),
        quarantined_at=_epoch(tags, QUARANTINED_AT),
        failures=int(failures_value),
        last_failure_at=_epoch(tags, LAST_FAILURE_AT),
    )


def epoch(when: datetime) -> str:
    """A timestamp as a label-safe tag value. Pure."""
    return str(int(when.timestamp()))


def _epoch(tags: Mapping[str, str], key: str) -> datetime | None:
    value = tags.get(key)
    if value is None:
        return None
    if not _EPOCH.fullmatch(value):
        raise LifecycleTagError(f"tag {key}: {value!r} is not epoch seconds")
    return datetime.fromtimestamp(int(value), tz=UTC)


def mark_tags(now: datetime, action: str, reason: str) -> dict[str, str]:
    """The tags that mark a resource as due. Pure."""
    return {STATE: State.MARKED, MARKED_AT: epoch(now), ACTION: action, REASON: reason}


def quarantine_tags(now: datetime, reason: str) -> dict[str, str]:
    """The tags of a quarantined resource. Pure."""
    return {
        STATE: State.QUARANTINED,
        QUARANTINED_AT: epoch(now),
        ACTION: "quarantine",
        REASON: reason,
    }


def failure_tags(lifecycle: Lifecycle, now: datetime) -> dict[str, str]:
    """The tags recording one more failed attempt. Pure."""
    return {FAILURES: str(lifecycle.failures + 1), LAST_FAILURE_AT: epoch(now)}
