"""Logging set-up: ``key=value`` text or JSON lines on standard error, secrets masked.

``configure_logging`` installs one handler on the root logger. Both formats pass every
record through ``RedactFilter`` first, which masks token-like material in the message, in
``extra`` fields and in tracebacks: AWS secret keys and session tokens, ``Authorization``
headers, bearer tokens, ``token=`` / ``password=`` / ``secret=`` style fields, the userinfo
of URLs (``https://user:pass@host``), Slack webhook paths and common CI tokens (GitHub,
GitLab, Slack). Masked material becomes ``***`` (:func:`reaper.safetext.redact`).

Tag values reach log lines, and whoever tags a resource chooses them. Both formats escape
line breaks, ANSI escapes, bidi controls and the other characters
:func:`reaper.safetext.is_unsafe` names, so a value can neither add a line nor change
what a terminal shows.

The handler also cooperates with ``reaper.progress``: a progress bar drawn on the same
stream is cleared before a log line and redrawn after it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from reaper import progress
from reaper.safetext import escape_controls, redact

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
"""The ``--log-format`` choices."""
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
QUIET_LOGGERS = ("botocore", "boto3", "urllib3")
"""SDK chatter (retries, credential lookups) stays out of the operator's view."""
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


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
    """The classic line, plus ``key=value`` for each ``extra`` field.

    A record is one line: unsafe characters of the message (line breaks, ANSI escapes, bidi
    controls; see :func:`reaper.safetext.escape_controls`) are escaped, and values with
    spaces, quotes, ``=`` or such characters are quoted and escaped. Only a traceback or
    stack adds lines, each starting with whitespace: a line that starts with anything else
    is always a record's first line, whatever a tag value holds.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = TEXT_FORMAT % {
            "asctime": self.formatTime(record, self.datefmt),
            "levelname": record.levelname,
            "name": escape_controls(record.name),
            "message": escape_controls(record.getMessage()),
        }
        extras = extra_fields(record)
        if extras:
            line += " " + " ".join(f"{k}={_text_value(v)}" for k, v in extras.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info):
            if block:
                line += "\n" + _continuation(block)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (RFC 3339, UTC), level, logger, msg, exc_info, extras.

    ``json.dumps`` escapes line breaks and C0 controls; DEL, C1 controls, bidi and other
    format characters and the Unicode line separators are escaped as well (as ``\\uXXXX``,
    still valid JSON), so a line shown in a terminal is what it says.
    """

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
        return escape_controls(json.dumps(document, default=str, ensure_ascii=False))


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
    """An ``extra`` value as it is, or quoted and escaped when it would be ambiguous."""
    text = str(value)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escape_controls(quoted)}"'


def _continuation(block: str) -> str:
    """A traceback or stack for the lines after a record's first: escaped, every line
    starting with whitespace."""
    lines = (escape_controls(line) for line in block.split("\n"))
    return "\n".join(line if line[:1].isspace() else f"  {line}" for line in lines)


__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "LogFormat",
    "RedactFilter",
    "TextFormatter",
    "configure_logging",
    "redact",
]
