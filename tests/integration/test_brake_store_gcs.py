"""The global brake's GCS store: against gcp-storage-emulator (real HTTP, the GCS audit
sink tests' emulator) for keys, reading back and checksums; against a bucket that honours
``if_generation_match`` (which the emulator ignores) for create-only records.

The sharded CLI run with this store is in ``test_shards_gcp_kube.py``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import google_crc32c
import pytest
from gcs_support import CreateOnlyBucket, free_port, storage_client

from reaper.audit.gcs_brake_store import GcsBrakeStore
from reaper.audit.s3_brake_store import S3BrakeStore
from reaper.brake_sync import BrakeSync, build_store
from reaper.config import GlobalBrakeSettings, SafetySettings
from reaper.errors import AuditError
from reaper.global_brake import ShardCounts
from reaper.model import Plan
from reaper.shards import Shard


@pytest.fixture
def gcs(gcs_emulator: str) -> Any:
    return storage_client(gcs_emulator)


@pytest.fixture
def bucket(gcs: Any) -> str:
    name = f"brake-{uuid.uuid4().hex[:8]}"
    gcs.create_bucket(name)
    return name


def crc32c(body: bytes) -> str:
    """The base64 CRC32C GCS keeps of an object."""
    return base64.b64encode(google_crc32c.Checksum(body).digest()).decode()


def test_records_are_read_back_by_shard_and_group(gcs: Any, bucket: str) -> None:
    store = GcsBrakeStore(gcs, bucket, "reaper-brake")
    store.publish("job-7", 0, b"first")
    store.publish("job-7", 3, b"three")
    store.publish("job-8", 1, b"other group")
    gcs.bucket(bucket).blob("reaper-brake/job-7/notes.txt").upload_from_string(b"not a record")
    assert store.read_all("job-7") == {0: b"first", 3: b"three"}
    assert store.read_all("job-9") == {}
    assert store.name == f"gs://{bucket}/reaper-brake"


def test_records_carry_their_crc32c(gcs: Any, bucket: str) -> None:
    # As the S3 store sends a SHA-256: GCS checks the CRC32C before it stores the object.
    store = GcsBrakeStore(gcs, bucket, "reaper-brake")
    store.publish("job-1", 0, b'{"format": 1}')
    blob = gcs.bucket(bucket).get_blob("reaper-brake/job-1/shard-0.json")
    assert blob.crc32c == crc32c(b'{"format": 1}')
    assert blob.content_type == "application/json"


def test_records_are_create_only_and_the_first_stands() -> None:
    fake = CreateOnlyBucket()
    store = GcsBrakeStore(fake, "brake-bucket", "reaper-brake")
    store.publish("job-7", 0, b"first")
    store.publish("job-7", 0, b"second")  # a retried pod: the first record stands
    assert store.read_all("job-7") == {0: b"first"}
    assert fake.preconditions == [0, 0]
    assert {o["checksum"] for o in fake.options} == {"crc32c"}


def test_gcs_errors_become_audit_errors(gcs: Any) -> None:
    missing = GcsBrakeStore(gcs, "no-such-bucket", "reaper-brake")
    with pytest.raises(AuditError, match="cannot publish to gs://no-such-bucket/reaper-brake"):
        missing.publish("job-1", 0, b"{}")
    down = storage_client(f"http://127.0.0.1:{free_port()}")
    unreachable = GcsBrakeStore(down, "brake", "reaper-brake", timeout=1, retries=1, backoff=0.01)
    with pytest.raises(AuditError, match="cannot read gs://brake/reaper-brake") as excinfo:
        unreachable.read_all("job-1")
    assert not isinstance(excinfo.value.__cause__, AuditError)


def test_a_store_that_cannot_be_reached_stops_every_shard() -> None:
    # Fail closed, as with the other stores: no shard acts on a brake it could not check.
    down = storage_client(f"http://127.0.0.1:{free_port()}")
    sync = BrakeSync(
        GcsBrakeStore(down, "brake", "reaper-brake", timeout=1, retries=1, backoff=0.01),
        "job-1",
        Shard(0, 2),
        SafetySettings(),
        wait=0.0,
    )
    plan = Plan(created_at=None, decisions=(), population={})  # type: ignore[arg-type]
    brake = sync.agree(plan, None)
    assert brake is not None
    (reason,) = brake.reasons
    assert reason.startswith("global brake: cannot publish to gs://brake/reaper-brake")
    assert reason.endswith("; no shard acts")


def test_two_shards_agree_through_the_emulator(gcs: Any, bucket: str) -> None:
    safety = SafetySettings(max_actions_per_sweep=5, max_fraction=1.0)

    def sync(index: int) -> BrakeSync:
        store = GcsBrakeStore(gcs, bucket, "reaper-brake")
        return BrakeSync(store, "job-2", Shard(index, 2), safety, wait=5.0, poll=0.01)

    plan = Plan(created_at=None, decisions=(), population={"gcp:gce_instance": 3})  # type: ignore[arg-type]
    record = ShardCounts(1, 2, {}, {"gcp:gce_instance": 3}, group="job-2")
    sync(1).store.publish("job-2", 1, record.to_json())
    assert sync(0).agree(plan, None) is None
    assert sorted(sync(0).store.read_all("job-2")) == [0, 1]


def test_the_config_names_the_store(monkeypatch: pytest.MonkeyPatch, gcs_emulator: str) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    store = build_store(GlobalBrakeSettings(gcs_bucket="my-audit-bucket", gcs_prefix="brake"))
    assert isinstance(store, GcsBrakeStore)
    assert store.name == "gs://my-audit-bucket/brake"
    s3 = build_store(GlobalBrakeSettings(s3_bucket="my-audit-bucket"))
    assert isinstance(s3, S3BrakeStore)
    assert s3.name == "s3://my-audit-bucket/reaper-brake"
