"""The audit trail: JSON Lines records, each chained to the one before it, sent to sinks.

Every record carries a sequence number (``seq``, from 1) and the SHA-256 of the previous
record's line (``prev_sha256``, 64 zeros for the first), so an edit, a deletion or a
reordering breaks the chain and :func:`reaper.audit.verify.verify_lines` can say where.

:class:`AuditLog` serializes each batch of records once and hands the same lines to every
sink (a local file, standard output, S3, GCS: one module each in this package). ``append``
returns only when the batch is durable in at least one sink and in every *required* sink;
otherwise it raises :class:`~reaper.errors.AuditError` and the caller must not act (fail
closed). An intent is recorded before the action it announces.

One writer per trail. The local file is locked while a log has it open
(:mod:`reaper.audit.lock`); the bucket sinks create each object only if its key is free
(:mod:`reaper.audit.bucket_sink`). A log opens only on a chain head it can trust: not
when a sink that may hold the chain cannot be read and no sink before it does
(:class:`~reaper.errors.ChainHeadUnknown`), not when a sink holds records past the one it
continues from, and not when the trail ends before a record the caller already wrote
(:class:`~reaper.errors.ChainWentBack`). Any of these, or a write that finds another
writer's records (:class:`~reaper.errors.ChainForked`), fails closed whether or not the
sink is required.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reaper.audit.file_sink import FileSink
from reaper.errors import AuditError, ChainForked, ChainHeadUnknown, ChainWentBack, TrailRefused
from reaper.records import OpenIntents, recovery_window

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

    def read_back(self) -> Iterator[bytes]:
        """The stored record lines without newlines, the last first, read lazily.

        Empty when the sink is empty or cannot tell. Raises AuditError when unreadable.
        """
        ...

    def close(self) -> None:
        """Release what the sink holds; further writes fail."""
        ...


@dataclass(frozen=True)
class ChainHead:
    """The last record of a chain: what the next record links to."""

    seq: int
    """0 for a chain with no record yet."""
    sha256: str
    """Of the last record's line; :data:`GENESIS` for a chain with no record yet."""


