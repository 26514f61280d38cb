"""Optimistic-locking fingerprints that change on every write, as the services' do.

Compute Engine fingerprints are 8 bytes in base64 (``42WmSpB8rSM=`` is the one every
empty ``metadata``/``tags`` shows in recorded responses); GKE's ``labelFingerprint`` is 8
hex digits (``a9dc16a7`` for a cluster never labelled). A write counter is hashed in, so
writing the same labels twice still moves the fingerprint and a stale reader gets 412.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading

EMPTY_COMPUTE_FINGERPRINT = "42WmSpB8rSM="
EMPTY_GKE_FINGERPRINT = "a9dc16a7"

_writes = itertools.count(1)
_writes_lock = threading.Lock()


def _digest(content: object) -> bytes:
    with _writes_lock:
        generation = next(_writes)
    text = json.dumps([content, generation], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).digest()


def compute_fingerprint(content: object) -> str:
    """A fresh Compute fingerprint for ``content``; never equal to an earlier one."""
    return base64.b64encode(_digest(content)[:8]).decode()


def gke_fingerprint(content: object) -> str:
    """A fresh GKE label fingerprint for ``content``; never equal to an earlier one."""
    return _digest(content)[:4].hex()
