"""What a Compute Engine instance runs and who can reach it: boot images and firewall rules.

Looked up once per sweep and shared by every scope of it (:class:`SweepMemo`): each
distinct image once (public images such as ``debian-cloud``'s included), the firewall rules
of each project that owns a network once (one unfiltered ``firewalls.list``: a filter
would cost the separate, non-raisable "filtered list" quota and save nothing, as rules are
few), and the boot disks of a scope with the list of its disks (``disks.aggregatedList``
or ``disks.list``), not a ``disks.get`` per instance.

A fact that cannot be read (a 403 on a private image project's ``images.get``, on a Shared
VPC host's ``firewalls.list``) is :class:`Unavailable` for the rest of the sweep: unknown,
which the policy never counts as unpatched or exposed, and one collect error that names
it; the instances it concerns are swept on everything else (their TTL, say).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from google.cloud import compute_v1

from reaper.config import GcpProject
from reaper.durations import parse_api_time
from reaper.errors import ProviderError
from reaper.model import WORLD, ImageFacts, PortRange
from reaper.providers.gcp.clients import GcpClients, status_of
from reaper.providers.gcp.records import QUARANTINE_TAG

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

PAGE_SIZE = 500
_RESOURCE_PATH = "projects/"


class SweepMemo(Generic[K, V]):
    """Values looked up at most once between two ``clear`` calls, even by threads asking
    at the same time: the second waits for the first's answer. A failed lookup is not
    kept: whoever asks next tries again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[K, Future[V]] = {}

    def clear(self) -> None:
        with self._lock:
            self._found.clear()

    def peek(self, key: K) -> V | None:
        """The value looked up for ``key`` since ``clear``, if any; never a lookup."""
        with self._lock:
            future = self._found.get(key)
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result()

    def get(self, key: K, load: Callable[[], V]) -> V:
        with self._lock:
            future = self._found.get(key)
            owner = future is None
            if future is None:
                future = self._found[key] = Future()
        if not owner:
            return future.result()
        try:
            value = load()
        except BaseException as err:
            with self._lock:
                self._found.pop(key, None)
            future.set_exception(err)
            raise
        future.set_result(value)
        return value


@dataclass
class Unavailable:
    """A fact that could not be read this sweep: unknown, never a finding."""

    what: str
    """What it was: ``image projects/p/global/images/i``, ``firewall rules of project h``."""
    error: str
    _told: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def first_telling(self) -> bool:
        """True once: for the first scope that reports it as a collect error."""
        with self._lock:
            first, self._told = not self._told, True
            return first

    @property
    def message(self) -> str:
        return (
            f"{self.what} could not be read, unknown this sweep (no finding is made on "
            f"it; its instances are swept on the rest): {self.error}"
        )


def or_unavailable(what: str, load: Callable[[], V]) -> Callable[[], V | Unavailable]:
    """``load``, with a ProviderError (after its retries) as ``Unavailable`` and a warning."""

    def loaded() -> V | Unavailable:
        try:
            return load()
        except ProviderError as err:
            log.warning("%s could not be read, unknown this sweep: %s", what, err)
            return Unavailable(what, str(err))

    return loaded


def resource_path(url: str) -> str:
    """``projects/p/global/networks/n`` from a full API URL or a partial one. Pure."""
    index = url.find(_RESOURCE_PATH)
    return url[index:] if index >= 0 else url


# -- images --------------------------------------------------------------------------------

DEPRECATED_STATES = ("DEPRECATED", "OBSOLETE", "DELETED")


def image_facts(clients: GcpClients, project: GcpProject, path: str) -> ImageFacts:
    """An image's age and deprecation, by ``projects/<p>/global/images/<name>``.

    Any project's image (``debian-cloud``'s too); a 404 is a missing image. A deprecation
    state is authoritative whatever its optional timestamps say: the image counts as
    deprecated since its ``deprecated`` timestamp, else since it was created.
    """
    parts = path.split("/")
    if len(parts) != 5 or parts[0] != "projects" or parts[2:4] != ["global", "images"]:
        log.warning("cannot look up image %s (not projects/P/global/images/NAME)", path)
        return ImageFacts(path)
    images = clients.compute(project).images
    try:
        raw = clients.call(
            "compute.images.get",
            f"image {path}",
            lambda: images.get(
                project=parts[1], image=parts[4], retry=None, timeout=clients.timeout
            ),
        )
    except ProviderError as err:
        if status_of(err) == 404:
            return ImageFacts(path, missing=True)
        raise
    created = parse_api_time(raw.creation_timestamp)
    deprecated_at = None
    state = raw.deprecated.state if "deprecated" in raw else ""
    if state in DEPRECATED_STATES:
        marked = parse_api_time(raw.deprecated.deprecated) or parse_api_time(
            raw.deprecated.obsolete
        )
        deprecated_at = marked or created or datetime(1970, 1, 1, tzinfo=UTC)
    return ImageFacts(path, created_at=created, deprecated_at=deprecated_at)


