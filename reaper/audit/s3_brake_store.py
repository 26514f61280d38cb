"""The global brake's records in S3: ``{prefix}/{group}/shard-{i}.json``, written create-only
(``If-None-Match: *``), so a record once published is never replaced.

The bucket may be the audit trail's: the audit sinks read only their own objects under
their prefix (``{first_seq:012d}.jsonl``) and ignore other keys, and these are written
with a checksum, as a bucket with Object Lock requires.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from reaper.audit.brake_store import check_group
from reaper.errors import AuditError


class S3BrakeStore:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self.name = f"s3://{bucket}/{prefix}"

    def publish(self, group: str, shard: int, body: bytes) -> None:
        key = f"{self._prefix}/{check_group(group)}/shard-{shard}.json"
        try:
            # A checksum, as the S3 audit sink sends: a bucket with Object Lock (the audit
            # bucket may hold the brake's records too, under their own prefix) wants one.
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ChecksumAlgorithm="SHA256",
                IfNoneMatch="*",
            )
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return  # published before: the first record stands
            raise AuditError(f"cannot publish to {self.name}: {code}") from err
        except BotoCoreError as err:
            raise AuditError(f"cannot publish to {self.name}: {err}") from err

    def read_all(self, group: str) -> dict[int, bytes]:
        prefix = f"{self._prefix}/{check_group(group)}/"
        found: dict[int, bytes] = {}
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    index = item["Key"][len(prefix) :].removeprefix("shard-").removesuffix(".json")
                    if index.isdigit():
                        body = self._client.get_object(Bucket=self._bucket, Key=item["Key"])
                        found[int(index)] = body["Body"].read()
        except (ClientError, BotoCoreError) as err:
            raise AuditError(f"cannot read {self.name}: {err}") from err
        return found


def s3_brake_store(bucket: str, prefix: str, endpoint_url: str | None = None) -> S3BrakeStore:
    """A store with a client from the standard AWS environment."""
    return S3BrakeStore(boto3.client("s3", endpoint_url=endpoint_url), bucket, prefix)


__all__ = ["S3BrakeStore", "s3_brake_store"]
