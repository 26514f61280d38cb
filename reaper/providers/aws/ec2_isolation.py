"""Quarantine and release of EC2 instances: stop them and swap their security groups.

The original groups of every network interface, and the original state, are recorded on
the instance as tags before anything changes, so a release can restore them and a crash
halfway through can be finished by the next sweep. Whether an instance is isolated is
read back (:func:`isolation_problems`) after a quarantine and on every later sweep.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.aws.clients import translate_errors
from reaper.providers.aws.ec2_facts import MANAGED_TAG, QUARANTINE_GROUP, GroupFacts

ORIGINAL_GROUPS = "reaper-original-sgs"
ORIGINAL_STATE = "reaper-original-state"


def encode_groups(groups: Mapping[str, Sequence[str]]) -> str:
    """``{eni-1: [sg-a, sg-b]}`` -> ``eni-1=sg-a+sg-b`` (valid AWS tag characters)."""
    return " ".join(f"{eni}={'+'.join(sgs)}" for eni, sgs in sorted(groups.items()))


def decode_groups(value: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for part in value.split():
        eni, _, sgs = part.partition("=")
        if not eni.startswith("eni-") or not sgs:
            raise ProviderError(f"tag {ORIGINAL_GROUPS} is malformed: {value!r}")
        groups[eni] = sgs.split("+")
    return groups


class QuarantineGroups:
    """Finds or creates the deny-all quarantine security group of each VPC, once per VPC."""

    def __init__(self) -> None:
        self._groups: dict[tuple[Scope, str], str] = {}
        self._lock = threading.Lock()

    def group_for(self, ec2: Any, scope: Scope, vpc_id: str) -> str:
        with self._lock:
            cached = self._groups.get((scope, vpc_id))
            if cached is None:
                cached = _find_or_create(ec2, scope, vpc_id)
                self._groups[(scope, vpc_id)] = cached
            return cached

    def forget(self, scope: Scope, group_id: str) -> None:
        """Look the group up again next time (it read back open: close it, or fail)."""
        with self._lock:
            for key in [k for k, v in self._groups.items() if k[0] == scope and v == group_id]:
                del self._groups[key]


def _find_or_create(ec2: Any, scope: Scope, vpc_id: str) -> str:
    found = _describe_group(ec2, scope, vpc_id)
    if found is None:
        with translate_errors(f"ec2 CreateSecurityGroup in {scope}"):
            ec2.create_security_group(
                GroupName=QUARANTINE_GROUP,
                Description="reaper quarantine: no inbound, no outbound traffic",
                VpcId=vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [{"Key": MANAGED_TAG, "Value": "true"}],
                    }
                ],
            )
        # Read it back: a new group comes with allow-all outbound rules (IPv4, and IPv6
        # in a dual-stack VPC) that _closed revokes, whatever they are.
        found = _describe_group(ec2, scope, vpc_id)
        if found is None:
            raise ProviderError(f"quarantine group in {vpc_id} vanished after creation")
    return _closed(ec2, scope, vpc_id, found)


def _describe_group(ec2: Any, scope: Scope, vpc_id: str) -> Mapping[str, Any] | None:
    with translate_errors(f"ec2 DescribeSecurityGroups in {scope}"):
        found = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": [QUARANTINE_GROUP]},
            ]
        )["SecurityGroups"]
    return found[0] if found else None


def _closed(ec2: Any, scope: Scope, vpc_id: str, group: Mapping[str, Any]) -> str:
    """The id of a found quarantine group, after making sure it lets no traffic through.

    A creation interrupted between CreateSecurityGroup and RevokeSecurityGroupEgress (a
    crash, a throttled or denied revoke) leaves the group with AWS's allow-all outbound
    rule, and people can add rules to it later: isolating an instance in it as found would
    not isolate it. Outbound rules are revoked; inbound rules, which reaper has no
    permission to revoke, make the quarantine fail rather than pretend.
    """
    group_id = str(group["GroupId"])
    if group.get("IpPermissions"):
        raise ProviderError(
            f"quarantine group {group_id} in {vpc_id} allows inbound traffic; "
            "remove its inbound rules"
        )
    tags = {t.get("Key"): t.get("Value") for t in group.get("Tags") or []}
    if tags.get(MANAGED_TAG) != "true":
        raise ProviderError(
            f"security group {group_id} in {vpc_id} is named {QUARANTINE_GROUP} but reaper "
            f"did not make it (no {MANAGED_TAG}=true tag); rename it, or tag it if it is "
            "meant to be reaper's"
        )
    egress = group.get("IpPermissionsEgress") or []
    if egress:
        with translate_errors(f"ec2 RevokeSecurityGroupEgress {group_id} in {scope}"):
            ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=egress)
    return group_id


def interface_groups(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    """The security groups of each network interface of a described instance."""
    return {
        str(eni["NetworkInterfaceId"]): [str(g["GroupId"]) for g in eni.get("Groups", [])]
        for eni in raw.get("NetworkInterfaces", []) or []
    }


ISOLATED_STATES = ("stopping", "stopped")


def isolation_problems(raw: Mapping[str, Any], groups: Mapping[str, GroupFacts]) -> list[str]:
    """Why a described instance is not isolated; empty when it is. Pure.

    Isolated: stopped (or stopping), and every network interface in its VPC's quarantine
    group alone, that group letting no traffic in or out (``groups``: the facts of the
    groups the interfaces are in; a group missing from it counts as open).
    """
    problems = []
    state = str(raw.get("State", {}).get("Name", ""))
    if state not in ISOLATED_STATES:
        problems.append(f"it is {state or 'in an unknown state'}, not stopped")
    vpc_id = raw.get("VpcId")
    interfaces = interface_groups(raw)
    if not interfaces:
        problems.append("it has no network interface reaper can see")
    for eni, group_ids in sorted(interfaces.items()):
        facts = [groups.get(g) for g in group_ids]
        ours = len(group_ids) == 1 and all(
            f is not None and f.reapers and f.vpc_id == vpc_id for f in facts
        )
        if not ours:
            problems.append(
                f"{eni} is in {'+'.join(group_ids) or 'no group'}, not in its VPC's "
                f"{QUARANTINE_GROUP} group alone"
            )
        elif not all(f is not None and f.closed for f in facts):
            problems.append(
                f"{eni} is in {QUARANTINE_GROUP} group {group_ids[0]}, which has rules that "
                "let traffic through"
            )
    return problems


def isolate(ec2: Any, scope: Scope, raw: Mapping[str, Any], group_id: str) -> None:
    """Swap every interface's groups for the quarantine group, then stop the instance."""
    instance_id = raw["InstanceId"]
    for eni, groups in interface_groups(raw).items():
        if groups != [group_id]:
            with translate_errors(f"ec2 ModifyNetworkInterfaceAttribute {eni} in {scope}"):
                ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[group_id])
    if raw.get("State", {}).get("Name") in ("pending", "running"):
        with translate_errors(f"ec2 StopInstances {instance_id} in {scope}"):
            ec2.stop_instances(InstanceIds=[instance_id])


def restore(ec2: Any, scope: Scope, raw: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Put back the recorded groups and start the instance if it was running."""
    instance_id = raw["InstanceId"]
    recorded = tags.get(ORIGINAL_GROUPS)
    if recorded:
        current = interface_groups(raw)
        for eni, groups in decode_groups(recorded).items():
            if eni in current and current[eni] != groups:
                with translate_errors(f"ec2 ModifyNetworkInterfaceAttribute {eni} in {scope}"):
                    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=groups)
    state = raw.get("State", {}).get("Name")
    if tags.get(ORIGINAL_STATE) == "running" and state in ("stopped", "stopping"):
        with translate_errors(f"ec2 StartInstances {instance_id} in {scope}"):
            if state == "stopping":
                ec2.get_waiter("instance_stopped").wait(
                    InstanceIds=[instance_id], WaiterConfig={"Delay": 2, "MaxAttempts": 30}
                )
            ec2.start_instances(InstanceIds=[instance_id])
