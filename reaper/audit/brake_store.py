"""Where the shards of a sweep publish their planned counts for the global brake.

A store keeps one record per (sweep group, shard), written once and never changed. The
directory store needs a volume every shard mounts (ReadWriteMany); the S3 store
(:mod:`reaper.audit.s3_brake_store`) a bucket every shard may write to.
"""

from __future__ import annotations

import contextlib
import os
import re
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


__all__ = ["BrakeStore", "DirectoryBrakeStore", "check_group"]
