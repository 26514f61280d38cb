"""Pure: text helpers every format shares: durations for people, safe values."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from reaper import safetext
from reaper.durations import format_duration
from reaper.model import Action, Decision, Resource
from reaper.safetext import clip


def human(delta: timedelta) -> str:
    """A duration for people: its two largest units, rounded down (``1d12h``, ``5m``)."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    text = format_duration(timedelta(seconds=seconds - seconds % 60))
    parts = re.findall(r"\d+[a-z]", text)
    return "".join(parts[:2])


def age_text(resource: Resource, now: datetime) -> str:
    if resource.created_at is None:
        return "?"
    return human(now - resource.created_at)


def due_text(decision: Decision, now: datetime) -> str:
    if decision.deadline is None:
        return "-"
    delta = decision.deadline - now
    if delta.total_seconds() <= 0:
        return f"{human(delta)} ago"
    return f"in {human(delta)}"


MAX_CELL = 80
"""Longest name, owner or pipeline run shown; longer values are clipped."""
MAX_MESSAGE = 300
"""Longest error or outcome message shown."""


def clean(text: str, width: int = MAX_CELL) -> str:
    """A value from a resource made safe to show: control, format and bidi characters
    replaced, whitespace collapsed, clipped to ``width`` (:func:`reaper.safetext.clean`).
    Escaping is the renderer's job."""
    return safetext.clean(text, width)


ACTION_ORDER = {  # most destructive first
    Action.DELETE: 0,
    Action.QUARANTINE: 1,
    Action.MARK: 2,
    Action.UNMARK: 3,
    Action.RELEASE: 4,
    Action.KEEP: 5,
}

__all__ = [
    "ACTION_ORDER",
    "MAX_CELL",
    "MAX_MESSAGE",
    "age_text",
    "clean",
    "clip",
    "due_text",
    "human",
]
