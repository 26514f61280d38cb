"""Printing: one line at a time, flushed; aligned tables; the summary's figures."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field


def say(text: str = "") -> None:
    print(text, flush=True)


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load: other work on it skews wall times."""
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def exit_code(problems: Sequence[str]) -> int:
    """Print the problems a run found, if any; 1 when there were some, else 0."""
    if not problems:
        return 0
    say("\nPROBLEMS (the figures may not mean what they say):")
    for problem in problems:
        say(f"  - {problem}")
    return 1


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others. Pure."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  " + "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


@dataclass
class Figures:
    """Everything the summary shows, in the order the phases measured it."""

    rows: list[tuple[str, str, str, bool | None]] = field(default_factory=list)
    """``(figure, measured, target, met)``; ``met`` is None for a figure shown for information."""

    def add(self, name: str, value: str, target: str, ok: bool | None) -> None:
        self.rows.append((name, value, target, ok))

    def render(self) -> str:
        return table(
            ["figure", "measured", "target", "result"],
            [
                [n, v, t, "n/a" if ok is None else ("PASS" if ok else "MISS")]
                for n, v, t, ok in self.rows
            ],
        )
