"""The global brake's objects in S3: ``{prefix}/{group}/shard-{i}.json`` and
``{prefix}/{group}/verdict.json``, written create-only (``If-None-Match: *``) with a
SHA-256 checksum, so an object once stored is never replaced.

The bucket may be the audit trail's: the audit sinks read only their own objects under
their prefix (``{first_seq:012d}.jsonl``) and ignore other keys, and these carry the
checksum a bucket with Object Lock requires. Puts, listing, reading, retries and errors
are the audit sink's (:class:`~reaper.audit.s3_bucket.S3Bucket`); names, "the first one
stands" and caching are :class:`~reaper.audit.brake_store.CreateOnlyStore`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reaper.audit.brake_store import BucketBrakeStore
from reaper.audit.bucket import BACKOFF, RETRIES
from reaper.audit.s3_bucket import S3Bucket, s3_client

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client


class S3BrakeStore(BucketBrakeStore):
    """The brake's objects under ``prefix`` in an S3 bucket."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        super().__init__(S3Bucket(client, bucket, retries=retries, backoff=backoff), prefix)


def s3_brake_store(
    bucket: str,
    prefix: str,
    *,
    aws_session: boto3.Session | None = None,
    endpoint_url: str | None = None,
) -> S3BrakeStore:
    """A store with a client from the standard AWS environment (``aws_session`` and
    ``endpoint_url`` override). Raises AuditError when the client cannot be set up."""
    client = s3_client(
        aws_session=aws_session,
        endpoint_url=endpoint_url,
        user="safety.global_brake.s3_bucket: the S3 brake store",
    )
    return S3BrakeStore(client, bucket, prefix)


__all__ = ["S3BrakeStore", "s3_brake_store"]
