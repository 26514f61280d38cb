"""List paging: ``maxResults``/``pageToken`` for Compute Engine, done with a cursor.

The token names the last key served rather than an offset, so deleting resources
between pages (what a reaper does) neither skips nor repeats any.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import TypeVar

from reaper.sandbox.gcp.errors import compute_invalid

MAX_RESULTS = 500
T = TypeVar("T")
Key = tuple[str, ...]


def max_results(raw: str | None) -> int:
    """The page size from ``maxResults``: 0 or absent means 500; over 500 is refused."""
    if raw is None:
        return MAX_RESULTS
    try:
        value = int(raw)
    except ValueError:
        raise compute_invalid(
            f"Invalid value for field 'maxResults': '{raw}'. Invalid unsigned integer."
        ) from None
    if value < 0 or value > MAX_RESULTS:
        raise compute_invalid(
            f"Invalid value for field 'maxResults': '{raw}'. "
            f"Must be less than or equal to {MAX_RESULTS}"
        )
    return value or MAX_RESULTS


def _token(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _after(token: str) -> Key:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, list) or not all(isinstance(part, str) for part in decoded):
        raise compute_invalid(
            f"Invalid value for field 'pageToken': '{token}'. Invalid page token."
        )
    return tuple(decoded)


def page(
    rows: Sequence[tuple[Key, T]], size: int, token: str | None
) -> tuple[list[tuple[Key, T]], str | None]:
    """The page of ``rows`` (sorted by key) after ``token``, and the next page's token."""
    start = 0
    if token:
        after = _after(token)
        start = next((i for i, (key, _) in enumerate(rows) if key > after), len(rows))
    chosen = list(rows[start : start + size])
    more = start + size < len(rows)
    return chosen, _token(chosen[-1][0]) if more and chosen else None
