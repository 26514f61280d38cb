"""The audit trail: JSON Lines records, each chained to the one before it, sent to sinks.

Every record carries a sequence number (``seq``, from 1) and the SHA-256 of the previous
record's line (``prev_sha256``, 64 zeros for the first), so an edit, a deletion or a
reordering breaks the chain and :func:`reaper.audit.verify.verify_lines` can say where.

:class:`AuditLog` serializes each batch of records once and hands the same lines to every
sink (a local file, standard output, S3, GCS: one module each in this package). ``append``
returns only when the batch is durable in at least one sink and in every *required* sink;
otherwise it raises :class:`~reaper.errors.AuditError` and the caller must not act (fail
closed). An intent is recorded before the action it announces.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from reaper.audit.file_sink import FileSink
from reaper.errors import AuditError

log = logging.getLogger(__name__)

GENESIS = "0" * 64
"""``prev_sha256`` of the first record of a trail."""


class AuditSink(Protocol):
    """Somewhere the audit trail is written to.

    Sinks are called by one :class:`AuditLog` under its lock, one batch at a time; they
    need not be thread-safe themselves.
    """

    @property
    def name(self) -> str:
        """Unique among a log's sinks (``file:/var/log/reaper.jsonl``); keys ``failures``."""
        ...

    @property
    def required(self) -> bool:
        """True: a failed write makes ``AuditLog.append`` raise, whatever other sinks did."""
        ...

    def write(self, lines: Sequence[bytes]) -> None:
        """Store a batch durably: each item is one record line ending in ``\\n``.

        Returns only once the batch is stored; raises AuditError (never an SDK or OS
        error) otherwise.
        """
        ...

    def last_line(self) -> bytes | None:
        """The last record line stored, without its newline, to continue the chain.

        None when the sink is empty or cannot tell (standard output). Raises AuditError
        when it cannot be read.
        """
        ...

    def close(self) -> None:
        """Release what the sink holds; further writes fail."""
        ...


class AuditLog:
    """The chained audit trail, written to one or more sinks. Thread-safe.

    ``AuditLog(path)`` is one required file sink, as it always was; ``AuditLog(path,
    sinks=[...])`` puts that file sink first; ``AuditLog(sinks=[...])`` uses only the sinks
    given. The log owns its sinks and closes them.

    The chain continues from the first sink (in order) that can give its last line, so a
    pod whose local file is new continues the chain kept in S3. One writer per trail.
    """

    def __init__(self, path: str | Path | None = None, *, sinks: Sequence[AuditSink] = ()) -> None:
        # The file sink's path when built from ``path``; None otherwise.
        self.path = Path(path) if path is not None else None
        self._sinks = tuple(sinks)
        self._lock = threading.Lock()
        self._closed = False
        # Failed writes (and reads of the last line) per sink name since opening, for metrics.
        self.failures: dict[str, int] = {}
        # The sink whose last record the chain continues from; None for a new chain.
        self.chain_source: str | None = None
        try:
            if self.path is not None:
                self._sinks = (FileSink(self.path), *self._sinks)
            if not self._sinks:
                raise AuditError(
                    "no audit sink: the audit file is turned off and no other sink is configured"
                )
            self.failures = {s.name: 0 for s in self._sinks}
            if len(self.failures) != len(self._sinks):
                names = [s.name for s in self._sinks]
                raise AuditError(f"audit sinks must have distinct names, got {', '.join(names)}")
            self._seq, self._prev = self._chain_state()
        except BaseException:
            self._close_sinks()
            raise

    @property
    def sinks(self) -> tuple[AuditSink, ...]:
        return self._sinks

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last record written (0 before the first)."""
        return self._seq

    def _chain_state(self) -> tuple[int, str]:
        for sink in self._sinks:
            try:
                last = sink.last_line()
            except AuditError as err:
                if sink.required:
                    raise
                self.failures[sink.name] += 1
                log.warning("audit sink %s: cannot read its last record: %s", sink.name, err)
                continue
            if last is not None:
                self.chain_source = sink.name
                return _chain_after(last, sink.name)
        return 0, GENESIS

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write records durably, in order, to every sink.

        Raises AuditError if no sink took the batch, or a required sink failed: the
        records may then not be stored, and the action they announce must not happen.
        A failure of a sink that is not required is logged and counted in ``failures``.
        The chain advances when at least one sink took the batch, so the numbers it used
        are never given to other records; a sink that missed it shows a gap.
        """
        if not records:
            return
        with self._lock:
            if self._closed:
                raise AuditError("the audit log is closed")
            lines, seq, prev = _serialize(records, self._seq, self._prev)
            accepted = 0
            failed: list[tuple[AuditSink, AuditError]] = []
            for sink in self._sinks:
                try:
                    sink.write(lines)
                except AuditError as err:
                    self.failures[sink.name] += 1
                    failed.append((sink, err))
                else:
                    accepted += 1
            if accepted:
                self._seq, self._prev = seq, prev
            if not accepted or any(sink.required for sink, _ in failed):
                message = "; ".join(str(problem) for _, problem in failed)
                if accepted:
                    message = f"a required audit sink failed: {message}"
                raise AuditError(message) from failed[0][1]
            for sink, problem in failed:
                log.warning(
                    "audit sink %s missed records %d-%d: %s",
                    sink.name,
                    seq - len(lines) + 1,
                    seq,
                    problem,
                )

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_sinks()

    def _close_sinks(self) -> None:
        for sink in self._sinks:
            try:
                sink.close()
            except AuditError as err:
                log.warning("audit sink %s: %s", sink.name, err)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serialize(
    records: Sequence[Mapping[str, Any]], seq: int, prev: str
) -> tuple[list[bytes], int, str]:
    """The chained lines of a batch, and the chain state after it. Pure."""
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
    return lines, seq, prev


def record_seq(line: bytes) -> int | None:
    """The ``seq`` of an audit record line; None when the line is not one. Pure."""
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    return seq if type(seq) is int else None


def _chain_after(last: bytes, source: str) -> tuple[int, str]:
    """The sequence number and hash of a stored last line, to continue the chain."""
    seq = record_seq(last)
    if seq is None:
        raise AuditError(f"audit trail {source} does not end with a reaper record")
    return seq, hashlib.sha256(last).hexdigest()
