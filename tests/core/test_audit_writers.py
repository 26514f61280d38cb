"""One writer per trail, and a chain head that can be trusted, on real files.

The lock is an ``flock`` on ``<trail>.lock``: a second log on the same file (in this
process or another) waits for it, then gives up with AuditLocked. A trail that is deleted
or replaced while a log has it open takes no more records; a log that would continue a
chain older than the last record its caller wrote is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reaper.app import SweepService
from reaper.audit import AuditLog, ChainHead, read_records, verify_lines
from reaper.audit.lock import lock_path
from reaper.config import TagKeys, parse_settings
from reaper.errors import AuditLocked, ChainWentBack
from reaper.lifecycle import StateSigner, quarantine_tags
from reaper.model import Action, Collected, Outcome, Resource, ResourceRef, Result, Scope
from reaper.providers.base import ResourceKind
from reaper.sandbox.environment import SANDBOX_STATE_KEY

SCOPE = Scope("default", "us-east-1")


def test_a_second_writer_waits_for_the_lock_then_gives_up_naming_the_holder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as first:
        first.append([{"event": "a"}])
        started = time.monotonic()
        with pytest.raises(AuditLocked) as excinfo:
            AuditLog(path, lock_timeout=0.5)
        waited = time.monotonic() - started

        assert 0.5 <= waited < 3
        message = str(excinfo.value)
        assert f"pid={os.getpid()}" in message
        assert str(lock_path(path)) in message
        assert "audit.lock_timeout" in message
        first.append([{"event": "b"}])

    assert [r["event"] for r in read_records(path)] == ["a", "b"]


def test_a_waiting_writer_continues_the_chain_once_the_first_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first = AuditLog(path)
    first.append([{"event": "a"}])
    opened: list[AuditLog] = []
    waiter = threading.Thread(target=lambda: opened.append(AuditLog(path, lock_timeout=10)))
    waiter.start()
    time.sleep(0.3)
    assert opened == []  # still waiting: the first log holds the trail
    first.append([{"event": "b"}, {"event": "c"}])
    first.close()
    waiter.join(10)

    (second,) = opened
    with second:
        assert second.last_seq == 3  # the head the first log left, not the one it found
        second.append([{"event": "d"}])
    assert [r["seq"] for r in read_records(path)] == [1, 2, 3, 4]
    assert verify_lines(path.open("rb")).ok


def test_another_process_waits_for_the_lock_too(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = (
        "import sys\n"
        "from reaper.audit import AuditLog\n"
        "from reaper.errors import AuditLocked\n"
        "try:\n"
        "    AuditLog(sys.argv[1], lock_timeout=0.2)\n"
        "except AuditLocked:\n"
        "    sys.exit(4)\n"
    )

    def other() -> int:
        run = subprocess.run([sys.executable, "-c", script, str(path)], check=False, timeout=60)
        return run.returncode

    with AuditLog(path):
        assert other() == 4
    assert other() == 0


def test_deleting_the_trail_lets_no_second_writer_in_and_stops_the_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as first:
        first.append([{"event": "a"}])
        path.unlink()  # rotated or deleted by hand while a sweep runs

        # The lock is on the sidecar, not on the deleted inode: still held.
        with pytest.raises(AuditLocked):
            AuditLog(path)
        # Records appended to the deleted file would vanish: refused, and for good.
        with pytest.raises(ChainWentBack, match="was deleted"):
            first.append([{"event": "intent"}])
        with pytest.raises(ChainWentBack):
            first.append([{"event": "sweep-end"}])
    assert not path.exists()


def test_replacing_the_trail_stops_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append([{"event": "a"}])
        other = tmp_path / "other.jsonl"
        other.write_bytes(path.read_bytes())
        os.replace(other, path)
        with pytest.raises(ChainWentBack, match="was replaced"):
            log.append([{"event": "b"}])
    assert [r["event"] for r in read_records(path)] == ["a"]


def test_a_lock_file_removed_under_a_writer_stops_its_writes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as first:
        first.append([{"event": "a"}])
        lock_path(path).unlink()
        # Someone may now lock a new lock file: the first writer must not go on.
        with pytest.raises(AuditLocked, match="removed or replaced"):
            first.append([{"event": "b"}])
        with AuditLog(path) as second:
            assert second.last_seq == 1
            second.append([{"event": "b"}])
    assert [r["event"] for r in read_records(path)] == ["a", "b"]
    assert verify_lines(path.open("rb")).ok


def test_a_trail_that_ends_before_a_record_already_written_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append([{"event": "a"}, {"event": "b"}])
        head = log.head
    assert head.seq == 2

    with AuditLog(path, known_head=head) as log:  # the same trail: fine
        log.append([{"event": "c"}])
        later = log.head
    path.unlink()
    with pytest.raises(ChainWentBack, match="ends at seq 0, but this process already wrote seq 3"):
        AuditLog(path, known_head=later)

    path.write_bytes(b"")
    with AuditLog(path) as log:  # a new trail of the same length
        log.append([{"event": "x"}, {"event": "y"}, {"event": "z"}])
    with pytest.raises(ChainWentBack, match="was replaced"):
        AuditLog(path, known_head=later)
    with AuditLog(path, known_head=ChainHead(0, later.sha256)) as log:  # nothing known yet
        assert log.last_seq == 3


def test_the_lock_file_names_its_holder_and_outlives_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path):
        holder = lock_path(path).read_text()
    assert holder.startswith(f"pid={os.getpid()} host=")
    assert lock_path(path).exists()  # deleting it on release would let two holders in


class _Quarantined(ResourceKind):
    """One quarantined instance that can be found and released."""

    provider = "aws"
    kind = "ec2_instance"
    permissions = ()
    delete_order = 50

    def __init__(self) -> None:
        self.released: list[str] = []

    def scopes(self) -> Sequence[Scope]:
        return [SCOPE]

    def collect(self, scope: Scope) -> Collected:
        return Collected(())

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        ref = ResourceRef("aws", "ec2_instance", scope, ids[0])
        # Pipeline-tagged and quarantined by reaper (signed): what release accepts.
        signer = StateSigner(SANDBOX_STATE_KEY.encode(), TagKeys().model_dump().values())
        state = quarantine_tags(datetime(2026, 1, 1, tzinfo=UTC), "exposed")
        tags = {"reaper-pipeline": "run-1", **signer.signed(ref, state)}
        return Collected((Resource(ref, ids[0], None, tags=tags),))

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        raise AssertionError("never deleted")

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        self.released.append(resource.ref.id)
        return Outcome(resource.ref, Action.RELEASE, Result.DONE)


def test_a_release_takes_the_lock_like_a_sweep(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    settings = parse_settings(
        {"providers": {"aws": {"regions": ["us-east-1"]}}, "audit": {"path": str(path)}}, "t.yaml"
    )
    kind = _Quarantined()
    service = SweepService(settings, [kind], lambda: AuditLog(path, lock_timeout=0.2))

    with AuditLog(path):  # a daemon sweep has the trail open
        with pytest.raises(AuditLocked):
            service.release(kind, "i-1")
        assert kind.released == []  # not released without its intent on record

    outcome = service.release(kind, "i-1")
    assert outcome is not None
    assert outcome.result is Result.DONE
    assert [(r["event"], r["action"]) for r in read_records(path)] == [
        ("intent", "release"),
        ("outcome", "release"),
    ]
