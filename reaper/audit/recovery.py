"""Reading the trail back: every record, and the intents left without an outcome."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from reaper.errors import AuditError
from reaper.records import OpenIntents


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of an audit file, in file order.

    Raises AuditError when the file cannot be read or a line is not a JSON record (a
    partial last line included). Does not check the chain: that is :func:`verify_lines`.
    """
    return list(_iter_records(Path(path)))


def _iter_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open("rb") as f:
            for number, line in enumerate(f, start=1):
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    record = None
                if not isinstance(record, dict) or not line.endswith(b"\n"):
                    raise AuditError(f"audit log {path} line {number} is not a complete record")
                yield record
    except OSError as err:
        raise AuditError(f"cannot read audit log {path}: {err}") from err


def dangling_intents(path: str | Path) -> list[dict[str, Any]]:
    """Intents of an audit file still without an outcome: actions of unknown fate.

    See :func:`find_dangling`. A file that does not exist yet has none. Reads the file
    once, keeping only the open intents in memory. Raises AuditError if unreadable. A
    sweep does not call this: its :class:`~reaper.audit.AuditLog` reads the open intents
    back from whichever sink the chain continues from, only as far as the last sweep-end.
    """
    path = Path(path)
    if not path.exists():
        return []
    return find_dangling(_iter_records(path))


def find_dangling(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``intent`` records with no later ``outcome`` for the same action. Pure.

    An intent and an outcome match on sweep_id, the resource (provider, kind, account,
    region, id) and the action. An intent stays open across any number of sweeps, and a
    ``sweep-end`` carries the ones still open (:class:`reaper.records.OpenIntents`, which
    also reads the sweep-ends of reaper 0.1.0 as 0.1.0 did). Consumed by ``reaper audit
    verify``'s warnings and by tests.
    """
    fold = OpenIntents()
    for record in records:
        fold.apply(record)
    return fold.intents()
