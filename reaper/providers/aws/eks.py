"""EKS clusters left behind by pipeline runs, with their node groups and Fargate profiles.

A cluster is one resource to reaper. Its managed node groups and Fargate profiles are its
dependants: EKS refuses DeleteCluster while they exist, so ``delete`` removes them first,
waits a bounded time for them to go, and reports a cluster whose dependants are still
deleting as ``skipped: in progress``; a later sweep finishes it. ``quarantine`` scales
every node group to zero (and, if asked, closes the public API endpoint), recording the
original sizes and endpoint access as tags before changing anything, so ``release`` can
restore them and a retry never records the quarantined sizes as the originals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from reaper import lifecycle
from reaper.config import TagKeys
from reaper.errors import ProviderError
from reaper.lifecycle import quarantine_tags
from reaper.model import (
    Action,
    Collected,
    Decision,
    Outcome,
    PortRange,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.providers.aws.calendar import EKS_END_OF_STANDARD_SUPPORT
from reaper.providers.aws.clients import AwsClients, error_code, translate_errors
from reaper.providers.base import ResourceKind, register
from reaper.versions import end_of_support

log = logging.getLogger(__name__)

ORIGINAL_SCALING = "reaper-original-scaling"
"""On the cluster: ``ng-a=1:2:3 ng-b=0:1:2`` (name=min:desired:max of each node group).
When that does not fit in one tag value, node groups that are not in it carry their own
``reaper-original-scaling=1:2:3``; release reads both."""
ORIGINAL_ENDPOINT = "reaper-original-endpoint"
"""On the cluster, when quarantine closed its public endpoint: ``public`` or
``public+private``, the endpoint access release puts back."""
ORIGINAL_KEYS = (ORIGINAL_SCALING, ORIGINAL_ENDPOINT)
TAG_VALUE_LIMIT = 256
"""The longest tag value EKS accepts."""

DELETING = "DELETING"
_NOT_FOUND = "ResourceNotFoundException"
_IN_USE = "ResourceInUseException"
_PAGE_SIZE = 100  # the most ListClusters / ListNodegroups / ListFargateProfiles return

T = TypeVar("T")


@dataclass(frozen=True)
class Scaling:
    """The scaling config of a managed node group."""

    min_size: int
    desired_size: int
    max_size: int
    """EKS requires at least 1, so a node group scaled to zero keeps its maximum."""

    def encode(self) -> str:
        return f"{self.min_size}:{self.desired_size}:{self.max_size}"

    @classmethod
    def decode(cls, value: str) -> Scaling:
        parts = value.split(":")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(f"{value!r} is not min:desired:max")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    @property
    def zeroed(self) -> bool:
        return self.min_size == 0 and self.desired_size == 0

    def zero(self) -> Scaling:
        return Scaling(0, 0, self.max_size)

    def config(self) -> dict[str, int]:
        """The ``scalingConfig`` of UpdateNodegroupConfig."""
        return {
            "minSize": self.min_size,
            "desiredSize": self.desired_size,
            "maxSize": self.max_size,
        }


def encode_scaling(sizes: Mapping[str, Scaling]) -> str:
    """``{ng-a: Scaling(1, 2, 3)}`` -> ``ng-a=1:2:3`` (valid AWS tag characters). Pure."""
    return " ".join(f"{name}={scaling.encode()}" for name, scaling in sorted(sizes.items()))


def decode_scaling(value: str) -> dict[str, Scaling]:
    """The inverse of ``encode_scaling``. Pure. Raises ProviderError for a malformed value."""
    sizes: dict[str, Scaling] = {}
    for part in value.split():
        name, _, encoded = part.partition("=")
        try:
            if not name:
                raise ValueError("no node group name")
            sizes[name] = Scaling.decode(encoded)
        except ValueError:
            raise ProviderError(f"tag {ORIGINAL_SCALING} is malformed: {value!r}") from None
    return sizes


def _decode_endpoint(value: str) -> bool:
    """Whether the recorded endpoint access included private access."""
    if value not in ("public", "public+private"):
        raise ProviderError(f"tag {ORIGINAL_ENDPOINT} is malformed: {value!r}")
    return value == "public+private"


@dataclass(frozen=True)
class ClusterFacts:
    """What the policy will need to know about a cluster besides its tags and age."""

    version: str
    """The Kubernetes ``major.minor`` version of the control plane."""
    endpoint_public: bool | None
    """Whether the API server endpoint is reachable from the internet; None if not reported."""
    endpoint_private: bool | None
    """Whether the endpoint is reachable from inside the VPC; None if not reported."""
    public_access_cidrs: tuple[str, ...] = ()
    """Where the public endpoint accepts connections from (AWS's default: 0.0.0.0/0)."""

    @property
    def open_to_internet(self) -> bool:
        """A public endpoint that accepts any address (no CIDRs reported means the default)."""
        if not self.endpoint_public:
            return False
        return not self.public_access_cidrs or bool(
            {"0.0.0.0/0", "::/0"} & set(self.public_access_cidrs)
        )


@dataclass(frozen=True)
class _Nodegroup:
    name: str
    arn: str
    status: str
    scaling: Scaling | None
    tags: Mapping[str, str]


@dataclass
class _Teardown:
    """One cluster's delete, carried across the rounds of one ``delete`` call."""

    ref: ResourceRef
    outcome: Outcome | None = None
    asked: set[tuple[str, str]] = field(default_factory=set)
    """Dependants whose deletion EKS accepted (or that were gone) in this call."""
    nodegroups: tuple[str, ...] = ()
    """Node groups still present at the last look."""
    profiles: tuple[str, ...] = ()
    """Fargate profiles still present at the last look."""
    busy: str = ""
    """Why DeleteCluster was refused, when it was."""
    rounds: int = 0
    """Rounds of this call that looked at the cluster so far."""

    def finish(self, result: Result, message: str) -> None:
        self.outcome = Outcome(self.ref, Action.DELETE, result, message)

    def in_progress(self) -> Outcome:
        """The outcome of a cluster whose delete the wait did not see through."""
        left = [
            _count(len(self.nodegroups), "node group"),
            _count(len(self.profiles), "Fargate profile"),
        ]
        waiting = ", ".join(part for part in left if part)
        message = f"{waiting} still deleting" if waiting else f"cluster busy: {self.busy}"
        return Outcome(self.ref, Action.DELETE, Result.SKIPPED, f"in progress: {message}")


def _count(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}{'' if n == 1 else 's'}"


@register
class EksClusters(ResourceKind):
    provider = "aws"
    kind = "eks_cluster"
    permissions = (
        "eks:ListClusters",
        "eks:DescribeCluster",
        "eks:ListNodegroups",
        "eks:DescribeNodegroup",
        "eks:DeleteNodegroup",
        "eks:ListFargateProfiles",
        "eks:DeleteFargateProfile",
        "eks:DeleteCluster",
        "eks:TagResource",
        "eks:UntagResource",
        "eks:UpdateNodegroupConfig",
        "eks:UpdateClusterConfig",
        "sts:GetCallerIdentity",
    )
    # Before EC2 instances (50). Node groups and Fargate profiles are not kinds of their
    # own: they are deleted inside the cluster's delete, so the order only matters for EC2
    # instances of the cluster's managed node groups that carry the pipeline tag too. Those
    # belong to the node groups' Auto Scaling groups: terminated first, they would only be
    # replaced by their group, and the cluster would be deleted no sooner. With clusters
    # first, node group deletion starts, and the EC2 kind then finds those instances
    # already shutting down (already gone) or terminates them while their group drains.
    audited_tags = ("Name",)
    delete_order = 40

    def __init__(
        self,
        clients: AwsClients,
        tags: TagKeys,
        *,
        restrict_public_endpoint: bool = False,
        calendar: Mapping[str, date] = EKS_END_OF_STANDARD_SUPPORT,
        wait_seconds: float = 60.0,
        poll_seconds: float = 5.0,
        workers: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``wait_seconds`` bounds how long one ``delete`` call waits for node groups and
        Fargate profiles to go (for all its clusters together), polling every
        ``poll_seconds``. ``workers`` bounds the concurrent API calls of one call.
        ``calendar``: the end of standard support of each version, with config overrides."""
        self._clients = clients
        self._tags = tags
        self._restrict_public_endpoint = restrict_public_endpoint
        self._calendar = calendar
        self._wait_seconds = wait_seconds
        self._poll_seconds = poll_seconds
        self._workers = workers
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._arns: dict[tuple[Scope, str], str] = {}
        self.facts: dict[ResourceRef, ClusterFacts] = {}
        """The facts of every cluster the last ``collect`` or ``get`` of its scope saw."""

    def scopes(self) -> Sequence[Scope]:
        return self._clients.scopes()

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope)

    # -- reading -----------------------------------------------------------------------

    def collect(self, scope: Scope) -> Collected:
        eks = self._clients.client(scope, "eks")
        with translate_errors(f"eks ListClusters in {scope}"):
            names = [
                str(name)
                for page in eks.get_paginator("list_clusters").paginate(
                    PaginationConfig={"PageSize": _PAGE_SIZE}
                )
                for name in page.get("clusters", [])
            ]
        # EKS cannot filter by tag: every cluster is described to read its tags.
        described = self._map(lambda name: self._describe_cluster(eks, scope, name), names)
        collected = self._collected(scope, [raw for raw in described if raw is not None])
        # Forget what a long-running daemon learnt about clusters that are gone.
        seen = {r.ref for r in collected.resources}
        listed = set(names)
        with self._lock:
            for ref in [ref for ref in self.facts if ref.scope == scope and ref not in seen]:
                del self.facts[ref]
            for key in [k for k in self._arns if k[0] == scope and k[1] not in listed]:
                del self._arns[key]
        return collected

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        eks = self._clients.client(scope, "eks")
        described = self._map(lambda name: self._describe_cluster(eks, scope, name), ids)
        return self._collected(scope, [raw for raw in described if raw is not None])

    def _collected(self, scope: Scope, described: Iterable[Mapping[str, Any]]) -> Collected:
        resources: list[Resource] = []
        skipped = 0
        for raw in described:
            if raw.get("status") == DELETING:
                continue  # already on its way out
            tags = raw.get("tags") or {}
            if not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
            ):
                log.warning("skipping EKS cluster %s in %s: unreadable tags", raw["name"], scope)
                skipped += 1
                continue
            if self._tags.pipeline not in tags:
                continue
            facts = _facts(raw)
            resource = self._to_resource(scope, raw, tags, facts)
            resources.append(resource)
            with self._lock:
                self.facts[resource.ref] = facts
        return Collected(tuple(resources), skipped)

    def _to_resource(
        self, scope: Scope, raw: Mapping[str, Any], tags: Mapping[str, str], facts: ClusterFacts
    ) -> Resource:
        name = str(raw["name"])
        created = raw.get("createdAt")
        return Resource(
            ref=ResourceRef(self.provider, self.kind, scope, name),
            name=name,
            created_at=created if isinstance(created, datetime) and created.tzinfo else None,
            tags=dict(tags),
            state=str(raw.get("status", "")),
            pipeline_run=tags.get(self._tags.pipeline),
            owner=tags.get(self._tags.owner),
            public=facts.endpoint_public is True,
            # The API server listens on 443; a public endpoint open to any address is that.
            open_to_world=(PortRange("tcp", 443, 443),) if facts.open_to_internet else (),
            kubernetes_version=facts.version or None,
            support_ends=end_of_support(facts.version, self._calendar) if facts.version else None,
        )

    def _describe_cluster(self, eks: Any, scope: Scope, name: str) -> Mapping[str, Any] | None:
        """The described cluster, or None if it does not exist."""
        try:
            with translate_errors(f"eks DescribeCluster {name} in {scope}"):
                raw: Mapping[str, Any] = eks.describe_cluster(name=name)["cluster"]
        except ProviderError as err:
            if error_code(err) == _NOT_FOUND:
                return None
            raise
        with self._lock:
            self._arns[(scope, name)] = str(raw["arn"])
        return raw

    def _arn(self, eks: Any, scope: Scope, name: str) -> str | None:
        """The cluster's ARN (remembered from collect/get), or None if it does not exist."""
        with self._lock:
            known = self._arns.get((scope, name))
        if known is not None:
            return known
        raw = self._describe_cluster(eks, scope, name)
        return None if raw is None else str(raw["arn"])

    def _dependants(self, eks: Any, scope: Scope, name: str) -> tuple[list[str], list[str]]:
        """The names of the cluster's node groups and Fargate profiles."""
        with translate_errors(f"eks ListNodegroups {name} in {scope}"):
            nodegroups = [
                str(n)
                for page in eks.get_paginator("list_nodegroups").paginate(
                    clusterName=name, PaginationConfig={"PageSize": _PAGE_SIZE}
                )
                for n in page.get("nodegroups", [])
            ]
        with translate_errors(f"eks ListFargateProfiles {name} in {scope}"):
            profiles = [
                str(n)
                for page in eks.get_paginator("list_fargate_profiles").paginate(
                    clusterName=name, PaginationConfig={"PageSize": _PAGE_SIZE}
                )
                for n in page.get("fargateProfileNames", [])
            ]
        return nodegroups, profiles

    def _nodegroups(self, eks: Any, scope: Scope, name: str) -> list[_Nodegroup]:
        """The cluster's node groups that are not being deleted, described."""
        found = []
        for nodegroup in self._dependants(eks, scope, name)[0]:
            try:
                with translate_errors(f"eks DescribeNodegroup {name}/{nodegroup} in {scope}"):
                    raw = eks.describe_nodegroup(clusterName=name, nodegroupName=nodegroup)
            except ProviderError as err:
                if error_code(err) == _NOT_FOUND:
                    continue
                raise
            described = _nodegroup(raw["nodegroup"])
            if described.status != DELETING:
                found.append(described)
        return found

    # -- tags --------------------------------------------------------------------------

    def tag(
        self, scope: Scope, resources: Sequence[Resource], tags: Mapping[str, str], action: Action
    ) -> list[Outcome]:
        eks = self._clients.client(scope, "eks")

        def call(arn: str) -> None:
            eks.tag_resource(resourceArn=arn, tags=dict(tags))

        return [self._on_cluster(eks, r.ref, action, "TagResource", call) for r in resources]

    def untag(
        self, scope: Scope, resources: Sequence[Resource], keys: Sequence[str], action: Action
    ) -> list[Outcome]:
        eks = self._clients.client(scope, "eks")

        def call(arn: str) -> None:
            eks.untag_resource(resourceArn=arn, tagKeys=list(keys))

        return [self._on_cluster(eks, r.ref, action, "UntagResource", call) for r in resources]

    def _on_cluster(
        self,
        eks: Any,
        ref: ResourceRef,
        action: Action,
        operation: str,
        call: Callable[[str], None],
    ) -> Outcome:
        """One call on one cluster's ARN; a failure is this cluster's alone."""
        try:
            arn = self._arn(eks, ref.scope, ref.id)
            if arn is None:
                return Outcome(ref, action, Result.ALREADY_GONE, "cluster does not exist")
            with translate_errors(f"eks {operation} {ref.id} in {ref.scope}"):
                call(arn)
        except ProviderError as err:
            if error_code(err) == _NOT_FOUND:
                return Outcome(ref, action, Result.ALREADY_GONE, "cluster does not exist")
            return Outcome(ref, action, Result.FAILED, str(err))
        return Outcome(ref, action, Result.DONE, operation)

    # -- delete ------------------------------------------------------------------------

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        """Delete node groups and Fargate profiles, then each cluster once they are gone.

        All clusters advance together in rounds (their API calls in a small thread pool),
        so one slow cluster does not hold up the others; the whole call waits at most
        ``wait_seconds`` for dependants.
        """
        eks = self._clients.client(scope, "eks")
        teardowns = [_Teardown(r.ref) for r in resources]
        deadline = self._monotonic() + self._wait_seconds
        pending = teardowns
        while pending:
            self._map(lambda t: self._advance(eks, t), pending)
            pending = [t for t in pending if t.outcome is None]
            remaining = deadline - self._monotonic()
            if not pending or remaining <= 0:
                break
            self._sleep(min(self._poll_seconds, remaining))
        return [t.outcome or t.in_progress() for t in teardowns]

    def _advance(self, eks: Any, teardown: _Teardown) -> None:
        """One round of one cluster's delete: ask for what is left to go, or go."""
        name, scope = teardown.ref.id, teardown.ref.scope
        teardown.rounds += 1
        try:
            # The sweep has just read the cluster (collect, or get for a pinned plan), and
            # a cluster gone since answers ResourceNotFound to ListNodegroups; only later
            # rounds, after a wait, look at its state again.
            if teardown.rounds > 1:
                raw = self._describe_cluster(eks, scope, name)
                if raw is None:
                    teardown.finish(Result.ALREADY_GONE, "cluster does not exist")
                    return
                if raw.get("status") == DELETING:
                    teardown.finish(Result.ALREADY_GONE, "cluster already deleting")
                    return
            nodegroups, profiles = self._dependants(eks, scope, name)
            teardown.nodegroups, teardown.profiles = tuple(nodegroups), tuple(profiles)
            accepted = self._delete_dependants(eks, teardown, nodegroups, profiles)
            if (nodegroups or profiles) and not accepted:
                return
            # Either nothing depends on the cluster, or EKS just took deletions that can be
            # instant: DeleteCluster itself says whether they went (ResourceInUse if not),
            # one request where listing again would take two.
            try:
                with translate_errors(f"eks DeleteCluster {name} in {scope}"):
                    answer = eks.delete_cluster(name=name)
            except ProviderError as err:
                if error_code(err) != _IN_USE:
                    raise
                # Still updating, or dependants EKS has not let go of yet: try next round.
                teardown.busy = str(err)
                return
            asked = [kind for kind, _ in teardown.asked]
            first = ", ".join(
                part
                for part in (
                    _count(asked.count("nodegroup"), "node group"),
                    _count(asked.count("fargate"), "Fargate profile"),
                )
                if part
            )
            state = answer.get("cluster", {}).get("status", DELETING)
            teardown.finish(
                Result.DONE, f"state {state}" + (f"; deleted first: {first}" if first else "")
            )
        except ProviderError as err:
            if error_code(err) == _NOT_FOUND:
                teardown.finish(Result.ALREADY_GONE, "cluster does not exist")
            else:
                teardown.finish(Result.FAILED, str(err))

    def _delete_dependants(
        self, eks: Any, teardown: _Teardown, nodegroups: list[str], profiles: list[str]
    ) -> bool:
        """Ask EKS to delete dependants not asked for yet; True if it took any request.

        ResourceInUseException means "not now" (already deleting, updating, or another
        Fargate profile of the cluster deleting: EKS deletes those one at a time); such a
        dependant is asked again next round.
        """
        name, scope = teardown.ref.id, teardown.ref.scope
        wanted = [("nodegroup", n) for n in nodegroups] + [("fargate", p) for p in profiles]
        accepted = False
        for kind, dependant in wanted:
            if (kind, dependant) in teardown.asked:
                continue
            operation = "DeleteNodegroup" if kind == "nodegroup" else "DeleteFargateProfile"
            try:
                with translate_errors(f"eks {operation} {name}/{dependant} in {scope}"):
                    if kind == "nodegroup":
                        eks.delete_nodegroup(clusterName=name, nodegroupName=dependant)
                    else:
                        eks.delete_fargate_profile(clusterName=name, fargateProfileName=dependant)
            except ProviderError as err:
                code = error_code(err)
                if code == _IN_USE:
                    continue
                if code != _NOT_FOUND:
                    raise
            teardown.asked.add((kind, dependant))
            accepted = True
        return accepted

    # -- quarantine and release --------------------------------------------------------

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        eks = self._clients.client(scope, "eks")
        outcomes = []
        for decision in decisions:
            try:
                outcome = self._quarantine_one(eks, scope, decision, now)
            except ProviderError as err:
                outcome = Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, str(err))
            outcomes.append(outcome)
        return outcomes

    def _quarantine_one(self, eks: Any, scope: Scope, decision: Decision, now: datetime) -> Outcome:
        """Record originals and the quarantine state, then scale down and close the endpoint.

        Like EC2's, the state and the originals are written in one TagResource call before
        anything changes (preceded by node groups' own records, when the sizes do not fit
        in one tag value): a failure after it leaves a cluster tagged quarantined and partly
        isolated, reported failed, which ``release`` restores and the quarantine TTL ends
        like any other; a failure before it changes nothing, so the policy tries again.
        Originals already recorded are never overwritten, so a retry after a crash does
        not record zeros as the original sizes.
        """
        ref, name = decision.ref, decision.ref.id
        raw = self._describe_cluster(eks, scope, name)
        if raw is None or raw.get("status") == DELETING:
            found = "cluster does not exist" if raw is None else "cluster is being deleted"
            return Outcome(ref, Action.QUARANTINE, Result.ALREADY_GONE, found)
        current: Mapping[str, str] = raw.get("tags") or {}
        nodegroups = self._nodegroups(eks, scope, name)
        on_cluster = decode_scaling(current.get(ORIGINAL_SCALING, ""))
        recorded = set(on_cluster) | {n.name for n in nodegroups if ORIGINAL_SCALING in n.tags}
        missing: dict[str, Scaling] = {}
        for n in nodegroups:
            if n.scaling is not None and n.name not in recorded:
                missing[n.name] = n.scaling
        reason = decision.reasons[0] if decision.reasons else "policy"
        tags = quarantine_tags(now, reason)
        if missing:
            together = encode_scaling({**on_cluster, **missing})
            if len(together) <= TAG_VALUE_LIMIT:
                tags[ORIGINAL_SCALING] = together
            else:
                # Too many node groups for one tag value: each records its own size.
                for n in nodegroups:
                    if n.name in missing:
                        with translate_errors(f"eks TagResource {name}/{n.name} in {scope}"):
                            eks.tag_resource(
                                resourceArn=n.arn, tags={ORIGINAL_SCALING: missing[n.name].encode()}
                            )
        vpc = raw.get("resourcesVpcConfig") or {}
        close_endpoint = self._restrict_public_endpoint and vpc.get("endpointPublicAccess") is True
        if close_endpoint and ORIGINAL_ENDPOINT not in current:
            private = vpc.get("endpointPrivateAccess") is True
            tags[ORIGINAL_ENDPOINT] = "public+private" if private else "public"
        with translate_errors(f"eks TagResource {name} in {scope}"):
            eks.tag_resource(resourceArn=str(raw["arn"]), tags=tags)

        scaled = 0
        for n in nodegroups:
            if n.scaling is None or n.scaling.zeroed:
                continue
            with translate_errors(f"eks UpdateNodegroupConfig {name}/{n.name} in {scope}"):
                eks.update_nodegroup_config(
                    clusterName=name, nodegroupName=n.name, scalingConfig=n.scaling.zero().config()
                )
            scaled += 1
        if close_endpoint:
            # EKS refuses to close both endpoints: the private one stays (or becomes) open.
            with translate_errors(f"eks UpdateClusterConfig {name} in {scope}"):
                eks.update_cluster_config(
                    name=name,
                    resourcesVpcConfig={
                        "endpointPublicAccess": False,
                        "endpointPrivateAccess": True,
                    },
                )
        failure_keys = [k for k in lifecycle.FAILURE_KEYS if k in current]
        if failure_keys:
            # Earlier failed attempts are settled; the quarantine TTL starts afresh.
            with translate_errors(f"eks UntagResource {name} in {scope}"):
                eks.untag_resource(resourceArn=str(raw["arn"]), tagKeys=failure_keys)
        message = f"scaled {_count(scaled, 'node group') or '0 node groups'} to zero"
        if close_endpoint:
            message += "; public endpoint closed"
        return Outcome(ref, Action.QUARANTINE, Result.DONE, message)

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        eks = self._clients.client(scope, "eks")
        ref, name = resource.ref, resource.ref.id
        try:
            raw = self._describe_cluster(eks, scope, name)
            if raw is None or raw.get("status") == DELETING:
                return Outcome(ref, Action.RELEASE, Result.ALREADY_GONE, "not found")
            tags: Mapping[str, str] = raw.get("tags") or {}
            nodegroups = self._nodegroups(eks, scope, name)
            originals = decode_scaling(tags.get(ORIGINAL_SCALING, ""))
            for n in nodegroups:
                if ORIGINAL_SCALING in n.tags and n.name not in originals:
                    try:
                        originals[n.name] = Scaling.decode(n.tags[ORIGINAL_SCALING])
                    except ValueError as err:
                        raise ProviderError(f"node group {n.name}: tag {err}") from None
            restored = 0
            for n in nodegroups:
                original = originals.get(n.name)
                if original is None or original == n.scaling:
                    continue
                with translate_errors(f"eks UpdateNodegroupConfig {name}/{n.name} in {scope}"):
                    eks.update_nodegroup_config(
                        clusterName=name, nodegroupName=n.name, scalingConfig=original.config()
                    )
                restored += 1
            reopened = False
            endpoint = tags.get(ORIGINAL_ENDPOINT)
            if endpoint is not None:
                private = _decode_endpoint(endpoint)
                vpc = raw.get("resourcesVpcConfig") or {}
                if vpc.get("endpointPublicAccess") is not True:
                    with translate_errors(f"eks UpdateClusterConfig {name} in {scope}"):
                        eks.update_cluster_config(
                            name=name,
                            resourcesVpcConfig={
                                "endpointPublicAccess": True,
                                "endpointPrivateAccess": private,
                            },
                        )
                    reopened = True
            # Node groups' own records go before the cluster's state: a release that fails
            # in between leaves the cluster quarantined, to be released again.
            for n in nodegroups:
                if ORIGINAL_SCALING in n.tags:
                    with translate_errors(f"eks UntagResource {name}/{n.name} in {scope}"):
                        eks.untag_resource(resourceArn=n.arn, tagKeys=[ORIGINAL_SCALING])
            keys = [k for k in (*lifecycle.ALL_KEYS, *ORIGINAL_KEYS) if k in tags]
            if keys:
                with translate_errors(f"eks UntagResource {name} in {scope}"):
                    eks.untag_resource(resourceArn=str(raw["arn"]), tagKeys=keys)
        except ProviderError as err:
            return Outcome(ref, Action.RELEASE, Result.FAILED, str(err))
        message = f"released; restored {_count(restored, 'node group') or '0 node groups'}"
        if reopened:
            message += "; public endpoint reopened"
        return Outcome(ref, Action.RELEASE, Result.DONE, message)

    # -- helpers -----------------------------------------------------------------------

    def _map(self, call: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """``call`` on every item, at most ``workers`` at a time; results in item order."""
        if len(items) <= 1 or self._workers <= 1:
            return [call(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._workers, len(items))) as pool:
            return list(pool.map(call, items))


def _facts(raw: Mapping[str, Any]) -> ClusterFacts:
    vpc = raw.get("resourcesVpcConfig") or {}

    def flag(key: str) -> bool | None:
        value = vpc.get(key)
        return value if isinstance(value, bool) else None

    return ClusterFacts(
        version=str(raw.get("version", "")),
        endpoint_public=flag("endpointPublicAccess"),
        endpoint_private=flag("endpointPrivateAccess"),
        public_access_cidrs=tuple(str(c) for c in vpc.get("publicAccessCidrs") or ()),
    )


def _nodegroup(raw: Mapping[str, Any]) -> _Nodegroup:
    config = raw.get("scalingConfig") or {}
    low, desired, high = (config.get(k) for k in ("minSize", "desiredSize", "maxSize"))
    scaling = None
    if isinstance(low, int) and isinstance(desired, int) and isinstance(high, int):
        scaling = Scaling(low, desired, high)
    return _Nodegroup(
        name=str(raw["nodegroupName"]),
        arn=str(raw["nodegroupArn"]),
        status=str(raw.get("status", "")),
        scaling=scaling,
        tags=dict(raw.get("tags") or {}),
    )
