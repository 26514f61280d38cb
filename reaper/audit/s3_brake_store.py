"""The global brake's records in S3: ``{prefix}/{group}/shard-{i}.json``, written create-only
(``If-None-Match: *``), so a record once published is never replaced.

The bucket may be the audit trail's: the audit sinks read only their own objects under
their prefix (``{first_seq:012d}.jsonl``) and ignore other keys, and these are written
with a checksum, as a bucket with Object Lock requires. Keys, create-only publishing and
reading back are :class:`~reaper.audit.brake_store.BucketBrakeStore`'s, shared with GCS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from reaper.audit.brake_store import BucketBrakeStore

_TAKEN = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
"""A create-only put of a key that exists, or that another put is creating just now."""


class S3BrakeStore(BucketBrakeStore):
    scheme = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        super().__init__(bucket, prefix)
        self._client = client

    def _put(self, key: str, body: bytes) -> None:
        # A checksum, as the S3 audit sink sends: a bucket with Object Lock (the audit
        # bucket may hold the brake's records too, under their own prefix) wants one.
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
        )

    def _exists(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _code(err) in _TAKEN

    def _keys(self, prefix: str) -> Sequence[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _get(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def _is_sdk_error(self, err: Exception) -> bool:
        return isinstance(err, BotoCoreError | ClientError)

    def _describe(self, err: Exception) -> str:
        return _code(err) if isinstance(err, ClientError) else str(err)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def s3_brake_store(bucket: str, prefix: str, endpoint_url: str | None = None) -> S3BrakeStore:
    """A store with a client from the standard AWS environment."""
    return S3BrakeStore(boto3.client("s3", endpoint_url=endpoint_url), bucket, prefix)


__all__ = ["S3BrakeStore", "s3_brake_store"]
