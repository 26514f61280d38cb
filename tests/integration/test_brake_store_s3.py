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
