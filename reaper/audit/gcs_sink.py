"""The GCS audit sink: one object per batch, with google-cloud-storage."""

from __future__ import annotations

from typing import Any

from reaper.audit.bucket import BACKOFF, RETRIES
from reaper.audit.bucket_sink import BucketSink
from reaper.audit.gcs_bucket import GcsBucket, gcs_client
from reaper.config import GcsAuditSettings


class GcsSink(BucketSink):
    """One GCS object per batch, with google-cloud-storage.

    Keep the objects immutable with the bucket's retention policy (Bucket Lock). Each
    upload is create-only (``if_generation_match=0``) and carries its CRC32C: a second
    writer on the trail gets 412 on its first colliding object (see
    :mod:`reaper.audit.bucket_sink`). The client's own retries are off: errors are tried
    ``retries`` more times, waiting ``backoff`` seconds, then twice as long each time
    (:class:`~reaper.audit.gcs_bucket.GcsBucket`).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "reaper-audit",
        *,
        required: bool = False,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(
            GcsBucket(client, bucket, timeout=timeout, retries=retries, backoff=backoff),
            prefix,
            required,
        )


def gcs_sink(settings: GcsAuditSettings, client: Any = None) -> GcsSink:
    return GcsSink(
        client if client is not None else gcs_client(),
        settings.bucket,
        settings.prefix,
        required=settings.required,
    )


__all__ = ["GcsSink", "gcs_client", "gcs_sink"]
