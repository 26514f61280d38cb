"""The global brake's objects in GCS: ``{prefix}/{group}/shard-{i}.json`` and
``{prefix}/{group}/verdict.json``, written create-only (``ifGenerationMatch=0``) with
their CRC32C, which GCS checks before it stores an object, so an object once stored is
never replaced.

The bucket may be the audit trail's (``audit.gcs``): the audit sinks read only their own
objects under their prefix (``{first_seq:012d}.jsonl``) and ignore other keys. Uploads,
listing, reading, retries and errors are the audit sink's
(:class:`~reaper.audit.gcs_bucket.GcsBucket`); names, "the first one stands" and caching
are :class:`~reaper.audit.brake_store.CreateOnlyStore`'s. A retried upload whose first
try did land gets 412, which is "stored before".
"""

from __future__ import annotations

from typing import Any

from reaper.audit.brake_store import BucketBrakeStore
from reaper.audit.bucket import BACKOFF, RETRIES
from reaper.audit.gcs_bucket import GcsBucket, gcs_client


class GcsBrakeStore(BucketBrakeStore):
    """The brake's objects under ``prefix`` in a GCS bucket."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        timeout: float = 30.0,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        """``timeout``: of one request, in seconds."""
        gcs = GcsBucket(client, bucket, timeout=timeout, retries=retries, backoff=backoff)
        super().__init__(gcs, prefix)


def gcs_brake_store(bucket: str, prefix: str, client: Any = None) -> GcsBrakeStore:
    """A store with a client from Application Default Credentials (``STORAGE_EMULATOR_HOST``
    for an emulator). Raises ConfigError without google-cloud-storage installed, AuditError
    without credentials."""
    if client is None:
        client = gcs_client("safety.global_brake.gcs_bucket: the GCS brake store")
    return GcsBrakeStore(client, bucket, prefix)


__all__ = ["GcsBrakeStore", "gcs_brake_store"]
