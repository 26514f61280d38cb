"""The global brake's records in GCS: ``{prefix}/{group}/shard-{i}.json``, written
create-only (``ifGenerationMatch=0``), so a record once published is never replaced.

The bucket may be the audit trail's (``audit.gcs``): the audit sinks read only their own
objects under their prefix (``{first_seq:012d}.jsonl``) and ignore other keys. Each upload
carries its CRC32C, which GCS checks before it stores the object, as the S3 store sends a
SHA-256. Keys, create-only publishing and reading back are
:class:`~reaper.audit.brake_store.BucketBrakeStore`'s, shared with S3.

Calls are retried by the client's own policy (throttling, server errors, a dropped
connection) for at most ``retry_deadline`` seconds; an upload too, being create-only: a
retry whose first try did land gets 412, which is "published before". Past the deadline
the error trips the brake (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reaper.audit.brake_store import BucketBrakeStore
from reaper.audit.gcs_sink import gcs_client


class GcsBrakeStore(BucketBrakeStore):
    scheme = "gs"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        *,
        timeout: float = 30.0,
        retry_deadline: float = 60.0,
    ) -> None:
        """``timeout``: of one request; ``retry_deadline``: of one call and its retries."""
        from google.cloud.storage.retry import DEFAULT_RETRY  # an optional extra's

        super().__init__(bucket, prefix)
        self._client = client
        self._bucket = client.bucket(bucket)
        self._timeout = timeout
        self._retry = DEFAULT_RETRY.with_timeout(retry_deadline)

    def _put(self, key: str, body: bytes) -> None:
        self._bucket.blob(key).upload_from_string(
            body,
            content_type="application/json",
            if_generation_match=0,
            checksum="crc32c",
            retry=self._retry,
            timeout=self._timeout,
        )

    def _exists(self, err: Exception) -> bool:
        return getattr(err, "code", None) == 412

    def _keys(self, prefix: str) -> Sequence[str]:
        blobs = self._client.list_blobs(
            self.bucket, prefix=prefix, retry=self._retry, timeout=self._timeout
        )
        return [str(b.name) for b in blobs]

    def _get(self, key: str) -> bytes:
        blob = self._bucket.blob(key)
        return bytes(blob.download_as_bytes(retry=self._retry, timeout=self._timeout))

    def _is_sdk_error(self, err: Exception) -> bool:
        # As for the GCS audit sink: google.api_core, google.auth, google.resumable_media
        # and requests errors have no common base, so every error from the client counts.
        return True


def gcs_brake_store(bucket: str, prefix: str, client: Any = None) -> GcsBrakeStore:
    """A store with a client from Application Default Credentials (``STORAGE_EMULATOR_HOST``
    for an emulator). Raises ConfigError without google-cloud-storage installed."""
    if client is None:
        client = gcs_client("safety.global_brake.gcs_bucket: the GCS brake store")
    return GcsBrakeStore(client, bucket, prefix)


__all__ = ["GcsBrakeStore", "gcs_brake_store"]
