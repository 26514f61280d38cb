"""Reading the trail back: every record, and the intents left without an outcome."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from reaper.errors import AuditError
from reaper.records import action_key


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
    """Intents of the file's last sweep(s) with no later outcome: actions of unknown fate.

    See :func:`find_dangling`. A file that does not exist yet has none. Reads the file
    once, keeping only the trailing sweeps in memory. Raises AuditError if unreadable.
    """
    path = Path(path)
    if not path.exists():
        return []
    return find_dangling(_iter_records(path))


def find_dangling(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``intent`` records with no later ``outcome`` for the same action. Pure.

    An intent and an outcome match on sweep_id, the resource (provider, kind, account,
    region, id) and the action. Only the last sweep that recorded its ``sweep-end`` and
    the sweeps that started after it are looked at (all of them if none ended): a crash
    leaves its sweep without an end, and a sweep that ended can still hold intents whose
    outcomes could not be written. Consumed by crash recovery at startup.
    """
    sweeps: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        sweep_id = record.get("sweep_id")
        if not isinstance(sweep_id, str):
            continue
        sweeps.setdefault(sweep_id, []).append(record)
        if record.get("event") == "sweep-end":
            # Sweeps that began before this one are over: forget them.
            for earlier in list(sweeps):
                if earlier == sweep_id:
                    break
                del sweeps[earlier]
    dangling: dict[tuple[str, ...], dict[str, Any]] = {}
    for kept in sweeps.values():
        for record in kept:
            event = record.get("event")
            if event not in ("intent", "outcome"):
                continue
            key = action_key(record)
            if event == "intent":
                dangling.pop(key, None)  # keep file order: a repeated intent moves last
                dangling[key] = dict(record)
            else:
                dangling.pop(key, None)
    return list(dangling.values())
