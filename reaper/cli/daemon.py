"""``reaper daemon``: the long-running mode, as a Deployment (see :mod:`reaper.daemon`).

Exit codes: 0 stopped by a signal after the running sweep wrapped up, 1 the endpoint
could not be bound, the providers could not be set up, or a second signal (or
``daemon.shutdown_timeout``) abandoned a sweep, 2 usage or config error. Runs on its
own (``python -m reaper.cli.daemon``) or as a subcommand of ``reaper``.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
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
from reaper.config import Settings, load_settings
from reaper.daemon import Daemon, Leadership, plan_jobs
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
        leadership = elector(settings)
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
        leadership=leadership,
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


def elector(settings: Settings) -> Leadership | None:
    """The leader election ``daemon.leader_election`` asks for, or None.

    Raises ConfigError when the Lease's namespace is not given and reaper does not run in a
    pod, when the kubernetes extra is missing, or when no Kubernetes API can be reached.
    """
    election = settings.daemon.leader_election
    if election is None:
        return None
    try:
        from reaper.providers.kubernetes.clients import own_namespace
        from reaper.providers.kubernetes.lease import build_elector
    except ModuleNotFoundError as err:
        raise ConfigError(
            [
                f"daemon.leader_election: needs {err.name}, which is not installed: "
                "pip install 'reaper[kubernetes]'"
            ]
        ) from None
    namespace = election.namespace or own_namespace()
    if namespace is None:
        raise ConfigError(
            [
                "daemon.leader_election.namespace: null means the pod's own namespace, and "
                "reaper does not run in a pod (no service account namespace file): name it"
            ]
        )
    identity = f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    return build_elector(election, identity, namespace)


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
