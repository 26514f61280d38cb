"""``FakeGcp``: a stateful fake of Compute Engine v1, GKE v1 and Resource Manager v3's project
and folder lists on a loopback port.

There is no emulator for either service, so this fake aims to be as strict as they are:
optimistic locking with fingerprints, operations that take several polls, refusals while
another operation runs, proto3 JSON for GKE, the real error bodies. It imports nothing
but the standard library, so it runs wherever Python does.

Pointing the real clients at it (google-cloud-compute 1.57, google-cloud-container 2.67):
their REST transports keep a scheme given in the endpoint and add ``https://`` only when
there is none (``rest_base.py``: ``^(?P<scheme>http(?:s)?://)?(?P<host>.*)$``), so
``client_options={"api_endpoint": fake.endpoint}`` with ``AnonymousCredentials()`` works.
GKE's default transport is gRPC, which this HTTP/JSON fake does not speak: pass
``transport="rest"`` to ``ClusterManagerClient``.

``InstancesClient.delete()`` (and every non-``_unary`` Compute mutation) returns an
ExtendedOperation whose ``result()`` polls through a ZoneOperationsClient the transport
builds without the caller's ``client_options``: it goes to compute.googleapis.com:443,
not to this fake (tests/sandbox/test_gcp_fake_compute.py proves it). Use the ``_unary``
methods and poll the operation with a ZoneOperations/GlobalOperations client built on the
same endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from reaper.sandbox.gcp.compute_json import (
    disk_json,
    firewall_json,
    image_json,
    instance_json,
    network_json,
    operation_json,
)
from reaper.sandbox.gcp.faults import Fault
from reaper.sandbox.gcp.fingerprints import EMPTY_COMPUTE_FINGERPRINT, compute_fingerprint
from reaper.sandbox.gcp.gke_json import cluster_json
from reaper.sandbox.gcp.gke_json import operation_json as gke_operation_json
from reaper.sandbox.gcp.model import Disk, Firewall, Folder, Image, Network
from reaper.sandbox.gcp.project_search import Semantics
from reaper.sandbox.gcp.seeding import (
    NodePoolSpec,
    build_cluster,
    build_instance,
    check_choice,
    check_labels,
    mixed_families,
    resolve_image,
)
from reaper.sandbox.gcp.server import FakeServer
from reaper.sandbox.gcp.stats import RequestStats
from reaper.sandbox.gcp.timefmt import aware
from reaper.sandbox.gcp.world import DEFAULT_ZONES, Settings, World, region_of

JsonObject = dict[str, Any]
DEFAULT_MASTER_VERSION = "1.29.4-gke.1043002"
DEPRECATION_STATES = ("DEPRECATED", "OBSOLETE", "DELETED")
_CLUSTER_OPERATION_STATUS = {
    "CREATE_CLUSTER": "PROVISIONING",
    "DELETE_CLUSTER": "STOPPING",
    "UPGRADE_MASTER": "RECONCILING",
    "UPDATE_CLUSTER": "RECONCILING",
    "REPAIR_CLUSTER": "RECONCILING",
    "SET_MASTER_AUTH": "RECONCILING",
}


class FakeGcp:
    """The fake's server, state, counters and fault switches. Use it as a context manager.

    ``operation_polls``: polls (operation get/wait) before an operation is DONE.
    ``wait_seconds``: the most an operations ``wait`` call blocks.
    ``operation_seconds``: if set, operations are also DONE after this much time.
    """

    def __init__(
        self,
        *,
        operation_polls: int = 2,
        wait_seconds: float = 0.05,
        operation_seconds: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._world = World(Settings(operation_polls, wait_seconds, operation_seconds))
        self._server = FakeServer(self._world, host, port)
        self._started = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving; the port is bound already, so ``endpoint`` is valid before this."""
        if not self._started:
            self._server.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``: the ``api_endpoint`` for both client libraries."""
        return self._server.endpoint

    @property
    def client_options(self) -> dict[str, str]:
        return {"api_endpoint": self.endpoint}

    @property
    def stats(self) -> RequestStats:
        """Requests served per API method, filtered lists counted apart too."""
        return self._world.stats

    @property
    def failures(self) -> list[str]:
        """Tracebacks of fake bugs answered as HTTP 500: should stay empty."""
        return self._server.failures

    # Seeding -----------------------------------------------------------------------

    def add_project(
        self,
        project: str,
        *,
        zones: Sequence[str] = DEFAULT_ZONES,
        network: str | None = "default",
        parent: str | None = None,
        display_name: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> int:
        """A project with its zones (each shown by aggregatedList) and, by default, a network.

        ``parent`` (``organizations/N`` or ``folders/N``, seeded first) puts it in Resource
        Manager, where ``projects.search`` finds it. Returns the project number.
        """
        if parent is not None:
            self._known_parent(parent)
        check_labels(labels or {})
        with self._world.lock:
            found = self._world.ensure_project(project, tuple(zones))
            for zone in zones:
                if zone not in found.zones:
                    found.zones.append(zone)
            if parent is not None:
                found.parent = parent
                found.display_name = display_name or project
                found.labels = dict(labels or {})
                found.created = found.created or self._world.now()
            number = found.number
        if network is not None and (project, network) not in self._world.networks:
            self.add_network(project, network)
        return number

    def add_organization(self, number: int | None = None) -> str:
        """An organization Resource Manager knows; returns ``organizations/N``."""
        with self._world.lock:
            name = f"organizations/{number or self._world.resource_number()}"
            self._world.organizations.add(name)
            return name

    def add_folder(self, parent: str, display_name: str) -> str:
        """A folder under an organization or a folder; returns ``folders/N``."""
        self._known_parent(parent)
        with self._world.lock:
            name = f"folders/{self._world.resource_number()}"
            self._world.folders[name] = Folder(name, parent, display_name, self._world.now())
            return name

    def request_project_deletion(self, project: str) -> None:
        """Shut a project down: DELETE_REQUESTED, listed only with ``showDeleted``."""
        with self._world.lock:
            found = self._world.projects[project]
            found.state = "DELETE_REQUESTED"
            found.deleted = self._world.now()

    def deny_listing(self, parent: str, denied: bool = True) -> None:
        """The caller may not list the folders of ``parent`` (HTTP 403), and a search
        leaves out every project below it (no 403: they are not there)."""
        with self._world.lock:
            if denied:
                self._world.unlistable.add(parent)
            else:
                self._world.unlistable.discard(parent)

    def hide_projects(self, parent: str, hidden: bool = True) -> None:
        """The caller may not ``get`` the projects below ``parent`` (no
        ``resourcemanager.projects.get`` there): a search leaves them out, while its
        folders are still listed."""
        with self._world.lock:
            if hidden:
                self._world.hidden.add(parent)
            else:
                self._world.hidden.discard(parent)

    def set_search_semantics(self, semantics: Semantics) -> None:
        """How ``projects.search`` combines its query's terms (default: ``Semantics.ALL``)."""
        with self._world.lock:
            self._world.search_semantics = Semantics(semantics)

    def set_list_page_size(self, size: int) -> None:
        """The most projects or folders one Resource Manager page holds (default 100)."""
        if size < 1:
            raise ValueError(f"page size must be at least 1, got {size}")
        with self._world.lock:
            self._world.list_page_size = size

    def _known_parent(self, parent: str) -> None:
        with self._world.lock:
            if parent not in self._world.organizations and parent not in self._world.folders:
                raise KeyError(f"no organization or folder {parent!r}: seed it first")

    def add_network(
        self,
        project: str,
        name: str = "default",
        *,
        created: datetime | None = None,
        auto_create_subnetworks: bool = True,
    ) -> JsonObject:
        with self._world.lock:
            self._world.ensure_project(project)
            network = Network(
                project, name, self._world.new_id(), self._created(created), auto_create_subnetworks
            )
            self._world.networks[(project, name)] = network
            zones = self._world.projects[project].zones
            return network_json(network, sorted({region_of(z) for z in zones}))

    def add_image(
        self,
        project: str,
        name: str,
        *,
        created: datetime | None = None,
        family: str | None = None,
        deprecated: str | None = None,
        replacement: str | None = None,
        disk_size_gb: int = 10,
        labels: Mapping[str, str] | None = None,
    ) -> JsonObject:
        """An image in any project, e.g. ``debian-cloud``; ``deprecated`` is its state."""
        if deprecated is not None:
            check_choice("deprecation state", deprecated, DEPRECATION_STATES)
        check_labels(labels or {})
        with self._world.lock:
            self._world.ensure_project(project)
            image = Image(
                project=project,
                name=name,
                id=self._world.new_id(),
                created=self._created(created),
                family=family,
                deprecation_state=deprecated,
                replacement=None if replacement is None else resolve_image(replacement),
                disk_size_gb=disk_size_gb,
                labels=dict(labels or {}),
                label_fingerprint=compute_fingerprint(labels)
                if labels
                else EMPTY_COMPUTE_FINGERPRINT,
            )
            self._world.images[(project, name)] = image
            return image_json(image)

    def remove_image(self, project: str, name: str) -> None:
        """Delete an image outright: images.get answers 404 from now on."""
        with self._world.lock:
            self._world.images.pop((project, name), None)

    def add_disk(
        self,
        project: str,
        zone: str,
        name: str,
        *,
        created: datetime | None = None,
        source_image: str | None = None,
        size_gb: int = 10,
        disk_type: str = "pd-balanced",
        labels: Mapping[str, str] | None = None,
    ) -> JsonObject:
        """A disk; ``source_image`` is a URL or ``projects/<p>/global/images/<name>``."""
        check_labels(labels or {})
        with self._world.lock:
            self._world.ensure_zone(project, zone)
            disk = Disk(
                project=project,
                zone=zone,
                name=name,
                id=self._world.new_id(),
                created=self._created(created),
                size_gb=size_gb,
                disk_type=disk_type,
                source_image=None if source_image is None else resolve_image(source_image),
                labels=dict(labels or {}),
                label_fingerprint=compute_fingerprint(labels)
                if labels
                else EMPTY_COMPUTE_FINGERPRINT,
            )
            self._world.disks[(project, zone, name)] = disk
            return disk_json(disk, None)

    def add_instance(
        self,
        project: str,
        zone: str,
        name: str,
        *,
        created: datetime | None = None,
        status: str = "RUNNING",
        labels: Mapping[str, str] | None = None,
        machine_type: str = "e2-medium",
        network: str = "default",
        network_ip: str | None = None,
        external_ip: str | None = None,
        external_ipv6: str | None = None,
        tags: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        service_accounts: Sequence[str | tuple[str, Sequence[str]]] = (),
        boot_image: str | None = None,
        extra_disks: Sequence[str] = (),
        deletion_protection: bool = False,
        description: str = "",
    ) -> JsonObject:
        """An instance and its boot disk (named like it, from ``boot_image`` if given).

        ``external_ip`` adds a ONE_TO_ONE_NAT access config with that ``natIP``,
        ``external_ipv6`` makes the interface dual-stack with a DIRECT_IPV6 access config;
        ``service_accounts`` are emails (cloud-platform scope) or (email, scopes).
        """
        with self._world.lock:
            if (project, zone, name) in self._world.instances:
                raise ValueError(f"instance {project}/{zone}/{name} is already seeded")
            self._world.ensure_zone(project, zone)
            instance = build_instance(
                self._world,
                project=project,
                zone=zone,
                name=name,
                created=self._created(created),
                status=status,
                labels=labels or {},
                machine_type=machine_type,
                network=network,
                network_ip=network_ip,
                external_ip=external_ip,
                external_ipv6=external_ipv6,
                tags=tags,
                metadata=metadata or {},
                service_accounts=service_accounts,
                boot_image=boot_image,
                extra_disks=extra_disks,
                deletion_protection=deletion_protection,
                description=description,
            )
            self._world.instances[(project, zone, name)] = instance
            return instance_json(instance)

    def add_firewall(
        self,
        project: str,
        name: str,
        *,
        network: str = "default",
        created: datetime | None = None,
        priority: int = 1000,
        direction: str = "INGRESS",
        source_ranges: Sequence[str] | None = None,
        destination_ranges: Sequence[str] = (),
        source_tags: Sequence[str] = (),
        allowed: Sequence[Mapping[str, object]] | None = None,
        denied: Sequence[Mapping[str, object]] = (),
        target_tags: Sequence[str] = (),
        target_service_accounts: Sequence[str] = (),
        disabled: bool = False,
        description: str = "",
    ) -> JsonObject:
        """A firewall rule; by default it allows tcp:22 from anywhere (a classic leftover)."""
        check_choice("direction", direction, ("INGRESS", "EGRESS"))
        if allowed is None and not denied:
            allowed = [{"IPProtocol": "tcp", "ports": ["22"]}]
        if source_ranges is None:
            source_ranges = ["0.0.0.0/0"] if direction == "INGRESS" and not source_tags else []
        mixed = mixed_families(
            {"source_ranges": source_ranges, "destination_ranges": destination_ranges}
        )
        if mixed is not None:
            raise ValueError(
                f"firewall rule {name}: {mixed[0]}[{mixed[1]}] {mixed[2]!r} is not of the "
                "family of its other ranges (a rule holds IPv4 or IPv6 ranges, never both)"
            )
        with self._world.lock:
            self._world.ensure_project(project)
            rule = Firewall(
                project=project,
                name=name,
                id=self._world.new_id(),
                created=self._created(created),
                network=network,
                priority=priority,
                direction=direction,
                source_ranges=list(source_ranges),
                destination_ranges=list(destination_ranges),
                source_tags=list(source_tags),
                allowed=[dict(item) for item in allowed or ()],
                denied=[dict(item) for item in denied],
                target_tags=list(target_tags),
                target_service_accounts=list(target_service_accounts),
                disabled=disabled,
                description=description,
            )
            self._world.firewalls[(project, name)] = rule
            return firewall_json(rule)

    def add_cluster(
        self,
        project: str,
        location: str,
        name: str,
        *,
        created: datetime | None = None,
        status: str = "RUNNING",
        labels: Mapping[str, str] | None = None,
        master_version: str = DEFAULT_MASTER_VERSION,
        endpoint: str | None = None,
        private_nodes: bool = False,
        private_endpoint: bool = False,
        authorized_networks: Sequence[str | tuple[str, str]] | None = None,
        gcp_public_cidrs: bool | None = None,
        node_pools: Sequence[NodePoolSpec] = (NodePoolSpec(),),
        node_locations: Sequence[str] | None = None,
        network: str = "default",
        description: str = "",
    ) -> JsonObject:
        """A GKE cluster in a zone (zonal) or region (regional, three zones by default).

        ``authorized_networks``: None leaves master authorized networks off; a list of
        CIDRs, or (CIDR, display name) pairs, possibly empty, turns them on with those
        blocks. ``gcp_public_cidrs``: their ``gcpPublicCidrsAccessEnabled`` (None: unset).
        """
        with self._world.lock:
            if (project, location, name) in self._world.clusters:
                raise ValueError(f"cluster {project}/{location}/{name} is already seeded")
            self._world.ensure_project(project)
            cluster = build_cluster(
                self._world,
                project=project,
                location=location,
                name=name,
                created=self._created(created),
                status=status,
                labels=labels or {},
                master_version=master_version,
                endpoint=endpoint,
                private_nodes=private_nodes,
                private_endpoint=private_endpoint,
                authorized_networks=authorized_networks,
                gcp_public_cidrs=gcp_public_cidrs,
                node_pools=node_pools,
                locations=node_locations,
                network=network,
                description=description,
            )
            self._world.clusters[(project, location, name)] = cluster
            return cluster_json(cluster)

    def _created(self, created: datetime | None) -> datetime:
        return self._world.now() if created is None else aware(created)

    # Reading back ------------------------------------------------------------------

    def instance(self, project: str, zone: str, name: str) -> JsonObject | None:
        """The instance as instances.get shows it (no request counted), or None if gone."""
        with self._world.locked():
            found = self._world.instances.get((project, zone, name))
            return None if found is None else instance_json(found)

    def instances(self, project: str | None = None) -> list[JsonObject]:
        with self._world.locked():
            return [
                instance_json(i)
                for (p, _, _), i in sorted(self._world.instances.items())
                if project in (None, p)
            ]

    def disk(self, project: str, zone: str, name: str) -> JsonObject | None:
        with self._world.locked():
            found = self._world.disks.get((project, zone, name))
            return None if found is None else disk_json(found, None)

    def image(self, project: str, name: str) -> JsonObject | None:
        with self._world.locked():
            found = self._world.images.get((project, name))
            return None if found is None else image_json(found)

    def firewall(self, project: str, name: str) -> JsonObject | None:
        with self._world.locked():
            found = self._world.firewalls.get((project, name))
            return None if found is None else firewall_json(found)

    def firewalls(self, project: str | None = None) -> list[JsonObject]:
        with self._world.locked():
            return [
                firewall_json(f)
                for (p, _), f in sorted(self._world.firewalls.items())
                if project in (None, p)
            ]

    def cluster(self, project: str, location: str, name: str) -> JsonObject | None:
        """The cluster as clusters.get shows it (proto3 JSON), or None once deleted."""
        with self._world.locked():
            found = self._world.clusters.get((project, location, name))
            return None if found is None else cluster_json(found)

    def clusters(self, project: str | None = None) -> list[JsonObject]:
        with self._world.locked():
            return [
                cluster_json(c)
                for (p, _, _), c in sorted(self._world.clusters.items())
                if project in (None, p)
            ]

    def node_count(self, project: str, location: str, cluster: str, pool: str) -> int | None:
        """Current nodes per zone of a pool (its groups' targetSize), or None if no such pool."""
        with self._world.locked():
            found = self._world.clusters.get((project, location, cluster))
            for node_pool in found.node_pools if found is not None else ():
                if node_pool.name == pool:
                    return node_pool.node_count
            return None

    def operation(self, name: str) -> JsonObject | None:
        """A Compute or GKE operation's JSON, without counting as a poll."""
        with self._world.locked():
            compute_op = self._world.compute_operations.get(name)
            if compute_op is not None:
                return operation_json(compute_op)
            gke_op = self._world.gke_operations.get(name)
            if gke_op is None:
                return None
            return gke_operation_json(gke_op, self._world.projects[gke_op.project].number)

    # Faults and time -----------------------------------------------------------------

    def fail_next(self, method: str, fault: Fault = Fault.RATE_LIMITED, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` (``*`` patterns too) with ``fault``."""
        self._world.faults.add_error(method, fault, times)

    def fail_next_operation(
        self,
        method: str,
        message: str,
        *,
        code: str = "RESOURCE_OPERATION_FAILED",
        http_status: int = 400,
        times: int = 1,
    ) -> None:
        """Make the operations the next ``times`` calls of ``method`` start end in error.

        The call itself succeeds; its operation reaches DONE with ``error`` (and, for
        Compute, ``httpErrorStatusCode``) and its effect is not applied.
        """
        self._world.faults.add_operation_failure(method, message, code, http_status, times)

    def set_zone_unreachable(self, project: str, zone: str, unreachable: bool = True) -> None:
        """Leave a zone out of aggregatedList, reported in ``unreachables``."""
        self._world.faults.set_zone_unreachable(project, zone, unreachable)

    def set_location_missing(self, project: str, location: str, missing: bool = True) -> None:
        """Leave a location's clusters out of clusters.list, reported in ``missingZones``."""
        self._world.faults.set_location_missing(project, location, missing)

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Hold every request (or those of ``method``, ``*`` allowed) this long first."""
        self._world.faults.set_latency(seconds, method)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` (``*`` patterns too) ``seconds``, then
        serve them and drop the answer: a reply that comes after the client's read timeout
        (its effect applies, as a slow server's would)."""
        self._world.faults.add_delay(method, seconds, times)

    def clear_faults(self) -> None:
        """Drop every pending injection, outage and latency."""
        self._world.faults.clear()

    def start_cluster_operation(
        self,
        project: str,
        location: str,
        cluster: str,
        operation_type: str = "UPGRADE_MASTER",
        *,
        node_pool: str | None = None,
        target_version: str | None = None,
    ) -> str:
        """Put an operation (an auto-upgrade, say) RUNNING on a cluster until finished.

        While it runs, conflicting mutations answer 400 FAILED_PRECONDITION. Returns its
        name for ``finish_operation``; ``target_version`` is the master version after it.
        """
        with self._world.locked():
            found = self._world.clusters.get((project, location, cluster))
            if found is None:
                raise KeyError(f"no cluster {project}/{location}/{cluster}")
            pool = next((p for p in found.node_pools if p.name == node_pool), None)
            if node_pool is not None and pool is None:
                raise KeyError(f"no node pool {node_pool!r} in {cluster}")
            before = pool.status if pool is not None else found.status

            def done() -> None:
                if pool is not None:
                    pool.status = before
                    if target_version is not None:
                        pool.version = target_version
                    return
                found.status = "RUNNING" if before in ("RECONCILING", "PROVISIONING") else before
                if target_version is not None:
                    found.master_version = target_version

            if pool is not None:
                pool.status = "RECONCILING"
            else:
                found.status = _CLUSTER_OPERATION_STATUS.get(operation_type, "RECONCILING")
            op = self._world.start_gke_operation(
                project=project,
                location=location,
                operation_type=operation_type,
                cluster=cluster,
                node_pool=node_pool,
                method="injected",
                held=True,
                on_done=done,
            )
            return op.name

    def finish_operation(self, name: str) -> None:
        """Bring an operation (Compute or GKE, held or not) to DONE now."""
        with self._world.locked():
            gke_op = self._world.gke_operations.get(name)
            if gke_op is not None:
                self._world.finish_gke(gke_op)
                return
            compute_op = self._world.compute_operations.get(name)
            if compute_op is None:
                raise KeyError(f"no operation {name!r}")
            self._world.finish_compute(compute_op)

    def settle(self) -> None:
        """Finish every operation that is not held, as if enough time had passed."""
        self._world.settle()
