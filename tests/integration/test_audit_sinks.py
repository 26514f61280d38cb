"""The audit sinks against real storage APIs: S3 on the session's moto server, GCS on
gcp-storage-emulator in a child process, standard output through capsys.

Each bucket test writes through an AuditLog, then reads the bucket back with the SDK:
listing the keys in order and concatenating the objects must give the same trail, and it
must verify.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from click.testing import CliRunner
from gcs_support import CreateOnlyBucket, free_port, storage_client

from reaper.audit import AuditLog, verify_lines
from reaper.audit.build import build_audit_log
from reaper.audit.file_sink import FileSink
from reaper.audit.gcs_sink import GcsSink
from reaper.audit.s3_sink import S3Sink
from reaper.audit.stdout_sink import StdoutSink
from reaper.cli.audit import audit
from reaper.config import AuditSettings, parse_settings
from reaper.errors import AuditError, ChainForked, ChainHeadUnknown, ChainWentBack, ConfigError
from reaper.sandbox.moto_server import MotoServer

NOW = datetime.now(UTC).replace(microsecond=0)
BATCHES = [
    [{"event": "sweep-start", "sweep_id": "s1"}],
    [{"event": "intent", "sweep_id": "s1"}, {"event": "intent", "sweep_id": "s1"}],
    [{"event": "outcome", "sweep_id": "s1"}, {"event": "outcome", "sweep_id": "s1"}],
    [{"event": "sweep-end", "sweep_id": "s1"}],
]
KEYS = [
    "000000000001.jsonl",
    "000000000002.jsonl",
    "000000000004.jsonl",
    "000000000006.jsonl",
]


def _append_all(log: AuditLog) -> None:
    for batch in BATCHES:
        log.append(batch)


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- S3 ---------------------------------------------------------------------------------------


@pytest.fixture
def s3(sandbox: MotoServer, aws_session: boto3.Session) -> Any:
    """An S3 client on a clean moto."""
    return aws_session.client("s3", endpoint_url=sandbox.endpoint_url)


@pytest.fixture
def locked_bucket(s3: Any) -> str:
    bucket = _unique("audit-locked")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return bucket


def _s3_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def _s3_trail(s3: Any, bucket: str, prefix: str) -> bytes:
    keys = _s3_keys(s3, bucket, prefix)
    return b"".join(s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys)


def test_s3_keeps_one_locked_object_per_batch_that_rebuild_the_file(
    s3: Any, locked_bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    sink = S3Sink(s3, locked_bucket, "trail", "COMPLIANCE", 7, clock=lambda: NOW)
    with AuditLog(path, sinks=[sink]) as log:
        _append_all(log)
        assert log.failures == {f"file:{path}": 0, f"s3://{locked_bucket}/trail": 0}

    keys = _s3_keys(s3, locked_bucket, "trail")
    assert keys == [f"trail/{k}" for k in KEYS]
    for key in keys:
        # moto 5.2 answers GetObjectRetention with a 500; HeadObject reports the same lock.
        head = s3.head_object(Bucket=locked_bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == NOW + timedelta(days=7)
    trail = _s3_trail(s3, locked_bucket, "trail")
    assert trail == path.read_bytes()
    result = verify_lines(trail.splitlines(keepends=True))
    assert (result.ok, result.records) == (True, 6)

    # Locked: not even the bucket owner can delete a version.
    version = s3.head_object(Bucket=locked_bucket, Key=keys[0])["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key=keys[0], VersionId=version)


def test_s3_alone_continues_the_chain_after_a_restart(s3: Any, locked_bucket: str) -> None:
    def sink() -> S3Sink:
        return S3Sink(s3, locked_bucket, "trail", "GOVERNANCE", 1, required=True)

    with AuditLog(sinks=[sink()]) as log:
        _append_all(log)
    with AuditLog(sinks=[sink()]) as log:  # a new pod: no local file at all
        assert log.last_seq == 6
        assert log.chain_source == f"s3://{locked_bucket}/trail"
        log.append([{"event": "sweep-start", "sweep_id": "s2"}])

    assert _s3_keys(s3, locked_bucket, "trail")[-1] == "trail/000000000007.jsonl"
    result = verify_lines(_s3_trail(s3, locked_bucket, "trail").splitlines(keepends=True))
    assert (result.ok, result.records) == (True, 7)


def test_an_empty_local_file_continues_the_chain_kept_in_s3(
    s3: Any, locked_bucket: str, tmp_path: Path
) -> None:
    with AuditLog(sinks=[S3Sink(s3, locked_bucket, "trail")]) as log:
        _append_all(log)
    path = tmp_path / "new-pod.jsonl"
    with AuditLog(path, sinks=[S3Sink(s3, locked_bucket, "trail")]) as log:
        assert log.chain_source == f"s3://{locked_bucket}/trail"
        log.append([{"event": "sweep-start", "sweep_id": "s2"}])
    assert json.loads(path.read_bytes())["seq"] == 7


def test_s3_never_overwrites_an_audit_object(s3: Any) -> None:
    bucket = _unique("audit-plain")
    s3.create_bucket(Bucket=bucket)
    sink = S3Sink(s3, bucket, "trail")
    first = [b'{"seq":1,"prev_sha256":"0"}\n']
    sink.write(first)
    sink.write(first)  # the same batch again, as after a lost response: fine

    with pytest.raises(ChainForked, match="already holds other records"):
        sink.write([b'{"seq":1,"prev_sha256":"1"}\n'])
    assert _s3_trail(s3, bucket, "trail") == first[0]
    with pytest.raises(ChainForked):  # and it writes nothing more
        sink.write([b'{"seq":2,"prev_sha256":"2"}\n'])
    assert _s3_keys(s3, bucket, "trail") == ["trail/000000000001.jsonl"]


def test_s3_without_object_lock_on_the_bucket_fails_at_once_with_an_audit_error(
    s3: Any, tmp_path: Path
) -> None:
    bucket = _unique("audit-unlocked")
    s3.create_bucket(Bucket=bucket)
    sink = S3Sink(s3, bucket, "trail", "COMPLIANCE", 1, required=True, backoff=5.0)
    started = time.monotonic()
    log = AuditLog(tmp_path / "a.jsonl", sinks=[sink])
    with log, pytest.raises(AuditError, match="InvalidRequest") as excinfo:
        log.append(BATCHES[0])
    assert time.monotonic() - started < 2  # not retried: another try cannot help
    assert isinstance(excinfo.value.__cause__, AuditError)
    assert isinstance(excinfo.value.__cause__.__cause__, ClientError)


def test_an_unreachable_s3_is_retried_then_counted_and_logged(
    aws_session: boto3.Session, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = aws_session.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    sink = S3Sink(client, "audit-bucket", "trail", retries=2, backoff=0.01)
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:  # the local file holds the chain's head
        log.append(BATCHES[0])
    with AuditLog(path, sinks=[sink]) as log:  # its last line cannot be read: counted
        assert log.failures["s3://audit-bucket/trail"] == 1
        log.append(BATCHES[1])
        assert log.failures["s3://audit-bucket/trail"] == 2
    assert len(read_lines(path)) == 3
    assert "s3://audit-bucket/trail missed records 2-3" in caplog.text
    assert "(tried 3 times)" in caplog.text

    with pytest.raises(AuditError) as excinfo:
        sink.write([b'{"seq":2,"prev_sha256":"x"}\n'])
    assert isinstance(excinfo.value.__cause__, BotoCoreError)  # chained, not leaked


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_the_verify_command_reads_s3_through_aws_endpoint_url(
    s3: Any, locked_bucket: str, sandbox: MotoServer
) -> None:
    with AuditLog(sinks=[S3Sink(s3, locked_bucket, "trail", "GOVERNANCE", 1)]) as log:
        _append_all(log)
    bucket = _unique("audit-plain")
    s3.create_bucket(Bucket=bucket)
    with AuditLog(sinks=[S3Sink(s3, bucket, "trail")]) as log:
        _append_all(log)
    s3.delete_object(Bucket=bucket, Key=f"trail/{KEYS[1]}")  # records 2-3 go missing
    runner = CliRunner(env={"AWS_ENDPOINT_URL": sandbox.endpoint_url})

    ok = runner.invoke(audit, ["verify", f"s3://{locked_bucket}/trail"])
    assert (ok.exit_code, ok.stdout) == (0, "ok: 6 records, chain intact\n")
    broken = runner.invoke(audit, ["verify", f"s3://{bucket}/trail"])
    assert broken.exit_code == 1
    assert broken.stdout == (
        "FAILED: line 2 (seq 4): seq jumps from 1 to 4: 2 records are missing (deleted?)\n"
    )
    empty = runner.invoke(audit, ["verify", f"s3://{bucket}/nothing-here"])
    assert empty.exit_code == 2
    assert empty.stderr == f"error: s3://{bucket}/nothing-here: no audit objects found\n"
    missing = runner.invoke(audit, ["verify", "s3://no-such-bucket/trail"])
    assert missing.exit_code == 2
    assert "NoSuchBucket" in missing.stderr


# -- S3: one writer per trail ------------------------------------------------------------------


def _pod(tmp_path: Path, name: str, s3: Any, bucket: str, **options: Any) -> AuditLog:
    """A CronJob pod's audit log: a new, empty local file and the shared S3 trail."""
    return AuditLog(tmp_path / name / "audit.jsonl", sinks=[S3Sink(s3, bucket, "trail", **options)])


