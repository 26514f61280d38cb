"""Command-line options shared by reaper's commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


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
