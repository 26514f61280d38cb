"""List chunking: ``limit`` / ``continue`` exactly as the etcd3 storage layer does it.

A continue token is ``base64url(json({"v": "meta.k8s.io/v1", "rv": <revision>, "start":
<next key>}))`` (``storage.EncodeContinue``), where the next key is the last key *examined*
plus ``"\\x00"``. A page stops once ``limit`` matching items are in hand and another key
exists; with a selector it may therefore carry a token even though nothing further matches,
and the next page comes back empty: that is the real server's behaviour too.
``remainingItemCount`` is only given for lists without a selector.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
_TOKEN_VERSION = "meta.k8s.io/v1"


class TokenError(ValueError):
    """A continue token the server does not recognise."""


@dataclass(frozen=True)
class ContinueToken:
    """A decoded continue token."""

    revision: int
    """The snapshot revision the list started at; -1 means "whatever is current"."""
    start: str
    """The first key (relative to the resource's key prefix) the next page may return."""


def encode_token(revision: int, start: str) -> str:
    """``storage.EncodeContinue``. Pure."""
    raw = json.dumps({"v": _TOKEN_VERSION, "rv": revision, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> ContinueToken:
    """``storage.DecodeContinue``; raises :class:`TokenError` with the server's words. Pure."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as err:
        raise TokenError(f"continue key is not valid: {err}") from None
    if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
        raise TokenError(
            "continue key is not valid: server does not recognize this encoded version"
        )
    revision, start = data.get("rv"), data.get("start")
    if not isinstance(revision, int) or revision == 0:
        raise TokenError(
            "continue key is not valid: incorrect encoded start resourceVersion "
            f"(version {_TOKEN_VERSION})"
        )
    if not isinstance(start, str) or not start or start.startswith("/") or ".." in start:
        raise TokenError("continue key is not valid: encoded key is invalid")
    return ContinueToken(revision, start)


@dataclass(frozen=True)
class Page:
    """One chunk of a list."""

    items: list[JSON]
    """The matching objects, in key order."""
    next_start: str | None
    """Where the next page starts, or None if this was the last."""
    remaining: int
    """How many keys (matching or not) lie beyond this page."""


def page(
    entries: Sequence[tuple[str, JSON]],
    *,
    start: str,
    limit: int,
    matches: Callable[[JSON], bool],
) -> Page:
    """Cut one page from ``entries`` (``(key, object)`` sorted by key). Pure.

    ``limit`` 0 means no limit. Mirrors the loop in etcd3 ``store.GetList``.
    """
    items: list[JSON] = []
    last_key: str | None = None
    more = False
    examined = 0
    candidates = [(key, obj) for key, obj in entries if key >= start] if start else list(entries)
    for key, obj in candidates:
        if limit and len(items) >= limit:
            more = True
            break
        last_key = key
        examined += 1
        if matches(obj):
            items.append(obj)
    if not more or last_key is None:
        return Page(items, None, 0)
    return Page(items, last_key + "\x00", len(candidates) - examined)
