"""Command line: parse, load config, call the app, map errors to exit codes.

Exit codes: 0 ok, 1 some collectors or actions failed, 2 usage or config error,
3 safety brake. With ``--format json`` standard output carries only the JSON document;
logs always go to standard error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from prometheus_client import CollectorRegistry

from reaper import __version__
from reaper.app import ExitCode, SweepReport, apply_pinned, plan_sweep, release_resource, run_sweep
from reaper.audit import AuditLog
from reaper.audit_sinks import build_audit_log
from reaper.cli_audit import audit
from reaper.cli_daemon import daemon
from reaper.cli_options import config_option
from reaper.config import Settings, describe_settings, load_settings
from reaper.errors import ConfigError, ReaperError
from reaper.logs import LOG_FORMATS, LogFormat, configure_logging
from reaper.metrics import Metrics
from reaper.notify import WebhookNotifier
from reaper.pinned import PlanRefused, read_pinned
from reaper.progress import Progress
from reaper.providers.catalog import build_kinds
from reaper.pushgateway import push_metrics
from reaper.report import FORMATS, render

log = logging.getLogger("reaper")

F = TypeVar("F", bound=Callable[..., Any])


def output_options(func: F) -> F:
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help="Write the report to this file instead of standard output.",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reaper")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="text",
    show_default=True,
    envvar="REAPER_LOG_FORMAT",
    help="json: one JSON object per line, for cluster log collectors.",
)
def cli(log_level: str, log_format: LogFormat) -> None:
    """Find and remove the cloud resources CI/CD pipelines leave behind."""
    configure_logging(log_level.upper(), log_format)


@cli.command()
@config_option
def validate(config_path: str) -> None:
    """Check a config file and print a one-line summary of it."""
    settings, _ = _load(config_path)
    click.echo(f"{config_path}: ok ({describe_settings(settings)})")


@cli.command()
@config_option
@output_options
def plan(config_path: str, fmt: str, output: str | None) -> None:
    """Collect and decide; never changes anything."""
    settings, digest = _load(config_path)
    _startup("plan", config_path, settings, dry_run=True)
    kinds = _guard(lambda: build_kinds(settings))
    now = datetime.now(UTC)
    with Progress(sum(len(k.scopes()) for k in kinds)) as progress:
        result, collection, brake = plan_sweep(
            settings, kinds, now, on_scope_done=progress.callback
        )
    text = render(
        "json" if output and output.endswith(".json") else fmt,
        result,
        dry_run=True,
        collect_errors=collection.errors,
        brake=brake,
        config_sha256=digest,
    )
    _emit(text, output)
    if brake:
        log.error("%s; `reaper run --apply` would do nothing", brake)
        sys.exit(ExitCode.SAFETY_BRAKE)
    sys.exit(ExitCode.PARTIAL_FAILURE if collection.errors else ExitCode.OK)


@cli.command()
@config_option
@output_options
@click.option("--apply", is_flag=True, help="Act for real (the config's dry_run is ignored).")
def run(config_path: str, fmt: str, output: str | None, apply: bool) -> None:
    """One sweep, the CronJob mode: collect, decide, act (dry-run unless --apply)."""
    settings, digest = _load(config_path)
    _check_stdout(settings, fmt, output)
    dry_run = settings.dry_run and not apply
    _startup("run", config_path, settings, dry_run)
    metrics = Metrics(CollectorRegistry())
    kinds = _guard(lambda: build_kinds(settings, metrics=metrics))
    report: SweepReport | None = None
    try:
        report = sweep(settings, kinds, dry_run, digest, metrics=metrics)
    finally:
        push_run_metrics(settings, metrics, report)
    _emit(render_report(report, fmt), output)
    sys.exit(report.exit_code)


@cli.command(name="apply")
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
    settings, digest = _load(config_path)
    _check_stdout(settings, fmt, output)
    now = datetime.now(UTC)
    try:
        document = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        click.echo(f"{plan_file}: cannot read plan: {err}", err=True)
        sys.exit(ExitCode.USAGE)
    try:
        pinned = read_pinned(document, plan_file, digest, settings.safety.plan_max_age, now)
    except PlanRefused as err:
        click.echo(f"refused: {err}", err=True)
        sys.exit(ExitCode.USAGE)
    _startup("apply", config_path, settings, dry_run)
    metrics = Metrics(CollectorRegistry())
    kinds = _guard(lambda: build_kinds(settings, metrics=metrics))
    report: SweepReport | None = None
    try:
        with _guard(lambda: _audit_log(settings, metrics)) as audit:
            notifier = _notifier(settings)
            report = _guard(
                lambda: apply_pinned(
                    settings, kinds, audit, pinned, now, dry_run, digest, notifier, metrics
                )
            )
    finally:
        push_run_metrics(settings, metrics, report)
    log.info(report.summary())
    _emit(render_report(report, fmt), output)
    sys.exit(report.exit_code)


@cli.command()
@config_option
@click.argument("target")
def release(config_path: str, target: str) -> None:
    """Undo a quarantine and clear reaper's marks: TARGET is PROVIDER:KIND:ID.

    The resource is marked again by a later sweep if it still qualifies: extend its TTL,
    move its expiry or protect it as well.
    """
    settings, _ = _load(config_path)
    provider, _, rest = target.partition(":")
    kind_name, _, resource_id = rest.partition(":")
    if not (provider and kind_name and resource_id):
        click.echo(f"{target!r} is not PROVIDER:KIND:ID (e.g. aws:ec2_instance:i-0abc)", err=True)
        sys.exit(ExitCode.USAGE)
    _startup("release", config_path, settings, dry_run=False)
    kinds = {k.key(): k for k in _guard(lambda: build_kinds(settings))}
    kind = kinds.get(f"{provider}:{kind_name}")
    if kind is None:
        click.echo(
            f"unknown or disabled kind {provider}:{kind_name} (valid: {', '.join(kinds)})",
            err=True,
        )
        sys.exit(ExitCode.USAGE)
    with _guard(lambda: build_audit_log(settings.audit)) as audit:
        outcome = _guard(lambda: release_resource(settings, kind, resource_id, audit))
    if outcome is None:
        click.echo(f"{target}: not found in any configured scope", err=True)
        sys.exit(ExitCode.PARTIAL_FAILURE)
    click.echo(f"{target}: {outcome.result} {outcome.message}".rstrip())
    sys.exit(ExitCode.OK if outcome.result.ok else ExitCode.PARTIAL_FAILURE)


@cli.command()
@click.option("--apply", is_flag=True, help="Act on the sandbox, then show what is left.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table")
@click.option(
    "--audit",
    "audit_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Audit file (default: a new temporary file).",
)
def demo(apply: bool, fmt: str, audit_path: str | None) -> None:
    """Run a sweep on the embedded sandbox (no cloud account needed)."""
    try:
        from reaper.sandbox.demo import run_demo
    except ImportError as err:
        raise click.ClickException(
            f"the sandbox needs moto[server]: pip install 'reaper[sandbox]' ({err})"
        ) from None
    sys.exit(_guard(lambda: run_demo(apply=apply, fmt=fmt, audit_path=audit_path)))


def sweep(
    settings: Settings,
    kinds: Any,
    dry_run: bool,
    digest: str,
    now: datetime | None = None,
    metrics: Metrics | None = None,
) -> SweepReport:
    """Open the audit log, read the clock once, run one sweep, log its summary line."""
    now = now or datetime.now(UTC)
    with _guard(lambda: _audit_log(settings, metrics)) as audit:
        notifier = _notifier(settings)
        report = _guard(
            lambda: run_sweep(settings, kinds, audit, now, dry_run, digest, notifier, metrics)
        )
    log.info(report.summary())
    return report


def _audit_log(settings: Settings, metrics: Metrics | None) -> AuditLog:
    """The configured audit log; a log that cannot be opened counts as a failed sweep."""
    try:
        return build_audit_log(settings.audit)
    except ReaperError:
        if metrics is not None:
            metrics.observe_error(0.0)
        raise


def push_run_metrics(settings: Settings, metrics: Metrics, report: SweepReport | None) -> bool:
    """Push a run's metrics when ``metrics.pushgateway`` is set; False if that failed.

    After a sweep that did not succeed, the last-success timestamp is left out of the push
    so the Pushgateway keeps the one of the last good run. Never changes the exit code.
    """
    url = settings.metrics.pushgateway
    if url is None:
        return True
    ok = report is not None and report.exit_code == ExitCode.OK
    keep = () if ok else ("reaper_last_successful_sweep_timestamp_seconds",)
    return push_metrics(
        metrics.registry, url, settings.metrics.job, settings.metrics.shard, keep=keep
    )


def render_report(report: SweepReport, fmt: str) -> str:
    return render(
        fmt,
        report.plan,
        dry_run=report.dry_run,
        outcomes=report.outcomes,
        collect_errors=report.collection.errors,
        brake=report.brake,
    )


def _check_stdout(settings: Settings, fmt: str, output: str | None) -> None:
    if settings.audit.stdout and fmt != "table" and output is None:
        click.echo(
            f"audit.stdout and --format {fmt} both need standard output; "
            "add --output FILE for the report",
            err=True,
        )
        sys.exit(ExitCode.USAGE)


def _notifier(settings: Settings) -> WebhookNotifier:
    return _guard(lambda: WebhookNotifier.from_env(settings.notify.webhook_url_env, os.environ))


def _startup(command: str, path: str, settings: Settings, dry_run: bool) -> None:
    log.info(
        "reaper %s command=%s config=%s effective_dry_run=%s %s",
        __version__,
        command,
        path,
        str(dry_run).lower(),
        describe_settings(settings),
    )


def _load(path: str) -> tuple[Settings, str]:
    try:
        return load_settings(path)
    except ConfigError as err:
        for problem in err.problems:
            click.echo(problem, err=True)
        sys.exit(ExitCode.USAGE)


T = TypeVar("T")


def _guard(call: Callable[[], T]) -> T:
    """Run a call, turning reaper's own errors into a one-line message and exit code 1."""
    try:
        return call()
    except ConfigError as err:
        for problem in err.problems:
            click.echo(problem, err=True)
        sys.exit(ExitCode.USAGE)
    except ReaperError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(ExitCode.PARTIAL_FAILURE)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as err:
        click.echo(f"error: cannot write {output}: {err}", err=True)
        sys.exit(ExitCode.PARTIAL_FAILURE)
    log.info("report written to %s", output)


cli.add_command(audit)
cli.add_command(daemon)


def main() -> None:
    cli(prog_name="reaper")
