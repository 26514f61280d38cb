"""Checking a trail's chain: what ``reaper audit verify`` runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reaper.audit.chain import GENESIS
from reaper.records import OpenIntents, Unresolved

MAX_LISTED = 10
"""Unresolved intents named one by one in the warnings; the rest are counted."""


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
    without ``sweep-end``, an empty trail, intents without an outcome."""
    first_seq: int | None = None
    last_seq: int | None = None
    """Of the records checked and found sound."""
    unresolved: int = 0
    """Intents still without an outcome at the end of the trail (when it is intact)."""


def verify_lines(lines: Iterable[bytes]) -> VerifyResult:
    """Check a trail's chain, line by line. Pure: reads nothing but ``lines``.

    ``lines`` are the trail's lines with their newlines, as iterating a file opened in
    binary mode yields them (objects of a bucket concatenated in key order, likewise).
    Finds a line that is not a JSON record, a seq that skips (deleted records), repeats
    (duplicated) or goes back (reordered), a ``prev_sha256`` that does not match the line
    before (a modified record) and a last line without a newline (a truncated write). The
    last record is not covered by any later hash: compare it with another sink's copy.
    Warns about intents still without an outcome (actions of unknown fate), as the next
    sweep's recovery will see them (:class:`reaper.records.OpenIntents`). Consumed by
    ``reaper audit verify``.
    """
    it = iter(lines)
    warnings: list[str] = []
    count = 0
    number = 0
    first_seq: int | None = None
    prev_seq: int | None = None
    prev_line = b""
    open_sweep: tuple[str, int] | None = None  # sweep_id, line of its sweep-start
    intents = OpenIntents()

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
        except (ValueError, RecursionError):  # not JSON, or nested past the recursion limit
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
        intents.apply(record)
        count += 1
        prev_seq, prev_line = seq, line
    if count == 0:
        warnings.append("the trail is empty")
    if open_sweep is not None:
        warnings.append(
            f"line {open_sweep[1]}: the last sweep ({open_sweep[0]}) has no sweep-end record: "
            "it was interrupted, or is still running"
        )
    unresolved = [Unresolved.of(i) for i in intents.intents()]
    warnings += [
        f"unresolved intent {u.describe()}: its action's fate is unknown until a sweep's "
        "recovery checks the resource"
        for u in unresolved[:MAX_LISTED]
    ]
    if len(unresolved) > MAX_LISTED:
        warnings.append(f"and {len(unresolved) - MAX_LISTED} more unresolved intents")
    return VerifyResult(
        True, count, None, tuple(warnings), first_seq, prev_seq, unresolved=len(unresolved)
    )


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
    except (ValueError, RecursionError):
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
