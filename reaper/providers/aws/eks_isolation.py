"""Quarantine and release of EKS clusters: scale every node group to zero, and optionally
close the public API endpoint; release restores what was recorded.

A quarantine records the originals first (signed, the mark still in place), then scales
and closes, reads the cluster and its node groups back, and only then records the state:
the state tag says quarantined once the isolation has been seen complete. Every later
sweep reads it back again (:func:`isolation_problems`, from the collector), so a node
group someone scales up again is quarantined again.

Sizes that do not fit in one cluster tag are recorded on each node group, signed with the
node group's own identity (:func:`nodegroup_ref`): the cluster's signature does not cover
them, and a record that does not verify is neither trusted as an original nor restored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reaper import lifecycle
from reaper.errors import ProviderError
from reaper.lifecycle import SignedTags, StateSigner, quarantined_tags
from reaper.model import Action, Decision, Outcome, Resource, ResourceRef, Result, Scope
from reaper.providers.aws.clients import translate_errors
from reaper.providers.aws.eks_api import DELETING, EksApi, count_of
from reaper.providers.aws.eks_records import (
    ORIGINAL_ENDPOINT,
    ORIGINAL_SCALING,
    TAG_VALUE_LIMIT,
    Nodegroup,
    Scaling,
    decode_endpoint,
    decode_scaling,
    encode_scaling,
)

UPDATING = "UPDATING"
"""The status of a cluster or node group while EKS applies a configuration change."""


def nodegroup_ref(cluster: ResourceRef, nodegroup: str) -> ResourceRef:
    """The identity a node group's own records are signed with. Pure."""
    return ResourceRef(
        cluster.provider, "eks_nodegroup", cluster.scope, f"{cluster.id}/{nodegroup}"
    )


def recorded_on_nodegroups(
    signer: StateSigner, cluster: ResourceRef, nodegroups: Sequence[Nodegroup]
) -> dict[str, Scaling]:
    """The original sizes node groups carry themselves, signed by reaper. Pure.

    A record that does not verify (forged, or copied from another node group) is left
    out, as is one that does not parse.
    """
    found: dict[str, Scaling] = {}
    for n in nodegroups:
        value = n.tags.get(ORIGINAL_SCALING)
        if value is None or not signer.verify(nodegroup_ref(cluster, n.name), n.tags):
            continue
        try:
            found[n.name] = Scaling.decode(value)
        except ValueError:
            continue
    return found


def isolation_problems(
    raw: Mapping[str, Any],
    nodegroups: Sequence[Nodegroup],
    restrict_public_endpoint: bool,
    pending: Collection[str] = (),
) -> list[str]:
    """Why a described cluster is not isolated; empty when it is. Pure.

    Isolated: every node group scaled to zero and, with ``restrict_public_endpoint``, the
    public endpoint closed. ``pending``: node group names (and ``endpoint``) whose change
    reaper has just asked for; EKS applies them asynchronously, so one that reads back as
    still updating counts as done (the next sweep reads it back again).
    """
    problems = []
    for n in sorted(nodegroups, key=lambda n: n.name):
        if n.scaling is not None and n.scaling.zeroed:
            continue
        if n.name in pending and n.status == UPDATING:
            continue
        size = n.scaling.encode() if n.scaling else "an unknown size"
        problems.append(f"node group {n.name} runs at {size} (min:desired:max)")
    vpc = raw.get("resourcesVpcConfig") or {}
    closing = "endpoint" in pending and raw.get("status") == UPDATING
    if restrict_public_endpoint and vpc.get("endpointPublicAccess") is not False and not closing:
        problems.append("its public endpoint is open")
    return problems


