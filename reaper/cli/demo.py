"""``reaper demo``: sweeps on the embedded sandbox, no cloud account needed."""

from __future__ import annotations

import click

from reaper.cli.common import exit_with, guard
from reaper.report import FORMATS


@click.command()
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
            f"the sandbox needs moto[server] and kubernetes: pip install 'reaper[sandbox]' ({err})"
        ) from None
    exit_with(guard(lambda: run_demo(apply=apply, fmt=fmt, audit_path=audit_path)))
