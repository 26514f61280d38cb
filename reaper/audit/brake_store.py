"""Where the shards of a sweep publish their planned counts and store their one verdict.

A store keeps, per sweep group, one record per shard (``shard-{i}.json``) and one verdict
(``verdict.json``), each written once, create-only, and never changed: the first record
of a shard stands, and so does the first verdict (see :mod:`reaper.brake_sync`). The
directory store needs a volume every shard mounts (ReadWriteMany); the bucket stores, S3
(:mod:`reaper.audit.s3_brake_store`) and GCS (:mod:`reaper.audit.gcs_brake_store`), a
bucket every shard may write to, through the bucket the audit sinks use
(:class:`~reaper.audit.bucket.Bucket`: its create-only puts, retries and errors).

What every store shares is here (:class:`CreateOnlyStore`): the object names, the
verdict's "first one stands", and a cache of the bodies already read. Since nothing is
ever rewritten, a poll lists the group once and reads only the objects it has not seen.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reaper.audit.bucket import Bucket
from reaper.errors import AuditError

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_RECORD = re.compile(r"shard-(\d{1,9})\.json")
VERDICT = "verdict.json"
"""The name of a sweep group's verdict, next to its records."""
CONTENT_TYPE = "application/json"


def check_group(group: str) -> str:
    """A sweep group name fit for a file or key name; ValueError otherwise."""
    if not _GROUP.fullmatch(group):
        raise ValueError(f"{group!r} is not a sweep group name (letters, digits, '.', '_', '-')")
    return group


def record_name(shard: int) -> str:
    """The name of shard ``shard``'s record in its group."""
    return f"shard-{shard}.json"


@dataclass(frozen=True)
class GroupObjects:
    """What one sweep group holds in a store, as read at one moment."""

    records: Mapping[int, bytes]
    """The records published so far, by shard index."""
    verdict: bytes | None
    """The verdict, once a shard has stored one."""


class BrakeStore(Protocol):
    """Create-only records, one per shard of a sweep group, and the group's one verdict."""

    name: str

    def publish(self, group: str, shard: int, body: bytes) -> None:
        """Write this shard's record; a record already there is kept. Raises AuditError."""

    def decide(self, group: str, body: bytes) -> bytes:
        """Store the group's verdict unless one is stored already, and return the verdict
        that stands: ``body``, or the one stored before. Raises AuditError."""

    def read(self, group: str) -> GroupObjects:
        """The group's records and verdict so far. Raises AuditError."""


class CreateOnlyStore(ABC):
    """A :class:`BrakeStore` over objects named within a group: ``_create`` (False when the
    name is taken), ``_names`` and ``_get``, each raising AuditError with ``what`` leading
    its message. Bodies once read are kept: an object is never rewritten."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._bodies: dict[tuple[str, str], bytes] = {}

    def publish(self, group: str, shard: int, body: bytes) -> None:
        # Taken: published before (a retried pod, or a retry whose first answer was
        # lost); the first record stands.
        self._create(check_group(group), record_name(shard), body, f"cannot publish to {self.name}")

    def decide(self, group: str, body: bytes) -> bytes:
        what = f"cannot store the verdict in {self.name}"
        if self._create(check_group(group), VERDICT, body, what):
            self._bodies[(group, VERDICT)] = body
            return body
        return self._body(group, VERDICT)

    def read(self, group: str) -> GroupObjects:
        """One listing of the group, and one read of each object not seen before."""
        names = self._names(check_group(group), f"cannot read {self.name}")
        records = {
            int(match.group(1)): self._body(group, name)
            for name in names
            if (match := _RECORD.fullmatch(name))
        }
        verdict = self._body(group, VERDICT) if VERDICT in names else None
        return GroupObjects(records, verdict)

    def read_all(self, group: str) -> dict[int, bytes]:
        """Every record of the group so far, by shard index. Raises AuditError."""
        return dict(self.read(group).records)

    def _body(self, group: str, name: str) -> bytes:
        key = (group, name)
        if key not in self._bodies:
            self._bodies[key] = self._get(group, name, f"cannot read {self.name}/{group}/{name}")
        return self._bodies[key]

    @abstractmethod
    def _create(self, group: str, name: str, body: bytes, what: str) -> bool:
        """Create the object, unless one has the name: True when created."""

    @abstractmethod
    def _names(self, group: str, what: str) -> list[str]:
        """The names of the group's objects."""

    @abstractmethod
    def _get(self, group: str, name: str, what: str) -> bytes:
        """An object's body."""


class DirectoryBrakeStore(CreateOnlyStore):
    """``{directory}/{group}/shard-{i}.json`` and ``{directory}/{group}/verdict.json``,
    each written to a temporary name first and linked into place, so a reader never sees
    half an object and the first one stays."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        super().__init__(f"directory:{self.directory}")

    def _create(self, group: str, name: str, body: bytes, what: str) -> bool:
        folder = self.directory / group
        # A name of its own: every shard writes "verdict.json", and the pods of a Job may
        # well all have the same pid (1, in their containers).
        scratch = folder / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with scratch.open("wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # create-only: the first one stays
                os.link(scratch, folder / name)
                return True
            return False
        except OSError as err:
            raise AuditError(f"{what}: {err}") from err
        finally:
            scratch.unlink(missing_ok=True)

    def _names(self, group: str, what: str) -> list[str]:
        try:
            return os.listdir(self.directory / group)
        except FileNotFoundError:
            return []
        except OSError as err:
            raise AuditError(f"{what}: {err}") from err

    def _get(self, group: str, name: str, what: str) -> bytes:
        try:
            return (self.directory / group / name).read_bytes()
        except OSError as err:
            raise AuditError(f"{what}: {err}") from err


class BucketBrakeStore(CreateOnlyStore):
    """``{prefix}/{group}/shard-{i}.json`` and ``{prefix}/{group}/verdict.json`` in a
    bucket, through :class:`~reaper.audit.bucket.Bucket` (as the audit sinks write):
    create-only with a checksum, the bucket's retries, its errors as AuditError."""

    def __init__(self, bucket: Bucket, prefix: str) -> None:
        self.bucket = bucket.bucket
        self.prefix = prefix
        super().__init__(f"{bucket.name}/{prefix}")
        self._bucket = bucket

    def folder(self, group: str) -> str:
        """The key prefix of one sweep group's objects, ending in ``/``."""
        group = check_group(group)
        return f"{self.prefix}/{group}/" if self.prefix else f"{group}/"

    def _create(self, group: str, name: str, body: bytes, what: str) -> bool:
        return self._bucket.create(self.folder(group) + name, body, CONTENT_TYPE, what=what)

    def _names(self, group: str, what: str) -> list[str]:
        folder = self.folder(group)
        return [key.removeprefix(folder) for key in self._bucket.keys(folder, what=what)]

    def _get(self, group: str, name: str, what: str) -> bytes:
        return self._bucket.get(self.folder(group) + name, what=what)


__all__ = [
    "VERDICT",
    "BrakeStore",
    "BucketBrakeStore",
    "CreateOnlyStore",
    "DirectoryBrakeStore",
    "GroupObjects",
    "check_group",
    "record_name",
]