def boot_disk(raw: compute_v1.Instance) -> str | None:
    """The resource path of an instance's boot disk, if it has one."""
    for disk in raw.disks:
        if disk.boot and disk.source:
            return resource_path(disk.source)
    return None


def disk_image(clients: GcpClients, project: GcpProject, path: str) -> str | None:
    """The source image path of one disk (``projects/p/zones/z/disks/d``), if any."""
    parts = path.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "zones":
        return None
    disks = clients.compute(project).disks
    try:
        raw = clients.call(
            "compute.disks.get",
            f"disk {path}",
            lambda: disks.get(
                project=parts[1], zone=parts[3], disk=parts[5], retry=None, timeout=clients.timeout
            ),
        )
    except ProviderError as err:
        if status_of(err) == 404:
            return None
        raise
    return resource_path(raw.source_image) if raw.source_image else None


def disk_images(
    clients: GcpClients, project: GcpProject, zone: str | None, where: str
) -> dict[str, str]:
    """Disk path -> source image path for every disk of the project (``zone`` None) or of
    one zone, from paged lists of 500."""
    disks = clients.compute(project).disks
    found: dict[str, str] = {}
    items: Iterable[compute_v1.Disk]
    if zone is None:

        def aggregated(token: str) -> Any:
            request = compute_v1.AggregatedListDisksRequest(
                project=project.project_id, max_results=PAGE_SIZE, page_token=token
            )
            return disks.aggregated_list(request=request, retry=None, timeout=clients.timeout)

        pages = clients.pages("compute.disks.aggregatedList", f"disks in {where}", aggregated)
        items = (d for page in pages for scoped in page.items.values() for d in scoped.disks)
    else:

        def zonal(token: str) -> Any:
            request = compute_v1.ListDisksRequest(
                project=project.project_id, zone=zone, max_results=PAGE_SIZE, page_token=token
            )
            return disks.list(request=request, retry=None, timeout=clients.timeout)

        pages = clients.pages("compute.disks.list", f"disks in {where}", zonal)
        items = (d for page in pages for d in page.items)
    for disk in items:
        if disk.self_link and disk.source_image:
            found[resource_path(disk.self_link)] = resource_path(disk.source_image)
    return found


# -- firewalls -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One VPC firewall rule, as reaper needs it."""

    name: str
    network: str
    """``projects/<p>/global/networks/<n>``."""
    direction: str
    priority: int
    disabled: bool
    ranges: tuple[str, ...]
    """Source ranges of an ingress rule, destination ranges of an egress one."""
    target_tags: tuple[str, ...]
    target_accounts: tuple[str, ...]
    allowed: tuple[tuple[str, tuple[str, ...]], ...]
    """(protocol, ports) pairs; no ports: every port of the protocol."""
    denied: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, raw: compute_v1.Firewall) -> Rule:
        ingress = raw.direction != "EGRESS"
        return cls(
            name=raw.name,
            network=resource_path(raw.network),
            direction="INGRESS" if ingress else "EGRESS",
            priority=raw.priority if "priority" in raw else 1000,
            disabled=raw.disabled,
            ranges=tuple(raw.source_ranges if ingress else raw.destination_ranges),
            target_tags=tuple(raw.target_tags),
            target_accounts=tuple(raw.target_service_accounts),
            allowed=tuple((a.I_p_protocol.lower(), tuple(a.ports)) for a in raw.allowed),
            denied=tuple((d.I_p_protocol.lower(), tuple(d.ports)) for d in raw.denied),
        )

    def targets(self, tags: Iterable[str], accounts: Iterable[str]) -> bool:
        """Whether the rule applies to an instance with these network tags and accounts."""
        if not self.target_tags and not self.target_accounts:
            return True
        return bool(set(self.target_tags) & set(tags)) or bool(
            set(self.target_accounts) & set(accounts)
        )

    @property
    def worlds(self) -> frozenset[int]:
        """The IP versions (4, 6) whose whole internet its ranges cover: ``0.0.0.0/0``
        for 4, ``::/0`` for 6 (a rule holds ranges of one family only)."""
        return frozenset(v for v in map(_world_version, self.ranges) if v is not None)

    @property
    def from_world(self) -> bool:
        return bool(self.worlds)

    @property
    def denies_everything(self) -> bool:
        return any(protocol == "all" and not ports for protocol, ports in self.denied)


