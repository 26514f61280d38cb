"""Compute Engine instances left behind by pipeline runs.

Listing: one ``instances.aggregatedList`` per project (pages of 500, zones without results
on a page say ``NO_RESULTS_ON_PAGE``), or ``instances.list`` per configured zone. A zone in
``unreachables`` is a collect error of its own; the rest of the project is swept.

The pipeline label is filtered client-side: a server-side ``filter`` is billed against the
separate, non-raisable "filtered list cost overhead" quota and, where pipeline instances
are most of a CI project (as they are), saves no page (``bench/gcp.py`` measures both).

Every status is collected, and what it means is the policy's to say: an instance in
``STOPPING`` or ``SUSPENDING`` is reported ``transitioning``, which the policy keeps
(``in-transition``) and decides again on the next sweep; a stopped (``TERMINATED``) one is
swept like any other (a stopped leftover still costs its disks, and a quarantined instance
is stopped and must still be found, to be deleted after ``quarantine_ttl``), but only a
running one can be exposed. GKE node VMs (label ``goog-gke-node``) are their cluster's:
never swept here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from google.cloud import compute_v1

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
    ImageFacts,
    Outcome,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.providers.base import register
from reaper.providers.gcp import gce_facts
from reaper.providers.gcp.clients import GcpClients, status_of
from reaper.providers.gcp.fingerprints import KnownLabels
from reaper.providers.gcp.gce_api import InstanceApi, not_ready
from reaper.providers.gcp.gce_facts import (
    PAGE_SIZE,
    Rule,
    SweepMemo,
    Unavailable,
    or_unavailable,
)
from reaper.providers.gcp.gce_isolation import Ensured, ensure_rules
from reaper.providers.gcp.gce_quarantine import quarantine_instances, release_instance
from reaper.providers.gcp.labelled import LabelledKind
from reaper.providers.gcp.labels import Labels, updating
from reaper.providers.gcp.operations import Pending, wait_compute
from reaper.providers.gcp.records import INSTANCE_KEYS, QUARANTINE_TAG

log = logging.getLogger(__name__)

TRANSITIONING = ("STOPPING", "SUSPENDING")
"""On the way to ``TERMINATED`` or ``SUSPENDED``: operations on the instance are refused
until it gets there (``resourceNotReady``)."""
NOT_RUNNING = ("TERMINATED", "SUSPENDED", "STOPPING", "SUSPENDING")
GKE_NODE_LABEL = "goog-gke-node"


@dataclass(frozen=True)
class _Read:
    """One instance as read, with what its facts need."""

    resource: Resource
    boot_disk: str | None
    networks: tuple[str, ...]
    tags: tuple[str, ...]
    accounts: tuple[str, ...]
    fingerprint: str


@register
class GceInstances(LabelledKind):
    NOUN = "instance"
    provider = "gcp"
    kind = "gce_instance"
    permissions = (
        "compute.instances.list",
        "compute.instances.get",
        "compute.instances.delete",
        "compute.instances.setLabels",
        "compute.instances.setTags",
        "compute.instances.stop",
        "compute.instances.start",
        "compute.zoneOperations.get",
        "compute.globalOperations.get",
        "compute.disks.list",
        "compute.disks.get",
        "compute.images.get",
        "compute.firewalls.list",
        "compute.firewalls.get",
        "compute.firewalls.create",
        "compute.networks.updatePolicy",
    )
    state_tags = INSTANCE_KEYS
    delete_order = 50
    # RFC 1035, as Compute Engine names are; never quoted into a list filter otherwise.
    id_pattern = r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
    id_shape = (
        "an instance name: 1-63 lowercase letters, digits and '-', starting with a letter "
        "and not ending with '-'"
    )

    def __init__(
        self,
        clients: GcpClients,
        tags: TagKeys,
        signer: StateSigner | None = None,
        *,
        server_side_filter: bool = False,
    ) -> None:
        """``server_side_filter``: filter on the pipeline label in the list call instead
        (for ``bench/gcp.py``, which measures both)."""
        self._clients = clients
        self._api = InstanceApi(clients)
        self._tags = tags
        self._signer = signer or StateSigner(None, ())
        self._server_side_filter = server_side_filter
        self._images: SweepMemo[str, ImageFacts | Unavailable] = SweepMemo()
        self._rules: SweepMemo[str, list[Rule] | Unavailable] = SweepMemo()
        self._ensured: SweepMemo[str, Ensured] = SweepMemo()
        self._known = KnownLabels()

    def scopes(self) -> Sequence[Scope]:
        """Each project's zones (or the whole project); plus one that fails while the
        organization's projects cannot be listed."""
        return [*self._project_scopes(), *self._clients.error_scopes()]

    def resource_scopes(self) -> Sequence[Scope]:
        return [Scope(s.account, s.region or EVERY_REGION) for s in self._project_scopes()]

    def _project_scopes(self) -> list[Scope]:
        zones = self._clients.settings.zones or ("",)
        return [Scope(p.name, zone) for p in self._clients.projects() for zone in zones]

    def sweep_scope(self, scope: Scope) -> Scope:
        return scope if self._clients.settings.zones else Scope(scope.account, "")

    def is_shared(self, scope: Scope) -> bool:
        return self._clients.is_error_scope(scope)

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope, self._clients.settings.endpoints.compute)

    def begin_collection(self) -> None:
        self._images.clear()
        self._rules.clear()
        self._ensured.clear()

    # -- reading -----------------------------------------------------------------------

    def collect(self, scope: Scope) -> Collected:
        project = self._clients.project(scope)
        unreachable: list[str] = []
        raws = self._list(project, scope, unreachable)
        reads, skipped = self._read(project, raws)
        disks = partial(self._listed_disk_images, project, scope, len(raws))
        resources, unknown = self._with_facts(project, reads, disks, self._images, self._rules)
        self._remember(scope, reads)
        errors = tuple(
            CollectError(
                self.key(),
                Scope(project.name, zone),
                f"zone {zone} did not answer (unreachable): its instances were not swept",
            )
            for zone in sorted(set(unreachable))
        )
        return Collected(tuple(resources), skipped, errors + self._fact_errors(project, unknown))

    def _fact_errors(
        self, project: GcpProject, unknown: Sequence[Unavailable]
    ) -> tuple[CollectError, ...]:
        """One collect error per fact that could not be read, from the first scope that
        met it in the sweep. Its scope is the project's: not a scope anything is listed by,
        so a pinned plan still acts on its instances (on what is known)."""
        return tuple(
            CollectError(self.key(), Scope(project.name, ""), u.message)
            for u in unknown
            if u.first_telling()
        )

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        """By name, in the scope's zone; without a zone (``reaper release``), in every zone
        of the project (a list filtered on the name). Facts are looked up afresh. A name
        not of an instance's shape is never sent (the filter quotes it): it is not found."""
        project = self._clients.project(scope)
        raws: list[compute_v1.Instance] = []
        for name in ids:
            problem = self.id_problem(name)
            if problem is not None:
                log.warning("not looking up %s", problem)
            elif scope.region:
                raw = self._api.get(project, scope.region, name)
                raws += [raw] if raw is not None else []
            else:
                raws += self._aggregated(project, str(scope), [], f'name = "{name}"')
        reads, skipped = self._read(project, raws)
        disks = partial(self._each_disk_image, project)
        resources, unknown = self._with_facts(project, reads, disks, SweepMemo(), SweepMemo())
        self._remember(None, reads)
        return Collected(tuple(resources), skipped, self._fact_errors(project, unknown))

    def _list(
        self, project: GcpProject, scope: Scope, unreachable: list[str]
    ) -> list[compute_v1.Instance]:
        wanted = f"labels.{self._tags.pipeline}:*" if self._server_side_filter else ""
        if not scope.region:
            return self._aggregated(project, str(scope), unreachable, wanted)
        instances = self._clients.compute(project).instances

        def fetch(token: str) -> Any:
            request = compute_v1.ListInstancesRequest(
                project=project.project_id,
                zone=scope.region,
                max_results=PAGE_SIZE,
                page_token=token,
                filter=wanted,
            )
            return instances.list(request=request, retry=None, timeout=self._clients.timeout)

        pages = self._clients.pages("compute.instances.list", f"instances in {scope}", fetch)
        return [raw for page in pages for raw in page.items]

    def _aggregated(
        self, project: GcpProject, where: str, unreachable: list[str], wanted: str
    ) -> list[compute_v1.Instance]:
        """Every instance of the project; zones that did not answer go in ``unreachable``."""
        instances = self._clients.compute(project).instances

        def fetch(token: str) -> Any:
            request = compute_v1.AggregatedListInstancesRequest(
                project=project.project_id, max_results=PAGE_SIZE, page_token=token, filter=wanted
            )
            return instances.aggregated_list(
                request=request, retry=None, timeout=self._clients.timeout
            )

        found: list[compute_v1.Instance] = []
        method = "compute.instances.aggregatedList"
        for page in self._clients.pages(method, f"instances in {where}", fetch):
            for key, scoped in page.items.items():
                # Zones with nothing on this page say NO_RESULTS_ON_PAGE; older answers
                # also mark an unreachable zone with an UNREACHABLE warning of its own.
                if scoped.warning.code == "UNREACHABLE":
                    unreachable.append(key.rsplit("/", 1)[-1])
                found.extend(scoped.instances)
            unreachable.extend(u.rsplit("/", 1)[-1] for u in page.unreachables)
        return found

    def _read(
        self, project: GcpProject, raws: Iterable[compute_v1.Instance]
    ) -> tuple[list[_Read], int]:
        """Pipeline instances as resources; unreadable ones logged and counted."""
        reads: list[_Read] = []
        skipped = 0
        for raw in raws:
            labels = dict(raw.labels)
            if self._tags.pipeline not in labels or GKE_NODE_LABEL in labels:
                continue
            zone = raw.zone.rsplit("/", 1)[-1]
            if not raw.name or not zone:
                log.warning("skipping a GCE instance without name or zone in %s", project.name)
                skipped += 1
                continue
            created = parse_api_time(raw.creation_timestamp)
            if raw.creation_timestamp and created is None:
                log.warning(
                    "skipping GCE instance %s in %s/%s: unreadable creationTimestamp %r",
                    raw.name,
                    project.name,
                    zone,
                    raw.creation_timestamp,
                )
                skipped += 1
                continue
            scope = Scope(project.name, zone)
            resource = Resource(
                ref=ResourceRef(self.provider, self.kind, scope, raw.name),
                name=raw.name,
                created_at=created,
                tags=labels,
                state=raw.status.lower(),
                pipeline_run=labels.get(self._tags.pipeline),
                owner=labels.get(self._tags.owner),
                public=gce_facts.public(raw) and raw.status not in NOT_RUNNING,
                transitioning=raw.status in TRANSITIONING,
            )
            reads.append(
                _Read(
                    resource,
                    gce_facts.boot_disk(raw),
                    gce_facts.networks(raw),
                    tuple(raw.tags.items),
                    gce_facts.accounts(raw),
                    raw.label_fingerprint,
                )
            )
        return reads, skipped

    def _with_facts(
        self,
        project: GcpProject,
        reads: Sequence[_Read],
        disk_images: Callable[[set[str]], dict[str, str]],
        images: SweepMemo[str, ImageFacts | Unavailable],
        rules: SweepMemo[str, list[Rule] | Unavailable],
    ) -> tuple[list[Resource], list[Unavailable]]:
        """Image, exposure and isolation facts, each looked up once (see gce_facts), and
        those that could not be read: unknown (no image, no open port, isolation not told).

        The firewall rules are listed while the boot disks and images are looked up."""
        need_rules = [r for r in reads if r.resource.public or _quarantined(r.resource)]
        owners = sorted(gce_facts.by_owner(n for r in need_rules for n in r.networks))

        def listed(owner: str) -> list[Rule] | Unavailable:
            load = partial(gce_facts.list_rules, self._clients, project, owner)
            return rules.get(owner, or_unavailable(f"the firewall rules of project {owner}", load))

        with ThreadPoolExecutor(1, "reaper-gcp-rules") as pool:
            rule_lists = pool.submit(self._clients.parallel, project, listed, owners)
            wanted_disks = {r.boot_disk for r in reads if r.boot_disk}
            disks = disk_images(wanted_disks) if wanted_disks else {}
            paths = sorted({disks[d] for d in wanted_disks if d in disks})

            def lookup(path: str) -> ImageFacts | Unavailable:
                load = partial(gce_facts.image_facts, self._clients, project, path)
                return images.get(path, or_unavailable(f"image {path}", load))

            facts = dict(zip(paths, self._clients.parallel(project, lookup, paths), strict=True))
            by_owner = dict(zip(owners, rule_lists.result(), strict=True))
        resources = []
        unknown: dict[int, Unavailable] = {}
        for read in reads:
            path = disks.get(read.boot_disk or "")
            image = facts.get(path) if path else None
            if isinstance(image, Unavailable):
                unknown[id(image)] = image
                image = None
            resource = replace(read.resource, image=image)
            owned = [by_owner.get(_owner(n), []) for n in read.networks]
            missing = [rules for rules in owned if isinstance(rules, Unavailable)]
            unknown.update((id(u), u) for u in missing)
            # Open ports are those the readable rules show; an unreadable list shows none.
            found = [
                rule for rules in owned if not isinstance(rules, Unavailable) for rule in rules
            ]
            if resource.public:
                ports = (
                    port
                    for n in read.networks
                    for port in gce_facts.open_to_world(found, n, read.tags, read.accounts)
                )
                resource = replace(resource, open_to_world=tuple(dict.fromkeys(ports)))
            if _quarantined(resource):
                resource = replace(
                    resource,
                    isolated=None
                    if missing  # not told: quarantined again, which reads the rules one by one
                    else resource.state == "terminated"
                    and QUARANTINE_TAG in read.tags
                    and all(gce_facts.isolates(found, n) for n in read.networks),
                )
            resources.append(resource)
        return resources, list(unknown.values())

    def _listed_disk_images(
        self, project: GcpProject, scope: Scope, listed: int, wanted: set[str]
    ) -> dict[str, str]:
        """Boot disk -> image, from the scope's disk list when that takes fewer requests
        than a ``disks.get`` per disk (a scope has about as many disks as instances)."""
        pages = -(-max(listed, 1) // PAGE_SIZE)
        if len(wanted) <= pages:
            return self._each_disk_image(project, wanted)
        return gce_facts.disk_images(self._clients, project, scope.region or None, str(scope))

    def _each_disk_image(self, project: GcpProject, wanted: set[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in sorted(wanted):
            source = gce_facts.disk_image(self._clients, project, path)
            if source:
                found[path] = source
        return found

    def _remember(self, scope: Scope | None, reads: Sequence[_Read]) -> None:
        # Without a scope (a lookup by name) nothing read says another instance is gone.
        self._known.refresh(
            lambda ref: scope is not None and _listed_with(ref.scope, scope),
            ((r.resource.ref, r.resource.tags, r.fingerprint) for r in reads),
        )

    # -- labels ------------------------------------------------------------------------

    def _write_labels(self, ref: ResourceRef, updates: Mapping[str, str | None]) -> Labels | None:
        project = self._clients.project(ref.scope)
        return self._api.relabel(project, ref, updating(updates), self._known.take(ref))

    def _in_progress(self, err: ProviderError) -> str | None:
        return "it is being deleted" if not_ready(err) else None

    # -- delete, quarantine, release -------------------------------------------------

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        """Start every delete (within the project's worker budget), then wait for all."""
        project = self._clients.project(scope)

        def start(resource: Resource) -> Outcome | Pending:
            ref = resource.ref
            try:
                op = self._api.delete(project, ref.scope.region, ref.id)
            except ProviderError as err:
                if status_of(err) == 404:
                    return Outcome(
                        ref, Action.DELETE, Result.ALREADY_GONE, "instance does not exist"
                    )
                if not_ready(err):
                    message = "in progress: another operation is running on it"
                    return Outcome(ref, Action.DELETE, Result.SKIPPED, message)
                return Outcome(ref, Action.DELETE, Result.FAILED, str(err))
            return Pending(ref, op.name, ref.scope.region)

        started = self._clients.parallel(project, start, list(resources))
        pending = [p for p in started if isinstance(p, Pending)]
        finished = wait_compute(self._clients, project, pending, str(scope)) if pending else {}
        outcomes: list[Outcome] = []
        for resource, item in zip(resources, started, strict=True):
            if isinstance(item, Outcome):
                outcomes.append(item)
                continue
            result = finished[item.key]
            ref = resource.ref
            if result.http_status == 404:
                outcomes.append(Outcome(ref, Action.DELETE, Result.ALREADY_GONE, result.error))
            elif result.error:
                outcomes.append(Outcome(ref, Action.DELETE, Result.FAILED, result.error))
            elif not result.done:
                message = f"deleting (operation {item.name} still running)"
                outcomes.append(Outcome(ref, Action.DELETE, Result.DONE, message))
            else:
                outcomes.append(Outcome(ref, Action.DELETE, Result.DONE, "deleted"))
        return outcomes

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        project = self._clients.project(scope)
        ensure = partial(self._ensure_rules, project)
        self._forget_labels(d.ref for d in decisions)
        return quarantine_instances(self._api, self._signer, project, decisions, now, ensure)

    def _ensure_rules(self, project: GcpProject, network: str) -> None:
        """A network's quarantine rules, made sure of once per sweep before any instance
        on it is written ``quarantined``: each read with one ``firewalls.get`` (rules the
        sweep listed may have gone since), those the sweep's list shows missing made
        without a read first."""
        peeked = self._rules.peek(gce_facts.network_owner(network))
        listed = None if isinstance(peeked, Unavailable) else peeked
        load = partial(ensure_rules, self._clients, project, network, listed)
        self._ensured.get(network, load)

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        project = self._clients.project(resource.ref.scope)
        return release_instance(self._api, self._signer, project, resource)


def _quarantined(resource: Resource) -> bool:
    return resource.tags.get(lifecycle.STATE) == lifecycle.State.QUARANTINED


def _owner(network: str) -> str:
    return gce_facts.network_owner(network)


def _listed_with(scope: Scope, listed: Scope) -> bool:
    """A resource of ``scope`` is among what a list of ``listed`` (a project, or one zone
    of it) returns. Pure."""
    return scope.account == listed.account and (not listed.region or scope.region == listed.region)
