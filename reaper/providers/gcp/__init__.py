"""Google Cloud: Compute Engine instances and GKE clusters, through google-cloud-compute and
google-cloud-container over their REST transports, in the configured projects and those
google-cloud-resource-manager finds in an organization or folders (:mod:`.organization`)."""

from __future__ import annotations

from reaper.config import GcpSettings
from reaper.providers.base import BuildContext, ResourceKind
from reaper.providers.gcp.calendar import GKE_END_OF_STANDARD_SUPPORT
from reaper.providers.gcp.clients import GcpClients, GcpConnection
from reaper.providers.gcp.gce import GceInstances
from reaper.providers.gcp.gke import GkeClusters
from reaper.versions import merged_calendar


def build(section: GcpSettings, context: BuildContext) -> list[ResourceKind]:
    """The kinds ``providers.gcp.kinds`` names, sharing one set of clients."""
    connection = context.connection or GcpConnection()
    clients = GcpClients(section, connection, context.on_request)
    calendar = merged_calendar(
        GKE_END_OF_STANDARD_SUPPORT,
        context.policy.kubernetes_end_of_support,
        section.kubernetes_end_of_support,
    )
    kinds: list[ResourceKind] = []
    if "gce_instance" in section.kinds:
        kinds.append(GceInstances(clients, context.tags, context.signer))
    if "gke_cluster" in section.kinds:
        kinds.append(
            GkeClusters(
                clients,
                context.tags,
                context.signer,
                restrict_public_endpoint=section.restrict_public_endpoint,
                calendar=calendar,
            )
        )
    return kinds
