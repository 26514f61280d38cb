"""reaper's own exception hierarchy.

Callers catch these, never botocore or google errors: provider code chains the SDK error
with ``raise ProviderError(...) from err`` so the cause stays in the traceback for
debugging but never reaches a user as a raw SDK message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ReaperError(Exception):
    """Base class of every error reaper raises on purpose."""


class ConfigError(ReaperError):
    """The configuration cannot be used. Carries every problem found, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class ProviderError(ReaperError):
    """A cloud API call failed in a way reaper could not recover from."""


class StateKeyMissing(ReaperError):
    """reaper's lifecycle tags must be signed, and no state key is set."""


class NotStarted(ReaperError):
    """Work that was not begun because a stop was requested (the daemon shutting down)."""


class AuditError(ReaperError):
    """The audit trail could not be written; no action may proceed without it."""


class TrailRefused(AuditError):
    """The audit trail may not be written by this run: nothing may be done.

    Raised before a record is written (a lock held elsewhere, a chain head that cannot be
    known) or when a write shows another writer on the trail. ``reason`` labels the
    ``reaper_audit_trail_refusals_total`` metric.
    """

    reason = "refused"


class AuditLocked(TrailRefused):
    """Another reaper process holds the audit trail's lock and did not let go in time."""

    reason = "locked"


class ChainHeadUnknown(TrailRefused):
    """The last record of the chain cannot be known: a sink that may hold it is unreadable."""

    reason = "head-unknown"


class ChainWentBack(TrailRefused):
    """The trail ends before a record this process already wrote (deleted or replaced)."""

    reason = "went-back"


class ChainForked(TrailRefused):
    """Two writers continued the same chain: a sink already holds other records at a seq."""

    reason = "forked"


@dataclass(frozen=True)
class BrakeCount:
    """One group's contribution to a safety-brake decision."""

    group: str
    actions: int
    population: int


class SafetyLimitExceeded(ReaperError):
    """The plan would act on more than the configured blast radius allows.

    Raised before the first action, so nothing has been changed when it is seen.
    """

    def __init__(self, reasons: Sequence[str], counts: Sequence[BrakeCount]) -> None:
        self.reasons = tuple(reasons)
        self.counts = tuple(counts)
        super().__init__("safety brake: " + "; ".join(self.reasons))
