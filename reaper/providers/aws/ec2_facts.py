"""What an EC2 instance runs and who can reach it: image details and open firewall rules.

Fetched once per distinct image and security group per scope and sweep, in batches, so
a thousand instances from three AMIs cost one DescribeImages call, not a thousand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from reaper.model import ImageFacts, PortRange, Scope
from reaper.providers.aws.clients import translate_errors

FILTER_BATCH = 200  # values per filter; EC2 allows 200
WORLD = ("0.0.0.0/0", "::/0")


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


def open_rules(
    ec2: Any, scope: Scope, group_ids: Iterable[str]
) -> dict[str, tuple[PortRange, ...]]:
    """For each security group, its inbound rules open to 0.0.0.0/0 or ::/0."""
    wanted = sorted(set(group_ids))
    rules: dict[str, tuple[PortRange, ...]] = dict.fromkeys(wanted, ())
    for start in range(0, len(wanted), FILTER_BATCH):
        batch = wanted[start : start + FILTER_BATCH]
        with translate_errors(f"ec2 DescribeSecurityGroups in {scope}"):
            pages = ec2.get_paginator("describe_security_groups").paginate(
                Filters=[{"Name": "group-id", "Values": batch}]
            )
            for page in pages:
                for group in page.get("SecurityGroups", []):
                    rules[str(group.get("GroupId"))] = tuple(
                        _world_ranges(group.get("IpPermissions") or [])
                    )
    return rules


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
