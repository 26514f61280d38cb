"""Renders plans and sweep results for people and programs. Pure: no I/O, no clock.

Formats: ``table`` (terminal, :mod:`.table`), ``json`` (programs and ``reaper apply``,
:mod:`.document`), ``markdown`` (merge requests, chat, tickets, :mod:`.markdown`) and
``html`` (one self-contained file, :mod:`.html`). Markdown and HTML share one view of the
plan (:mod:`.view`).

Every value that comes from a resource (tags, names, ids, warnings) is attacker-controlled:
anyone who can tag a resource in a CI account chooses it. Renderers escape such values for
their format; ``clean`` removes control and bidi characters from them first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from reaper.errors import SafetyLimitExceeded
from reaper.model import CollectError, Outcome, Plan
from reaper.report.document import plan_json_chunks, plan_to_json, render_json
from reaper.report.html import render_html
from reaper.report.markdown import render_markdown
from reaper.report.table import render_resources, render_table
from reaper.report.text import human
from reaper.report.view import Brake
from reaper.results import SweepReport

Format = Literal["table", "json", "markdown", "html"]
FORMATS: tuple[Format, ...] = ("table", "json", "markdown", "html")
"""The report formats, for ``click.Choice(FORMATS)``."""


# -- one entry point for every format -----------------------------------------------------


def render(
    fmt: str,
    plan: Plan,
    *,
    dry_run: bool | None = None,
    outcomes: Sequence[Outcome] = (),
    collect_errors: Sequence[CollectError] = (),
    brake: Brake = None,
    config_sha256: str = "",
) -> str:
    """Render a plan in one of ``FORMATS``. Pure.

    Raises ValueError naming the valid formats for any other.
    """
    return "".join(
        render_chunks(
            fmt,
            plan,
            dry_run=dry_run,
            outcomes=outcomes,
            collect_errors=collect_errors,
            brake=brake,
            config_sha256=config_sha256,
        )
    )


def render_chunks(
    fmt: str,
    plan: Plan,
    *,
    dry_run: bool | None = None,
    outcomes: Sequence[Outcome] = (),
    collect_errors: Sequence[CollectError] = (),
    brake: Brake = None,
    config_sha256: str = "",
) -> Iterator[str]:
    """``render``'s text in pieces, to be written as they come: JSON one decision at a
    time (an organization's plan would otherwise be held whole, several times over), the
    other formats in one piece. Pure.

    Raises ValueError naming the valid formats for any other, before the first piece.
    """
    if fmt == "json":
        reasons = brake.reasons if isinstance(brake, SafetyLimitExceeded) else brake or ()
        return plan_json_chunks(
            plan, bool(dry_run), collect_errors, reasons, outcomes, config_sha256
        )
    if fmt == "table":
        return iter((render_table(plan, outcomes),))
    if fmt == "markdown":
        return iter((render_markdown(plan, outcomes, collect_errors, brake, dry_run=dry_run),))
    if fmt == "html":
        return iter((render_html(plan, outcomes, collect_errors, brake, dry_run=dry_run),))
    raise ValueError(f"unknown format {fmt!r} (valid: {', '.join(FORMATS)})")


def render_sweep(report: SweepReport, fmt: str) -> Iterator[str]:
    """A sweep's plan and what was done, in one of ``FORMATS``, in pieces
    (:func:`render_chunks`). Pure."""
    return render_chunks(
        fmt,
        report.plan,
        dry_run=report.dry_run,
        outcomes=report.outcomes,
        collect_errors=report.collection.errors,
        brake=report.brake,
    )


__all__ = [
    "FORMATS",
    "Brake",
    "Format",
    "human",
    "plan_to_json",
    "render",
    "render_chunks",
    "render_html",
    "render_json",
    "render_markdown",
    "render_resources",
    "render_sweep",
    "render_table",
]
