"""Builds the configured resource kinds: each configured provider's package, loaded lazily.

A provider's package is named by its config section (``ProviderSection.PACKAGE``) and
imported only when the section is configured, so a run that sweeps only AWS never imports
google or kubernetes. Nothing here names a provider.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from reaper.config import ProviderSection, Settings
from reaper.errors import ConfigError
from reaper.lifecycle import StateSigner
from reaper.metrics import Metrics
from reaper.providers.base import BuildContext, ProviderBuilder, ResourceKind


def load_builder(name: str, section: ProviderSection) -> ProviderBuilder:
    """The ``build`` of a section's provider package, imported now.

    Raises ConfigError when the provider's SDK is not installed (an extra not chosen).
    """
    try:
        module = importlib.import_module(section.PACKAGE)
    except ModuleNotFoundError as err:
        missing = err.name or "?"
        if missing.split(".")[0] == "reaper":
            raise
        raise ConfigError(
            [
                f"providers.{name}: the {name} provider needs {missing}, which is not "
                f"installed: pip install 'reaper[{name}]'"
            ]
        ) from None
    builder: ProviderBuilder = module.build
    return builder


def build_kinds(
    settings: Settings,
    connections: Mapping[str, Any] | None = None,
    metrics: Metrics | None = None,
    signer: StateSigner | None = None,
) -> list[ResourceKind]:
    """One ResourceKind per configured kind of every configured provider.

    ``connections`` maps a provider name to how to reach it instead of its SDK's defaults
    (the sandbox, tests). With ``metrics``, every request the providers' clients send is
    counted in ``reaper_cloud_api_requests_total``. ``signer`` signs the lifecycle tags the
    kinds write themselves; by default its key comes from the environment. Raises
    ConfigError (exit 2) when a configured kind is not built by its provider.
    """
    connections = connections or {}
    signer = signer or StateSigner.for_settings(settings, os.environ)
    on_request = metrics.count_api_request if metrics is not None else None
    kinds: list[ResourceKind] = []
    problems: list[str] = []
    for name, section in settings.providers.configured().items():
        context = BuildContext(
            settings.tags, settings.policy, connections.get(name), on_request, signer
        )
        built = load_builder(name, section)(section, context)
        names = [kind.kind for kind in built]
        problems += [
            f"providers.{name}.kinds: {kind!r} is configured, but the {name} provider does "
            f"not build it (it builds: {', '.join(names) or 'nothing'})"
            for kind in section.kinds
            if kind not in names
        ]
        kinds += [kind for kind in built if kind.kind in section.kinds]
    if problems:
        raise ConfigError(problems)
    return kinds
