"""``--shard I/N``: which share of the scopes a command sweeps (see :mod:`reaper.shards`).

Given on the command line, or in a pod of a Kubernetes Indexed Job by the environment:
``JOB_COMPLETION_INDEX`` (set by Kubernetes) and ``REAPER_SHARDS`` (set in the pod spec).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reaper.brake_sync import GROUP_ENV, BrakeSync, build_brake_sync
from reaper.cli.common import fail_config
from reaper.config import Settings
from reaper.errors import ConfigError
from reaper.shards import Shard, parse_shard, shard_from_env, shard_settings

F = TypeVar("F", bound=Callable[..., Any])


def shard_option(func: F) -> F:
    """``--shard I/N``, passed as ``shard_text``."""
    return click.option(
        "--shard",
        "shard_text",
        metavar="I/N",
        default=None,
        help="Sweep only shard I of N (0-based); default from JOB_COMPLETION_INDEX "
        "and REAPER_SHARDS, else every scope.",
    )(func)


def resolve_shard(text: str | None, settings: Settings) -> tuple[Shard | None, Settings]:
    """The shard and the settings it runs with (its own audit chain and metrics group).

    Exit 2 when the option or the environment is malformed.
    """
    try:
        shard = parse_shard(text) if text is not None else shard_from_env(os.environ)
    except ConfigError as err:
        fail_config(err)
    if shard is None:
        return None, settings
    return shard, shard_settings(settings, shard)


def global_brake(settings: Settings, shard: Shard | None) -> BrakeSync | None:
    """The global brake of a sharded run (``safety.global_brake``), or None.

    The sweep group every shard of one run shares comes from ``REAPER_SWEEP_GROUP``.
    Raises ConfigError when it is needed and missing.
    """
    group = os.environ.get(GROUP_ENV)
    return build_brake_sync(settings.safety.global_brake, settings.safety, shard, group)


__all__ = ["global_brake", "resolve_shard", "shard_option"]
