"""The S3 audit sink: one object per batch, optionally under Object Lock retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reaper.audit.bucket import BACKOFF, RETRIES
from reaper.audit.bucket_sink import BucketSink
from reaper.audit.s3_bucket import LOCK_MODES, LockMode, ObjectLock, S3Bucket, s3_client
from reaper.config import S3AuditSettings
from reaper.errors import ConfigError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client


class S3Sink(BucketSink):
    """One S3 object per batch; with Object Lock, each object is retained ``retain_days``.

    The bucket must have Object Lock enabled for a lock mode to be accepted. Each PUT
    carries a SHA-256 checksum (S3 wants one with Object Lock) and ``If-None-Match: *``,
    so a second writer on the trail fails on its first colliding object (see
    :mod:`reaper.audit.bucket_sink`). Errors are tried ``retries`` more times, waiting
    ``backoff`` seconds, then twice as long each time; access, missing-bucket and
    invalid-request errors are not retried (:class:`~reaper.audit.s3_bucket.S3Bucket`).
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "reaper-audit",
        object_lock_mode: LockMode | None = None,
        retain_days: int | None = None,
        *,
        required: bool = False,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if object_lock_mode is not None and object_lock_mode not in LOCK_MODES:
            raise ValueError(
                f"unknown object lock mode {object_lock_mode!r} (valid: {', '.join(LOCK_MODES)})"
            )
        if (object_lock_mode is None) != (retain_days is None):
            raise ValueError("object_lock_mode and retain_days go together")
        if retain_days is not None and retain_days < 1:
            raise ValueError(f"retain_days must be at least 1, got {retain_days}")
        lock = None
        if object_lock_mode is not None and retain_days is not None:
            lock = ObjectLock(object_lock_mode, retain_days, clock)
        super().__init__(
            S3Bucket(client, bucket, lock=lock, retries=retries, backoff=backoff),
            prefix,
            required,
        )
        self.object_lock_mode = object_lock_mode
        self.retain_days = retain_days


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


__all__ = ["LOCK_MODES", "LockMode", "S3Sink", "s3_client", "s3_sink"]
