"""Where the audit trail goes: a local file, standard output, S3, GCS.

Each sink implements :class:`reaper.audit.AuditSink`. They raise only AuditError: SDK and
OS errors are chained (``raise AuditError(...) from err``), never passed on.

The bucket sinks store one object per batch, keyed ``{prefix}/{first_seq:012d}-
{last_seq:012d}.jsonl``, so listing the prefix in key order and concatenating the objects
gives back the file. They never overwrite an object (``If-None-Match: *`` on S3, generation
0 on GCS): a key that exists with other content is an error, not a replacement.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import stat
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TextIO, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from reaper.audit import AuditLog, AuditSink, record_seq
from reaper.config import AuditSettings, GcsAuditSettings, S3AuditSettings
from reaper.errors import AuditError, ConfigError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
LOCK_MODES: tuple[LockMode, ...] = ("GOVERNANCE", "COMPLIANCE")

# The name of one batch's object under the prefix.
_OBJECT = re.compile(r"(\d{12})-(\d{12})\.jsonl")
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
_PERMANENT_HTTP = frozenset({400, 401, 403, 404, 412})
_TAIL_CHUNK = 65536

T = TypeVar("T")


class FileSink:
    """An append-only local file: each batch is written, flushed and fsynced.

    Opened at construction (raises AuditError if it cannot be), unbuffered and in append
    mode. A batch that fails half-way is cut off again where the file can be truncated,
    so a later batch does not follow a partial line.
    """

    def __init__(self, path: str | Path, *, required: bool = True) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.required = required
        try:
            created = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab", buffering=0)
            if created:
                _fsync_dir(self.path.parent)
        except OSError as err:
            raise AuditError(f"cannot open audit log {self.path}: {err}") from err

    def write(self, lines: Sequence[bytes]) -> None:
        data = memoryview(b"".join(lines))
        fd = -1
        size: int | None = None
        try:
            fd = self._file.fileno()
            info = os.fstat(fd)
            size = info.st_size if stat.S_ISREG(info.st_mode) else None
            while data:
                written = self._file.write(data)
                if not written:
                    raise OSError("the file took no bytes")
                data = data[written:]
            os.fsync(fd)
        except (OSError, ValueError) as err:
            undone = "" if self._cut_back(fd, size) else " (a partial record may be left)"
            raise AuditError(f"cannot write audit log {self.path}: {err}{undone}") from err

    @staticmethod
    def _cut_back(fd: int, size: int | None) -> bool:
        if size is None:
            return True  # not a regular file: nothing to truncate
        try:
            os.ftruncate(fd, size)
        except OSError:
            return False
        return True

    def last_line(self) -> bytes | None:
        """The file's last line; raises AuditError if it ends in a partial line."""
        try:
            with self.path.open("rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
                    return None
                return _last_line_of(f, info.st_size, str(self.path))
        except OSError as err:
            raise AuditError(f"cannot read audit log {self.path}: {err}") from err

    def read_lines(self) -> Iterator[bytes]:
        """The file's lines with their newlines, for verification."""
        return read_file_lines(self.path)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as err:
            raise AuditError(f"cannot close audit log {self.path}: {err}") from err


def read_file_lines(path: str | Path) -> Iterator[bytes]:
    """An audit file's lines with their newlines; AuditError when it cannot be read."""
    try:
        with Path(path).open("rb") as f:
            yield from f
    except OSError as err:
        raise AuditError(f"cannot read audit log {path}: {err}") from err


def _last_line_of(f: BinaryIO, size: int, source: str) -> bytes:
    """The last line of a file of ``size`` bytes that must end with a newline."""
    f.seek(size - 1)
    if f.read(1) != b"\n":
        raise AuditError(
            f"audit log {source} ends with a partial record (a write was cut short); "
            f"check it with `reaper audit verify {source}`, keep a copy, and cut the partial "
            "line off before reaper may write to it again"
        )
    pos = size - 1  # the final newline; ``tail`` holds the bytes from ``pos`` up to it
    tail = b""
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        f.seek(pos)
        tail = f.read(step) + tail
        newline = tail.rfind(b"\n")
        if newline >= 0:
            return tail[newline + 1 :]
    return tail


def _fsync_dir(path: Path) -> None:
    """Make a new file's directory entry durable too (where the platform allows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class StdoutSink:
    """Records as JSON lines on standard output, for a cluster's log collector.

    Never required and cannot continue a chain (``last_line`` is None). ``stream``
    defaults to whatever ``sys.stdout`` is at write time.
    """

    name = "stdout"
    required = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def write(self, lines: Sequence[bytes]) -> None:
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(b"".join(lines).decode())
            stream.flush()
        except (OSError, ValueError) as err:
            raise AuditError(f"cannot write audit records to standard output: {err}") from err

    def last_line(self) -> bytes | None:
        return None

    def close(self) -> None:
        """Leaves the stream open: it is not the sink's."""


class _BucketSink(ABC):
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
                    raise AuditError(f"{self.name}: {what}{tries}: {_describe(err)}") from err
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


class S3Sink(_BucketSink):
    """One S3 object per batch; with Object Lock, each object is retained ``retain_days``.

    The bucket must have Object Lock enabled for a lock mode to be accepted. Each PUT
    carries a SHA-256 checksum (S3 wants one with Object Lock) and ``If-None-Match: *``.
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
        return sorted(k for k in keys if self._is_batch(k))

    def _get(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def _exists(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _s3_code(err) == "PreconditionFailed"

    def _is_sdk_error(self, err: Exception) -> bool:
        return isinstance(err, BotoCoreError | ClientError)

    def _is_permanent(self, err: Exception) -> bool:
        return isinstance(err, ClientError) and _s3_code(err) in _PERMANENT_S3


class GcsSink(_BucketSink):
    """One GCS object per batch, with google-cloud-storage.

    Keep the objects immutable with the bucket's retention policy (Bucket Lock). The
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
        return sorted(name for name in (str(b.name) for b in blobs) if self._is_batch(name))

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


def _seq_of(line: bytes, source: str) -> int:
    seq = record_seq(line)
    if seq is None:
        raise AuditError(f"{source}: a line to write is not an audit record with a seq")
    return seq


def _s3_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _describe(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '') or err}"
    return str(err) or type(err).__name__


