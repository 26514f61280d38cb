"""``reaper daemon``: the long-running mode, as a Deployment (see :mod:`reaper.daemon`).

Exit codes: 0 stopped by a signal after the running sweep wrapped up, 1 the endpoint
could not be bound, the providers could not be set up, or a second signal (or
``daemon.shutdown_timeout``) abandoned a sweep, 2 usage or config error. Runs on its
own (``python -m reaper.cli.daemon``) or as a subcommand of ``reaper``.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import NoReturn

import click

from reaper.cli.common import (
    config_option,
    exit_with,
    fail_config,
    new_metrics,
    startup,
    state_signer,
)
from reaper.config import load_settings
from reaper.daemon import Daemon, plan_jobs
from reaper.errors import ConfigError, ReaperError
from reaper.notify import WebhookNotifier
from reaper.pipelines.facts import PipelineFacts
from reaper.providers.catalog import build_kinds
from reaper.results import ExitCode

log = logging.getLogger("reaper")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.option("--apply", is_flag=True, help="Act for real (the config's dry_run is ignored).")
def daemon(config_path: str, apply: bool) -> None:
    """Sweep on the configured schedule; serve /metrics, /healthz and /readyz.

    Dry-run unless --apply (or dry_run: false in the config). SIGTERM lets the running
    sweep finish its current action group and exits 0; a second SIGTERM exits 1 at once.
    """
    try:
        settings, digest = load_settings(config_path)
        jobs = plan_jobs(settings, datetime.now(UTC))
        metrics = new_metrics()
        signer = state_signer(settings, acting=not (settings.dry_run and not apply))
        kinds = build_kinds(settings, metrics=metrics, signer=signer)
        notifier = WebhookNotifier.from_env(settings.notify.webhook_url_env, os.environ)
        # One for the daemon's life: its ETags make the next sweeps' lookups conditional.
        pipelines = PipelineFacts.from_settings(settings)
    except ConfigError as err:
        fail_config(err)
    except ReaperError as err:
        click.echo(f"error: {err}", err=True)
        exit_with(ExitCode.PARTIAL_FAILURE)
    dry_run = settings.dry_run and not apply
    # "Running job ..." twice per sweep: the summary line says it better.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = Daemon(
        settings,
        kinds,
        metrics,
        jobs,
        dry_run=dry_run,
        config_sha256=digest,
        notifier=notifier,
        pipelines=pipelines,
        signer=signer,
    )
    startup("daemon", config_path, settings, dry_run, app.describe())
    try:
        code = app.run()
    except OSError as err:
        click.echo(f"error: cannot listen on {settings.daemon.listen}: {err}", err=True)
        exit_with(ExitCode.PARTIAL_FAILURE)
    if app.abandoned:
        _exit_now(code)
    raise SystemExit(code)


def _exit_now(code: int) -> NoReturn:
    """Exit without waiting for threads: an abandoned sweep may be inside a cloud call."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """``python -m reaper.cli.daemon``: logging as ``reaper`` sets it up, then the command."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    daemon(prog_name="reaper daemon")


if __name__ == "__main__":
    main()
