"""What the S3 and GCS sinks share: one object per batch, keys, reading back, retries.

The bucket sinks store one object per batch, keyed ``{prefix}/{first_seq:012d}-
{last_seq:012d}.jsonl``, so listing the prefix in key order and concatenating the objects
gives back the file. They never overwrite an object (``If-None-Match: *`` on S3, generation
0 on GCS): a key that exists with other content is an error, not a replacement.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from reaper.audit.chain import record_seq
from reaper.errors import AuditError

log = logging.getLogger(__name__)

# The name of one batch's object under the prefix.
_OBJECT = re.compile(r"(\d{12})-(\d{12})\.jsonl")

T = TypeVar("T")


class BucketSink(ABC):
    """What the S3 and GCS sinks share: keys, reading back, retries, no overwrites.

    A subclass uploads one object (``_put``, failing with ``_exists`` true when the key is
    taken), lists keys (``_keys``) and reads an object (``_get``).
    """

    scheme = ""

    def __init__(
        self, bucket: str, prefix: str, required: bool, retries: int, backoff: float
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.name = f"{self.scheme}://{bucket}/{self.prefix}"
        self.required = required
        self._retries = retries
        self._backoff = backoff

    def key(self, first_seq: int, last_seq: int) -> str:
        """The object key of the batch of records ``first_seq`` to ``last_seq``."""
        name = f"{first_seq:012d}-{last_seq:012d}.jsonl"
        return f"{self.prefix}/{name}" if self.prefix else name

    def write(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        key = self.key(_seq_of(lines[0], self.name), _seq_of(lines[-1], self.name))
        body = b"".join(lines)

        def put() -> None:
            try:
                self._put(key, body)
            except Exception as err:
                if not self._exists(err):
                    raise
                # The key is taken: fine if an earlier try of this very batch wrote it.
                if self._get(key) != body:
                    raise AuditError(
                        f"{self.name}: {key} already exists with other content; audit "
                        "objects are never overwritten (did the chain restart from an "
                        "older copy?)"
                    ) from err

        self._retry(f"cannot write {key}", put)

    def last_line(self) -> bytes | None:
        """The last line of the last object in key order; None when there is none."""
        keys = self._retry("cannot list the audit objects", self._keys)
        if not keys:
            return None
        body = self._retry(f"cannot read {keys[-1]}", functools.partial(self._get, keys[-1]))
        if not body.endswith(b"\n"):
            raise AuditError(f"{self.name}: {keys[-1]} does not end with a complete record")
        return body[:-1].rsplit(b"\n", 1)[-1]

    def read_lines(self) -> Iterator[bytes]:
        """Every object's lines with their newlines, in key order, for verification.

        Raises AuditError when there is no object at all, or one cannot be read.
        """
        keys = self._retry("cannot list the audit objects", self._keys)
        if not keys:
            raise AuditError(f"{self.name}: no audit objects found")
        for key in keys:
            yield from io.BytesIO(
                self._retry(f"cannot read {key}", functools.partial(self._get, key))
            )

    def close(self) -> None:  # noqa: B027 - nothing to release
        """Nothing to release: the client belongs to the caller."""

    @property
    def _list_prefix(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    def _is_batch(self, key: str) -> bool:
        """Whether a listed key is one of the trail's objects (other keys are ignored)."""
        name = key.removeprefix(self._list_prefix)
        return key.startswith(self._list_prefix) and bool(_OBJECT.fullmatch(name))

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        """Call, trying SDK errors again; then AuditError chained from the last one."""
        attempt = 0
        while True:
            try:
                return call()
            except AuditError:
                raise
            except Exception as err:
                if not self._is_sdk_error(err):
                    raise
                if self._is_permanent(err) or attempt >= self._retries:
                    tries = f" (tried {attempt + 1} times)" if attempt else ""
                    raise AuditError(f"{self.name}: {what}{tries}: {self._describe(err)}") from err
                delay = self._backoff * 2**attempt
                log.debug("%s: %s: %s; trying again in %.2fs", self.name, what, err, delay)
                time.sleep(delay)
                attempt += 1

    @abstractmethod
    def _put(self, key: str, body: bytes) -> None:
        """Create an object, failing if the key exists."""

    @abstractmethod
    def _keys(self) -> list[str]:
        """The trail's object keys under the prefix, in key order."""

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """The content of one object."""

    @abstractmethod
    def _exists(self, err: Exception) -> bool:
        """Whether ``_put`` failed because the key is taken."""

    @abstractmethod
    def _is_sdk_error(self, err: Exception) -> bool:
        """Whether an error comes from the SDK (wrapped, maybe retried) or is a bug."""

    @abstractmethod
    def _is_permanent(self, err: Exception) -> bool:
        """Whether trying again cannot help."""

    def _describe(self, err: Exception) -> str:
        """An SDK error for a message."""
        return str(err) or type(err).__name__


def _seq_of(line: bytes, source: str) -> int:
    seq = record_seq(line)
    if seq is None:
        raise AuditError(f"{source}: a line to write is not an audit record with a seq")
    return seq
