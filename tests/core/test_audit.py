"""The chained audit trail: writing to sinks, failing closed, verifying, reading back.

Everything runs on real files (and ``/dev/full`` for a disk that is full); the command
line is run with click's CliRunner on the ``audit`` group itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper.audit import (
    GENESIS,
    AuditLog,
    dangling_intents,
    find_dangling,
    read_records,
    verify_lines,
)
from reaper.audit.file_sink import FileSink
from reaper.audit.stdout_sink import StdoutSink
from reaper.cli.audit import audit
from reaper.errors import AuditError, AuditLocked

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")


def _resource(rid: str, region: str = "us-east-1") -> dict[str, Any]:
    return {
        "provider": "aws",
        "kind": "ec2_instance",
        "id": rid,
        "name": f"ci-{rid}",
        "account": "ci",
        "region": region,
        "tags": {"reaper-pipeline": "build-42"},
    }


def sweep_records(
    sweep_id: str,
    deleted: tuple[str, ...] = ("i-1", "i-2"),
    *,
    unrecorded: tuple[str, ...] = (),
    ended: bool = True,
) -> list[list[dict[str, Any]]]:
    """The batches a sweep appends: start, intents, outcomes, end (as the actuator does).

    ``unrecorded`` resources get an intent but no outcome; ``ended=False`` leaves the
    sweep without its ``sweep-end``, as a crash does.
    """

    def record(event: str, **fields: Any) -> dict[str, Any]:
        return {"event": event, "sweep_id": sweep_id, "ts": "2026-01-01T00:00:00+00:00", **fields}

    batches = [[record("sweep-start", dry_run=False)]]
    acting = deleted + unrecorded
    batches.append([record("intent", resource=_resource(r), action="delete") for r in acting])
    batches.append(
        [record("outcome", resource=_resource(r), action="delete", result="done") for r in deleted]
    )
    if ended:
        batches.append([record("sweep-end", exit_code=0)])
    return [b for b in batches if b]


def write_trail(path: Path, *sweeps: list[list[dict[str, Any]]]) -> list[bytes]:
    """Append sweeps with a fresh AuditLog each; the file's lines, newlines kept."""
    for batches in sweeps:
        with AuditLog(path) as log:
            for batch in batches:
                log.append(batch)
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def trail(tmp_path: Path) -> list[bytes]:
    """Two sweeps, 12 records: lines 1-6 the first, 7-12 the second."""
    return write_trail(tmp_path / "trail.jsonl", sweep_records("sweep-a"), sweep_records("sweep-b"))


def verify_cli(source: Path | str) -> tuple[int, str, str]:
    result = CliRunner().invoke(audit, ["verify", str(source)])
    return result.exit_code, result.stdout, result.stderr


# -- writing ----------------------------------------------------------------------------------


