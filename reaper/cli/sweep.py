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
    refuse,
    startup,
)
from reaper.cli.shard import global_brake, resolve_shard, shard_option
from reaper.config import Settings, describe_settings
from reaper.pinned import PlanRefused, read_pinned
from reaper.pipelines import InvalidRunTag, RunRef
from reaper.pipelines.facts import RunCleanup
from reaper.progress import Progress
from reaper.pushgateway import push_sweep_metrics
from reaper.report import render_chunks, render_sweep
from reaper.results import ExitCode, SweepReport
from reaper.shards import COUNT_ENV, INDEX_ENV, Shard

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
    service = guard(lambda: make_service(settings, digest, notify=False, acting=False, shard=shard))
    now = datetime.now(UTC)
    with Progress(guard(service.scope_count)) as progress:
        result, collection, brake = service.plan(now, on_scope_done=progress.callback)
    text = render_chunks(
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
@click.option(
    "--pipeline",
    "pipeline",
    metavar="ALIAS/RUN",
    default=None,
    help="Reap exactly this run's resources now (web/4711, web/4711-2): for the run's own "
    "cleanup step. Its resources are due at once, without grace; no other is touched. "
    "Not with --shard.",
)
@shard_option
def run(
    config_path: str,
    fmt: str,
    output: str | None,
    apply: bool,
    pipeline: str | None,
    shard_text: str | None,
) -> None:
    """One sweep, the CronJob mode: collect, decide, act (dry-run unless --apply).

    With --shard I/N (or in an Indexed Job), only shard I's scopes, with its own audit
    chain and metrics group; the brake's limits apply to the shard, or, with
    safety.global_brake, to the sum of all shards.
    """
    settings, digest = load(config_path)
    shard, settings = resolve_shard(shard_text, settings)
    _check_stdout(settings, fmt, output)
    if pipeline is not None and shard is not None:
        # A run's resources can be in any scope; a shard would reap only its share of
        # them, and with a global brake wait for shards that never come.
        click.echo(
            f"--pipeline reaps one run's resources in every scope; not as shard {shard} "
            f"(drop --shard, and {INDEX_ENV}/{COUNT_ENV} from the environment)",
            err=True,
        )
        exit_with(ExitCode.USAGE)
    cleanup = None if pipeline is None else _cleanup_step(settings, pipeline)
    dry_run = settings.dry_run and not apply
    fields = " ".join(f for f in (_shard_field(shard), _pipeline_field(pipeline)) if f)
    startup("run", config_path, settings, dry_run, fields)
    metrics = new_metrics()
    brake_sync = guard(lambda: global_brake(settings, shard))
    service = guard(
        lambda: make_service(
            settings,
            digest,
            metrics,
            pipelines=cleanup,
            acting=not dry_run,
            shard=shard,
            brake_sync=brake_sync,
        )
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
@shard_option
def apply_command(
    config_path: str,
    plan_file: str,
    fmt: str,
    output: str | None,
    dry_run: bool,
    shard_text: str | None,
) -> None:
    """Act on exactly the resources of a pinned plan (from `reaper plan -o plan.json`).

    Naming a reviewed plan file is the opt-in: this acts unless --dry-run. Each resource is
    re-read first and skipped, with the reason, if it is gone, changed owner or no longer
    qualifies; the safety brake counts the live population. Plans older than
    safety.plan_max_age, made with another config, or naming resources outside the
    configured kinds, accounts and regions are refused (exit 2) before anything is done.

    With --shard I/N (or in an Indexed Job), as shard I: under its audit trail (and that
    trail's lock) and metrics group, refusing a plan that names a scope another shard
    sweeps. Without it, a whole sweep's plan (`reaper report` merges the shards') under
    the unsharded trail.
    """
    settings, digest = load(config_path)
    shard, settings = resolve_shard(shard_text, settings)
    _check_stdout(settings, fmt, output)
    now = datetime.now(UTC)
    try:
        document = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        click.echo(f"{plan_file}: cannot read plan: {err}", err=True)
        exit_with(ExitCode.USAGE)
    except RecursionError:
        click.echo(f"{plan_file}: cannot read plan: the JSON is nested too deeply", err=True)
        exit_with(ExitCode.USAGE)
    try:
        pinned = read_pinned(document, plan_file, digest, settings.safety.plan_max_age, now)
    except PlanRefused as err:
        refuse(err)
    startup("apply", config_path, settings, dry_run, _shard_field(shard))
    metrics = new_metrics()
    service = guard(
        lambda: make_service(settings, digest, metrics, acting=not dry_run, shard=shard)
    )
    guard(lambda: service.check_scope(pinned))
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
    problem = kind.id_problem(resource_id)  # before any API call names it
    if problem is not None:
        click.echo(problem, err=True)
        exit_with(ExitCode.USAGE)
    outcome = guard(lambda: service.release(kind, resource_id))
    if outcome is None:
        click.echo(f"{target}: not found in any configured scope", err=True)
        exit_with(ExitCode.PARTIAL_FAILURE)
    click.echo(f"{target}: {outcome.result} {outcome.message}".rstrip())
    exit_with(ExitCode.OK if outcome.result.ok else ExitCode.PARTIAL_FAILURE)


def _shard_field(shard: Shard | None) -> str:
    return f"shard={shard}" if shard is not None else ""


def _pipeline_field(pipeline: str | None) -> str:
    return f"pipeline={pipeline}" if pipeline else ""


def _cleanup_step(settings: Settings, pipeline: str) -> RunCleanup:
    """The cleanup step of ``--pipeline ALIAS/RUN``; exit 2 when it names no configured run."""
    alias, slash, run_value = pipeline.partition("/")
    if not slash:
        click.echo(f"--pipeline {pipeline!r} is not ALIAS/RUN (e.g. web/4711-2)", err=True)
        exit_with(ExitCode.USAGE)
    try:
        target = RunRef.parse(alias, run_value)
    except InvalidRunTag as err:
        click.echo(f"--pipeline {pipeline!r}: {err} (write ALIAS/RUN, e.g. web/4711-2)", err=True)
        exit_with(ExitCode.USAGE)
    if target.source_alias not in settings.pipelines.sources:
        valid = ", ".join(sorted(settings.pipelines.sources)) or "none configured"
        click.echo(
            f"--pipeline {pipeline!r}: unknown source alias {target.source_alias!r} "
            f"(valid: {valid}; add it under pipelines.sources)",
            err=True,
        )
        exit_with(ExitCode.USAGE)
    return RunCleanup(target, settings.tags)


def _check_stdout(settings: Settings, fmt: str, output: str | None) -> None:
    if settings.audit.stdout and fmt != "table" and output is None:
        click.echo(
            f"audit.stdout and --format {fmt} both need standard output; "
            "add --output FILE for the report",
            err=True,
        )
        exit_with(ExitCode.USAGE)
