"""Logging set-up: ``key=value`` text or JSON lines on standard error, secrets masked.

``configure_logging`` installs one handler on the root logger. Both formats pass every
record through ``RedactFilter`` first, which masks token-like material in the message, in
``extra`` fields and in tracebacks: AWS secret keys and session tokens, ``Authorization``
headers, bearer tokens, ``token=`` / ``password=`` / ``secret=`` style fields, the userinfo
of URLs (``https://user:pass@host``), Slack webhook paths and common CI tokens (GitHub,
GitLab, Slack). Masked material becomes ``***``.

The handler also cooperates with ``reaper.progress``: a progress bar drawn on the same
stream is cleared before a log line and redrawn after it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from reaper import progress

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
"""The ``--log-format`` choices."""
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
QUIET_LOGGERS = ("botocore", "boto3", "urllib3")
"""SDK chatter (retries, credential lookups) stays out of the operator's view."""
MASK = "***"

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

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def redact(text: str) -> str:
    """``text`` with token-like material replaced by ``***``. Pure."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed with ``extra=``, in the order given."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message, ``extra`` fields, traceback and stack.

    Renders the message (``msg % args``) once, redacts it and stores the result, so every
    formatter after it sees only the masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
            elif not isinstance(value, int | float | bool | None):
                setattr(record, key, redact(str(value)))
        return True


class TextFormatter(logging.Formatter):
    """The classic line, plus ``key=value`` for each ``extra`` field."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = extra_fields(record)
        if not extras:
            return line
        fields = " ".join(f"{k}={_text_value(v)}" for k, v in extras.items())
        head, sep, rest = line.partition("\n")
        return f"{head} {fields}{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (RFC 3339, UTC), level, logger, msg, exc_info, extras."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        document: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            document["exc_info"] = record.exc_text
        if record.stack_info:
            document["stack_info"] = record.stack_info
        for key, value in extra_fields(record).items():
            document[key if key not in document else f"extra_{key}"] = value
        return json.dumps(document, default=str, ensure_ascii=False)


class _Handler(logging.StreamHandler[TextIO]):
    """A stream handler that keeps a progress bar on the same stream intact.

    Without a fixed stream it writes to whatever ``sys.stderr`` is when a record is
    emitted (as ``logging.lastResort`` does), so a replaced or captured standard error
    (click's test runner, pytest) is never written to after it was closed.
    """

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return sys.stderr if self._fixed is None else self._fixed

    @stream.setter
    def stream(self, value: TextIO) -> None:
        self._fixed = value

    def emit(self, record: logging.LogRecord) -> None:
        with progress.paused(self.stream):
            super().emit(record)


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "text", stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (default: standard error at call time).

    Replaces the handler a previous call installed, leaves other handlers alone, keeps the
    SDK loggers at WARNING and returns the new handler. Unknown levels and formats raise
    ValueError naming the valid ones.
    """
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {level!r} (valid: {', '.join(LEVELS)})")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (valid: {', '.join(LOG_FORMATS)})")
    handler = _Handler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=\n') else text


__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "LogFormat",
    "RedactFilter",
    "TextFormatter",
    "configure_logging",
    "redact",
]
