"""Lifecycle tags in tests as reaper writes them: signed with the sandbox's state key.

The test session's environment carries the same key (``REAPER_STATE_KEY``, set by
``sandbox_environ``), so a sweep in a test verifies what ``signed`` produces; tags built by
hand without it are what a forger writes.
"""

from __future__ import annotations

from collections.abc import Mapping

from reaper.config import TagKeys
from reaper.lifecycle import StateSigner
from reaper.model import ResourceRef
from reaper.sandbox.environment import SANDBOX_STATE_KEY

SIGNER = StateSigner(SANDBOX_STATE_KEY.encode(), TagKeys().model_dump().values())
"""Signs with the sandbox's key, for the default tag keys."""
FORGER = StateSigner(b"not-the-state-key-at-all", TagKeys().model_dump().values())
"""Signs with another key: tags that look signed, but are not reaper's."""


def signed(ref: ResourceRef, tags: Mapping[str, str]) -> dict[str, str]:
    """``tags`` with reaper's own among them signed for ``ref``, as the actuator writes them."""
    owned = SIGNER.owned(tags)
    if not owned:
        return dict(tags)
    return {**tags, **SIGNER.signed(ref, owned)}
