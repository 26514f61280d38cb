"""Running a sweep in a test: through the sweep service, as the CLI and the daemon do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import Settings
from reaper.providers.base import ResourceKind
from reaper.results import SweepReport


def run_sweep(
    settings: Settings,
    kinds: Sequence[ResourceKind],
    audit: Path | str | Callable[[], AuditLog],
    now: datetime,
    dry_run: bool,
    **service: Any,
) -> SweepReport:
    """One sweep through the sweep service, auditing to a file (or a log factory)."""
    opener = audit if callable(audit) else (lambda: AuditLog(audit))
    return SweepService(settings, kinds, opener, **service).run(now, dry_run)
