"""An S3 bucket for the audit sinks and the global brake's store (see
:mod:`reaper.audit.bucket`): create-only puts with a SHA-256 checksum, optionally under
Object Lock retention, listing by prefix, reading.

"Taken" is ``PreconditionFailed`` (412): the key exists. ``ConditionalRequestConflict``
(409: another conditional put of the key is in flight) is tried again, as S3 asks: the
next try either stores the object or finds the key taken, so the caller never reads back
an object that another put may still fail to store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from reaper.audit.bucket import BACKOFF, RETRIES, Bucket
from reaper.errors import AuditError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
LOCK_MODES: tuple[LockMode, ...] = ("GOVERNANCE", "COMPLIANCE")

TAKEN = "PreconditionFailed"
"""The error code of a create-only put whose key exists."""

PERMANENT = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidRequest",
        "NoSuchBucket",
        "NoSuchKey",
        TAKEN,
        "SignatureDoesNotMatch",
    }
)
"""Error codes another try will not fix; every other SDK error is tried again."""


@dataclass(frozen=True)
class ObjectLock:
    """Object Lock retention for every object a bucket creates."""

    mode: LockMode
    """GOVERNANCE or COMPLIANCE."""
    days: int
    """How long each object is retained, from its creation."""
    clock: Callable[[], datetime]
    """The time an object is created (aware)."""


class S3Bucket(Bucket):
    """One S3 bucket, through a boto3 client whose own retries are off (:func:`s3_client`)."""

    scheme = "s3"

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        lock: ObjectLock | None = None,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        super().__init__(bucket, retries=retries, backoff=backoff)
        self._client = client
        self.lock = lock

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        retention: dict[str, Any] = {}
        if self.lock is not None:
            retention = {
                "ObjectLockMode": self.lock.mode,
                "ObjectLockRetainUntilDate": self.lock.clock() + timedelta(days=self.lock.days),
            }
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
            **retention,
        )

    def _list(self, prefix: str) -> list[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _get(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _is_taken(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _code(err) == TAKEN

    def _is_sdk_error(self, err: Exception) -> bool:
        return isinstance(err, BotoCoreError | ClientError)

    def _is_permanent(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _code(err) in PERMANENT

    def _describe(self, err: Exception) -> str:
        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            return f"{error.get('Code', 'error')}: {error.get('Message', '') or err}"
        return str(err) or type(err).__name__


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def s3_client(
    region: str | None = None,
    *,
    aws_session: boto3.Session | None = None,
    endpoint_url: str | None = None,
    user: str = "the audit trail",
) -> S3Client:
    """An S3 client with the SDK's retries off (:class:`S3Bucket` retries), from the
    standard AWS environment unless ``aws_session`` is given.

    Raises AuditError naming ``user`` (what needs the client) when it cannot be set up (a
    profile that does not exist, a malformed endpoint).
    """
    import boto3
    from botocore.config import Config

    try:
        session = aws_session or boto3.Session()
        return session.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30),
        )
    except (BotoCoreError, ValueError) as err:
        raise AuditError(f"cannot set up an S3 client for {user}: {err}") from err


__all__ = ["LOCK_MODES", "LockMode", "ObjectLock", "S3Bucket", "s3_client"]
