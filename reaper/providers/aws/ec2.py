"""EC2 instances left behind by pipeline runs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from reaper import lifecycle
from reaper.config import TagKeys
from reaper.errors import ProviderError
from reaper.lifecycle import SignedTags, State, StateSigner, quarantined_tags
from reaper.model import (
    Action,
    Collected,
    Decision,
    Outcome,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.providers.aws import ec2_facts
from reaper.providers.aws.clients import AwsClients, error_code, translate_errors
from reaper.providers.aws.ec2_facts import GroupFacts
from reaper.providers.aws.ec2_isolation import (
    ORIGINAL_GROUPS,
    ORIGINAL_STATE,
    QuarantineGroups,
    encode_groups,
    interface_groups,
    isolate,
    isolation_problems,
    restore,
)
from reaper.providers.base import ResourceKind, register

log = logging.getLogger(__name__)

# A call on a batch of instance ids: None means every id is done, else a result per id.
BatchCall = Callable[[list[str]], "dict[str, tuple[Result, str]] | None"]
# What the facts need of one described instance: the resource, its image id, its
# security group ids, and for an instance reaper quarantined, what its isolation is
# judged on (:func:`_isolation_view`).
Read = tuple[Resource, str, tuple[str, ...], "Mapping[str, Any] | None"]
_NO_GROUP = GroupFacts()

# Terminated and shutting-down instances are already on their way out.
LIVE_STATES = ("pending", "running", "stopping", "stopped")
# On the way to stopped: collected as ``transitioning``, which the policy keeps
# (``in-transition``) until a later sweep sees it settled, as GCE's STOPPING. A pending
# instance is swept, as GCE's PROVISIONING and STAGING are.
TRANSITIONING = ("stopping",)
# A TerminateInstances answer whose PreviousState is one of these found nothing to do.
GONE_STATES = ("shutting-down", "terminated")
TERMINATE_BATCH = 1000
_NOT_FOUND = ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
_INSTANCE_ID = re.compile(r"i-[0-9a-f]+")


@register
class Ec2Instances(ResourceKind):
    provider = "aws"
    kind = "ec2_instance"
    permissions = (
        "ec2:DescribeInstances",
        "ec2:DescribeImages",
        "ec2:TerminateInstances",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:StopInstances",
        "ec2:StartInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:ModifyNetworkInterfaceAttribute",
        "sts:GetCallerIdentity",
    )
    state_tags = (ORIGINAL_GROUPS, ORIGINAL_STATE)
    audited_tags = ("Name",)
    delete_order = 50
    id_pattern = r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})"
    id_shape = "i- and 8 or 17 lowercase hex digits, e.g. i-0abc1234def567890"

    def __init__(
        self, clients: AwsClients, tags: TagKeys, signer: StateSigner | None = None
    ) -> None:
        self._clients = clients
        self._tags = tags
        self._signer = signer or StateSigner(None, ())
        self._quarantine_groups = QuarantineGroups()

    def scopes(self) -> Sequence[Scope]:
        return self._clients.scopes()

    def is_shared(self, scope: Scope) -> bool:
        return self._clients.is_error_scope(scope)

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope)

    def collect(self, scope: Scope) -> Collected:
        ec2 = self._clients.client(scope, "ec2")
        with translate_errors(f"ec2 DescribeInstances in {scope}"):
            pages = ec2.get_paginator("describe_instances").paginate(
                Filters=[
                    {"Name": "tag-key", "Values": [self._tags.pipeline]},
                    {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
                ],
                PaginationConfig={"PageSize": 1000},
            )
            read = self._read(scope, _instances(pages))
        return self._with_facts(scope, *read)

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        raws = (
            raw
            for raw in self._describe(scope, ids).values()
            if raw.get("State", {}).get("Name") in LIVE_STATES
        )
        return self._with_facts(scope, *self._read(scope, raws))

    def _read(self, scope: Scope, raws: Iterable[Mapping[str, Any]]) -> tuple[list[Read], int]:
        """Resources from instance descriptions, one at a time, keeping only what the facts
        need (image id, group ids, and the interfaces of quarantined instances): a
        description is ~10 KB, a resource ~2 KB."""
        read: list[Read] = []
        skipped = 0
        for raw in raws:
            resource = self._to_resource(scope, raw)
            if resource is None:
                skipped += 1
                continue
            resource = replace(resource, public=ec2_facts.is_public(raw))
            groups = tuple(sorted(ec2_facts.group_ids(raw)))
            view = _isolation_view(raw) if self._quarantined(resource) else None
            read.append((resource, str(raw.get("ImageId", "")), groups, view))
        return read, skipped

    def _quarantined(self, resource: Resource) -> bool:
        """Its tags say reaper quarantined it, and they are reaper's (signed)."""
        tags = resource.tags
        return tags.get(lifecycle.STATE) == State.QUARANTINED and self._signer.verify(
            resource.ref, tags
        )

    def _with_facts(self, scope: Scope, read: list[Read], skipped: int) -> Collected:
        """Attach image, exposure and isolation facts, looked up once per distinct image
        and group (a quarantined instance's groups are among them: its isolation costs no
        request of its own)."""
        ec2 = self._clients.client(scope, "ec2")
        image_facts = ec2_facts.images(ec2, scope, {image for _, image, _, _ in read if image})
        groups = ec2_facts.security_groups(ec2, scope, {g for _, _, ids, _ in read for g in ids})
        resources = [
            replace(
                resource,
                image=image_facts.get(image),
                open_to_world=tuple(
                    dict.fromkeys(r for g in ids for r in groups.get(g, _NO_GROUP).open_to_world)
                ),
                isolated=None if view is None else not isolation_problems(view, groups),
            )
            for resource, image, ids, view in read
        ]
        return Collected(tuple(resources), skipped)

    def tag(
        self, scope: Scope, resources: Sequence[Resource], tags: Mapping[str, str], action: Action
    ) -> list[Outcome]:
        ec2 = self._clients.client(scope, "ec2")
        pairs = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

        def call(ids: list[str]) -> None:
            ec2.create_tags(Resources=ids, Tags=pairs)

        return self._batched(scope, resources, action, "CreateTags", call)

    def untag(
        self, scope: Scope, resources: Sequence[Resource], keys: Sequence[str], action: Action
    ) -> list[Outcome]:
        ec2 = self._clients.client(scope, "ec2")

        def call(ids: list[str]) -> None:
            ec2.delete_tags(Resources=ids, Tags=[{"Key": k} for k in keys])

        return self._batched(scope, resources, action, "DeleteTags", call)

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        """Record the originals, isolate, read the isolation back, then record the state.

        The state tag says quarantined only once every interface reads back in the
        quarantine group and the instance reads back stopped: a quarantine that fails or
        is cut short part-way leaves the instance as it was marked (with its originals
        recorded, signed), and the policy quarantines it again. Reads back all the
        instances of one call with one DescribeInstances and one DescribeSecurityGroups.
        """
        ec2 = self._clients.client(scope, "ec2")
        described = self._describe(scope, [d.ref.id for d in decisions])
        outcomes: dict[str, Outcome] = {}
        isolating: dict[str, tuple[Decision, SignedTags, str]] = {}
        for decision in decisions:
            raw = described.get(decision.ref.id)
            if raw is None or raw.get("State", {}).get("Name") not in LIVE_STATES:
                outcomes[decision.ref.id] = Outcome(
                    decision.ref, Action.QUARANTINE, Result.ALREADY_GONE, "not found"
                )
                continue
            # Only what reaper signed counts: originals someone else wrote are not kept.
            trusted = decision.resource.tags if decision.verified else {}
            tags = SignedTags(self._signer, decision.ref, trusted, _tags(raw.get("Tags")) or {})
            try:
                group_id = self._isolate(ec2, scope, raw, tags)
            except ProviderError as err:
                outcomes[decision.ref.id] = _failed(decision, str(err), tags)
            else:
                isolating[decision.ref.id] = (decision, tags, group_id)
        if isolating:
            outcomes.update(self._read_back(ec2, scope, isolating, now))
        return [outcomes[d.ref.id] for d in decisions]

    def _isolate(self, ec2: Any, scope: Scope, raw: Mapping[str, Any], tags: SignedTags) -> str:
        """Record the originals (once, before any change), then isolate; the group's id."""
        instance_id = str(raw["InstanceId"])
        vpc_id = raw.get("VpcId")
        if not vpc_id:
            raise ProviderError(f"{instance_id} has no VPC; cannot isolate it")
        # Record the originals once, signed, the mark still in place: a retry after a
        # crash or a failure must not record the quarantine group as the original.
        if ORIGINAL_GROUPS not in tags.trusted:
            originals = {
                ORIGINAL_GROUPS: encode_groups(interface_groups(raw)),
                ORIGINAL_STATE: str(raw.get("State", {}).get("Name", "")),
            }
            self._write_owned(ec2, scope, instance_id, tags, originals)
        group_id = self._quarantine_groups.group_for(ec2, scope, str(vpc_id))
        isolate(ec2, scope, raw, group_id)
        return group_id

    def _read_back(
        self,
        ec2: Any,
        scope: Scope,
        isolating: Mapping[str, tuple[Decision, SignedTags, str]],
        now: datetime,
    ) -> dict[str, Outcome]:
        """Describe the isolated instances and their groups; record the state where the
        isolation reads back complete, fail the others."""
        try:
            after = self._describe(scope, list(isolating))
            group_ids = {g for raw in after.values() for g in ec2_facts.group_ids(raw)}
            groups = ec2_facts.security_groups(ec2, scope, group_ids)
        except ProviderError as err:
            return {
                i: _failed(d, f"isolation could not be read back: {err}", tags)
                for i, (d, tags, _) in isolating.items()
            }
        outcomes: dict[str, Outcome] = {}
        for instance_id, (decision, tags, group_id) in isolating.items():
            raw = after.get(instance_id)
            if raw is None:
                outcomes[instance_id] = Outcome(
                    decision.ref, Action.QUARANTINE, Result.ALREADY_GONE, "gone while isolating"
                )
                continue
            problems = isolation_problems(raw, groups)
            if problems:
                if not groups.get(group_id, _NO_GROUP).quarantine:
                    self._quarantine_groups.forget(scope, group_id)
                message = f"isolation did not read back complete: {'; '.join(problems)}"
                outcomes[instance_id] = _failed(decision, message, tags)
                continue
            reason = decision.reasons[0] if decision.reasons else "policy"
            state = quarantined_tags(tags.trusted, now, reason)
            try:
                self._write_owned(ec2, scope, instance_id, tags, state)
            except ProviderError as err:
                outcomes[instance_id] = _failed(decision, str(err), tags)
                continue
            outcomes[instance_id] = Outcome(
                decision.ref, Action.QUARANTINE, Result.DONE, f"stopped and isolated in {group_id}"
            )
        return outcomes

    def _write_owned(
        self,
        ec2: Any,
        scope: Scope,
        instance_id: str,
        tags: SignedTags,
        updates: Mapping[str, str | None],
    ) -> None:
        """Change reaper's own tags on one instance, signed; ``tags`` follows each call."""
        change = tags.change(updates)
        if change.remove:
            with translate_errors(f"ec2 DeleteTags {instance_id} in {scope}"):
                ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": k} for k in change.remove])
            tags.removed(change)
        if change.write:
            with translate_errors(f"ec2 CreateTags {instance_id} in {scope}"):
                ec2.create_tags(
                    Resources=[instance_id],
                    Tags=[{"Key": k, "Value": v} for k, v in sorted(change.write.items())],
                )
        tags.written(change)

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        ec2 = self._clients.client(scope, "ec2")
        raw = self._describe(scope, [resource.ref.id]).get(resource.ref.id)
        if raw is None or raw.get("State", {}).get("Name") not in LIVE_STATES:
            return Outcome(resource.ref, Action.RELEASE, Result.ALREADY_GONE, "not found")
        current = _tags(raw.get("Tags")) or {}
        try:
            # What to restore comes from the tags the caller verified, never from tags
            # read afresh: those could have been rewritten since.
            restore(ec2, scope, raw, resource.tags)
            owned = self._signer.owned(current)
            keys = sorted(owned) + ([lifecycle.SIGNATURE] if lifecycle.SIGNATURE in current else [])
            if keys:
                with translate_errors(f"ec2 DeleteTags {resource.ref.id} in {scope}"):
                    ec2.delete_tags(Resources=[resource.ref.id], Tags=[{"Key": k} for k in keys])
        except ProviderError as err:
            return Outcome(resource.ref, Action.RELEASE, Result.FAILED, str(err))
        return Outcome(resource.ref, Action.RELEASE, Result.DONE, "released")

    def _describe(self, scope: Scope, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Describe instances by id; ids that do not exist are left out."""
        ec2 = self._clients.client(scope, "ec2")
        found: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(ids), TERMINATE_BATCH):
            pending = list(ids[start : start + TERMINATE_BATCH])
            while pending:
                try:
                    with translate_errors(f"ec2 DescribeInstances in {scope}"):
                        pages = ec2.get_paginator("describe_instances").paginate(
                            InstanceIds=pending
                        )
                        for raw in _instances(pages):
                            found[str(raw.get("InstanceId"))] = raw
                except ProviderError as err:
                    missing = _missing_ids(err, pending)
                    if not missing:
                        raise
                    pending = [i for i in pending if i not in missing]
                    continue
                break
        return found

    def _batched(
        self,
        scope: Scope,
        resources: Sequence[Resource],
        action: Action,
        operation: str,
        call: BatchCall,
    ) -> list[Outcome]:
        """Run a call on batches of ids; missing ids are gone, other failures isolated."""
        outcomes: list[Outcome] = []
        refs = {r.ref.id: r.ref for r in resources}
        ids = list(refs)
        for start in range(0, len(ids), TERMINATE_BATCH):
            for instance_id, result, message in _isolating(
                scope, ids[start : start + TERMINATE_BATCH], operation, call
            ):
                outcomes.append(Outcome(refs[instance_id], action, result, message))
        return outcomes

    def _to_resource(self, scope: Scope, raw: Mapping[str, Any]) -> Resource | None:
        instance_id = raw.get("InstanceId")
        if not isinstance(instance_id, str) or not instance_id:
            log.warning("skipping an EC2 instance without InstanceId in %s", scope)
            return None
        tags = _tags(raw.get("Tags"))
        if tags is None:
            log.warning("skipping EC2 instance %s in %s: unreadable tags", instance_id, scope)
            return None
        state = str(raw.get("State", {}).get("Name", ""))
        return Resource(
            ref=ResourceRef(self.provider, self.kind, scope, instance_id),
            name=tags.get("Name", instance_id),
            created_at=_created_at(raw),
            tags=tags,
            state=state,
            pipeline_run=tags.get(self._tags.pipeline),
            owner=tags.get(self._tags.owner),
            transitioning=state in TRANSITIONING,
        )

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        ec2 = self._clients.client(scope, "ec2")

        def call(ids: list[str]) -> dict[str, tuple[Result, str]]:
            answer = ec2.terminate_instances(InstanceIds=ids)
            results = {}
            for item in answer.get("TerminatingInstances", []):
                before = item.get("PreviousState", {}).get("Name", "")
                if before in GONE_STATES:
                    # EC2 accepts terminating a terminated instance and says what it was.
                    results[item.get("InstanceId")] = (Result.ALREADY_GONE, f"already {before}")
                else:
                    state = item.get("CurrentState", {}).get("Name", "")
                    results[item.get("InstanceId")] = (Result.DONE, f"state {state}")
            return results

        return self._batched(scope, resources, Action.DELETE, "TerminateInstances", call)


def _failed(decision: Decision, message: str, tags: SignedTags) -> Outcome:
    """A failed quarantine, with the tags it left for the failure count to build on."""
    return Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, message, tags.vouched)


def _isolation_view(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an instance description its isolation is judged on, kept for the
    facts; see :func:`.ec2_isolation.isolation_problems`."""
    return {
        "State": {"Name": raw.get("State", {}).get("Name", "")},
        "VpcId": raw.get("VpcId"),
        "NetworkInterfaces": [
            {
                "NetworkInterfaceId": eni.get("NetworkInterfaceId"),
                "Groups": [{"GroupId": g.get("GroupId")} for g in eni.get("Groups") or []],
            }
            for eni in raw.get("NetworkInterfaces") or []
        ],
    }


def _missing_ids(err: ProviderError, pending: Sequence[str]) -> set[str]:
    """The ids an InvalidInstanceID.NotFound error names, among those asked for."""
    if error_code(err) not in _NOT_FOUND:
        return set()
    return set(_INSTANCE_ID.findall(str(err))) & set(pending)


def _isolating(
    scope: Scope, ids: list[str], operation: str, call: BatchCall
) -> Iterator[tuple[str, Result, str]]:
    """Call on a batch; ids that do not exist are gone, and when one id makes the whole
    call fail (termination protection, a deny), the others are retried one by one."""
    pending = list(ids)
    while pending:
        try:
            with translate_errors(f"ec2 {operation} in {scope}"):
                answered = call(pending)
        except ProviderError as err:
            missing = _missing_ids(err, pending)
            if missing:
                for instance_id in sorted(missing):
                    yield instance_id, Result.ALREADY_GONE, "instance does not exist"
                pending = [i for i in pending if i not in missing]
                continue
            if len(pending) == 1:
                yield pending[0], Result.FAILED, str(err)
                return
            for instance_id in pending:
                yield from _isolating(scope, [instance_id], operation, call)
            return
        for instance_id in pending:
            if answered is None:
                yield instance_id, Result.DONE, operation
            else:
                yield (
                    instance_id,
                    *answered.get(instance_id, (Result.FAILED, f"not in the {operation} answer")),
                )
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
    # In UTC: botocore gives every parsed time a tzlocal of its own (~400 bytes), which a
    # resource would keep for the whole sweep; UTC is one shared object.
    return min(aware).astimezone(UTC) if aware else None
