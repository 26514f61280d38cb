"""The audit trail: JSON Lines records, each chained to the one before it, sent to sinks.

Every record carries a sequence number (``seq``, from 1) and the SHA-256 of the previous
record's line (``prev_sha256``, 64 zeros for the first), so an edit, a deletion or a
reordering breaks the chain and :func:`verify_lines` can say where.

:class:`AuditLog` serializes each batch of records once and hands the same lines to every
sink (a local file, standard output, S3, GCS: see :mod:`reaper.audit_sinks`). ``append``
returns only when the batch is durable in at least one sink and in every *required* sink;
otherwise it raises :class:`~reaper.errors.AuditError` and the caller must not act (fail
closed). An intent is recorded before the action it announces.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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
                # Imported here: reaper.audit_sinks builds on this module.
                from reaper.audit_sinks import FileSink

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
    except (ValueError, KeyError, TypeError):
        return None
    return seq if type(seq) is int else None


def _chain_after(last: bytes, source: str) -> tuple[int, str]:
    """The sequence number and hash of a stored last line, to continue the chain."""
    seq = record_seq(last)
    if seq is None:
        raise AuditError(f"audit trail {source} does not end with a reaper record")
    return seq, hashlib.sha256(last).hexdigest()


# -- reading the trail back ----------------------------------------------------------------


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
                except ValueError:
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
            key = _action_key(record)
            if event == "intent":
                dangling.pop(key, None)  # keep file order: a repeated intent moves last
                dangling[key] = dict(record)
            else:
                dangling.pop(key, None)
    return list(dangling.values())


def _action_key(record: Mapping[str, Any]) -> tuple[str, ...]:
    resource = record.get("resource")
    if not isinstance(resource, Mapping):
        resource = {}
    parts = (resource.get(k) for k in ("provider", "kind", "account", "region", "id"))
    return (str(record.get("sweep_id")), *(str(p) for p in parts), str(record.get("action")))


# -- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify_lines` found."""

    ok: bool
    """True when the chain is intact (warnings aside)."""
    records: int
    """Records checked and found sound (before the problem, if any)."""
    problem: str | None = None
    """The first problem, ``line 17 (seq 17): ...``; None when ok."""
    warnings: tuple[str, ...] = ()
    """Oddities that do not break the chain: a trail not starting at seq 1, a last sweep
    without ``sweep-end``, an empty trail."""
    first_seq: int | None = None
    last_seq: int | None = None
    """Of the records checked and found sound."""


