"""The audit trail: append-only JSON Lines, each record chained to the one before it.

Every record carries a sequence number and the SHA-256 of the previous record's line, so
an edit, a deletion or a reordering breaks the chain. Records are flushed and fsynced
before ``append`` returns: an intent is on disk before the action it announces.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reaper.errors import AuditError

GENESIS = "0" * 64


class AuditLog:
    """A chained JSON Lines file. Thread-safe; one writer process per file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._seq, self._prev = _tail(self.path)
            self._file = self.path.open("ab")
        except OSError as err:
            raise AuditError(f"cannot open audit log {self.path}: {err}") from err

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write records durably, in order. Raises AuditError if they may not be on disk."""
        if not records:
            return
        with self._lock:
            seq, prev = self._seq, self._prev
            lines = []
            for record in records:
                seq += 1
                line = json.dumps(
                    {"seq": seq, "prev_sha256": prev, **record},
                    sort_keys=True,
                    separators=(",", ":"),
                    default=str,
                ).encode()
                prev = hashlib.sha256(line).hexdigest()
                lines.append(line + b"\n")
            try:
                self._file.write(b"".join(lines))
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as err:
                raise AuditError(f"cannot write audit log {self.path}: {err}") from err
            self._seq, self._prev = seq, prev

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tail(path: Path) -> tuple[int, str]:
    """The sequence number and hash of the last record, to continue the chain."""
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 65536))
        last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        seq = int(json.loads(last)["seq"])
    except (ValueError, KeyError, TypeError) as err:
        raise AuditError(f"audit log {path} does not end with a reaper record") from err
    return seq, hashlib.sha256(last).hexdigest()
