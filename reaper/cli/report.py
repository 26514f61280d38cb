"""``reaper report PLAN.json...``: one report of the JSON plans of several shards.

Each shard of a sharded sweep writes its own plan (``reaper plan --shard I/N -o
plan-I.json``, or ``reaper run --shard I/N --format json -o run-I.json``); this combines
them (:mod:`reaper.report.merge`) and renders the whole in any format. A merged JSON plan
made with one config can be applied with ``reaper apply`` like a single one.
Exit codes: 0 written, 2 a plan is unreadable or the plans overlap.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from reaper.cli.common import emit, exit_with, output_options
from reaper.report import render
from reaper.report.merge import PlanDocument, PlanDocumentError, merge_plans, read_plan
from reaper.results import ExitCode


@click.command(name="report")
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_options
def report(plans: tuple[str, ...], fmt: str, output: str | None) -> None:
    """Combine the JSON plans of a sharded sweep into one report (every format)."""
    try:
        merged = merge_plans([_read(path) for path in plans])
    except PlanDocumentError as err:
        click.echo(f"error: {err}", err=True)
        exit_with(ExitCode.USAGE)
    text = render(
        "json" if output and output.endswith(".json") else fmt,
        merged.plan,
        dry_run=merged.dry_run,
        outcomes=merged.outcomes,
        collect_errors=merged.collect_errors,
        brake=merged.brake or None,
        config_sha256=merged.config_sha256,
    )
    emit(text, output)
    exit_with(ExitCode.OK)


def _read(path: str) -> PlanDocument:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PlanDocumentError(f"{path}: cannot read plan: {err}") from None
    return read_plan(document, path)
