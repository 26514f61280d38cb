"""GKE clusters left behind by pipeline runs, node pools and all.

Listing: one ``clusters.list`` per project with location ``-`` (every location); locations
in ``missingZones`` are collect errors, the rest is swept. Clusters being created or
deleted (``PROVISIONING``, ``STOPPING``) are left alone. A cluster is one resource: its
node pools go with it when it is deleted. GKE refuses a delete while another operation
(an auto-upgrade, a repair) runs on the cluster; that cluster is ``skipped: in progress``
and a later sweep deletes it. Quarantine and release are in :mod:`.gke_quarantine`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from functools import partial

from google.cloud import container_v1

from reaper import lifecycle
from reaper.config import GcpProject, TagKeys
from reaper.durations import parse_api_time
from reaper.errors import ProviderError
from reaper.lifecycle import StateSigner
from reaper.model import (
    EVERY_REGION,
    Action,
    Collected,
    CollectError,
    Decision,
    Outcome,
    PortRange,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.providers.base import register
from reaper.providers.gcp.calendar import GKE_END_OF_STANDARD_SUPPORT
from reaper.providers.gcp.clients import GcpClients, message_of, status_of
from reaper.providers.gcp.fingerprints import KnownLabels
from reaper.providers.gcp.gke_api import ClusterApi, busy, cluster_of
from reaper.providers.gcp.gke_quarantine import (
    endpoint_public,
    isolation,
    open_to_world,
    quarantine_cluster,
    release_cluster,
)
from reaper.providers.gcp.labelled import LabelledKind
from reaper.providers.gcp.labels import Labels, updating
from reaper.providers.gcp.operations import GKE_DONE, Pending, wait_gke
from reaper.providers.gcp.records import CLUSTER_KEYS
from reaper.versions import end_of_support

log = logging.getLogger(__name__)

Status = container_v1.Cluster.Status
LEFT_ALONE = (Status.PROVISIONING, Status.STOPPING)
IDLE = ("running", "error", "degraded")
"""Statuses in which no operation of GKE's own is expected on the cluster."""


