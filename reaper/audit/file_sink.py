"""The local audit file: append-only, each batch written, flushed and fsynced."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from reaper.errors import AuditError

_TAIL_CHUNK = 65536


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
