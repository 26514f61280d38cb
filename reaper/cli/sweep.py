"""The sweep commands: validate, plan, run, apply, release.

Each parses its arguments, loads the config, calls the sweep service and maps what comes
back to an exit code. With ``--format json`` standard output carries only the document.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import click

from reaper.cli.common import (
    config_option,
    emit,
    exit_with,
    guard,
    load,
    make_service,
    new_metrics,
    output_options,
    startup,
)
from reaper.cli.shard import global_brake, resolve_shard, shard_option
from reaper.config import Settings, describe_settings
from reaper.pinned import PlanRefused, read_pinned
from reaper.progress import Progress
from reaper.pushgateway import push_sweep_metrics
from reaper.report import render, render_sweep
from reaper.results import ExitCode, SweepReport
from reaper.shards import Shard

log = logging.getLogger("reaper")


@click.command()
@config_option
def validate(config_path: str) -> None:
    """Check a config file and print a one-line summary of it."""
    settings, _ = load(config_path)
    click.echo(f"{config_path}: ok ({describe_settings(settings)})")


@click.command()
@config_option
@output_options
@shard_option
def plan(config_path: str, fmt: str, output: str | None, shard_text: str | None) -> None:
    """Collect and decide; never changes anything."""
    settings, digest = load(config_path)
    shard, settings = resolve_shard(shard_text, settings)
    startup("plan", config_path, settings, dry_run=True, extra=_shard_field(shard))
    service = guard(lambda: make_service(settings, digest, notify=False, shard=shard))
    now = datetime.now(UTC)
    with Progress(guard(service.scope_count)) as progress:
        result, collection, brake = service.plan(now, on_scope_done=progress.callback)
    text = render(
        "json" if output and output.endswith(".json") else fmt,
        result,
        dry_run=True,
        collect_errors=collection.errors,
        brake=brake,
        config_sha256=digest,
    )
    emit(text, output)
    if brake:
        log.error("%s; `reaper run --apply` would do nothing", brake)
        exit_with(ExitCode.SAFETY_BRAKE)
    exit_with(ExitCode.PARTIAL_FAILURE if collection.errors else ExitCode.OK)


@click.command()
@config_option
@output_options
@click.option("--apply", is_flag=True, help="Act for real (the config's dry_run is ignored).")
@shard_option
def run(
    config_path: str, fmt: str, output: str | None, apply: bool, shard_text: str | None
) -> None:
    """One sweep, the CronJob mode: collect, decide, act (dry-run unless --apply).

    With --shard I/N (or in an Indexed Job), only shard I's scopes, with its own audit
    chain and metrics group; the brake's limits apply to the shard.
    """
    settings, digest = load(config_path)
    shard, settings = resolve_shard(shard_text, settings)
    _check_stdout(settings, fmt, output)
    dry_run = settings.dry_run and not apply
    startup("run", config_path, settings, dry_run, extra=_shard_field(shard))
    metrics = new_metrics()
    brake_sync = guard(lambda: global_brake(settings, shard))
    service = guard(
        lambda: make_service(settings, digest, metrics, shard=shard, brake_sync=brake_sync)
    )
    report: SweepReport | None = None
    try:
        report = guard(lambda: service.run(datetime.now(UTC), dry_run))
    finally:
        push_sweep_metrics(settings.metrics, metrics, report)
    emit(render_sweep(report, fmt), output)
    exit_with(report.exit_code)


@click.command(name="apply")
@config_option
@click.argument("plan_file", type=click.Path(dir_okay=False))
@output_options
@click.option("--dry-run", is_flag=True, help="Re-check the plan without acting.")
def apply_command(
    config_path: str, plan_file: str, fmt: str, output: str | None, dry_run: bool
) -> None:
    """Act on exactly the resources of a pinned plan (from `reaper plan -o plan.json`).

    Naming a reviewed plan file is the opt-in: this acts unless --dry-run. Each resource is
    re-read first and skipped, with the reason, if it is gone, changed owner or no longer
    qualifies. Plans older than safety.plan_max_age or made with another config are refused.
    """
    settings, digest = load(config_path)
    _check_stdout(settings, fmt, output)
    now = datetime.now(UTC)
    try:
        document = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        click.echo(f"{plan_file}: cannot read plan: {err}", err=True)
        exit_with(ExitCode.USAGE)
    try:
        pinned = read_pinned(document, plan_file, digest, settings.safety.plan_max_age, now)
    except PlanRefused as err:
        click.echo(f"refused: {err}", err=True)
        exit_with(ExitCode.USAGE)
    startup("apply", config_path, settings, dry_run)
    metrics = new_metrics()
    service = guard(lambda: make_service(settings, digest, metrics))
    report: SweepReport | None = None
    try:
        report = guard(lambda: service.apply(pinned, now, dry_run))
    finally:
        push_sweep_metrics(settings.metrics, metrics, report)
    emit(render_sweep(report, fmt), output)
    exit_with(report.exit_code)


@click.command()
@config_option
@click.argument("target")
def release(config_path: str, target: str) -> None:
    """Undo a quarantine and clear reaper's marks: TARGET is PROVIDER:KIND:ID.

    The resource is marked again by a later sweep if it still qualifies: extend its TTL,
    move its expiry or protect it as well.
    """
    settings, digest = load(config_path)
    provider, _, rest = target.partition(":")
    kind_name, _, resource_id = rest.partition(":")
    if not (provider and kind_name and resource_id):
        click.echo(f"{target!r} is not PROVIDER:KIND:ID (e.g. aws:ec2_instance:i-0abc)", err=True)
        exit_with(ExitCode.USAGE)
    startup("release", config_path, settings, dry_run=False)
    service = guard(lambda: make_service(settings, digest, notify=False))
    kinds = {k.key(): k for k in service.kinds}
    kind = kinds.get(f"{provider}:{kind_name}")
    if kind is None:
        click.echo(
            f"unknown or disabled kind {provider}:{kind_name} (valid: {', '.join(kinds)})",
            err=True,
        )
        exit_with(ExitCode.USAGE)
    outcome = guard(lambda: service.release(kind, resource_id))
    if outcome is None:
        click.echo(f"{target}: not found in any configured scope", err=True)
        exit_with(ExitCode.PARTIAL_FAILURE)
    click.echo(f"{target}: {outcome.result} {outcome.message}".rstrip())
    exit_with(ExitCode.OK if outcome.result.ok else ExitCode.PARTIAL_FAILURE)


def _shard_field(shard: Shard | None) -> str:
    return f"shard={shard}" if shard is not None else ""


def _check_stdout(settings: Settings, fmt: str, output: str | None) -> None:
    if settings.audit.stdout and fmt != "table" and output is None:
        click.echo(
            f"audit.stdout and --format {fmt} both need standard output; "
            "add --output FILE for the report",
            err=True,
        )
        exit_with(ExitCode.USAGE)