def verify_lines(lines: Iterable[bytes]) -> VerifyResult:
    """Check a trail's chain, line by line. Pure: reads nothing but ``lines``.

    ``lines`` are the trail's lines with their newlines, as iterating a file opened in
    binary mode yields them (objects of a bucket concatenated in key order, likewise).
    Finds a line that is not a JSON record, a seq that skips (deleted records), repeats
    (duplicated) or goes back (reordered), a ``prev_sha256`` that does not match the line
    before (a modified record) and a last line without a newline (a truncated write). The
    last record is not covered by any later hash: compare it with another sink's copy.
    Consumed by ``reaper audit verify``.
    """
    it = iter(lines)
    warnings: list[str] = []
    count = 0
    number = 0
    first_seq: int | None = None
    prev_seq: int | None = None
    prev_line = b""
    open_sweep: tuple[str, int] | None = None  # sweep_id, line of its sweep-start

    def failed(problem: str) -> VerifyResult:
        return VerifyResult(False, count, problem, tuple(warnings), first_seq, prev_seq)

    following = next(it, None)
    while following is not None:
        raw, following = following, next(it, None)
        number += 1
        if not raw.endswith(b"\n"):
            where = _where(number, _peek_seq(raw))
            if following is None:
                return failed(
                    f"{where}: truncated: the last line has no newline (a write cut short)"
                )
            return failed(f"{where}: the line has no newline")
        line = raw[:-1]
        try:
            record = json.loads(line)
        except ValueError:
            return failed(f"line {number}: not a JSON record")
        seq = record.get("seq") if isinstance(record, dict) else None
        prev_sha256 = record.get("prev_sha256") if isinstance(record, dict) else None
        if type(seq) is not int or not isinstance(prev_sha256, str):
            return failed(f"line {number}: not an audit record (no seq or prev_sha256)")
        where = _where(number, seq)
        if prev_seq is None:
            first_seq = seq
            if seq != 1:
                warnings.append(
                    f"{where}: the trail starts at seq {seq}, not 1: "
                    "its head was truncated or rotated away"
                )
            elif prev_sha256 != GENESIS:
                return failed(f"{where}: modified: prev_sha256 of seq 1 is not {GENESIS[:8]}...")
        elif seq != prev_seq + 1:
            linked = prev_sha256 == _sha256(prev_line)
            if number == 2 and first_seq != 1 and seq == 2 and not linked:
                # Line 1 was seq 1 until its seq was changed, not the rest of a rotated trail.
                warnings.clear()
                count = 0
                return failed(
                    f"{_where(1, first_seq)}: modified: line 2 is seq 2 and its prev_sha256 "
                    "does not match this line"
                )
            return failed(f"{where}: {_seq_problem(prev_seq, seq, _peek_seq(following))}")
        elif prev_sha256 != _sha256(prev_line):
            return failed(_modified(number, seq, prev_seq, line, following))
        event, sweep_id = record.get("event"), record.get("sweep_id")
        if event == "sweep-start" and isinstance(sweep_id, str):
            open_sweep = (sweep_id, number)
        elif event == "sweep-end" and open_sweep is not None and open_sweep[0] == sweep_id:
            open_sweep = None
        count += 1
        prev_seq, prev_line = seq, line
    if count == 0:
        warnings.append("the trail is empty")
    if open_sweep is not None:
        warnings.append(
            f"line {open_sweep[1]}: the last sweep ({open_sweep[0]}) has no sweep-end record: "
            "it was interrupted, or is still running"
        )
    return VerifyResult(True, count, None, tuple(warnings), first_seq, prev_seq)


def _sha256(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _modified(number: int, seq: int, prev_seq: int, line: bytes, following: bytes | None) -> str:
    """Which line was changed, when line ``number`` does not hash-link to the one before.

    Changing a record's content breaks the link to the next line only; changing its
    ``prev_sha256`` breaks the links on both sides. The line after tells them apart.
    """
    if following is None:
        return (
            f"{_where(number - 1, prev_seq)}: modified: its SHA-256 does not match the "
            f"prev_sha256 of line {number}, the last line (or that line was modified)"
        )
    after = _peek_record(following)
    if (
        after is not None
        and after.get("seq") == seq + 1
        and after.get("prev_sha256") != _sha256(line)
    ):
        return (
            f"{_where(number, seq)}: modified: its prev_sha256 does not match line "
            f"{number - 1}, and its SHA-256 does not match the prev_sha256 of line {number + 1}"
        )
    return (
        f"{_where(number - 1, prev_seq)}: modified: its SHA-256 does not match the "
        f"prev_sha256 of line {number}"
    )


def _where(number: int, seq: int | None) -> str:
    return f"line {number}" if seq is None else f"line {number} (seq {seq})"


def _peek_record(raw: bytes | None) -> dict[str, Any] | None:
    """A line as a record, if it is one, for messages and look-ahead."""
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _peek_seq(raw: bytes | None) -> int | None:
    seq = (_peek_record(raw) or {}).get("seq")
    return seq if type(seq) is int else None


def _seq_problem(prev: int, seq: int, next_seq: int | None) -> str:
    if seq == prev:
        return f"seq {seq} repeats: a record was duplicated"
    if seq < prev:
        return f"seq goes back from {prev} to {seq}: records were reordered or duplicated"
    if next_seq == prev + 1:
        return f"seq {seq} comes before seq {prev + 1}: records were reordered"
    missing = seq - prev - 1
    plural = "record is" if missing == 1 else "records are"
    return f"seq jumps from {prev} to {seq}: {missing} {plural} missing (deleted?)"
