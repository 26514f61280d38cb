"""The GKE calls reaper makes, each through ``GcpClients.call``.

GKE refuses a mutation while another operation runs on the cluster with HTTP 400
FAILED_PRECONDITION, "Operation … is currently upgrading cluster X. Please wait and try
again once it is done."; the client raises it as ``BadRequest``, told apart from a stale
label fingerprint (also FAILED_PRECONDITION) by its message. Node pools carry no current
size: it is the ``targetSize`` of their instance groups (``instanceGroupManagers.get``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial

from google.cloud import container_v1

from reaper.config import GcpProject
from reaper.errors import ProviderError
from reaper.model import ResourceRef
from reaper.providers.gcp.clients import GcpClients, message_of, status_of
from reaper.providers.gcp.fingerprints import guarded_write
from reaper.providers.gcp.gce_facts import resource_path
from reaper.providers.gcp.labels import LabelChange, Labels
from reaper.providers.gcp.records import AuthorizedNetworks, PoolScaling

_CLUSTER_IN_LINK = re.compile(r"/clusters/([^/]+)")
_PREFIX = "container.projects.locations"


def busy(err: ProviderError) -> bool:
    """GKE refused because another operation runs on the cluster (or the node pool)."""
    return status_of(err) == 400 and "Please wait and try again" in message_of(err)


def fingerprint_mismatch(err: ProviderError) -> bool:
    return status_of(err) == 400 and "fingerprint" in message_of(err).lower()


def cluster_of(op: container_v1.Operation) -> str:
    """The name of the cluster an operation is on, from its target link."""
    match = _CLUSTER_IN_LINK.search(op.target_link)
    return match.group(1) if match else ""


Policy = container_v1.NodePoolAutoscaling.LocationPolicy


def scaling_of(pool: container_v1.NodePool) -> PoolScaling | None:
    """How a node pool autoscales, or None when it does not. Pure."""
    found = pool.autoscaling
    if not found.enabled:
        return None
    policy = Policy(found.location_policy)
    named = "" if policy == Policy.LOCATION_POLICY_UNSPECIFIED else policy.name
    if found.total_min_node_count or found.total_max_node_count:
        return PoolScaling(found.total_min_node_count, found.total_max_node_count, True, named)
    return PoolScaling(found.min_node_count, found.max_node_count, False, named)


class ClusterApi:
    """Cluster, node pool and operation calls in one project."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients

    @staticmethod
    def name(project: GcpProject, location: str, cluster: str) -> str:
        return f"projects/{project.project_id}/locations/{location}/clusters/{cluster}"

    def _call(self, method: str, where: str, send: object) -> object:
        assert callable(send)
        return self.clients.call(f"{_PREFIX}.{method}", where, send)

    def list_clusters(
        self, project: GcpProject, location: str = "-"
    ) -> container_v1.ListClustersResponse:
        """The clusters of one location, or of every location (``-``)."""
        gke = self.clients.gke(project)
        parent = f"projects/{project.project_id}/locations/{location}"
        where = project.name if location == "-" else f"{project.name}/{location}"
        found = self._call(
            "clusters.list",
            f"clusters in {where}",
            lambda: gke.list_clusters(parent=parent, retry=None, timeout=self.clients.timeout),
        )
        assert isinstance(found, container_v1.ListClustersResponse)
        return found

    def get(self, project: GcpProject, location: str, cluster: str) -> container_v1.Cluster | None:
        gke = self.clients.gke(project)
        name = self.name(project, location, cluster)
        try:
            found = self._call(
                "clusters.get",
                f"cluster {cluster} in {project.name}/{location}",
                lambda: gke.get_cluster(name=name, retry=None, timeout=self.clients.timeout),
            )
        except ProviderError as err:
            if status_of(err) == 404:
                return None
            raise
        assert isinstance(found, container_v1.Cluster)
        return found

    def delete(self, project: GcpProject, location: str, cluster: str) -> container_v1.Operation:
        gke = self.clients.gke(project)
        name = self.name(project, location, cluster)
        return self._operation(
            "clusters.delete",
            f"cluster {cluster} in {project.name}/{location}",
            lambda: gke.delete_cluster(name=name, retry=None, timeout=self.clients.timeout),
        )

    def operations(self, project: GcpProject, location: str) -> list[container_v1.Operation]:
        gke = self.clients.gke(project)
        parent = f"projects/{project.project_id}/locations/{location}"
        found = self._call(
            "operations.list",
            f"operations in {project.name}/{location}",
            lambda: gke.list_operations(parent=parent, retry=None, timeout=self.clients.timeout),
        )
        assert isinstance(found, container_v1.ListOperationsResponse)
        return list(found.operations)

    def set_size(
        self, project: GcpProject, location: str, cluster: str, pool: str, nodes: int
    ) -> container_v1.Operation:
        gke = self.clients.gke(project)
        request = container_v1.SetNodePoolSizeRequest(
            name=f"{self.name(project, location, cluster)}/nodePools/{pool}", node_count=nodes
        )
        return self._operation(
            "clusters.nodePools.setSize",
            f"node pool {pool} of {cluster} in {project.name}/{location}",
            lambda: gke.set_node_pool_size(
                request=request, retry=None, timeout=self.clients.timeout
            ),
        )

    def set_autoscaling(
        self,
        project: GcpProject,
        location: str,
        cluster: str,
        pool: str,
        scaling: PoolScaling | None,
    ) -> container_v1.Operation:
        """Autoscaling off (``scaling`` None) or on as ``scaling`` says."""
        gke = self.clients.gke(project)
        autoscaling = container_v1.NodePoolAutoscaling(enabled=scaling is not None)
        if scaling is not None:
            if scaling.total:
                autoscaling.total_min_node_count = scaling.low
                autoscaling.total_max_node_count = scaling.high
            else:
                autoscaling.min_node_count = scaling.low
                autoscaling.max_node_count = scaling.high
            if scaling.policy:
                autoscaling.location_policy = Policy.__members__[scaling.policy]
        request = container_v1.SetNodePoolAutoscalingRequest(
            name=f"{self.name(project, location, cluster)}/nodePools/{pool}",
            autoscaling=autoscaling,
        )
        return self._operation(
            "clusters.nodePools.setAutoscaling",
            f"node pool {pool} of {cluster} in {project.name}/{location}",
            lambda: gke.set_node_pool_autoscaling(
                request=request, retry=None, timeout=self.clients.timeout
            ),
        )

    def set_authorized_networks(
        self, project: GcpProject, location: str, cluster: str, wanted: AuthorizedNetworks
    ) -> container_v1.Operation:
        """Set master authorized networks as ``wanted`` (``gcpPublicCidrsAccessEnabled``
        only when it says)."""
        gke = self.clients.gke(project)
        config = container_v1.MasterAuthorizedNetworksConfig(
            enabled=wanted.enabled,
            cidr_blocks=[
                container_v1.MasterAuthorizedNetworksConfig.CidrBlock(
                    cidr_block=cidr, display_name=name
                )
                for cidr, name in wanted.blocks
            ],
        )
        if wanted.gcp_public_cidrs is not None:
            config.gcp_public_cidrs_access_enabled = wanted.gcp_public_cidrs
        update = container_v1.ClusterUpdate(desired_master_authorized_networks_config=config)
        name = self.name(project, location, cluster)
        return self._operation(
            "clusters.update",
            f"cluster {cluster} in {project.name}/{location}",
            lambda: gke.update_cluster(
                name=name, update=update, retry=None, timeout=self.clients.timeout
            ),
        )

    def _operation(self, method: str, where: str, send: object) -> container_v1.Operation:
        found = self._call(method, where, send)
        assert isinstance(found, container_v1.Operation)
        return found

    def group_size(self, project: GcpProject, url: str) -> int | None:
        """The target size of one instance group manager (a node pool's, in one zone)."""
        parts = resource_path(url).split("/")
        if len(parts) != 6 or parts[2] != "zones":
            return None
        groups = self.clients.compute(project).group_managers
        try:
            found = self.clients.call(
                "compute.instanceGroupManagers.get",
                f"instance group {parts[5]} in {parts[1]}/{parts[3]}",
                lambda: groups.get(
                    project=parts[1],
                    zone=parts[3],
                    instance_group_manager=parts[5],
                    retry=None,
                    timeout=self.clients.timeout,
                ),
            )
        except ProviderError as err:
            if status_of(err) == 404:
                return None
            raise
        return int(found.target_size)

    def pool_size(self, project: GcpProject, pool: container_v1.NodePool) -> int:
        """Nodes per zone of a pool now: the largest target size of its groups."""
        sizes = [self.group_size(project, url) for url in pool.instance_group_urls]
        return max((s for s in sizes if s is not None), default=0)

    def relabel(
        self,
        project: GcpProject,
        ref: ResourceRef,
        change: LabelChange,
        known: tuple[Mapping[str, str], str] | None = None,
    ) -> Labels | None:
        """``setResourceLabels`` with the label fingerprint; re-read and apply again when
        it is stale. Returns the labels set, or None if the cluster is gone. Raises
        StaleFingerprint, ProviderError (``busy`` when an operation runs)."""
        location, cluster = ref.scope.region, ref.id
        gke = self.clients.gke(project)
        name = self.name(project, location, cluster)

        def read() -> tuple[Mapping[str, str], str] | None:
            raw = self.get(project, location, cluster)
            return None if raw is None else (dict(raw.resource_labels), raw.label_fingerprint)

        def send(wanted: Mapping[str, str], fingerprint: str) -> None:
            request = container_v1.SetLabelsRequest(
                name=name, resource_labels=dict(wanted), label_fingerprint=fingerprint
            )
            self._operation(
                "clusters.setResourceLabels",
                f"cluster {cluster} in {project.name}/{location}",
                partial(gke.set_labels, request=request, retry=None, timeout=self.clients.timeout),
            )

        where = f"labels of cluster {cluster} in {project.name}/{location}"
        written = guarded_write(
            where, read, lambda labels: change(labels), send, known, fingerprint_mismatch
        )
        return None if written is None else dict(written[0])
