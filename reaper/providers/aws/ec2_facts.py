"""What an EC2 instance runs and who can reach it: image details and open firewall rules.

Fetched once per distinct image and security group per scope and sweep, in batches, so
a thousand instances from three AMIs cost one DescribeImages call, not a thousand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reaper.model import WORLD, ImageFacts, PortRange, Scope
from reaper.providers.aws.clients import translate_errors

QUARANTINE_GROUP = "reaper-quarantine"
"""The name of the deny-all security group reaper makes in each VPC to isolate instances."""
MANAGED_TAG = "reaper-managed"

FILTER_BATCH = 200  # values per filter; EC2 allows 200


def images(ec2: Any, scope: Scope, image_ids: Iterable[str]) -> dict[str, ImageFacts]:
    """Facts about each image; ids EC2 no longer knows (deregistered, unshared) are missing."""
    wanted = sorted(set(image_ids))
    found: dict[str, ImageFacts] = {}
    for start in range(0, len(wanted), FILTER_BATCH):
        batch = wanted[start : start + FILTER_BATCH]
        with translate_errors(f"ec2 DescribeImages in {scope}"):
            answer = ec2.describe_images(
                Filters=[{"Name": "image-id", "Values": batch}], IncludeDeprecated=True
            )
        for raw in answer.get("Images", []):
            image_id = str(raw.get("ImageId", ""))
            found[image_id] = ImageFacts(
                image_id,
                created_at=_timestamp(raw.get("CreationDate")),
                deprecated_at=_timestamp(raw.get("DeprecationTime")),
            )
    return {i: found.get(i) or ImageFacts(i, missing=True) for i in wanted}


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What a security group tells about the instances in it."""

    open_to_world: tuple[PortRange, ...] = ()
    """Its inbound rules open to 0.0.0.0/0 or ::/0."""
    vpc_id: str = ""
    reapers: bool = False
    """Named ``reaper-quarantine`` and tagged ``reaper-managed=true``: reaper's own."""
    closed: bool = False
    """Without a single inbound or outbound rule."""

    @property
    def quarantine(self) -> bool:
        """A quarantine group as reaper makes them: its own, letting nothing through."""
        return self.reapers and self.closed


def security_groups(ec2: Any, scope: Scope, group_ids: Iterable[str]) -> dict[str, GroupFacts]:
    """The facts of each security group; groups EC2 no longer knows are left out."""
    wanted = sorted(set(group_ids))
    found: dict[str, GroupFacts] = {}
    for start in range(0, len(wanted), FILTER_BATCH):
        batch = wanted[start : start + FILTER_BATCH]
        with translate_errors(f"ec2 DescribeSecurityGroups in {scope}"):
            pages = ec2.get_paginator("describe_security_groups").paginate(
                Filters=[{"Name": "group-id", "Values": batch}]
            )
            for page in pages:
                for group in page.get("SecurityGroups", []):
                    found[str(group.get("GroupId"))] = group_facts(group)
    return found


def group_facts(group: Mapping[str, Any]) -> GroupFacts:
    """The facts of one described security group. Pure."""
    tags = {t.get("Key"): t.get("Value") for t in group.get("Tags") or []}
    return GroupFacts(
        open_to_world=tuple(_world_ranges(group.get("IpPermissions") or [])),
        vpc_id=str(group.get("VpcId", "")),
        reapers=group.get("GroupName") == QUARANTINE_GROUP and tags.get(MANAGED_TAG) == "true",
        closed=not group.get("IpPermissions") and not group.get("IpPermissionsEgress"),
    )


def is_public(raw: Mapping[str, Any]) -> bool:
    """Has a public IPv4 address, on the instance or any of its interfaces."""
    if raw.get("PublicIpAddress"):
        return True
    return any(
        (eni.get("Association") or {}).get("PublicIp")
        for eni in raw.get("NetworkInterfaces", []) or []
    )


def group_ids(raw: Mapping[str, Any]) -> set[str]:
    ids = {str(g["GroupId"]) for g in raw.get("SecurityGroups", []) or [] if "GroupId" in g}
    for eni in raw.get("NetworkInterfaces", []) or []:
        ids.update(str(g["GroupId"]) for g in eni.get("Groups", []) or [] if "GroupId" in g)
    return ids


def _world_ranges(permissions: Iterable[Mapping[str, Any]]) -> Iterable[PortRange]:
    for permission in permissions:
        cidrs = [r.get("CidrIp") for r in permission.get("IpRanges", []) or []]
        cidrs += [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", []) or []]
        if not any(c in WORLD for c in cidrs):
            continue
        protocol = str(permission.get("IpProtocol", "-1"))
        if protocol == "-1":
            yield PortRange("all", 0, 65535)
        else:
            yield PortRange(
                protocol,
                int(permission.get("FromPort", 0)),
                int(permission.get("ToPort", 65535)),
            )


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
