"""The S3 audit sink: one object per batch, optionally under Object Lock retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from reaper.audit.bucket_sink import BucketSink
from reaper.config import S3AuditSettings
from reaper.errors import AuditError, ConfigError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
LOCK_MODES: tuple[LockMode, ...] = ("GOVERNANCE", "COMPLIANCE")

# Errors that another try will not fix; everything else is retried.
_PERMANENT_S3 = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidRequest",
        "NoSuchBucket",
        "PreconditionFailed",
        "SignatureDoesNotMatch",
    }
)


class S3Sink(BucketSink):
    """One S3 object per batch; with Object Lock, each object is retained ``retain_days``.

    The bucket must have Object Lock enabled for a lock mode to be accepted. Each PUT
    carries a SHA-256 checksum (S3 wants one with Object Lock) and ``If-None-Match: *``,
    so a second writer on the trail fails on its first colliding object (see
    :mod:`reaper.audit.bucket_sink`).
    Errors are tried ``retries`` more times, waiting ``backoff`` seconds, then twice as
    long each time; access, missing-bucket and invalid-request errors are not retried.
    """

    scheme = "s3"

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "reaper-audit",
        object_lock_mode: LockMode | None = None,
        retain_days: int | None = None,
        *,
        required: bool = False,
        retries: int = 3,
        backoff: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(bucket, prefix, required, retries, backoff)
        if object_lock_mode is not None and object_lock_mode not in LOCK_MODES:
            raise ValueError(
                f"unknown object lock mode {object_lock_mode!r} (valid: {', '.join(LOCK_MODES)})"
            )
        if (object_lock_mode is None) != (retain_days is None):
            raise ValueError("object_lock_mode and retain_days go together")
        if retain_days is not None and retain_days < 1:
            raise ValueError(f"retain_days must be at least 1, got {retain_days}")
        self._client = client
        self.object_lock_mode = object_lock_mode
        self.retain_days = retain_days
        self._clock = clock

    def _put(self, key: str, body: bytes) -> None:
        lock: dict[str, Any] = {}
        if self.object_lock_mode is not None and self.retain_days is not None:
            lock = {
                "ObjectLockMode": self.object_lock_mode,
                "ObjectLockRetainUntilDate": self._clock() + timedelta(days=self.retain_days),
            }
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            ChecksumAlgorithm="SHA256",
            IfNoneMatch="*",
            **lock,
        )

    def _keys(self) -> list[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._list_prefix
        )
        keys = (item["Key"] for page in pages for item in page.get("Contents", []))
        return [k for k in keys if self._is_batch(k)]

    def _get(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _exists(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _s3_code(err) == "PreconditionFailed"

    def _is_sdk_error(self, err: Exception) -> bool:
        return isinstance(err, BotoCoreError | ClientError)

    def _is_permanent(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _s3_code(err) in _PERMANENT_S3

    def _describe(self, err: Exception) -> str:
        return _describe_s3(err)


def _s3_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _describe_s3(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '') or err}"
    return str(err) or type(err).__name__


def s3_client(
    region: str | None = None,
    *,
    aws_session: boto3.Session | None = None,
    endpoint_url: str | None = None,
) -> S3Client:
    """An S3 client for the audit trail: the SDK's retries off (the sink retries)."""
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
        raise AuditError(f"cannot set up an S3 client for the audit trail: {err}") from err


def s3_sink(
    settings: S3AuditSettings,
    aws_session: boto3.Session | None = None,
    endpoint_url: str | None = None,
) -> S3Sink:
    mode = settings.object_lock_mode
    return S3Sink(
        s3_client(settings.region, aws_session=aws_session, endpoint_url=endpoint_url),
        settings.bucket,
        settings.prefix,
        object_lock_mode=_lock_mode(mode) if mode is not None else None,
        retain_days=settings.retain_days,
        required=settings.required,
    )


def _lock_mode(mode: str) -> LockMode:
    for valid in LOCK_MODES:
        if mode == valid:
            return valid
    raise ConfigError([f"audit.s3.object_lock_mode: unknown mode {mode!r}"])
