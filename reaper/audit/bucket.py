"""One bucket of objects, as the audit sinks and the global brake's stores use it.

Three operations, each tried again on the SDK's transient errors and translated into
:class:`~reaper.errors.AuditError` (chained from the SDK's last error) otherwise:

* :meth:`Bucket.create`: put an object only if its key is free (``If-None-Match: *`` on
  S3, ``ifGenerationMatch=0`` on GCS), with a checksum the service checks before storing
  it (SHA-256 on S3, which a bucket with Object Lock requires; CRC32C on GCS). A key that
  is taken is an answer, not an error: False.
* :meth:`Bucket.keys`: every key under a prefix.
* :meth:`Bucket.get`: an object's body.

One retry policy: ``retries`` more tries after the first, waiting ``backoff`` seconds, then
twice as long each time; an error another try cannot fix (access denied, no such bucket,
an invalid request) is not tried again. The SDK's own retries are off
(:func:`reaper.audit.s3_bucket.s3_client`, ``retry=None`` on GCS), so this is the only one.
A create tried again after its first try did land finds the key taken: the caller, which
knows what it wrote, decides whether that is its own object (compare the body) or
another writer's.

:mod:`reaper.audit.s3_bucket` and :mod:`reaper.audit.gcs_bucket` add their SDK's calls and
which of its errors mean "taken" and "permanent"; neither module is imported unless a
bucket of its kind is configured.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

from reaper.errors import AuditError

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRIES = 3
"""Tries after the first, by default."""
BACKOFF = 0.2
"""Seconds before the first try again, by default; doubled for each one after."""


class Bucket(ABC):
    """Create-only puts, listing and reading of one bucket's objects, with one retry policy
    and SDK errors as AuditError."""

    scheme = ""

    def __init__(
        self,
        bucket: str,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.name = f"{self.scheme}://{bucket}"
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep

    def create(self, key: str, body: bytes, content_type: str, *, what: str = "") -> bool:
        """Store ``body`` as ``key`` if no object has that key: True when stored, False
        when the key is taken (by another writer, or by an earlier try of this call).

        ``what`` leads the error's message (default: ``{bucket}: cannot write {key}``).
        Raises AuditError.
        """

        def put() -> bool:
            try:
                self._put(key, body, content_type)
            except Exception as err:
                if self._is_taken(err):
                    return False
                raise
            return True

        return self._retry(what or f"{self.name}: cannot write {key}", put)

    def keys(self, prefix: str, *, what: str = "") -> list[str]:
        """Every key under ``prefix``. Raises AuditError."""
        return self._retry(what or f"{self.name}: cannot list {prefix}", lambda: self._list(prefix))

    def get(self, key: str, *, what: str = "") -> bytes:
        """The body of ``key``. Raises AuditError."""
        return self._retry(what or f"{self.name}: cannot read {key}", lambda: self._get(key))

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        """Call, trying the SDK's transient errors again; then AuditError chained from the
        last one. Errors that are not the SDK's (bugs) pass through."""
        attempt = 0
        while True:
            try:
                return call()
            except AuditError:
                raise
            except Exception as err:
                if not self._is_sdk_error(err):
                    raise
                if self._is_permanent(err) or attempt >= self.retries:
                    tries = f" (tried {attempt + 1} times)" if attempt else ""
                    raise AuditError(f"{what}{tries}: {self._describe(err)}") from err
                delay = self.backoff * 2**attempt
                log.debug("%s: %s; trying again in %.2fs", what, err, delay)
                self._sleep(delay)
                attempt += 1

    @abstractmethod
    def _put(self, key: str, body: bytes, content_type: str) -> None:
        """Create ``key`` with a checksum, failing (``_is_taken``) if it exists."""

    @abstractmethod
    def _list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``."""

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """The body of ``key``."""

    @abstractmethod
    def _is_taken(self, err: Exception) -> bool:
        """Whether ``_put`` failed because the key exists."""

    @abstractmethod
    def _is_sdk_error(self, err: Exception) -> bool:
        """Whether an error comes from the SDK or its transport (translated), not a bug."""

    @abstractmethod
    def _is_permanent(self, err: Exception) -> bool:
        """Whether trying again cannot help."""

    def _describe(self, err: Exception) -> str:
        """An SDK error for a message."""
        return str(err) or type(err).__name__


__all__ = ["BACKOFF", "RETRIES", "Bucket"]