@register
class GkeClusters(LabelledKind):
    NOUN = "cluster"
    provider = "gcp"
    kind = "gke_cluster"
    permissions = (
        "container.clusters.list",
        "container.clusters.get",
        "container.clusters.delete",
        "container.clusters.update",
        "container.operations.list",
        "container.operations.get",
        "compute.instanceGroupManagers.get",
    )
    # Before GCE instances (50): GKE copies a cluster's labels, the pipeline label among
    # them, to its node VMs; those are skipped by the instance kind, and go with the cluster.
    state_tags = CLUSTER_KEYS
    delete_order = 40
    id_pattern = r"[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?"
    id_shape = (
        "a cluster name: 1-40 lowercase letters, digits and '-', starting with a letter "
        "and not ending with '-'"
    )

    def __init__(
        self,
        clients: GcpClients,
        tags: TagKeys,
        signer: StateSigner | None = None,
        *,
        restrict_public_endpoint: bool = False,
        calendar: Mapping[str, date] = GKE_END_OF_STANDARD_SUPPORT,
    ) -> None:
        self._clients = clients
        self._api = ClusterApi(clients)
        self._tags = tags
        self._signer = signer or StateSigner(None, ())
        self._restrict_public_endpoint = restrict_public_endpoint
        self._calendar = calendar
        self._known = KnownLabels()

    def scopes(self) -> Sequence[Scope]:
        """Each project; plus one that fails while the organization's projects cannot be
        listed."""
        projects = [Scope(p.name, "") for p in self._clients.projects()]
        return [*projects, *self._clients.error_scopes()]

    def is_shared(self, scope: Scope) -> bool:
        return self._clients.is_error_scope(scope)

    def resource_scopes(self) -> Sequence[Scope]:
        """Every location of each project; with zones configured, those zones and their
        regions (what :meth:`_wanted` keeps)."""
        zones = self._clients.settings.zones
        if not zones:
            return [Scope(p.name, EVERY_REGION) for p in self._clients.projects()]
        locations = sorted({*zones, *(_region_of(z) for z in zones)})
        return [Scope(p.name, where) for p in self._clients.projects() for where in locations]

    def sweep_scope(self, scope: Scope) -> Scope:
        return Scope(scope.account, "")

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope, self._clients.settings.endpoints.container)

    # -- reading -----------------------------------------------------------------------

    def collect(self, scope: Scope) -> Collected:
        """The clusters of every location (one list), or of the scope's location only (a
        pinned plan's scope)."""
        project = self._clients.project(scope)
        listed = self._api.list_clusters(project, scope.region or "-")
        raws = [c for c in listed.clusters if _scope_has_location(scope, c.location)]
        resources, skipped = self._read(project, raws)
        errors = tuple(
            CollectError(
                self.key(),
                Scope(project.name, location),
                f"location {location} did not answer: its clusters were not swept",
            )
            for location in sorted(set(listed.missing_zones))
            if self._wanted(location) and _scope_has_location(scope, location)
        )
        self._remember(
            raws,
            resources,
            lambda ref: (
                ref.scope.account == project.name and _scope_has_location(scope, ref.scope.region)
            ),
        )
        return Collected(tuple(resources), skipped, errors)

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        """By name in the scope's location; without one (``reaper release``), in any. A
        name not of a cluster's shape is never sent: it is not found."""
        project = self._clients.project(scope)
        names = [name for name in ids if self._shaped(name)]
        if not names:
            return Collected(())
        if scope.region:
            found = [self._api.get(project, scope.region, name) for name in names]
            raws = [raw for raw in found if raw is not None]
        else:
            listed = self._api.list_clusters(project).clusters
            raws = [c for c in listed if c.name in set(names)]
        resources, skipped = self._read(project, raws)
        self._remember(raws, resources, lambda ref: False)
        return Collected(tuple(resources), skipped)

    def _shaped(self, name: str) -> bool:
        problem = self.id_problem(name)
        if problem is not None:
            log.warning("not looking up %s", problem)
        return problem is None

    def _wanted(self, location: str) -> bool:
        """Within the configured zones (a zone, or the region of one), if any are."""
        zones = self._clients.settings.zones
        return not zones or location in zones or location in {_region_of(z) for z in zones}

    def _read(
        self, project: GcpProject, raws: Sequence[container_v1.Cluster]
    ) -> tuple[list[Resource], int]:
        resources: list[Resource] = []
        skipped = 0
        for raw in raws:
            labels = dict(raw.resource_labels)
            if self._tags.pipeline not in labels or raw.status in LEFT_ALONE:
                continue
            if not raw.name or not raw.location:
                log.warning("skipping a GKE cluster without name or location in %s", project.name)
                skipped += 1
                continue
            if not self._wanted(raw.location):
                continue
            created = parse_api_time(raw.create_time)
            if raw.create_time and created is None:
                log.warning(
                    "skipping GKE cluster %s in %s: unreadable createTime %r",
                    raw.name,
                    project.name,
                    raw.create_time,
                )
                skipped += 1
                continue
            resources.append(self._resource(project, raw, labels, created))
        return resources, skipped

    def _resource(
        self,
        project: GcpProject,
        raw: container_v1.Cluster,
        labels: Mapping[str, str],
        created: datetime | None,
    ) -> Resource:
        scope = Scope(project.name, raw.location)
        public = endpoint_public(raw)
        version = raw.current_master_version
        resource = Resource(
            ref=ResourceRef(self.provider, self.kind, scope, raw.name),
            name=raw.name,
            created_at=created,
            tags=dict(labels),
            state=Status(raw.status).name.lower(),
            pipeline_run=labels.get(self._tags.pipeline),
            owner=labels.get(self._tags.owner),
            public=public,
            # The API server listens on 443; a public endpoint any address may reach is that.
            open_to_world=(PortRange("tcp", 443, 443),) if open_to_world(raw) else (),
            kubernetes_version=version or None,
            support_ends=end_of_support(version, self._calendar) if version else None,
        )
        if labels.get(lifecycle.STATE) == lifecycle.State.QUARANTINED:
            try:
                isolated = isolation(self._api, project, raw, labels).complete
            except ProviderError as err:
                log.warning("cannot read the isolation of %s: %s", resource.ref, err)
                isolated = False
            resource = replace(resource, isolated=isolated)
        return resource

    def _remember(
        self,
        raws: Sequence[container_v1.Cluster],
        resources: Sequence[Resource],
        gone: Callable[[ResourceRef], bool],
    ) -> None:
        """Keep the label fingerprints read, forgetting those ``gone`` says the read covers."""
        by_name = {(r.location, r.name): r for r in raws}
        self._known.refresh(
            gone,
            (
                (r.ref, r.tags, by_name[(r.ref.scope.region, r.ref.id)].label_fingerprint)
                for r in resources
            ),
        )

    # -- labels ------------------------------------------------------------------------

    def _write_labels(self, ref: ResourceRef, updates: Mapping[str, str | None]) -> Labels | None:
        project = self._clients.project(ref.scope)
        return self._api.relabel(project, ref, updating(updates), self._known.take(ref))

    def _in_progress(self, err: ProviderError) -> str | None:
        return message_of(err) if busy(err) else None

    # -- delete, quarantine, release -------------------------------------------------

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        """Delete clusters (node pools go with them) and track their operations.

        A cluster whose status says an operation may be running is first checked with one
        ``operations.list`` for its location (instead of a refused delete per cluster);
        a refused delete is ``skipped: in progress`` all the same.
        """
        project = self._clients.project(scope)
        running: dict[str, container_v1.Operation] = {}
        if any(r.state not in IDLE for r in resources):
            for op in self._api.operations(project, scope.region):
                if op.status != GKE_DONE and cluster_of(op):
                    running.setdefault(cluster_of(op), op)

        def start(resource: Resource) -> Outcome | Pending:
            ref = resource.ref
            blocking = running.get(ref.id)
            if blocking is not None:
                kind = container_v1.Operation.Type(blocking.operation_type).name
                return Outcome(
                    ref,
                    Action.DELETE,
                    Result.SKIPPED,
                    f"in progress: operation {blocking.name} ({kind}) is running on it; "
                    "a later sweep deletes it",
                )
            try:
                op = self._api.delete(project, ref.scope.region, ref.id)
            except ProviderError as err:
                if status_of(err) == 404:
                    return Outcome(
                        ref, Action.DELETE, Result.ALREADY_GONE, "cluster does not exist"
                    )
                if busy(err):
                    message = f"in progress: {message_of(err)} A later sweep deletes it."
                    return Outcome(ref, Action.DELETE, Result.SKIPPED, message)
                return Outcome(ref, Action.DELETE, Result.FAILED, str(err))
            return Pending(ref, op.name, op.location or ref.scope.region)

        started = self._clients.parallel(project, start, list(resources))
        pending = [p for p in started if isinstance(p, Pending)]
        finished = wait_gke(self._clients, project, pending, str(scope)) if pending else {}
        outcomes = []
        for resource, item in zip(resources, started, strict=True):
            if isinstance(item, Outcome):
                outcomes.append(item)
                continue
            result = finished[item.key]
            ref = resource.ref
            if result.error:
                outcomes.append(Outcome(ref, Action.DELETE, Result.FAILED, result.error))
            elif not result.done:
                message = f"deleting (operation {item.name} still running)"
                outcomes.append(Outcome(ref, Action.DELETE, Result.DONE, message))
            else:
                outcomes.append(
                    Outcome(ref, Action.DELETE, Result.DONE, "deleted with its node pools")
                )
        return outcomes

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        project = self._clients.project(scope)
        self._forget_labels(d.ref for d in decisions)
        one = partial(
            quarantine_cluster,
            self._api,
            self._signer,
            project,
            now=now,
            restrict_public_endpoint=self._restrict_public_endpoint,
        )
        return self._clients.parallel(project, one, list(decisions))

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        project = self._clients.project(resource.ref.scope)
        return release_cluster(self._api, self._signer, project, resource)


def _region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def _scope_has_location(scope: Scope, location: str) -> bool:
    """``location`` is the scope's, or the scope is the whole project."""
    return not scope.region or location == scope.region
