"""The local audit file: append-only, each batch written, flushed and fsynced, one writer."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from reaper.audit.lock import TrailLock
from reaper.errors import AuditError, ChainWentBack

_TAIL_CHUNK = 65536


class FileSink:
    """An append-only local file: each batch is written, flushed and fsynced.

    Opened at construction, after taking the trail's lock (:class:`~reaper.audit.lock.
    TrailLock`, waiting up to ``lock_timeout`` seconds: AuditLocked if another reaper
    keeps it), unbuffered and in append mode; raises AuditError if it cannot be. The
    lock is held until :meth:`close`. A batch that fails half-way is cut off again where
    the file can be truncated, so a later batch does not follow a partial line.

    Before each batch the sink checks that it still holds the lock and that the path
    still names the file it opened: records appended to a file that was deleted or
    replaced would be lost, so the write fails (ChainWentBack) instead.
    """

    def __init__(
        self, path: str | Path, *, required: bool = True, lock_timeout: float = 0.0
    ) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self.required = required
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AuditError(f"cannot open audit log {self.path}: {err}") from err
        # A device or a pipe (``/dev/full`` in tests) holds no chain to protect.
        self._lock = TrailLock(self.path, lock_timeout) if _regular_or_new(self.path) else None
        if self._lock is not None:
            self._lock.acquire()
        try:
            created = not self.path.exists()
            self._file = self.path.open("ab", buffering=0)
            info = os.fstat(self._file.fileno())
            self._identity = (info.st_dev, info.st_ino)
            if created:
                _fsync_dir(self.path.parent)
        except BaseException as err:
            if self._lock is not None:
                self._lock.release()
            if isinstance(err, OSError):
                raise AuditError(f"cannot open audit log {self.path}: {err}") from err
            raise

    def write(self, lines: Sequence[bytes]) -> None:
        if self._lock is not None:
            self._lock.check()
        self._check_same_file()
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

    def read_back(self) -> Iterator[bytes]:
        """The file's lines without their newlines, the last first, read from the end.

        Reads only as far back as the caller iterates. Raises AuditError if unreadable.
        """
        try:
            with self.path.open("rb") as f:
                info = os.fstat(f.fileno())
                if stat.S_ISREG(info.st_mode) and info.st_size:
                    yield from _lines_backwards(f, info.st_size)
        except OSError as err:
            raise AuditError(f"cannot read audit log {self.path}: {err}") from err

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as err:
            raise AuditError(f"cannot close audit log {self.path}: {err}") from err
        finally:
            if self._lock is not None:
                self._lock.release()

    def _check_same_file(self) -> None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            info = None
        except OSError as err:
            raise AuditError(f"cannot check audit log {self.path}: {err}") from err
        if info is None or (info.st_dev, info.st_ino) != self._identity:
            what = "deleted" if info is None else "replaced"
            raise ChainWentBack(
                f"audit log {self.path} was {what} while reaper had it open: records "
                "written to it now would be lost, so nothing more is written (restore it, "
                "or start reaper again to begin a new trail)"
            )


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


def _regular_or_new(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError as err:
        raise AuditError(f"cannot open audit log {path}: {err}") from err


def _lines_backwards(f: BinaryIO, size: int) -> Iterator[bytes]:
    """The lines of a file of ``size`` (> 0) bytes, last first, without their newlines.

    A last line without a newline is yielded as it is (the caller finds it is no record).
    """
    f.seek(size - 1)
    pos = size - 1 if f.read(1) == b"\n" else size  # the final newline starts no line
    tail = b""  # the bytes from ``pos`` on that are not yielded yet: the start of a line
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        f.seek(pos)
        first, *complete = (f.read(step) + tail).split(b"\n")
        yield from reversed(complete)
        tail = first
    yield tail


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
