"""A one-line progress bar for long collections, drawn on standard error when it is a TTY.

    collecting [########............] 12/30 aws:ec2_instance ci/us-east-1

Collectors run in threads, so every method takes a lock. Nothing is drawn when the stream
is not a terminal (CI logs, pipes, files) unless forced with ``enabled=True``. Log lines
written through ``reaper.logs`` clear the bar first and redraw it afterwards (``paused``).

``Progress.callback`` has the signature of ``ScopeDone``, the hook ``app.collect`` calls
once per (kind, scope) when that collector finished, whether it succeeded or failed.
"""

from __future__ import annotations

import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TextIO

ScopeDone = Callable[[str, str], None]
"""``on_scope_done(kind_key, scope)``: one (kind, scope) collector finished."""

_lock = threading.RLock()
_active: list[Progress] = []


class Progress:
    """A thread-safe progress line over ``total`` steps. Also a context manager."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        title: str = "collecting",
        width: int = 20,
    ) -> None:
        """``stream`` defaults to standard error at construction time; ``enabled`` to
        whether that stream is a terminal."""
        self.total = max(total, 0)
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.title = title
        self.width = width
        self.done = 0
        self.label = ""
        self._shown = 0
        """Characters of the line currently on screen (0: nothing drawn)."""
        self._closed = False
        if self.enabled:
            with _lock:
                _active.append(self)

    def advance(self, label: str = "") -> None:
        """One step done; ``label`` says which (``aws:ec2_instance ci/us-east-1``)."""
        with _lock:
            if self._closed:
                return
            self.done += 1
            self.label = label
            self._draw()

    def callback(self, kind_key: str, scope: str) -> None:
        """``ScopeDone`` for ``app.collect``: advances by one (kind, scope)."""
        self.advance(f"{kind_key} {scope}")

    def line(self) -> str:
        """The text of the progress line, without control characters."""
        done = min(self.done, self.total) if self.total else self.done
        if self.total:
            filled = self.width * done // self.total
            bar = "[" + "#" * filled + "." * (self.width - filled) + "]"
            text = f"{self.title} {bar} {done}/{self.total}"
        else:
            text = f"{self.title} {done}"
        return f"{text} {self.label}".rstrip()

    def close(self) -> None:
        """Clear the line. Further calls do nothing."""
        with _lock:
            if self._closed:
                return
            self._closed = True
            self._clear()
            if self in _active:
                _active.remove(self)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Called with _lock held.
    def _draw(self) -> None:
        if not self.enabled:
            return
        columns = shutil.get_terminal_size((80, 24)).columns
        text = self.line()[: max(columns - 1, 10)]
        padding = " " * max(self._shown - len(text), 0)
        self._write("\r" + text + padding)
        self._shown = len(text)

    def _clear(self) -> None:
        if self.enabled and self._shown:
            self._write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            # A closed or broken terminal must not break a sweep.
            self.enabled = False


@contextmanager
def paused(stream: TextIO) -> Iterator[None]:
    """Clear the progress lines drawn on ``stream`` for the duration, then redraw them.

    Used by ``reaper.logs`` around each log line; holds the progress lock, so no bar is
    redrawn halfway through a line.
    """
    with _lock:
        drawn = [p for p in _active if p.stream is stream and p._shown]
        for p in drawn:
            p._clear()
        try:
            yield
        finally:
            for p in drawn:
                if not p._closed:
                    p._draw()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = ["Progress", "ScopeDone", "paused"]
