"""Writes guarded by a fingerprint, and the fingerprints a sweep's reads leave behind.

GCP replaces a label map or a list of network tags whole, guarded by the fingerprint of
the value it replaces. A stale fingerprint means someone else wrote in between: read
again and apply the change again, a bounded number of times. Instances and clusters both
write so (``setLabels``, ``setTags``, ``setResourceLabels``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from reaper.errors import ProviderError
from reaper.model import ResourceRef
from reaper.providers.gcp.clients import status_of

FINGERPRINT_ATTEMPTS = 3
"""Writes tried with a fresh fingerprint before giving up: someone keeps changing it."""

Value = TypeVar("Value")
Sent = TypeVar("Sent")
Fingerprinted = tuple[Value, str]
"""A value as read, with the fingerprint a write must send to replace it."""


class StaleFingerprint(ProviderError):
    """The resource kept changing under a fingerprint-guarded write."""


def precondition_failed(err: ProviderError) -> bool:
    """Compute's answer to a stale fingerprint: HTTP 412 ``conditionNotMet``."""
    return status_of(err) == 412


def guarded_write(
    what: str,
    read: Callable[[], Fingerprinted[Value] | None],
    change: Callable[[Value], Value],
    send: Callable[[Value, str], Sent],
    known: Fingerprinted[Value] | None = None,
    stale: Callable[[ProviderError], bool] = precondition_failed,
) -> tuple[Value, Sent | None] | None:
    """Write what ``change`` makes of the current value, under its fingerprint.

    ``known`` is a value already read (the sweep's), so the first write needs no read.
    Returns the value written and what ``send`` returned (None when the value already was
    what ``change`` makes, and nothing was sent), or None when the resource is gone (404
    on the write; ``read`` returns None). Raises StaleFingerprint after
    ``FINGERPRINT_ATTEMPTS`` stale fingerprints, ProviderError for any other failure.
    """
    for _ in range(FINGERPRINT_ATTEMPTS):
        if known is None:
            known = read()
            if known is None:
                return None
        current, fingerprint = known
        wanted = change(current)
        if wanted == current:
            return wanted, None
        try:
            sent = send(wanted, fingerprint)
        except ProviderError as err:
            if stale(err):
                known = None
                continue
            if status_of(err) == 404:
                return None
            raise
        return wanted, sent
    raise StaleFingerprint(f"{what} kept changing ({FINGERPRINT_ATTEMPTS} stale fingerprints)")


class KnownLabels:
    """Labels and label fingerprint of each resource as the last read saw them, so the
    first label write needs no read of its own. Each is used once (a write changes the
    fingerprint). Thread-safe: collectors and actions of one kind share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[ResourceRef, Fingerprinted[Mapping[str, str]]] = {}

    def refresh(
        self,
        gone: Callable[[ResourceRef], bool],
        reads: Iterable[tuple[ResourceRef, Mapping[str, str], str]],
    ) -> None:
        """Forget every resource ``gone`` says a new read covers (a long-running daemon
        must not keep what it learnt of resources now deleted), then keep ``reads``."""
        with self._lock:
            for ref in [r for r in self._known if gone(r)]:
                del self._known[ref]
            for ref, labels, fingerprint in reads:
                self._known[ref] = (labels, fingerprint)

    def take(self, ref: ResourceRef) -> Fingerprinted[Mapping[str, str]] | None:
        """The labels and fingerprint last read of ``ref``, forgotten as they are given."""
        with self._lock:
            return self._known.pop(ref, None)
