"""The global brake's S3 store against moto (real HTTP): create-only records per shard."""

from __future__ import annotations

import boto3

from reaper.audit.s3_brake_store import S3BrakeStore
from reaper.sandbox.moto_server import MotoServer


def test_records_are_create_only_and_read_back_by_shard(
    sandbox: MotoServer, aws_session: boto3.Session
) -> None:
    s3 = aws_session.client("s3", region_name="us-east-1", endpoint_url=sandbox.endpoint_url)
    s3.create_bucket(Bucket="brake-bucket")
    store = S3BrakeStore(s3, "brake-bucket", "reaper-brake")
    store.publish("job-7", 0, b"first")
    store.publish("job-7", 0, b"second")  # a retried pod: the first record stands
    store.publish("job-7", 3, b"three")
    store.publish("job-8", 1, b"other group")
    assert store.read_all("job-7") == {0: b"first", 3: b"three"}
    assert store.read_all("job-9") == {}


def test_records_carry_a_checksum_so_an_object_lock_bucket_takes_them(
    sandbox: MotoServer, aws_session: boto3.Session
) -> None:
    # The audit bucket, with Object Lock, may hold the brake's records under their own
    # prefix: S3 wants a checksum on every PUT to such a bucket.
    s3 = aws_session.client("s3", region_name="us-east-1", endpoint_url=sandbox.endpoint_url)
    s3.create_bucket(Bucket="audit-bucket", ObjectLockEnabledForBucket=True)
    store = S3BrakeStore(s3, "audit-bucket", "reaper-brake")
    store.publish("job-1", 0, b'{"format": 1}')
    head = s3.head_object(
        Bucket="audit-bucket", Key="reaper-brake/job-1/shard-0.json", ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"]
    assert store.read_all("job-1") == {0: b'{"format": 1}'}
