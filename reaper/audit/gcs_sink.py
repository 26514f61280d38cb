"""The GCS audit sink: one object per batch, with google-cloud-storage."""

from __future__ import annotations

from typing import Any

from reaper.audit.bucket_sink import BucketSink
from reaper.config import GcsAuditSettings
from reaper.errors import AuditError, ConfigError

_PERMANENT_HTTP = frozenset({400, 401, 403, 404, 412})


class GcsSink(BucketSink):
    """One GCS object per batch, with google-cloud-storage.

    Keep the objects immutable with the bucket's retention policy (Bucket Lock). Each
    upload is create-only (``if_generation_match=0``): a second writer on the trail gets
    412 on its first colliding object (see :mod:`reaper.audit.bucket_sink`). The
    client's own retries are off: errors are tried ``retries`` more times here, waiting
    ``backoff`` seconds, then twice as long each time.
    """

    scheme = "gs"

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "reaper-audit",
        *,
        required: bool = False,
        retries: int = 3,
        backoff: float = 0.2,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(bucket, prefix, required, retries, backoff)
        self._client = client
        self._bucket = client.bucket(bucket)
        self._timeout = timeout

    def _put(self, key: str, body: bytes) -> None:
        self._bucket.blob(key).upload_from_string(
            body,
            content_type="application/x-ndjson",
            if_generation_match=0,
            retry=None,
            timeout=self._timeout,
        )

    def _keys(self) -> list[str]:
        blobs = self._client.list_blobs(
            self.bucket, prefix=self._list_prefix, retry=None, timeout=self._timeout
        )
        return [name for name in (str(b.name) for b in blobs) if self._is_batch(name)]

    def _get(self, key: str) -> bytes:
        return bytes(self._bucket.blob(key).download_as_bytes(retry=None, timeout=self._timeout))

    def _exists(self, err: Exception) -> bool:
        return getattr(err, "code", None) == 412

    def _is_sdk_error(self, err: Exception) -> bool:
        # google-cloud-storage raises google.api_core, google.auth, google.resumable_media
        # and requests errors, with no common base: every error from the client counts.
        return True

    def _is_permanent(self, err: Exception) -> bool:
        return getattr(err, "code", None) in _PERMANENT_HTTP


def gcs_client(user: str = "audit.gcs: the GCS audit sink") -> Any:
    """``google.cloud.storage.Client()`` with the environment's credentials.

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


def gcs_sink(settings: GcsAuditSettings, client: Any = None) -> GcsSink:
    return GcsSink(
        client if client is not None else gcs_client(),
        settings.bucket,
        settings.prefix,
        required=settings.required,
    )
