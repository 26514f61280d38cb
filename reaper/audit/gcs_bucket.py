"""A GCS bucket for the audit sinks and the global brake's store (see
:mod:`reaper.audit.bucket`): create-only uploads (``ifGenerationMatch=0``) with their
CRC32C, which GCS checks before it stores the object, listing by prefix, reading.

"Taken" is 412 (the precondition failed: the key exists). The client's own retries are
off (``retry=None``); each request has a ``timeout``.
"""

from __future__ import annotations

from typing import Any

from reaper.audit.bucket import BACKOFF, RETRIES, Bucket
from reaper.errors import AuditError, ConfigError

TAKEN = 412
"""The HTTP status of a create-only upload whose key exists."""

PERMANENT = frozenset({400, 401, 403, 404, TAKEN})
"""HTTP statuses another try will not fix; every other error is tried again."""


class GcsBucket(Bucket):
    """One GCS bucket, through a google-cloud-storage client."""

    scheme = "gs"

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        timeout: float = 30.0,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
    ) -> None:
        """``timeout``: of one request, in seconds."""
        super().__init__(bucket, retries=retries, backoff=backoff)
        self._client = client
        self._bucket = client.bucket(bucket)
        self.timeout = timeout

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self._bucket.blob(key).upload_from_string(
            body,
            content_type=content_type,
            if_generation_match=0,
            checksum="crc32c",
            retry=None,
            timeout=self.timeout,
        )

    def _list(self, prefix: str) -> list[str]:
        blobs = self._client.list_blobs(
            self.bucket, prefix=prefix, retry=None, timeout=self.timeout
        )
        return [str(b.name) for b in blobs]

    def _get(self, key: str) -> bytes:
        blob = self._bucket.blob(key)
        return bytes(blob.download_as_bytes(retry=None, timeout=self.timeout))

    def _is_taken(self, err: Exception) -> bool:
        return getattr(err, "code", None) == TAKEN

    def _is_sdk_error(self, err: Exception) -> bool:
        # google-cloud-storage raises google.api_core, google.auth, google.resumable_media
        # and requests errors, with no common base: every error from the client counts.
        return True

    def _is_permanent(self, err: Exception) -> bool:
        return getattr(err, "code", None) in PERMANENT


def gcs_client(user: str = "audit.gcs: the GCS audit sink") -> Any:
    """``google.cloud.storage.Client()`` with the environment's credentials
    (``STORAGE_EMULATOR_HOST`` for an emulator).

    Raises ConfigError naming ``user`` (the config key and what needs the client) when
    google-cloud-storage is not installed, AuditError when no credentials are found.
    """
    try:
        # attr-defined: google.cloud is typed (google-cloud-compute), storage is not.
        from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]
    except ImportError as err:
        raise ConfigError(
            [f"{user} needs google-cloud-storage: pip install 'reaper[gcs]' ({err})"]
        ) from None
    try:
        return storage.Client()
    except Exception as err:  # google.auth's DefaultCredentialsError and kin
        raise AuditError(f"{user}: cannot set up a GCS client: {err}") from err


__all__ = ["GcsBucket", "gcs_client"]
