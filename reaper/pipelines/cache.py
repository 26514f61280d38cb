"""The ETag and last body of each run URL, kept across sweeps so a daemon asks conditionally.

Owned by one :class:`~reaper.pipelines.lookup.RunLookup`; in memory only (a restart asks
afresh). Bounded: past ``max_entries`` the least recently used URL is forgotten.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedAnswer:
    etag: str
    """As the server sent it, weak (``W/"..."``) or strong; sent back verbatim."""
    body: bytes


class EtagCache:
    """URL -> :class:`CachedAnswer`, thread-safe, least recently used evicted first."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    def get(self, url: str) -> CachedAnswer | None:
        with self._lock:
            entry = self._entries.get(url)
            if entry is not None:
                self._entries.move_to_end(url)
            return entry

    def put(self, url: str, etag: str, body: bytes) -> None:
        with self._lock:
            self._entries[url] = CachedAnswer(etag, body)
            self._entries.move_to_end(url)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def discard(self, url: str) -> None:
        with self._lock:
            self._entries.pop(url, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
