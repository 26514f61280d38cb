"""EC2 instances left behind by pipeline runs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from reaper.config import TagKeys
from reaper.errors import ProviderError
from reaper.model import Action, Collected, Outcome, Resource, ResourceRef, Result, Scope
from reaper.providers.aws.clients import AwsClients, error_code, translate_errors
from reaper.providers.base import ResourceKind, register

log = logging.getLogger(__name__)

# Terminated and shutting-down instances are already on their way out.
LIVE_STATES = ("pending", "running", "stopping", "stopped")
# A TerminateInstances answer whose PreviousState is one of these found nothing to do.
GONE_STATES = ("shutting-down", "terminated")
TERMINATE_BATCH = 1000
_NOT_FOUND = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
_INSTANCE_ID = re.compile(r"i-[0-9a-f]+")


@register
class Ec2Instances(ResourceKind):
    provider = "aws"
    kind = "ec2_instance"
    permissions = ("ec2:DescribeInstances", "ec2:TerminateInstances", "sts:GetCallerIdentity")
    delete_order = 50

    def __init__(self, clients: AwsClients, tags: TagKeys) -> None:
        self._clients = clients
        self._tags = tags

    def scopes(self) -> Sequence[Scope]:
        return self._clients.scopes()

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope)

    def collect(self, scope: Scope) -> Collected:
        ec2 = self._clients.client(scope, "ec2")
        resources: list[Resource] = []
        skipped = 0
        with translate_errors(f"ec2 DescribeInstances in {scope}"):
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[
                    {"Name": "tag-key", "Values": [self._tags.pipeline]},
                    {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
                ],
                PaginationConfig={"PageSize": 1000},
            )
            for raw in _instances(pages):
                resource = self._to_resource(scope, raw)
                if resource is None:
                    skipped += 1
                else:
                    resources.append(resource)
        return Collected(tuple(resources), skipped)

    def _to_resource(self, scope: Scope, raw: Mapping[str, Any]) -> Resource | None:
        instance_id = raw.get("InstanceId")
        if not isinstance(instance_id, str) or not instance_id:
            log.warning("skipping an EC2 instance without InstanceId in %s", scope)
            return None
        tags = _tags(raw.get("Tags"))
        if tags is None:
            log.warning("skipping EC2 instance %s in %s: unreadable tags", instance_id, scope)
            return None
        return Resource(
            ref=ResourceRef(self.provider, self.kind, scope, instance_id),
            name=tags.get("Name", instance_id),
            created_at=_created_at(raw),
            tags=tags,
            state=str(raw.get("State", {}).get("Name", "")),
            pipeline_run=tags.get(self._tags.pipeline),
            owner=tags.get(self._tags.owner),
        )

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        ec2 = self._clients.client(scope, "ec2")
        outcomes: list[Outcome] = []
        ids = [r.ref.id for r in resources]
        refs = {r.ref.id: r.ref for r in resources}
        for start in range(0, len(ids), TERMINATE_BATCH):
            batch = ids[start : start + TERMINATE_BATCH]
            for instance_id, result, message in _terminate(ec2, scope, batch):
                outcomes.append(Outcome(refs[instance_id], Action.DELETE, result, message))
        return outcomes


def _terminate(ec2: Any, scope: Scope, ids: list[str]) -> Iterator[tuple[str, Result, str]]:
    """Terminate a batch; ids that do not exist count as done, other errors are isolated."""
    pending = list(ids)
    while pending:
        try:
            with translate_errors(f"ec2 TerminateInstances in {scope}"):
                answer = ec2.terminate_instances(InstanceIds=pending)
        except ProviderError as err:
            if error_code(err) in _NOT_FOUND:
                missing = set(_INSTANCE_ID.findall(str(err))) & set(pending)
                if missing:
                    for instance_id in sorted(missing):
                        yield instance_id, Result.ALREADY_GONE, "instance does not exist"
                    pending = [i for i in pending if i not in missing]
                    continue
            if len(pending) == 1:
                yield pending[0], Result.FAILED, str(err)
                return
            # One bad instance (termination protection, a policy deny) fails the whole
            # call: fall back to one call per instance so the others still go.
            for instance_id in pending:
                yield from _terminate(ec2, scope, [instance_id])
            return
        states = {
            item.get("InstanceId"): (
                item.get("PreviousState", {}).get("Name", ""),
                item.get("CurrentState", {}).get("Name", ""),
            )
            for item in answer.get("TerminatingInstances", [])
        }
        for instance_id in pending:
            found = states.get(instance_id)
            if found is None:
                yield instance_id, Result.FAILED, "not in TerminateInstances answer"
            elif found[0] in GONE_STATES:
                # EC2 accepts terminating a terminated instance and says what it was.
                yield instance_id, Result.ALREADY_GONE, f"already {found[0]}"
            else:
                yield instance_id, Result.DONE, f"state {found[1]}"
        return


def _instances(pages: Any) -> Iterator[Mapping[str, Any]]:
    for page in pages:
        for reservation in page.get("Reservations", []):
            yield from reservation.get("Instances", [])


def _tags(raw: object) -> dict[str, str] | None:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        return None
    tags = {}
    for item in raw:
        key, value = item.get("Key"), item.get("Value", "")
        if not isinstance(key, str) or not isinstance(value, str):
            return None
        tags[key] = value
    return tags


def _created_at(raw: Mapping[str, Any]) -> datetime | None:
    """The earliest known time of the instance's life.

    LaunchTime moves forward on every stop/start; the attach time of the primary network
    interface and of the root volume stay at the original launch.
    """
    times: list[datetime] = []
    launch = raw.get("LaunchTime")
    if isinstance(launch, datetime):
        times.append(launch)
    for eni in raw.get("NetworkInterfaces", []) or []:
        attachment = eni.get("Attachment", {})
        when = attachment.get("AttachTime")
        if attachment.get("DeviceIndex") == 0 and isinstance(when, datetime):
            times.append(when)
    root = raw.get("RootDeviceName")
    for device in raw.get("BlockDeviceMappings", []) or []:
        when = device.get("Ebs", {}).get("AttachTime")
        if device.get("DeviceName") == root and isinstance(when, datetime):
            times.append(when)
    aware = [t for t in times if t.tzinfo is not None]
    return min(aware) if aware else None
