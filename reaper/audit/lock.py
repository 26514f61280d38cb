"""One writer per local trail: an exclusive ``flock`` on a sidecar lock file.

The lock is taken on ``<trail>.lock`` (``reaper-audit.jsonl.lock``), not on the trail
itself. A lock belongs to an inode, not to a path: if the trail were the lock and it was
deleted, rotated or replaced while a sweep held it, the next process would open the new
file at the same path, lock that one and write a second chain next to the first. reaper
never deletes or replaces the lock file, so every process locks the same inode.

Someone else still can delete it. So a lock is only taken once the file at the path is
the one locked (another process may unlink it between our ``open`` and our ``flock``),
and :meth:`TrailLock.check` is called before every batch: a lock file that is no longer
at its path means another process may lock a new one, and the writer stops.

``flock`` locks belong to an open file description: a second lock in the same process
waits too, like one from another process. The file holds the holder's pid, host and
start time, for the message of whoever waits in vain.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from reaper.errors import AuditError, AuditLocked

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1


def lock_path(trail: Path) -> Path:
    """The lock file of a trail: ``<trail>.lock`` next to it. Pure."""
    return trail.with_name(f"{trail.name}.lock")


class TrailLock:
    """An exclusive lock on a local audit trail, held from :meth:`acquire` to :meth:`release`.

    ``timeout`` is how long :meth:`acquire` waits for another holder to let go (0: not at
    all) before it raises :class:`~reaper.errors.AuditLocked`.
    """

    def __init__(
        self,
        trail: str | Path,
        timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = lock_path(Path(trail))
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds; AuditLocked if it stays taken."""
        deadline = self._clock() + self.timeout
        announced = False
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = self._holder()
                if self._clock() >= deadline:
                    raise AuditLocked(
                        f"the audit trail is locked by another reaper ({holder}); waited "
                        f"{self.timeout:g}s (audit.lock_timeout) for {self.path}: nothing "
                        "was done"
                    ) from None
                if not announced:
                    log.warning(
                        "waiting up to %gs for the audit trail lock %s, held by %s",
                        self.timeout,
                        self.path,
                        holder,
                    )
                    announced = True
                self._sleep(min(POLL_SECONDS, max(deadline - self._clock(), 0.0)))
                continue
            except OSError as err:
                os.close(fd)
                raise AuditError(f"cannot lock {self.path}: {err}") from err
            if not self._at_path(fd):
                os.close(fd)  # unlinked or replaced while we waited: lock the new one
                continue
            self._fd = fd
            self._note_holder(fd)
            return

    def check(self) -> None:
        """Raise AuditLocked unless the lock is held and its file is still at its path."""
        if self._fd is None:
            raise AuditLocked(f"{self.path}: the audit trail lock is not held")
        if not self._at_path(self._fd):
            raise AuditLocked(
                f"{self.path}: the lock file was removed or replaced while reaper held it; "
                "another reaper may now write the trail, so this one stops writing"
            )

    def release(self) -> None:
        """Let go of the lock (the file stays: deleting it would let two holders in)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as err:
            log.warning("cannot unlock %s: %s (closing it releases the lock)", self.path, err)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise AuditError(f"cannot open the audit trail lock {self.path}: {err}") from err

    def _at_path(self, fd: int) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        except OSError as err:
            raise AuditError(f"cannot check the audit trail lock {self.path}: {err}") from err
        mine = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)

    @staticmethod
    def _note_holder(fd: int) -> None:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        note = f"pid={os.getpid()} host={socket.gethostname()} since={since}\n".encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note, 0)
        except OSError as err:  # only for messages: the lock is what counts
            log.debug("cannot note the lock holder: %s", err)

    def _holder(self) -> str:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        return text or "holder unknown"
