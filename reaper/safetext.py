"""Pure: making text that reaper did not write safe to show.

Tag values, names and error messages are chosen by whoever can tag a resource, so none of
them may break a log line, move a terminal's cursor, reorder text with a bidi override or
show a secret. Every output reaper writes for people or collectors goes through here:

* :func:`escape_controls` for log lines (text and JSON): every unsafe character becomes a
  JSON-style escape (``\\n``, ``\\u202e``), so nothing is lost and a line stays one line;
* :func:`clean` for reports, tables and notifications: unsafe characters become U+FFFD,
  whitespace is collapsed, the value is clipped;
* :func:`redact` for anything that may carry a secret (log records, config errors).

"Unsafe" (:func:`is_unsafe`) is one definition: Unicode control characters (C0, DEL, C1:
line breaks, ANSI escapes), format characters (bidi overrides and isolates, zero-width
characters), lone surrogates and the line and paragraph separators.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode general categories never written as they are."""
REPLACEMENT = "\ufffd"
MASK = "***"


def is_unsafe(char: str) -> bool:
    """Whether one character is a control, format, surrogate or line/paragraph separator."""
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def escape_controls(text: str) -> str:
    """``text`` with every unsafe character written as a JSON escape. Pure.

    ``"a\\nb"`` becomes ``a\\\\nb`` (a backslash and an ``n``), U+202E becomes ``\\\\u202e``;
    anything else, backslashes included, is kept. The escapes are valid inside a JSON
    string, so a JSON document's text can be passed through as well. Consumed by
    :mod:`reaper.logs`.
    """
    if text.isprintable():  # False for every unsafe character: the common case is fast
        return text
    return "".join(_escape(c) if is_unsafe(c) else c for c in text)


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes it
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut. Pure."""
    return text if len(text) <= width else text[: width - 1] + "…"


def clean(text: str, width: int) -> str:
    """A value made safe to show in one cell or line: whitespace (line breaks included)
    collapsed to single spaces, unsafe characters replaced by U+FFFD, clipped to ``width``.
    Pure. Escaping for the output format (Markdown, HTML, Slack) is the renderer's job.
    Consumed by the reports, the terminal table and the notifications."""
    collapsed = " ".join(text.split())
    if not collapsed.isprintable():
        collapsed = "".join(REPLACEMENT if is_unsafe(c) else c for c in collapsed)
    return clip(collapsed, width)


# -- secrets ------------------------------------------------------------------------------

_MASKED_FIELDS = (
    r"[\w.-]*(?:token|passw(?:or)?d|pwd|secret|signature|api[_-]?key|access[_-]?key"
    r"|client[_-]?secret|private[_-]?key)"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Authorization: <anything> (a header line, or a quoted value in a dict's repr).
    (
        re.compile(
            r"""(?i)(\b(?:proxy-)?authorization\b["']?\s*[:=]\s*)(?:b?(["'])(?:(?!\2).)*\2|[^\r\n]*)"""
        ),
        lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}{m.group(2) or ''}",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    # token=..., "password": "...", X-Amz-Security-Token=..., aws_secret_access_key = ...
    (
        re.compile(
            rf"""(?i)(\b{_MASKED_FIELDS}["']?\s*[:=]\s*)"""
            r"""(?:(["'])(?:(?!\2).)*\2|[^\s&"',;)}\]]+)"""
        ),
        lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}{m.group(2) or ''}",
    ),
    # URLs with userinfo: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@"), rf"\1{MASK}@"),
    # Slack incoming webhooks and workflow triggers.
    (
        re.compile(r"(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"),
        rf"\1{MASK}",
    ),
    # AWS session tokens (long base64 starting with the known prefixes).
    (re.compile(r"(?:FwoGZXIvYXdzE|IQoJb3JpZ2luX2Vj|AQoDYXdzE)[A-Za-z0-9/+=]{20,}"), MASK),
    # AWS secret access keys: 40 base64 characters with both cases and a digit or / or +.
    (
        re.compile(
            r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])"
            r"(?=[A-Za-z0-9/+]*[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
        MASK,
    ),
    # GitHub, GitLab and Slack tokens.
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), MASK),
    (re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{10,}"), MASK),
)


def redact(text: str) -> str:
    """``text`` with token-like material replaced by ``***``: AWS secret keys and session
    tokens, ``Authorization`` headers, bearer tokens, ``token=`` / ``password=`` /
    ``secret=`` style fields, the userinfo of URLs (``https://user:pass@host``), Slack
    webhook paths and common CI tokens (GitHub, GitLab, Slack). Pure."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


__all__ = ["MASK", "clean", "clip", "escape_controls", "is_unsafe", "redact"]