# -- building the sinks from config ---------------------------------------------------------


def build_audit_log(
    settings: AuditSettings,
    *,
    aws_session: boto3.Session | None = None,
    s3_endpoint_url: str | None = None,
    gcs_client: Any = None,
) -> AuditLog:
    """The AuditLog of ``audit:`` in the config: file first, then stdout, S3, GCS.

    Credentials come from the environment: boto3's default chain for S3 (``aws_session``
    overrides), Application Default Credentials or Workload Identity for GCS
    (``gcs_client`` overrides; ``STORAGE_EMULATOR_HOST`` points the client at an
    emulator). Raises ConfigError when the GCS library is missing, AuditError when a sink
    cannot be set up or the chain cannot be read.
    """
    sinks: list[AuditSink] = []
    try:
        if settings.path is not None:
            sinks.append(FileSink(settings.path))
        if settings.stdout:
            sinks.append(StdoutSink())
        if settings.s3 is not None:
            sinks.append(s3_sink(settings.s3, aws_session, s3_endpoint_url))
        if settings.gcs is not None:
            sinks.append(gcs_sink(settings.gcs, gcs_client))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    if sinks and all(isinstance(s, StdoutSink) for s in sinks):
        log.warning("the audit trail goes to standard output only: each run starts a new chain")
    return AuditLog(sinks=sinks)


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


def gcs_client() -> Any:
    """``google.cloud.storage.Client()`` with the environment's credentials.

    Raises ConfigError when google-cloud-storage is not installed, AuditError when no
    credentials are found.
    """
    try:
        from google.cloud import storage
    except ImportError as err:
        raise ConfigError(
            [
                "audit.gcs: the GCS audit sink needs google-cloud-storage: "
                f"pip install 'reaper[gcs]' ({err})"
            ]
        ) from None
    try:
        return storage.Client()
    except Exception as err:  # google.auth's DefaultCredentialsError and kin
        raise AuditError(f"cannot set up a GCS client for the audit trail: {err}") from err


def gcs_sink(settings: GcsAuditSettings, client: Any = None) -> GcsSink:
    return GcsSink(
        client if client is not None else gcs_client(),
        settings.bucket,
        settings.prefix,
        required=settings.required,
    )
