"""Command line: parse, load config, call the sweep service, map errors to exit codes.

One module per group of commands: :mod:`.sweep` (validate, plan, run, apply, release),
:mod:`.daemon`, :mod:`.audit`, :mod:`.report` (merging shards' plans), :mod:`.labels`,
:mod:`.demo`, :mod:`.iam` (iam-policy); :mod:`.common` holds what they share, :mod:`.shard`
the ``--shard`` option. The exit codes are :class:`reaper.results.ExitCode`'s. With
``--format json`` standard output carries only the JSON document; logs always go to
standard error.
"""

from __future__ import annotations

import os

import click

from reaper import __version__
from reaper.cli.audit import audit
from reaper.cli.daemon import daemon
from reaper.cli.demo import demo
from reaper.cli.iam import iam_policy
from reaper.cli.labels import labels
from reaper.cli.malloc import cap_malloc_arenas
from reaper.cli.report import report
from reaper.cli.sweep import apply_command, plan, release, run, validate
from reaper.logs import LOG_FORMATS, LogFormat, configure_logging


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
    cap_malloc_arenas(os.environ)


for command in (
    validate,
    plan,
    run,
    apply_command,
    release,
    report,
    labels,
    demo,
    audit,
    daemon,
    iam_policy,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="reaper")