def _world_version(cidr: str) -> int | None:
    """4 or 6 for a range that is the whole internet of its family, else None. Pure."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    return network.version if network.prefixlen == 0 else None


@dataclass(frozen=True)
class DenyAll:
    """One of reaper's quarantine rules of a network: deny all traffic one way, for one IP
    family. A VPC firewall rule holds IPv4 or IPv6 ranges, never both, so cutting an
    instance off takes four: ingress and egress, for ``0.0.0.0/0`` and for ``::/0``."""

    direction: str
    """``INGRESS`` (source ranges) or ``EGRESS`` (destination ranges)."""
    version: int
    """4 or 6."""

    @property
    def world(self) -> str:
        """The whole internet of its family: ``0.0.0.0/0`` or ``::/0``."""
        return WORLD[0] if self.version == 4 else WORLD[1]

    def __str__(self) -> str:
        return f"IPv{self.version} {self.direction.lower()}"


QUARANTINE_RULES = tuple(DenyAll(d, v) for v in (4, 6) for d in ("INGRESS", "EGRESS"))
"""The rules that isolate a quarantined instance, on every network it is attached to."""


def list_rules(clients: GcpClients, project: GcpProject, owner: str) -> list[Rule]:
    """Every firewall rule of project ``owner`` (the networks' project), in pages of 500."""
    firewalls = clients.compute(project).firewalls

    def fetch(token: str) -> Any:
        request = compute_v1.ListFirewallsRequest(
            project=owner, max_results=PAGE_SIZE, page_token=token
        )
        return firewalls.list(request=request, retry=None, timeout=clients.timeout)

    pages = clients.pages("compute.firewalls.list", f"firewall rules of project {owner}", fetch)
    return [Rule.of(raw) for page in pages for raw in page.items]


def network_owner(network: str) -> str:
    """The project that owns a network path (a Shared VPC's host project, say)."""
    parts = network.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "projects" else ""


def open_to_world(
    rules: Sequence[Rule], network: str, tags: Sequence[str], accounts: Sequence[str]
) -> tuple[PortRange, ...]:
    """The ingress a network's rules allow from anywhere to an instance. Pure.

    An allow rule counts unless, for every family it is open to the world in, a
    deny-everything rule from that family's whole internet applies to the instance at the
    same or a higher priority (a lower number), as the quarantine rules do: a deny from
    ``0.0.0.0/0`` does not close an allow from ``::/0``.
    """
    applying = [
        r
        for r in rules
        if r.network == network
        and r.direction == "INGRESS"
        and not r.disabled
        and r.from_world
        and r.targets(tags, accounts)
    ]
    blocked_at = {
        version: min(
            (r.priority for r in applying if r.denies_everything and version in r.worlds),
            default=None,
        )
        for version in (4, 6)
    }
    found: list[PortRange] = []
    for rule in applying:
        if all(_blocked(blocked_at[v], rule.priority) for v in rule.worlds):
            continue
        for protocol, ports in rule.allowed:
            found.extend(_ranges(protocol, ports))
    return tuple(dict.fromkeys(found))


def _blocked(deny_priority: int | None, priority: int) -> bool:
    return deny_priority is not None and deny_priority <= priority


def _ranges(protocol: str, ports: Sequence[str]) -> Iterable[PortRange]:
    if protocol == "all":
        yield PortRange("all", 0, 65535)
        return
    if protocol not in ("tcp", "udp", "sctp"):
        yield PortRange(protocol, -1, -1)  # icmp and the like: no ports
        return
    if not ports:
        yield PortRange(protocol, 0, 65535)
        return
    for port in ports:
        low, _, high = port.partition("-")
        try:
            yield PortRange(protocol, int(low), int(high or low))
        except ValueError:
            log.warning("ignoring an unreadable port %r in a firewall rule", port)


def isolates(rules: Sequence[Rule], network: str) -> bool:
    """Whether a network has reaper's four deny-all rules for the quarantine tag (ingress
    and egress, IPv4 and IPv6), intact. Pure."""
    return all(
        any(is_quarantine_rule(r, network, deny) for r in rules) for deny in QUARANTINE_RULES
    )


def is_quarantine_rule(rule: Rule, network: str, deny: DenyAll) -> bool:
    """Deny everything to or from the whole internet of ``deny``'s family, at priority 0,
    for the quarantine tag. Pure."""
    return (
        rule.network == network
        and rule.direction == deny.direction
        and not rule.disabled
        and rule.priority == 0
        and rule.denies_everything
        and deny.version in rule.worlds
        and QUARANTINE_TAG in rule.target_tags
        and not rule.target_accounts
    )


def public(raw: compute_v1.Instance) -> bool:
    """Has an external address (IPv4 NAT or external IPv6) on any interface."""
    for nic in raw.network_interfaces:
        if any(a.nat_i_p for a in nic.access_configs):
            return True
        if any(a.external_ipv6 for a in nic.ipv6_access_configs):
            return True
    return False


def networks(raw: compute_v1.Instance) -> tuple[str, ...]:
    return tuple(dict.fromkeys(resource_path(nic.network) for nic in raw.network_interfaces))


def accounts(raw: compute_v1.Instance) -> tuple[str, ...]:
    return tuple(sa.email for sa in raw.service_accounts if sa.email)


def by_owner(paths: Iterable[str]) -> Mapping[str, list[str]]:
    """Network paths grouped by the project that owns them."""
    grouped: dict[str, list[str]] = {}
    for path in paths:
        grouped.setdefault(network_owner(path), []).append(path)
    return grouped
