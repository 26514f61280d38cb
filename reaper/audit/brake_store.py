"""Where the shards of a sweep publish their planned counts for the global brake.

A store keeps one record per (sweep group, shard), written once and never changed. The
directory store needs a volume every shard mounts (ReadWriteMany); the bucket stores, S3
(:mod:`reaper.audit.s3_brake_store`) and GCS (:mod:`reaper.audit.gcs_brake_store`), a
bucket every shard may write to. What the two bucket stores share is here
(:class:`BucketBrakeStore`); each adds only its SDK's calls.
"""

from __future__ import annotations

import contextlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from reaper.errors import AuditError

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_group(group: str) -> str:
    """A sweep group name fit for a file or key name; ValueError otherwise."""
    if not _GROUP.fullmatch(group):
        raise ValueError(f"{group!r} is not a sweep group name (letters, digits, '.', '_', '-')")
    return group


class BrakeStore(Protocol):
    """Create-only records, one per shard of a sweep group."""

    name: str

    def publish(self, group: str, shard: int, body: bytes) -> None:
        """Write this shard's record; a record already there is kept. Raises AuditError."""

    def read_all(self, group: str) -> dict[int, bytes]:
        """Every record of the group so far, by shard index. Raises AuditError."""


class DirectoryBrakeStore:
    """``{directory}/{group}/shard-{i}.json``, each written to a temporary name first and
    linked into place, so a reader never sees half a record and the first one stays."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.name = f"directory:{self.directory}"

    def publish(self, group: str, shard: int, body: bytes) -> None:
        folder = self.directory / check_group(group)
        target = folder / f"shard-{shard}.json"
        scratch = folder / f".shard-{shard}.{os.getpid()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with scratch.open("wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # create-only: the first record stays
                os.link(scratch, target)
        except OSError as err:
            raise AuditError(f"cannot publish to {self.name}: {err}") from err
        finally:
            scratch.unlink(missing_ok=True)

    def read_all(self, group: str) -> dict[int, bytes]:
        folder = self.directory / check_group(group)
        found: dict[int, bytes] = {}
        try:
            paths = list(folder.glob("shard-*.json")) if folder.exists() else []
            for path in paths:
                index = path.stem.removeprefix("shard-")
                if index.isdigit():
                    found[int(index)] = path.read_bytes()
        except OSError as err:
            raise AuditError(f"cannot read {self.name}: {err}") from err
        return found


class BucketBrakeStore(ABC):
    """``{prefix}/{group}/shard-{i}.json`` in a bucket, each written create-only with a
    checksum: the first record of a shard stands, a later one is dropped without error (a
    retried pod, or a retried upload whose first answer was lost).

    A subclass puts one object create-only (``_put``, failing with ``_exists`` true when
    the key is taken), lists keys under a prefix (``_keys``) and reads an object
    (``_get``). Errors its SDK raises (``_is_sdk_error``) become AuditError.
    """

    scheme = ""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.name = f"{self.scheme}://{bucket}/{prefix}"

    def folder(self, group: str) -> str:
        """The key prefix of one sweep group's records, ending in ``/``."""
        return f"{self.prefix}/{check_group(group)}/"

    def publish(self, group: str, shard: int, body: bytes) -> None:
        key = f"{self.folder(group)}shard-{shard}.json"
        try:
            self._put(key, body)
        except Exception as err:
            if self._exists(err):
                return  # published before: the first record stands
            if not self._is_sdk_error(err):
                raise
            raise AuditError(f"cannot publish to {self.name}: {self._describe(err)}") from err

    def read_all(self, group: str) -> dict[int, bytes]:
        folder = self.folder(group)
        found: dict[int, bytes] = {}
        try:
            for key in self._keys(folder):
                index = key[len(folder) :].removeprefix("shard-").removesuffix(".json")
                if index.isdigit():
                    found[int(index)] = self._get(key)
        except Exception as err:
            if not self._is_sdk_error(err):
                raise
            raise AuditError(f"cannot read {self.name}: {self._describe(err)}") from err
        return found

    @abstractmethod
    def _put(self, key: str, body: bytes) -> None:
        """Create ``key`` with ``body`` and a checksum, only if no object has that key."""

    @abstractmethod
    def _exists(self, err: Exception) -> bool:
        """True when ``_put`` failed because the key is taken."""

    @abstractmethod
    def _keys(self, prefix: str) -> Sequence[str]:
        """Every key under ``prefix``."""

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """An object's body."""

    @abstractmethod
    def _is_sdk_error(self, err: Exception) -> bool:
        """True for the errors of the store's SDK (and its transport)."""

    def _describe(self, err: Exception) -> str:
        return str(err)


__all__ = ["BrakeStore", "BucketBrakeStore", "DirectoryBrakeStore", "check_group"]