def test_the_chain_continues_when_the_file_is_opened_again(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"  # the directory is created
    with AuditLog(path) as log:
        log.append([{"event": "a"}, {"event": "b"}])
    with AuditLog(path) as log:
        assert log.last_seq == 2
        assert log.chain_source == f"file:{path}"
        log.append([{"event": "c"}])

    records = read_records(path)
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert [r["event"] for r in records] == ["a", "b", "c"]
    assert records[0]["prev_sha256"] == GENESIS
    lines = path.read_bytes().splitlines()
    assert records[2]["prev_sha256"] == hashlib.sha256(lines[1]).hexdigest()
    assert verify_lines(path.open("rb")).ok


def test_a_last_line_longer_than_the_tail_buffer_still_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append([{"event": "small"}, {"event": "big", "blob": "x" * 200_000}])
    with AuditLog(path) as log:
        log.append([{"event": "after"}])
    result = verify_lines(path.open("rb"))
    assert result.ok, result.problem
    assert result.records == 3


def test_a_file_ending_in_a_partial_record_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append([{"event": "a"}])
    with path.open("ab") as f:
        f.write(b'{"event":"b","prev')

    with pytest.raises(AuditError, match="ends with a partial record"):
        AuditLog(path)


def test_a_directory_cannot_be_opened_as_the_audit_file(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot open audit log"):
        AuditLog(tmp_path)


def test_an_audit_log_needs_a_sink_and_distinct_names(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit sink"):
        AuditLog(None)
    with pytest.raises(AuditError, match="distinct names"):
        AuditLog(sinks=[StdoutSink(), StdoutSink()])
    # One file twice is not two sinks but two writers: the second waits for the lock.
    with pytest.raises(AuditLocked):
        AuditLog(tmp_path / "a.jsonl", sinks=[FileSink(tmp_path / "a.jsonl")])


def test_a_closed_log_takes_no_records(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.close()
    log.close()  # closing twice is fine
    with pytest.raises(AuditError, match="closed"):
        log.append([{"event": "late"}])


# -- failing closed ---------------------------------------------------------------------------


@needs_dev_full
def test_a_full_disk_fails_the_append_and_the_chain_does_not_advance() -> None:
    with AuditLog(DEV_FULL) as log:
        with pytest.raises(AuditError, match="No space left on device") as excinfo:
            log.append([{"event": "intent"}])
        assert log.last_seq == 0
        assert log.failures == {f"file:{DEV_FULL}": 1}
    sink_error = excinfo.value.__cause__
    assert isinstance(sink_error, AuditError)
    assert isinstance(sink_error.__cause__, OSError)  # chained down to the OS error


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics of Linux")
def test_a_write_cut_short_is_undone_and_the_chain_resumes_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append([{"event": "first"}])
        size = path.stat().st_size
        # The file may grow by 10 bytes only: the batch is written in part, then fails.
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, hard))
            with pytest.raises(AuditError, match="cannot write audit log"):
                log.append([{"event": "second", "padding": "x" * 100}])
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
        assert path.stat().st_size == size  # the partial record was cut off again
        assert log.last_seq == 1
        log.append([{"event": "second, again"}])

    assert [r["seq"] for r in read_records(path)] == [1, 2]
    assert verify_lines(path.open("rb")).ok


@needs_dev_full
def test_a_failing_optional_sink_is_counted_and_logged_and_the_append_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.jsonl"
    full = FileSink(DEV_FULL, required=False)
    with caplog.at_level(logging.WARNING), AuditLog(path, sinks=[full]) as log:
        log.append([{"event": "a"}, {"event": "b"}])
        log.append([{"event": "c"}])
        assert log.failures == {f"file:{path}": 0, f"file:{DEV_FULL}": 2}
        assert log.last_seq == 3

    assert [r["event"] for r in read_records(path)] == ["a", "b", "c"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert f"audit sink file:{DEV_FULL} missed records 1-2" in warnings[0]


@needs_dev_full
def test_a_failing_required_sink_fails_the_append_even_when_another_took_it(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "kept.jsonl"
    with AuditLog(sinks=[FileSink(kept, required=False), FileSink(DEV_FULL)]) as log:
        with pytest.raises(AuditError, match="a required audit sink failed"):
            log.append([{"event": "intent"}])
        assert log.failures[f"file:{DEV_FULL}"] == 1
        # The records are in one sink with those numbers: they are not given out again.
        assert log.last_seq == 1
        with pytest.raises(AuditError):
            log.append([{"event": "intent, again"}])

    assert [r["seq"] for r in read_records(kept)] == [1, 2]
    assert verify_lines(kept.open("rb")).ok


@needs_dev_full
def test_no_sink_taking_the_batch_fails_even_if_none_is_required(tmp_path: Path) -> None:
    with AuditLog(sinks=[FileSink(DEV_FULL, required=False)]) as log:
        with pytest.raises(AuditError, match="No space left"):
            log.append([{"event": "intent"}])
        assert log.last_seq == 0


# -- verification -----------------------------------------------------------------------------


def test_an_untouched_trail_verifies(trail: list[bytes]) -> None:
    result = verify_lines(trail)
    assert result.ok
    assert result.problem is None
    assert result.warnings == ()
    assert (result.records, result.first_seq, result.last_seq) == (12, 1, 12)


def _flip(line: bytes, offset: int, value: int) -> bytes:
    return line[:offset] + bytes([value]) + line[offset + 1 :]


def _swap(lines: list[bytes], i: int, j: int) -> list[bytes]:
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out


# (description, how the 12 lines are tampered with, the problem verify must report)
TAMPERING = [
    pytest.param(
        lambda t: [*t[:4], t[4].replace(b'"id":"i-2"', b'"id":"i-7"'), *t[5:]],
        "line 5 (seq 5): modified: its SHA-256 does not match the prev_sha256 of line 6",
        id="one-byte-changed",
    ),
    pytest.param(
        lambda t: [*t[:4], _prev_changed(t[4]), *t[5:]],
        "line 5 (seq 5): modified: its prev_sha256 does not match line 4",
        id="prev-hash-changed",
    ),
    pytest.param(
        lambda t: [*t[:4], *t[5:]],
        "line 5 (seq 6): seq jumps from 4 to 6: 1 record is missing (deleted?)",
        id="line-deleted",
    ),
    pytest.param(
        lambda t: [*t[:4], *t[7:]],
        "line 5 (seq 8): seq jumps from 4 to 8: 3 records are missing (deleted?)",
        id="lines-deleted",
    ),
    pytest.param(
        lambda t: _swap(t, 4, 5),
        "line 5 (seq 6): seq 6 comes before seq 5: records were reordered",
        id="lines-swapped",
    ),
    pytest.param(
        lambda t: [*t[:5], t[4], *t[5:]],
        "line 6 (seq 5): seq 5 repeats: a record was duplicated",
        id="line-duplicated",
    ),
    pytest.param(
        lambda t: [*t[:8], t[2], *t[8:]],
        "line 9 (seq 3): seq goes back from 8 to 3: records were reordered or duplicated",
        id="old-line-copied-later",
    ),
    pytest.param(
        lambda t: [*t, b'{"event":"intent","prev_sha2'],
        "line 13: truncated: the last line has no newline (a write cut short)",
        id="partial-line-appended",
    ),
    pytest.param(
        lambda t: [*t[:11], t[11][:-1]],
        "line 12 (seq 12): truncated: the last line has no newline (a write cut short)",
        id="last-newline-missing",
    ),
    pytest.param(
        lambda t: [*t[:6], b"rm -rf /\n", *t[6:]],
        "line 7: not a JSON record",
        id="garbage-inserted",
    ),
    pytest.param(
        lambda t: [*t[:6], b'{"event":"forged"}\n', *t[6:]],
        "line 7: not an audit record (no seq or prev_sha256)",
        id="record-without-chain",
    ),
    pytest.param(
        lambda t: [_flip(t[0], t[0].index(b'"seq":1') + 6, ord("5")), *t[1:]],
        "line 1 (seq 5): modified: line 2 is seq 2 and its prev_sha256 does not match this line",
        id="first-seq-changed",
    ),
]


def _prev_changed(line: bytes) -> bytes:
    record = json.loads(line)
    record["prev_sha256"] = "f" + record["prev_sha256"][1:]
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(("tamper", "problem"), TAMPERING)
def test_tampering_is_found_and_named_by_line_and_seq(
    trail: list[bytes], tamper: Any, problem: str, tmp_path: Path
) -> None:
    tampered = tamper(trail)
    result = verify_lines(tampered)
    assert not result.ok
    assert result.problem is not None
    assert result.problem.startswith(problem), result.problem

    path = tmp_path / "tampered.jsonl"
    path.write_bytes(b"".join(tampered))
    code, out, _ = verify_cli(path)
    assert code == 1
    assert out == f"FAILED: {result.problem}\n"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_changing_any_one_byte_of_a_record_names_that_line(data: st.DataObject) -> None:
    """Any record but the last: no later hash covers the last one (its copies do)."""
    lines = _PROPERTY_TRAIL
    number = data.draw(st.integers(1, len(lines) - 1), label="line")
    line = lines[number - 1]
    offset = data.draw(st.integers(0, len(line) - 2), label="offset")  # not the newline
    value = data.draw(st.integers(0, 255).filter(lambda v: v != line[offset]), label="byte")
    tampered = [*lines[: number - 1], _flip(line, offset, value), *lines[number:]]

    result = verify_lines(b"".join(tampered).splitlines(keepends=True))

    assert not result.ok
    assert result.problem is not None
    assert result.problem.startswith((f"line {number} ", f"line {number}:")), result.problem


def _property_trail() -> list[bytes]:
    lines = []
    seq, prev = 0, GENESIS
    for batch in sweep_records("sweep-p", ("i-1", "i-2", "i-3")):
        for record in batch:
            seq += 1
            line = json.dumps(
                {"seq": seq, "prev_sha256": prev, **record}, sort_keys=True, separators=(",", ":")
            ).encode()
            prev = hashlib.sha256(line).hexdigest()
            lines.append(line + b"\n")
    return lines


_PROPERTY_TRAIL = _property_trail()


def test_a_trail_not_starting_at_seq_1_verifies_with_a_warning(trail: list[bytes]) -> None:
    result = verify_lines(trail[6:])
    assert result.ok
    assert result.first_seq == 7
    assert result.warnings == (
        "line 1 (seq 7): the trail starts at seq 7, not 1: its head was truncated or rotated away",
    )


def test_a_last_sweep_without_its_end_verifies_with_a_warning(tmp_path: Path) -> None:
    lines = write_trail(
        tmp_path / "t.jsonl", sweep_records("sweep-a"), sweep_records("sweep-b", ended=False)
    )
    result = verify_lines(lines)
    assert result.ok
    assert result.warnings == (
        "line 7: the last sweep (sweep-b) has no sweep-end record: "
        "it was interrupted, or is still running",
    )


def test_an_empty_trail_is_intact_but_said_to_be_empty() -> None:
    result = verify_lines([])
    assert result.ok
    assert result.records == 0
    assert result.warnings == ("the trail is empty",)


DEEP = b"[" * 100_000 + b"]" * 100_000
"""JSON nested far past Python's recursion limit: json.loads raises RecursionError."""


@pytest.mark.parametrize(
    ("where", "tail", "problem"),
    [
        pytest.param(12, b"\n", "line 13: not a JSON record", id="last-line"),
        pytest.param(
            12,
            b"",
            "line 13: truncated: the last line has no newline (a write cut short)",
            id="cut-short",
        ),
        pytest.param(5, b"\n", "line 6: not a JSON record", id="in-the-middle"),
    ],
)
def test_a_line_nested_too_deeply_is_a_broken_chain_not_a_crash(
    tmp_path: Path, trail: list[bytes], where: int, tail: bytes, problem: str
) -> None:
    lines = [*trail[:where], DEEP + tail, *trail[where + 1 :]]
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"".join(lines))

    result = verify_lines(path.open("rb"))
    code, out, err = verify_cli(path)

    assert (result.ok, result.problem) == (False, problem)
    assert (code, out, err) == (1, f"FAILED: {problem}\n", "")


def test_a_line_nested_too_deeply_after_a_gap_is_looked_ahead_at_safely(
    tmp_path: Path, trail: list[bytes]
) -> None:
    # Line 5 (seq 5) deleted: verify looks at the line after the gap to name the problem.
    path = tmp_path / "deep.jsonl"
    path.write_bytes(b"".join([*trail[:4], trail[5], DEEP + b"\n", *trail[7:]]))
    code, out, _ = verify_cli(path)
    assert (code, out) == (
        1,
        "FAILED: line 5 (seq 6): seq jumps from 4 to 6: 1 record is missing (deleted?)\n",
    )


def test_a_trail_ending_in_a_line_nested_too_deeply_cannot_be_continued(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(DEEP + b"\n")
    with pytest.raises(AuditError, match="does not end with a reaper record"):
        AuditLog(path)
    with pytest.raises(AuditError, match="line 1 is not a complete record"):
        read_records(path)


def test_the_verify_command_masks_credentials_in_the_source(tmp_path: Path) -> None:
    code, out, err = verify_cli("ftp://reaper:s3cret-pw@files.example.com/trail")
    assert (code, out) == (2, "")
    assert err == (
        "error: ftp://***@files.example.com/trail: unknown scheme 'ftp' "
        "(valid: a file path, s3://, gs://)\n"
    )


def test_the_verify_command_reports_an_intact_trail(tmp_path: Path) -> None:
    path = tmp_path / "trail.jsonl"
    write_trail(path, sweep_records("sweep-a"), sweep_records("sweep-b", ended=False))
    code, out, err = verify_cli(path)
    assert code == 0
    assert out == "ok: 11 records, chain intact\n"
    assert err.startswith("warning: line 7: the last sweep (sweep-b) has no sweep-end record")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param("missing.jsonl", "error: cannot read audit log", id="missing-file"),
        pytest.param(".", "error: cannot read audit log", id="a-directory"),
        pytest.param("ftp://host/trail", "unknown scheme 'ftp'", id="unknown-scheme"),
        pytest.param("s3:///prefix", "no bucket name", id="no-bucket"),
    ],
)
def test_the_verify_command_exits_2_on_an_unreadable_source(
    source: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = verify_cli(source)
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_the_verify_command_runs_on_its_own(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "trail.jsonl"
    write_trail(path, sweep_records("sweep-a"))
    done = subprocess.run(
        [sys.executable, "-m", "reaper.cli.audit", "verify", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "ok: 6 records, chain intact\n")


# -- reading back: dangling intents -----------------------------------------------------------


def test_read_records_returns_every_record_and_refuses_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_trail(path, sweep_records("sweep-a"))
    assert [r["event"] for r in read_records(path)] == [
        "sweep-start",
        "intent",
        "intent",
        "outcome",
        "outcome",
        "sweep-end",
    ]
    with path.open("ab") as f:
        f.write(b'{"seq":7')
    with pytest.raises(AuditError, match="line 7 is not a complete record"):
        read_records(path)
    with pytest.raises(AuditError, match="cannot read audit log"):
        read_records(tmp_path / "missing.jsonl")


def _ids(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["sweep_id"], r["resource"]["id"]) for r in records]


def test_dangling_intents_are_those_of_the_last_sweeps_without_an_outcome(tmp_path: Path) -> None:
    """Sweep-ends as reaper 0.1.0 wrote them (no ``open_intents``): read as 0.1.0 did.
    Carried intents are tests/core/test_recovery.py's."""
    path = tmp_path / "t.jsonl"
    write_trail(
        path,
        # Long over: its lost outcome was dealt with by the sweeps after it.
        sweep_records("sweep-old", ("i-1",), unrecorded=("i-old",)),
        # Ended, but one outcome could not be written.
        sweep_records("sweep-ended", ("i-2",), unrecorded=("i-3",)),
        # Crashed between its intents and its outcomes.
        sweep_records("sweep-crashed", ("i-4",), unrecorded=("i-5", "i-6"), ended=False),
    )
    dangling = dangling_intents(path)
    assert _ids(dangling) == [
        ("sweep-ended", "i-3"),
        ("sweep-crashed", "i-5"),
        ("sweep-crashed", "i-6"),
    ]
    assert all(r["event"] == "intent" and r["action"] == "delete" for r in dangling)
    assert [r["seq"] for r in dangling] == sorted(r["seq"] for r in dangling)

    # Recovery records what became of them; then nothing dangles.
    with AuditLog(path) as log:
        log.append(
            [
                {
                    "event": "outcome",
                    "sweep_id": r["sweep_id"],
                    "resource": r["resource"],
                    "action": r["action"],
                    "result": "done",
                }
                for r in dangling
            ]
        )
    assert dangling_intents(path) == []


def test_an_outcome_must_match_the_resource_and_come_after_its_intent() -> None:
    def rec(event: str, rid: str, region: str = "us-east-1", sweep: str = "s") -> dict[str, Any]:
        return {
            "event": event,
            "sweep_id": sweep,
            "resource": _resource(rid, region),
            "action": "delete",
        }

    records = [
        rec("outcome", "i-1"),  # before its intent: does not settle it
        rec("intent", "i-1"),
        rec("intent", "i-2"),
        rec("outcome", "i-2", region="eu-west-1"),  # another resource with the same id
        rec("intent", "i-3"),
        rec("outcome", "i-3", sweep="other"),  # another sweep
        rec("intent", "i-4"),
        rec("outcome", "i-4"),
    ]
    assert [r["resource"]["id"] for r in find_dangling(records)] == ["i-1", "i-2", "i-3"]


def test_a_trail_that_does_not_exist_yet_has_no_dangling_intents(tmp_path: Path) -> None:
    assert dangling_intents(tmp_path / "first-run.jsonl") == []
