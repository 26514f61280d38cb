"""Kubernetes: pipeline namespaces, through the official ``kubernetes`` client."""

from __future__ import annotations

from reaper.config import KubernetesSettings
from reaper.providers.base import BuildContext, ResourceKind
from reaper.providers.kubernetes.clients import KubeClients, KubeConnection, own_namespace
from reaper.providers.kubernetes.namespaces import Namespaces


def build(section: KubernetesSettings, context: BuildContext) -> list[ResourceKind]:
    """The kinds ``providers.kubernetes.kinds`` names, sharing one client per cluster.

    reaper's own namespace (the pod's, when it runs in one) is excluded with the others.
    """
    connection = context.connection or KubeConnection()
    clients = KubeClients(section, connection, context.on_request)
    own = connection.own_namespace or own_namespace()
    excluded = (*section.exclude_namespaces, *([own] if own else []))
    kinds: list[ResourceKind] = []
    if "namespace" in section.kinds:
        kinds.append(
            Namespaces(
                clients,
                context.tags,
                context.signer,
                excluded=excluded,
                stuck_after=section.stuck_after,
                workers=section.max_workers_per_account or section.max_workers,
            )
        )
    return kinds


__all__ = ["KubeConnection", "Namespaces", "build"]
