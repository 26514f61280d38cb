"""What reaper's commands share: options, loading the config, mapping errors to exit codes.

Exit codes (:class:`reaper.results.ExitCode`): 0 ok, 1 some collectors or actions failed
(or the audit trail cannot be trusted), 2 usage or config error, 3 safety brake, 4 another
run holds the audit trail. Logs always go to standard error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from prometheus_client import CollectorRegistry

from reaper import __version__
from reaper.app import SweepService
from reaper.audit.build import build_audit_log
from reaper.brake_sync import BrakeSync
from reaper.config import Settings, describe_settings, load_settings
from reaper.errors import AuditLocked, ConfigError, ReaperError
from reaper.lifecycle import StateSigner
from reaper.metrics import Metrics
from reaper.notify import WebhookNotifier
from reaper.pinned import PlanRefused
from reaper.pipelines.facts import PipelineFacts, PipelineStep
from reaper.providers.catalog import build_kinds
from reaper.report import FORMATS
from reaper.results import ExitCode
from reaper.shards import Shard

log = logging.getLogger("reaper")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def config_option(func: F) -> F:
    """``-c/--config FILE`` (or ``REAPER_CONFIG``), passed as ``config_path``."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        envvar="REAPER_CONFIG",
        type=click.Path(dir_okay=False),
        required=True,
        help="YAML config file (env REAPER_CONFIG).",
    )(func)


def output_options(func: F) -> F:
    """``--format`` and ``--output``: how and where a report is written."""
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


def exit_with(code: ExitCode) -> NoReturn:
    raise SystemExit(int(code))


def load(path: str) -> tuple[Settings, str]:
    """The settings and the file's SHA-256; exit 2 with every problem listed."""
    try:
        return load_settings(path)
    except ConfigError as err:
        fail_config(err)


def fail_config(err: ConfigError) -> NoReturn:
    for problem in err.problems:
        click.echo(problem, err=True)
    exit_with(ExitCode.USAGE)


def refuse(err: PlanRefused) -> NoReturn:
    """A refused pinned plan: one ``refused:`` line per problem, exit 2."""
    for problem in err.problems:
        click.echo(f"refused: {problem}", err=True)
    exit_with(ExitCode.USAGE)


def guard(call: Callable[[], T]) -> T:
    """Run a call, turning reaper's own errors into a one-line message and an exit code:
    2 for config errors and refused plans, 4 when another run holds the audit trail, 1 for
    the rest."""
    try:
        return call()
    except ConfigError as err:
        fail_config(err)
    except PlanRefused as err:
        refuse(err)
    except AuditLocked as err:
        click.echo(f"error: {err}", err=True)
        exit_with(ExitCode.AUDIT_LOCKED)
    except ReaperError as err:
        click.echo(f"error: {err}", err=True)
        exit_with(ExitCode.PARTIAL_FAILURE)


def startup(command: str, path: str, settings: Settings, dry_run: bool, extra: str = "") -> None:
    """The one startup line: version, command, effective dry-run and the config's gist."""
    log.info(
        "reaper %s command=%s config=%s effective_dry_run=%s %s%s",
        __version__,
        command,
        path,
        str(dry_run).lower(),
        describe_settings(settings),
        f" {extra}" if extra else "",
    )


def make_service(
    settings: Settings,
    digest: str,
    metrics: Metrics | None = None,
    *,
    notify: bool = True,
    pipelines: PipelineStep | None = None,
    acting: bool = True,
    shard: Shard | None = None,
    brake_sync: BrakeSync | None = None,
) -> SweepService:
    """The sweep service of a command: the configured kinds, audit log and notifier, and
    the CI-run lookups when ``pipelines.sources`` are configured (``pipelines`` replaces
    them, e.g. with a cleanup step); with ``shard``, sweeping only that shard's scopes.

    ``acting``: the command may change resources, so the state key must be set. Raises
    ReaperError (ConfigError for config problems) when a part cannot be set up.
    """
    if pipelines is None:
        pipelines = PipelineFacts.from_settings(settings)
    signer = state_signer(settings, acting)
    kinds = build_kinds(settings, metrics=metrics, signer=signer)
    notifier = (
        WebhookNotifier.from_env(settings.notify.webhook_url_env, os.environ) if notify else None
    )
    return SweepService(
        settings,
        kinds,
        lambda: build_audit_log(settings.audit),
        notifier=notifier,
        metrics=metrics,
        config_sha256=digest,
        pipelines=pipelines,
        signer=signer,
        shard=shard,
        brake_sync=brake_sync,
    )


def state_signer(settings: Settings, acting: bool) -> StateSigner:
    """The signer of reaper's lifecycle tags, its key from the environment.

    Raises ConfigError when ``acting`` and the key is not set: unsigned tags would not be
    reaper's on the next sweep.
    """
    signer = StateSigner.for_settings(settings, os.environ)
    if acting and not signer.can_sign:
        variable = settings.safety.state_key_env
        raise ConfigError(
            [
                f"safety.state_key_env: ${variable} is not set: reaper signs the tags it "
                "writes on resources with this key (16+ characters, kept secret), and "
                "acting needs it"
            ]
        )
    return signer


def new_metrics() -> Metrics:
    """A fresh registry per run: pushed, never the process-wide default."""
    return Metrics(CollectorRegistry())


def emit(text: str | Iterable[str], output: str | None) -> None:
    """Write a report, whole or in pieces as they are rendered (``render_chunks``), to
    standard output or to a file (exit 1 if it cannot be written)."""
    chunks = (text,) if isinstance(text, str) else text
    if output is None:
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    try:
        with Path(output).open("w", encoding="utf-8") as file:
            for chunk in chunks:
                file.write(chunk)
    except OSError as err:
        click.echo(f"error: cannot write {output}: {err}", err=True)
        exit_with(ExitCode.PARTIAL_FAILURE)
    log.info("report written to %s", output)
