"""``reaper labels``: the labels a resource created by this CI run should carry.

Run inside a GitHub Actions or GitLab CI job; prints the pipeline, ci_source, owner and ttl
labels (see :mod:`reaper.pipelines.labels`) as JSON, ``key=value`` lines, a Terraform
variable, or the ``--labels`` argument of ``kubectl`` and ``gcloud``. Exit 2 when the
environment or the options do not give them.
"""

from __future__ import annotations

import os

import click

from reaper.cli.common import exit_with, load
from reaper.config import TagKeys
from reaper.pipelines.labels import (
    FORMATS,
    LabelsError,
    ci_run,
    render_labels,
    run_labels,
    source_alias,
)
from reaper.results import ExitCode


@click.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    envvar="REAPER_CONFIG",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML config: its pipelines.sources map the repository to an alias, its tags "
    "name the keys (env REAPER_CONFIG). Without it, give --source.",
)
@click.option("--source", "alias", default=None, help="The source alias, instead of the mapping.")
@click.option("--owner", default=None, help="The owner label's value, e.g. team-payments.")
@click.option("--ttl", default=None, help="The ttl label's value, e.g. 6h.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="key-value", show_default=True)
def labels(
    config_path: str | None, alias: str | None, owner: str | None, ttl: str | None, fmt: str
) -> None:
    """Print the labels for resources this CI run creates."""
    tags = TagKeys()
    try:
        run = ci_run(os.environ)
        if config_path is not None:
            settings, _ = load(config_path)
            tags = settings.tags
            if alias is None:
                alias = source_alias(run, settings.pipelines)
            elif alias not in settings.pipelines.sources:
                valid = ", ".join(sorted(settings.pipelines.sources)) or "none"
                raise LabelsError(f"--source {alias!r} is not under pipelines.sources ({valid})")
        if alias is None:
            raise LabelsError("give --config (to map the repository to its alias) or --source")
        found = run_labels(run.run_value, alias, tags, owner=owner, ttl=ttl)
    except LabelsError as err:
        click.echo(f"error: {err}", err=True)
        exit_with(ExitCode.USAGE)
    click.echo(render_labels(found, fmt), nl=False)