def test_two_writers_from_one_head_collide_instead_of_forking_the_s3_trail(
    s3: Any, tmp_path: Path
) -> None:
    bucket = _unique("audit-fork")
    s3.create_bucket(Bucket=bucket)
    with _pod(tmp_path, "pod-0", s3, bucket) as log:
        _append_all(log)  # seqs 1-6

    first, second = _pod(tmp_path, "pod-a", s3, bucket), _pod(tmp_path, "pod-b", s3, bucket)
    with first, second:
        assert first.last_seq == second.last_seq == 6  # both continue from the bucket
        # Different batch sizes: keys naming the last seq (7-9 and 7-7) would both succeed.
        first.append([{"event": "intent", "sweep_id": "a"}] * 3)
        with pytest.raises(ChainForked, match=r"000000000007\.jsonl already holds other records"):
            second.append([{"event": "intent", "sweep_id": "b"}])
        with pytest.raises(ChainForked):  # the loser writes nothing more, anywhere
            second.append([{"event": "sweep-end", "sweep_id": "b"}])
        first.append([{"event": "sweep-end", "sweep_id": "a"}])

    trail = _s3_trail(s3, bucket, "trail")
    result = verify_lines(trail.splitlines(keepends=True))
    assert (result.ok, result.records) == (True, 10), result
    assert {json.loads(line).get("sweep_id") for line in trail.splitlines()[6:]} == {"a"}


