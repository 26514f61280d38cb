"""What the lookup and the two APIs exchange: an HTTP answer, a budget, a throttle. Pure data.

:class:`RunApi` is the contract :mod:`reaper.pipelines.github` and
:mod:`reaper.pipelines.gitlab` fill: how to ask one API about one run, and how to read its
answers. Its methods are pure; :class:`~reaper.pipelines.lookup.RunLookup` does the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from reaper.pipelines.model import RunRef, RunStatus


@dataclass(frozen=True)
class Answer:
    """One HTTP response, whatever its status."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case names."""
    body: bytes = b""


@dataclass(frozen=True)
class Budget:
    """What an answer's rate-limit headers say is left of the current window."""

    remaining: int
    reset_at: float | None
    """Epoch seconds when the window ends; None when the answer did not say."""


class ThrottleKind(StrEnum):
    PRIMARY = "primary"
    """The window's budget is spent: no request until it resets."""
    SECONDARY = "secondary"
    """Told to back off (GitHub's secondary limits, GitLab's 429s): for ``retry-after``."""


@dataclass(frozen=True)
class Throttle:
    """A rate-limit refusal: no request to this API with this token before ``until``."""

    kind: ThrottleKind
    until: float
    """Epoch seconds."""


class RunApi(Protocol):
    """How to ask one CI API about one run. Every method is pure."""

    @property
    def root(self) -> str:
        """The API root URL; with the token's variable name, the key of a rate-limit budget."""
        ...

    @property
    def free_not_modified(self) -> bool:
        """A 304 does not count against the budget (GitHub documents this; GitLab does not)."""
        ...

    def refuse(self, ref: RunRef) -> RunStatus | None:
        """An ``UNKNOWN`` verdict for a reference this API cannot be asked about, else None."""
        ...

    def url(self, ref: RunRef) -> str: ...

    def headers(self, token: str) -> dict[str, str]: ...

    def budget(self, answer: Answer) -> Budget | None: ...

    def throttle(self, answer: Answer, now: float) -> Throttle | None:
        """The rate-limit refusal ``answer`` is, if it is one."""
        ...

    def status(self, ref: RunRef, body: bytes) -> RunStatus:
        """The verdict a 200 body (or the cached body of a 304) gives."""
        ...

    def error(self, answer: Answer) -> RunStatus:
        """The ``UNKNOWN`` verdict of any other answer (404, 401, 5xx, ...)."""
        ...
