"""The quarantine firewall of a VPC network: four rules reaper creates on demand.

For each network a quarantined instance is attached to, ``reaper-quarantine-in-<network>``
denies all ingress from ``0.0.0.0/0`` and ``reaper-quarantine-out-<network>`` all egress
to it, and ``reaper-quarantine-in6-<network>`` and ``reaper-quarantine-out6-<network>`` the
same for ``::/0``, at priority 0 (the highest; a deny wins a tie with an allow), for
instances with the network tag ``reaper-quarantine``. A VPC firewall rule holds IPv4 or
IPv6 ranges, never both (the API refuses a rule that mixes them), hence a pair per family;
an instance with an external IPv6 address is cut off over IPv6 too. VPC firewall rules have
no labels: reaper's are known by their name and description, and a rule of that name is
used only if it reads back as exactly that, else the quarantine fails and says so (reaper
does not rewrite rules it did not make). Release leaves the rules in place: they are
shared by every quarantined instance of the network and match nothing once none is tagged.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from google.cloud import compute_v1

from reaper.config import GcpProject
from reaper.errors import ProviderError
from reaper.providers.gcp.clients import GcpClients, status_of
from reaper.providers.gcp.gce_facts import (
    QUARANTINE_RULES,
    DenyAll,
    Rule,
    is_quarantine_rule,
    network_owner,
)
from reaper.providers.gcp.operations import Pending, wait_compute
from reaper.providers.gcp.records import QUARANTINE_TAG

DESCRIPTION = "reaper-managed: quarantine of pipeline VMs; do not edit (deny all, {what})"
_NAME_LIMIT = 63
DIRECTIONS = {"INGRESS": "in", "EGRESS": "out"}


def rule_name(network: str, deny: DenyAll) -> str:
    """``reaper-quarantine-in-default``, ``reaper-quarantine-out6-default`` (IPv6); long
    network names are cut and hashed. Pure."""
    net = network.rsplit("/", 1)[-1]
    way = DIRECTIONS[deny.direction] + ("6" if deny.version == 6 else "")
    name = f"{QUARANTINE_TAG}-{way}-{net}"
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(network.encode()).hexdigest()[:8]
    keep = _NAME_LIMIT - len(f"{QUARANTINE_TAG}-{way}--{digest}")
    return f"{QUARANTINE_TAG}-{way}-{net[:keep].rstrip('-')}-{digest}"


def rule_body(network: str, deny: DenyAll) -> compute_v1.Firewall:
    """The deny-all rule of one direction and family for a network path. Pure."""
    body = compute_v1.Firewall(
        name=rule_name(network, deny),
        network=network,
        direction=deny.direction,
        priority=0,
        denied=[compute_v1.Denied(I_p_protocol="all")],
        target_tags=[QUARANTINE_TAG],
        description=DESCRIPTION.format(what=str(deny)),
    )
    if deny.direction == "INGRESS":
        body.source_ranges = [deny.world]
    else:
        body.destination_ranges = [deny.world]
    return body


@dataclass(frozen=True)
class Ensured:
    """A network's quarantine rules, read back."""

    network: str
    created: tuple[str, ...]


def ensure_rules(
    clients: GcpClients,
    project: GcpProject,
    network: str,
    listed: Sequence[Rule] | None = None,
) -> Ensured:
    """Find or create the four quarantine rules of ``network`` and read them back.

    Each rule is read once, now: ``listed`` (the owner's rules as this sweep listed them,
    if it did) only spares the read of a rule it shows missing, which is created at once
    (a 409 means someone made it meanwhile: it is read); one it shows is read again, for
    it may be gone or changed since. Rules go in the project that owns the network (a
    Shared VPC's host project); missing ones are inserted side by side, their operations
    waited for together and read back side by side. Raises ProviderError when a rule
    cannot be made or reads back as something else.
    """
    owner = network_owner(network) or project.project_id
    firewalls = clients.compute(project).firewalls
    found: dict[DenyAll, Rule | None]
    read = partial(_read_rule, clients, project, owner, network)
    names = {rule.name for rule in listed} if listed is not None else None
    shown = [d for d in QUARANTINE_RULES if names is None or rule_name(network, d) in names]
    found = dict.fromkeys(QUARANTINE_RULES)
    found.update(zip(shown, clients.parallel(project, read, shown), strict=True))
    missing = [d for d, rule in found.items() if rule is None]

    def insert(deny: DenyAll) -> Pending | None:
        body = rule_body(network, deny)
        request = compute_v1.InsertFirewallRequest(
            project=owner, firewall_resource=body, request_id=str(uuid.uuid4())
        )
        try:
            op = clients.call(
                "compute.firewalls.insert",
                f"firewall rule {body.name} in project {owner}",
                partial(
                    firewalls.insert_unary, request=request, retry=None, timeout=clients.timeout
                ),
                request_id=True,
            )
        except ProviderError as err:
            if status_of(err) != 409:  # 409: made meanwhile by someone else; read below
                raise
            return None
        return Pending(deny, op.name)

    pending = [p for p in clients.parallel(project, insert, missing) if p is not None]
    if pending:
        finished = wait_compute(clients, project, pending, f"project {owner}")
        failed = [f"{k}: {f.error or 'still running'}" for k, f in finished.items() if not f.ok]
        if failed:
            raise ProviderError(f"creating quarantine rules failed: {'; '.join(failed)}")
    found.update(zip(missing, clients.parallel(project, read, missing), strict=True))
    for deny, rule in found.items():
        if rule is None or not is_quarantine_rule(rule, network, deny):
            raise ProviderError(
                f"firewall rule {rule_name(network, deny)} in project {owner} is not "
                f"reaper's deny-all {deny} rule (changed, or made by someone else): fix or "
                "delete it"
            )
    return Ensured(network, tuple(rule_name(network, d) for d in missing))


def _read_rule(
    clients: GcpClients, project: GcpProject, owner: str, network: str, deny: DenyAll
) -> Rule | None:
    return _read(clients, project, owner, rule_name(network, deny))


def _read(clients: GcpClients, project: GcpProject, owner: str, name: str) -> Rule | None:
    firewalls = clients.compute(project).firewalls
    try:
        raw = clients.call(
            "compute.firewalls.get",
            f"firewall rule {name} in project {owner}",
            lambda: firewalls.get(
                project=owner, firewall=name, retry=None, timeout=clients.timeout
            ),
        )
    except ProviderError as err:
        if status_of(err) == 404:
            return None
        raise
    return Rule.of(raw)