@dataclass(frozen=True)
class Isolator:
    """Quarantines and releases the clusters of one scope."""

    api: EksApi
    eks: Any
    scope: Scope
    signer: StateSigner
    restrict_public_endpoint: bool

    def quarantine(self, decisions: Sequence[Decision], now: datetime) -> list[Outcome]:
        outcomes = []
        for decision in decisions:
            tags: SignedTags | None = None
            try:
                raw = self.api.describe_cluster(self.eks, self.scope, decision.ref.id)
                if raw is None or raw.get("status") == DELETING:
                    found = "cluster does not exist" if raw is None else "cluster is being deleted"
                    outcome = Outcome(decision.ref, Action.QUARANTINE, Result.ALREADY_GONE, found)
                else:
                    # Only what reaper signed counts: originals someone else wrote are not kept.
                    trusted = decision.resource.tags if decision.verified else {}
                    tags = SignedTags(self.signer, decision.ref, trusted, raw.get("tags") or {})
                    outcome = self._quarantine_one(decision, raw, tags, now)
            except ProviderError as err:
                vouched = tags.vouched if tags is not None else None
                outcome = Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, str(err), vouched)
            outcomes.append(outcome)
        return outcomes

    def _quarantine_one(
        self, decision: Decision, raw: Mapping[str, Any], tags: SignedTags, now: datetime
    ) -> Outcome:
        """Record the originals, isolate, read back, record the state.

        Originals already recorded (and signed) are never overwritten, so a retry after a
        crash or a failure does not record zeros as the original sizes.
        """
        ref, name = decision.ref, decision.ref.id
        arn = str(raw["arn"])
        nodegroups = self.api.nodegroups(self.eks, self.scope, name)
        on_cluster = decode_scaling(tags.trusted.get(ORIGINAL_SCALING, ""))
        recorded = {*on_cluster, *recorded_on_nodegroups(self.signer, ref, nodegroups)}
        missing = {
            n.name: n.scaling
            for n in nodegroups
            if n.scaling is not None and n.name not in recorded
        }
        originals: dict[str, str | None] = {}
        if missing:
            together = encode_scaling({**on_cluster, **missing})
            if len(together) <= TAG_VALUE_LIMIT:
                originals[ORIGINAL_SCALING] = together
            else:
                # Too many node groups for one tag value: each records its own size.
                for n in nodegroups:
                    if n.name in missing:
                        self._record_on_nodegroup(ref, n, missing[n.name])
        vpc = raw.get("resourcesVpcConfig") or {}
        close_endpoint = self.restrict_public_endpoint and vpc.get("endpointPublicAccess") is True
        if close_endpoint and ORIGINAL_ENDPOINT not in tags.trusted:
            private = vpc.get("endpointPrivateAccess") is True
            originals[ORIGINAL_ENDPOINT] = "public+private" if private else "public"
        if originals:
            self._write(name, arn, tags, originals)

        pending: set[str] = set()
        for n in nodegroups:
            if n.scaling is None or n.scaling.zeroed:
                continue
            with translate_errors(f"eks UpdateNodegroupConfig {name}/{n.name} in {self.scope}"):
                self.eks.update_nodegroup_config(
                    clusterName=name, nodegroupName=n.name, scalingConfig=n.scaling.zero().config()
                )
            pending.add(n.name)
        if close_endpoint:
            # EKS refuses to close both endpoints: the private one stays (or becomes) open.
            with translate_errors(f"eks UpdateClusterConfig {name} in {self.scope}"):
                self.eks.update_cluster_config(
                    name=name,
                    resourcesVpcConfig={
                        "endpointPublicAccess": False,
                        "endpointPrivateAccess": True,
                    },
                )
            pending.add("endpoint")

        after = self.api.describe_cluster(self.eks, self.scope, name)
        if after is None:
            return Outcome(ref, Action.QUARANTINE, Result.ALREADY_GONE, "gone while isolating")
        nodegroups_after = self.api.nodegroups(self.eks, self.scope, name)
        problems = isolation_problems(
            after, nodegroups_after, self.restrict_public_endpoint, pending
        )
        if problems:
            message = f"isolation did not read back complete: {'; '.join(problems)}"
            return Outcome(ref, Action.QUARANTINE, Result.FAILED, message, tags.vouched)
        reason = decision.reasons[0] if decision.reasons else "policy"
        self._write(name, arn, tags, quarantined_tags(tags.trusted, now, reason))
        scaled = len(pending - {"endpoint"})
        message = f"scaled {count_of(scaled, 'node group') or '0 node groups'} to zero"
        if close_endpoint:
            message += "; public endpoint closed"
        return Outcome(ref, Action.QUARANTINE, Result.DONE, message)

    def _record_on_nodegroup(self, cluster: ResourceRef, n: Nodegroup, scaling: Scaling) -> None:
        """Record a node group's original size on the node group itself, signed as its own."""
        ref = nodegroup_ref(cluster, n.name)
        trusted = n.tags if self.signer.verify(ref, n.tags) else {}
        change = lifecycle.change_owned(
            self.signer, ref, trusted, n.tags, {ORIGINAL_SCALING: scaling.encode()}
        )
        where = f"{cluster.id}/{n.name} in {self.scope}"
        if change.remove:
            with translate_errors(f"eks UntagResource {where}"):
                self.eks.untag_resource(resourceArn=n.arn, tagKeys=list(change.remove))
        with translate_errors(f"eks TagResource {where}"):
            self.eks.tag_resource(resourceArn=n.arn, tags=dict(change.write))

    def _write(
        self, name: str, arn: str, tags: SignedTags, updates: Mapping[str, str | None]
    ) -> None:
        """Change reaper's own tags on the cluster, signed; ``tags`` follows each call."""
        change = tags.change(updates)
        if change.remove:
            with translate_errors(f"eks UntagResource {name} in {self.scope}"):
                self.eks.untag_resource(resourceArn=arn, tagKeys=list(change.remove))
            tags.removed(change)
        if change.write:
            with translate_errors(f"eks TagResource {name} in {self.scope}"):
                self.eks.tag_resource(resourceArn=arn, tags=dict(change.write))
        tags.written(change)

    def release(self, resource: Resource) -> Outcome:
        """Restore what reaper recorded and remove its tags.

        What to restore comes from ``resource``'s tags (verified by the caller) and from
        node groups' own records that verify; never from tags read afresh.
        """
        ref, name, scope = resource.ref, resource.ref.id, self.scope
        try:
            raw = self.api.describe_cluster(self.eks, scope, name)
            if raw is None or raw.get("status") == DELETING:
                return Outcome(ref, Action.RELEASE, Result.ALREADY_GONE, "not found")
            current: Mapping[str, str] = raw.get("tags") or {}
            nodegroups = self.api.nodegroups(self.eks, scope, name)
            originals = {
                **recorded_on_nodegroups(self.signer, ref, nodegroups),
                **decode_scaling(resource.tags.get(ORIGINAL_SCALING, "")),
            }
            restored = 0
            for n in nodegroups:
                original = originals.get(n.name)
                if original is None or original == n.scaling:
                    continue
                with translate_errors(f"eks UpdateNodegroupConfig {name}/{n.name} in {scope}"):
                    self.eks.update_nodegroup_config(
                        clusterName=name, nodegroupName=n.name, scalingConfig=original.config()
                    )
                restored += 1
            reopened = False
            endpoint = resource.tags.get(ORIGINAL_ENDPOINT)
            if endpoint is not None:
                private = decode_endpoint(endpoint)
                vpc = raw.get("resourcesVpcConfig") or {}
                if vpc.get("endpointPublicAccess") is not True:
                    with translate_errors(f"eks UpdateClusterConfig {name} in {scope}"):
                        self.eks.update_cluster_config(
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
                keys = [k for k in (ORIGINAL_SCALING, lifecycle.SIGNATURE) if k in n.tags]
                if keys:
                    with translate_errors(f"eks UntagResource {name}/{n.name} in {scope}"):
                        self.eks.untag_resource(resourceArn=n.arn, tagKeys=keys)
            keys = sorted(self.signer.owned(current))
            if lifecycle.SIGNATURE in current:
                keys.append(lifecycle.SIGNATURE)
            if keys:
                with translate_errors(f"eks UntagResource {name} in {scope}"):
                    self.eks.untag_resource(resourceArn=str(raw["arn"]), tagKeys=keys)
        except ProviderError as err:
            return Outcome(ref, Action.RELEASE, Result.FAILED, str(err))
        message = f"released; restored {count_of(restored, 'node group') or '0 node groups'}"
        if reopened:
            message += "; public endpoint reopened"
        return Outcome(ref, Action.RELEASE, Result.DONE, message)
