"""Masks tokens in every text the lookup logs, raises or returns. Pure.

Two layers: the exact token values read this sweep (whatever their shape), and the shapes
of credentials in general (``Authorization:`` and ``PRIVATE-TOKEN:`` headers, bearer
tokens, GitHub and GitLab token prefixes), for text that quotes a token reaper never read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_MIN_SECRET = 4
"""Shorter values are not masked by value: "ab" would mangle every word that contains it."""
_PATTERNS = (
    re.compile(
        r"(?i)\b((?:proxy-)?authorization|private-token|job-token)"
        r"""(["']?\s*[:=]\s*)[^\r\n,}]+"""
    ),
    re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b()()(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"\b()()(?:glpat|gldt|glptt|glrt)-[A-Za-z0-9_-]{16,}"),
)


class Secret:
    """A token that never shows itself: ``repr`` and ``str`` are masked, :meth:`reveal` is not.

    Held instead of the bare string wherever a token waits to be used, so that a repr, a log
    of a data structure or a traceback that prints locals shows ``***``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__


class Redactor:
    """Call it on a text to get the text with token-like material replaced by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a token that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