def test_two_concurrent_writers_on_one_s3_trail_leave_one_chain(s3: Any, tmp_path: Path) -> None:
    bucket = _unique("audit-race")
    s3.create_bucket(Bucket=bucket)
    with _pod(tmp_path, "pod-0", s3, bucket) as log:
        _append_all(log)
    writers = [_pod(tmp_path, f"pod-{n}", s3, bucket) for n in (1, 2)]
    start = threading.Barrier(len(writers))
    failures: dict[int, tuple[int, AuditError]] = {}

    def write(number: int, log: AuditLog) -> None:
        start.wait()
        for batch in range(20):
            size = 1 + (batch + number) % 4  # the two writers cut batches differently
            try:
                log.append([{"event": "intent", "sweep_id": f"w{number}"}] * size)
            except AuditError as err:
                failures[number] = (batch, err)
                return

    threads = [threading.Thread(target=write, args=(n, w)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for log in writers:
        log.close()

    # Exactly one writer lost the race for seq 7, on its first batch, before it stored a
    # record; the other wrote all its batches.
    assert len(failures) == 1, failures
    ((loser, (batch, error)),) = failures.items()
    assert batch == 0
    assert isinstance(error, ChainForked)
    trail = _s3_trail(s3, bucket, "trail")
    result = verify_lines(trail.splitlines(keepends=True))
    assert result.ok, result
    assert {json.loads(line)["sweep_id"] for line in trail.splitlines()[6:]} == {f"w{1 - loser}"}


def test_a_trail_keyed_by_first_and_last_seq_is_still_read_and_continued(
    s3: Any, tmp_path: Path
) -> None:
    bucket = _unique("audit-legacy")
    s3.create_bucket(Bucket=bucket)
    path = tmp_path / "old.jsonl"
    with AuditLog(path) as log:
        _append_all(log)
    lines = path.read_bytes().splitlines(keepends=True)
    # As reaper 0.1.0 stored them: {first_seq}-{last_seq}.jsonl, one per batch.
    for first, last in ((1, 1), (2, 3), (4, 5), (6, 6)):
        key = f"trail/{first:012d}-{last:012d}.jsonl"
        s3.put_object(Bucket=bucket, Key=key, Body=b"".join(lines[first - 1 : last]))

    with _pod(tmp_path, "pod-1", s3, bucket) as log:
        assert log.last_seq == 6
        log.append([{"event": "sweep-start", "sweep_id": "s2"}] * 5)  # 7-11
        log.append([{"event": "sweep-end", "sweep_id": "s2"}])  # 12

    assert _s3_keys(s3, bucket, "trail")[-3:] == [
        "trail/000000000006-000000000006.jsonl",
        "trail/000000000007.jsonl",
        "trail/000000000012.jsonl",
    ]
    sink = S3Sink(s3, bucket, "trail")
    result = verify_lines(sink.read_lines())
    assert (result.ok, result.records, result.last_seq) == (True, 12, 12)
    assert json.loads(sink.last_line() or b"{}")["seq"] == 12


class _CountingS3Sink(S3Sink):
    """An S3Sink that notes each object it downloads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.downloaded: list[str] = []

    def _get(self, key: str) -> bytes:
        self.downloaded.append(key)
        return super()._get(key)


def test_opening_reads_the_bucket_back_only_to_the_last_sweep_end(s3: Any) -> None:
    bucket = _unique("audit-long")
    s3.create_bucket(Bucket=bucket)
    for number in range(10):  # ten sweeps, five objects each
        with AuditLog(sinks=[S3Sink(s3, bucket, "trail")]) as log:
            for batch in BATCHES:
                log.append([{**record, "sweep_id": f"s{number}"} for record in batch])
            log.append([{"event": "sweep-end", "sweep_id": f"s{number}", "open_intents": []}])
    with AuditLog(sinks=[S3Sink(s3, bucket, "trail")]) as log:  # killed after its intent
        log.append([{"event": "sweep-start", "sweep_id": "killed"}])
        log.append([{"event": "intent", "sweep_id": "killed", "action": "delete"}])
    keys = _s3_keys(s3, bucket, "trail")
    assert len(keys) == 52

    sink = _CountingS3Sink(s3, bucket, "trail")
    with AuditLog(sinks=[sink]) as log:
        assert [(i["sweep_id"], i["seq"]) for i in log.open_intents] == [("killed", 72)]
    # The last object (once, for the head and the intents), the sweep-start before it,
    # and the sweep-end that carries what was open then.
    assert sink.downloaded == [keys[-1], keys[-2], keys[-3]]


def test_a_local_file_behind_the_bucket_is_refused(s3: Any, tmp_path: Path) -> None:
    bucket = _unique("audit-behind")
    s3.create_bucket(Bucket=bucket)
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, sinks=[S3Sink(s3, bucket, "trail")]) as log:
        _append_all(log)
    stale = path.read_bytes()  # an old copy of the volume
    with AuditLog(path, sinks=[S3Sink(s3, bucket, "trail")]) as log:
        log.append([{"event": "sweep-start", "sweep_id": "s2"}])
    path.write_bytes(stale)

    with pytest.raises(ChainWentBack, match=r"ends at seq 6, but s3://.* holds seq 7"):
        AuditLog(path, sinks=[S3Sink(s3, bucket, "trail")])
    assert _s3_keys(s3, bucket, "trail")[-1] == "trail/000000000007.jsonl"


def test_an_unreadable_optional_s3_with_an_empty_local_file_refuses_to_start(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    client = aws_session.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    sink = S3Sink(client, "audit-bucket", "trail", retries=0)
    path = tmp_path / "new-pod.jsonl"
    with pytest.raises(ChainHeadUnknown, match="cannot read s3://audit-bucket/trail") as excinfo:
        AuditLog(path, sinks=[sink])
    assert "nothing is done until it can be read" in str(excinfo.value)
    assert path.read_bytes() == b""  # not a single record: no chain restarted at seq 1
    with AuditLog(path):  # and the lock was let go
        pass


# -- GCS --------------------------------------------------------------------------------------


@pytest.fixture
def gcs(gcs_emulator: str) -> Any:
    return storage_client(gcs_emulator)


@pytest.fixture
def gcs_bucket(gcs: Any) -> str:
    bucket = _unique("audit")
    gcs.create_bucket(bucket)
    return bucket


def _gcs_trail(gcs: Any, bucket: str, prefix: str) -> tuple[list[str], bytes]:
    blobs = list(gcs.list_blobs(bucket, prefix=f"{prefix}/"))
    return [b.name for b in blobs], b"".join(b.download_as_bytes() for b in blobs)


def test_gcs_keeps_one_object_per_batch_and_continues_the_chain(
    gcs: Any, gcs_bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, sinks=[GcsSink(gcs, gcs_bucket, "trail")]) as log:
        _append_all(log)
        assert log.failures[f"gs://{gcs_bucket}/trail"] == 0

    names, trail = _gcs_trail(gcs, gcs_bucket, "trail")
    assert names == [f"trail/{k}" for k in KEYS]
    assert trail == path.read_bytes()
    assert verify_lines(trail.splitlines(keepends=True)).ok

    with AuditLog(sinks=[GcsSink(gcs, gcs_bucket, "trail", required=True)]) as log:
        assert (log.last_seq, log.chain_source) == (6, f"gs://{gcs_bucket}/trail")
        log.append([{"event": "sweep-start", "sweep_id": "s2"}])
    names, trail = _gcs_trail(gcs, gcs_bucket, "trail")
    assert names[-1] == "trail/000000000007.jsonl"
    result = verify_lines(trail.splitlines(keepends=True))
    assert (result.ok, result.records) == (True, 7)


def test_the_gcs_emulator_ignores_if_generation_match(gcs: Any, gcs_bucket: str) -> None:
    """Why the fork test below fakes the bucket: the emulator overwrites. If this starts
    failing, the emulator honours the precondition: test the fork against it instead."""
    blob = gcs.bucket(gcs_bucket).blob("k")
    blob.upload_from_string(b"one", if_generation_match=0)
    blob.upload_from_string(b"two", if_generation_match=0)
    assert blob.download_as_bytes() == b"two"


def test_two_writers_from_one_head_collide_on_gcs(tmp_path: Path) -> None:
    bucket = CreateOnlyBucket()

    def pod(name: str) -> AuditLog:
        return AuditLog(tmp_path / name / "audit.jsonl", sinks=[GcsSink(bucket, "audit", "trail")])

    with pod("pod-0") as log:
        _append_all(log)
    first, second = pod("pod-a"), pod("pod-b")
    with first, second:
        first.append([{"event": "intent", "sweep_id": "a"}] * 3)
        with pytest.raises(ChainForked, match=r"000000000007\.jsonl already holds other records"):
            second.append([{"event": "intent", "sweep_id": "b"}])
        first.append([{"event": "sweep-end", "sweep_id": "a"}])

    assert set(bucket.preconditions) == {0}  # every upload is create-only
    assert sorted(bucket.objects) == [f"trail/{k}" for k in KEYS] + [
        "trail/000000000007.jsonl",
        "trail/000000000010.jsonl",
    ]
    trail = b"".join(bucket.objects[k] for k in sorted(bucket.objects))
    result = verify_lines(trail.splitlines(keepends=True))
    assert (result.ok, result.records) == (True, 10), result


def test_gcs_errors_become_audit_errors(gcs: Any, tmp_path: Path) -> None:
    sink = GcsSink(gcs, "no-such-bucket", "trail", required=True, backoff=5.0)
    with pytest.raises(AuditError, match="no-such-bucket") as excinfo:
        sink.write([b'{"seq":1,"prev_sha256":"0"}\n'])  # 404: not retried
    assert excinfo.value.__cause__ is not None
    assert not isinstance(excinfo.value.__cause__, AuditError)

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    down = storage.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://127.0.0.1:{free_port()}"},
    )
    unreachable = GcsSink(down, "audit", "trail", retries=1, backoff=0.01)
    with AuditLog(tmp_path / "a.jsonl") as log:  # the local file holds the chain's head
        log.append(BATCHES[0])
    with AuditLog(tmp_path / "a.jsonl", sinks=[unreachable]) as log:
        log.append(BATCHES[1])
        assert log.failures["gs://audit/trail"] == 2  # reading its last line, then writing


def test_the_verify_command_reads_gcs_through_storage_emulator_host(
    gcs: Any, gcs_bucket: str, gcs_emulator: str
) -> None:
    with AuditLog(sinks=[GcsSink(gcs, gcs_bucket, "trail")]) as log:
        _append_all(log)
    runner = CliRunner(env={"STORAGE_EMULATOR_HOST": gcs_emulator})

    ok = runner.invoke(audit, ["verify", f"gs://{gcs_bucket}/trail"])
    assert (ok.exit_code, ok.stdout) == (0, "ok: 6 records, chain intact\n")

    gcs.bucket(gcs_bucket).blob(f"trail/{KEYS[2]}").delete()
    broken = runner.invoke(audit, ["verify", f"gs://{gcs_bucket}/trail"])
    assert broken.exit_code == 1
    assert broken.stdout.startswith("FAILED: line 4 (seq 6): seq jumps from 3 to 6")


# -- standard output --------------------------------------------------------------------------


def test_the_stdout_sink_prints_the_same_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, sinks=[StdoutSink()]) as log:
        _append_all(log)
    printed = capsys.readouterr().out
    assert printed.encode() == path.read_bytes()
    assert [json.loads(line)["seq"] for line in printed.splitlines()] == [1, 2, 3, 4, 5, 6]


def test_stdout_alone_cannot_continue_a_chain(capsys: pytest.CaptureFixture[str]) -> None:
    with AuditLog(sinks=[StdoutSink()]) as log:
        log.append(BATCHES[0])
    with AuditLog(sinks=[StdoutSink()]) as log:
        assert log.last_seq == 0
    assert json.loads(capsys.readouterr().out)["seq"] == 1


# -- configuration ----------------------------------------------------------------------------

MINIMAL = {"providers": {"aws": {"regions": ["us-east-1"]}}}


def _audit_settings(audit_section: dict[str, Any]) -> AuditSettings:
    return parse_settings({**MINIMAL, "audit": audit_section}, "test.yaml").audit


def test_build_audit_log_builds_every_configured_sink(
    s3: Any,
    locked_bucket: str,
    gcs: Any,
    gcs_bucket: str,
    sandbox: MotoServer,
    aws_session: boto3.Session,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "audit.jsonl"
    settings = _audit_settings(
        {
            "path": str(path),
            "stdout": True,
            "s3": {
                "bucket": locked_bucket,
                "prefix": "reaper",
                "region": "us-east-1",
                "object_lock_mode": "GOVERNANCE",
                "retain_days": 30,
                "required": True,
            },
            "gcs": {"bucket": gcs_bucket, "prefix": "reaper"},
        }
    )
    log = build_audit_log(
        settings, aws_session=aws_session, s3_endpoint_url=sandbox.endpoint_url, gcs_client=gcs
    )
    with log:
        assert [(s.name, s.required) for s in log.sinks] == [
            (f"file:{path}", True),
            ("stdout", False),
            (f"s3://{locked_bucket}/reaper", True),
            (f"gs://{gcs_bucket}/reaper", False),
        ]
        _append_all(log)

    expected = path.read_bytes()
    assert capsys.readouterr().out.encode() == expected
    assert _s3_trail(s3, locked_bucket, "reaper") == expected
    assert _gcs_trail(gcs, gcs_bucket, "reaper")[1] == expected
    head = s3.head_object(Bucket=locked_bucket, Key=f"reaper/{KEYS[0]}")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    retained = head["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(days=29) < retained <= timedelta(days=30)


def test_the_default_config_is_the_file_alone(tmp_path: Path) -> None:
    settings = parse_settings(MINIMAL, "test.yaml").audit
    assert settings == AuditSettings(path="reaper-audit.jsonl", stdout=False, s3=None, gcs=None)
    log = build_audit_log(_audit_settings({"path": str(tmp_path / "a.jsonl")}))
    with log:
        assert [type(s) for s in log.sinks] == [FileSink]


def test_a_gcs_sink_without_the_google_library_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import google.cloud

    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)  # import fails
    monkeypatch.delattr(google.cloud, "storage", raising=False)
    settings = _audit_settings({"path": str(tmp_path / "a.jsonl"), "gcs": {"bucket": "audit"}})
    with pytest.raises(ConfigError, match=r"audit\.gcs: .*pip install 'reaper\[gcs\]'"):
        build_audit_log(settings)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        pytest.param(
            {"path": None},
            "test.yaml: audit: no audit sink: set at least one of path, stdout, s3, gcs",
            id="no-sink",
        ),
        pytest.param(
            {"path": ""},
            "test.yaml: audit.path: the path is empty (use null to turn the audit file off)",
            id="empty-path",
        ),
        pytest.param(
            {"s3": {"bucket": "audit-bucket", "object_lock_mode": "COMPLIANCE"}},
            "test.yaml: audit.s3: retain_days is required with object_lock_mode",
            id="lock-without-days",
        ),
        pytest.param(
            {"s3": {"bucket": "audit-bucket", "retain_days": 30}},
            "test.yaml: audit.s3: retain_days needs an object_lock_mode (GOVERNANCE, COMPLIANCE)",
            id="days-without-lock",
        ),
        pytest.param(
            {"s3": {"bucket": "audit-bucket", "object_lock_mode": "forever", "retain_days": 1}},
            "test.yaml: audit.s3.object_lock_mode: unknown object lock mode 'forever' "
            "(valid: GOVERNANCE, COMPLIANCE)",
            id="unknown-lock-mode",
        ),
        pytest.param(
            {"s3": {"bucket": "audit-bucket", "object_lock_mode": "GOVERNANCE", "retain_days": 0}},
            "test.yaml: audit.s3.retain_days: input should be greater than or equal to 1, got 0",
            id="zero-days",
        ),
        pytest.param(
            {"s3": {"bucket": "Audit_Bucket"}},
            "test.yaml: audit.s3.bucket: 'Audit_Bucket' is not an S3 bucket name "
            "(3-63 of a-z, 0-9, '.', '-')",
            id="bad-s3-bucket",
        ),
        pytest.param(
            {"gcs": {"bucket": "audit", "prefix": "/reaper/"}},
            "test.yaml: audit.gcs.prefix: '/reaper/': write the prefix without a leading "
            "or trailing '/'",
            id="slashed-prefix",
        ),
        pytest.param(
            {"s3": {"bucket": "audit-bucket", "region": "mars-1"}},
            "test.yaml: audit.s3.region: 'mars-1' is not an AWS region name",
            id="bad-region",
        ),
        pytest.param(
            {"s3": {"bucket": "audit-bucket", "lock": "yes"}},
            "test.yaml: audit.s3.lock: unknown key (valid: bucket, prefix, region, "
            "object_lock_mode, retain_days, required)",
            id="unknown-key",
        ),
    ],
)
def test_audit_config_problems_name_the_key(section: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings({**MINIMAL, "audit": section}, "test.yaml")
    assert excinfo.value.problems == (problem,)