class AuditLog:
    """The chained audit trail, written to one or more sinks. Thread-safe.

    ``AuditLog(path)`` is one required file sink, as it always was; ``AuditLog(path,
    sinks=[...])`` puts that file sink first; ``AuditLog(sinks=[...])`` uses only the sinks
    given. The log owns its sinks and closes them. ``lock_timeout`` is how long the file
    sink built from ``path`` waits for the trail's lock.

    The chain continues from the first sink (in order) that can give its last line, so a
    pod whose local file is new continues the chain kept in S3; see the module's
    docstring for when it refuses to. ``known_head`` is a record the caller wrote
    earlier (the daemon's last one): a trail that ends before it went back and is refused.

    The log keeps the trail's open intents (:attr:`open_intents`): read back from the
    chain's source at opening, as far as the last ``sweep-end``, and kept up to date as
    records are appended.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        sinks: Sequence[AuditSink] = (),
        lock_timeout: float = 0.0,
        known_head: ChainHead | None = None,
    ) -> None:
        # The file sink's path when built from ``path``; None otherwise.
        self.path = Path(path) if path is not None else None
        self._sinks = tuple(sinks)
        self._lock = threading.Lock()
        self._closed = False
        self._refused: TrailRefused | None = None
        # Failed writes (and reads of the last line) per sink name since opening, for metrics.
        self.failures: dict[str, int] = {}
        # The sink whose last record the chain continues from; None for a new chain.
        self.chain_source: str | None = None
        self._source: AuditSink | None = None
        try:
            if self.path is not None:
                self._sinks = (FileSink(self.path, lock_timeout=lock_timeout), *self._sinks)
            if not self._sinks:
                raise AuditError(
                    "no audit sink: the audit file is turned off and no other sink is configured"
                )
            self.failures = {s.name: 0 for s in self._sinks}
            if len(self.failures) != len(self._sinks):
                names = [s.name for s in self._sinks]
                raise AuditError(f"audit sinks must have distinct names, got {', '.join(names)}")
            self._seq, self._prev = self._chain_state()
            if known_head is not None:
                self._check_not_behind(known_head)
            self._open = self._read_open_intents()
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

    @property
    def head(self) -> ChainHead:
        """The chain's last record, written by this log or found at opening."""
        with self._lock:
            return ChainHead(self._seq, self._prev)

    @property
    def open_intents(self) -> list[dict[str, Any]]:
        """Intents of the trail without an outcome yet, oldest first (see OpenIntents)."""
        with self._lock:
            return self._open.intents()

    def _chain_state(self) -> tuple[int, str]:
        """The head to continue from; raises when it cannot be trusted (module docstring)."""
        source: tuple[AuditSink, bytes] | None = None
        unread: list[str] = []  # sinks that could not be read before a source was found
        others: list[tuple[AuditSink, bytes]] = []
        for sink in self._sinks:
            try:
                last = sink.last_line()
            except AuditError as err:
                if sink.required:
                    raise
                self.failures[sink.name] += 1
                log.warning("audit sink %s: cannot read its last record: %s", sink.name, err)
                if source is None:
                    unread.append(f"{sink.name} ({err})")
                continue
            if last is None:
                continue
            if source is None:
                source = (sink, last)
            else:
                others.append((sink, last))
        if unread:
            continued = f"the chain in {source[0].name}" if source else "a new chain"
            raise ChainHeadUnknown(
                "the audit chain's last record cannot be known: cannot read "
                f"{'; '.join(unread)}. Continuing {continued} could fork the records it "
                "holds, so nothing is done until it can be read"
            )
        if source is None:
            return 0, GENESIS
        sink, last = source
        self.chain_source, self._source = sink.name, sink
        seq, sha256 = _chain_after(last, sink.name)
        for other, line in others:
            other_seq, other_sha256 = _chain_after(line, other.name)
            if other_seq > seq:
                raise ChainWentBack(
                    f"the audit trail in {sink.name} ends at seq {seq}, but {other.name} "
                    f"holds seq {other_seq}: another reaper continued the chain, or "
                    f"{sink.name} is an older copy. Nothing is done: compare them with "
                    "`reaper audit verify` and move the stale one away"
                )
            if other_seq == seq and other_sha256 != sha256:
                raise ChainForked(
                    f"{sink.name} and {other.name} hold different records at seq {seq}: "
                    "the audit chain forked. Nothing is done: compare them with "
                    "`reaper audit verify`"
                )
        return seq, sha256

    def _check_not_behind(self, known: ChainHead) -> None:
        where = self.chain_source or "every sink, which is empty"
        if self._seq < known.seq:
            raise ChainWentBack(
                f"the audit trail ({where}) ends at seq {self._seq}, but this process "
                f"already wrote seq {known.seq}: it was deleted, truncated or replaced. "
                "Nothing is done on a trail that went back: restore it, or restart reaper "
                "to begin a new trail"
            )
        if self._seq == known.seq and self._prev != known.sha256:
            raise ChainWentBack(
                f"the audit trail ({where}) was replaced: its seq {known.seq} is not the "
                "record this process wrote. Nothing is done: restore it, or restart reaper "
                "to begin a new trail"
            )

    def _read_open_intents(self) -> OpenIntents:
        """The intents still open, read back from the chain's source to its last sweep-end."""
        fold = OpenIntents()
        if self._source is None:
            return fold
        name = self._source.name
        try:
            window = recovery_window(_records_of(self._source.read_back(), name))
        except AuditError as err:
            raise AuditError(
                f"cannot read back the open intents of the audit trail: {err}; nothing is "
                "done until they can be read"
            ) from err
        for record in window:
            fold.apply(record)
        return fold

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write records durably, in order, to every sink.

        Raises AuditError if no sink took the batch, or a required sink failed: the
        records may then not be stored, and the action they announce must not happen.
        Sinks after a required sink that failed are not written, so none gets ahead of
        it. A failure of a sink that is not required is logged and counted in
        ``failures``. The chain advances when at least one sink took the batch, so the
        numbers it used are never given to other records; a sink that missed it shows a
        gap. A sink that refuses the trail (TrailRefused: another writer, a file deleted
        under the log) fails this append and every later one, required or not.
        """
        if not records:
            return
        with self._lock:
            if self._closed:
                raise AuditError("the audit log is closed")
            if self._refused is not None:
                raise self._refused
            lines, seq, prev = _serialize(records, self._seq, self._prev)
            accepted = 0
            failed: list[tuple[AuditSink, AuditError]] = []
            for sink in self._sinks:
                try:
                    sink.write(lines)
                except AuditError as err:
                    self.failures[sink.name] += 1
                    failed.append((sink, err))
                    if sink.required or isinstance(err, TrailRefused):
                        break
                else:
                    accepted += 1
            if accepted:
                first = self._seq + 1
                self._seq, self._prev = seq, prev
                for number, record in enumerate(records, start=first):
                    self._open.apply({**record, "seq": number})
            refused = next((e for _, e in failed if isinstance(e, TrailRefused)), None)
            if refused is not None:
                self._refused = refused
                raise refused
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


def _records_of(lines: Iterator[bytes], source: str) -> Iterator[dict[str, Any]]:
    """Record lines read back, as records; AuditError at the first that is not one."""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise AuditError(f"{source}: a line read back is not an audit record: {line[:80]!r}")
        yield record


def _chain_after(last: bytes, source: str) -> tuple[int, str]:
    """The sequence number and hash of a stored last line, to continue the chain."""
    seq = record_seq(last)
    if seq is None:
        raise AuditError(f"audit trail {source} does not end with a reaper record")
    return seq, hashlib.sha256(last).hexdigest()
