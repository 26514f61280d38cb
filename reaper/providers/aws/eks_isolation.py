"""Quarantine and release of EKS clusters: scale every node group to zero, and optionally
close the public API endpoint; release restores what was recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reaper import lifecycle
from reaper.errors import ProviderError
from reaper.lifecycle import StateSigner, quarantine_tags
from reaper.model import Action, Decision, Outcome, Resource, Result, Scope
from reaper.providers.aws.clients import translate_errors
from reaper.providers.aws.eks_api import DELETING, EksApi, count_of
from reaper.providers.aws.eks_records import (
    ORIGINAL_ENDPOINT,
    ORIGINAL_KEYS,
    ORIGINAL_SCALING,
    TAG_VALUE_LIMIT,
    Scaling,
    decode_endpoint,
    decode_scaling,
    encode_scaling,
)


def quarantine_clusters(
    api: EksApi,
    eks: Any,
    scope: Scope,
    decisions: Sequence[Decision],
    now: datetime,
    restrict_public_endpoint: bool,
    signer: StateSigner,
) -> list[Outcome]:
    outcomes = []
    for decision in decisions:
        try:
            outcome = _quarantine_one(
                api, eks, scope, decision, now, restrict_public_endpoint, signer
            )
        except ProviderError as err:
            outcome = Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, str(err))
        outcomes.append(outcome)
    return outcomes


def _quarantine_one(
    api: EksApi,
    eks: Any,
    scope: Scope,
    decision: Decision,
    now: datetime,
    restrict_public_endpoint: bool,
    signer: StateSigner,
) -> Outcome:
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
    raw = api.describe_cluster(eks, scope, name)
    if raw is None or raw.get("status") == DELETING:
        found = "cluster does not exist" if raw is None else "cluster is being deleted"
        return Outcome(ref, Action.QUARANTINE, Result.ALREADY_GONE, found)
    current: Mapping[str, str] = raw.get("tags") or {}
    # Only what reaper signed counts: originals someone else wrote are not kept.
    trusted = decision.resource.tags if decision.verified else {}
    nodegroups = api.nodegroups(eks, scope, name)
    on_cluster = decode_scaling(trusted.get(ORIGINAL_SCALING, ""))
    recorded = set(on_cluster) | {n.name for n in nodegroups if ORIGINAL_SCALING in n.tags}
    missing: dict[str, Scaling] = {}
    for n in nodegroups:
        if n.scaling is not None and n.name not in recorded:
            missing[n.name] = n.scaling
    reason = decision.reasons[0] if decision.reasons else "policy"
    tags: dict[str, str | None] = {**quarantine_tags(now, reason)}
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
    close_endpoint = restrict_public_endpoint and vpc.get("endpointPublicAccess") is True
    if close_endpoint and ORIGINAL_ENDPOINT not in trusted:
        private = vpc.get("endpointPrivateAccess") is True
        tags[ORIGINAL_ENDPOINT] = "public+private" if private else "public"
    # Earlier failed attempts are settled; the quarantine TTL starts afresh.
    tags.update(dict.fromkeys(lifecycle.FAILURE_KEYS))
    change = lifecycle.change_owned(signer, ref, trusted, current, tags)
    if change.remove:
        with translate_errors(f"eks UntagResource {name} in {scope}"):
            eks.untag_resource(resourceArn=str(raw["arn"]), tagKeys=list(change.remove))
    with translate_errors(f"eks TagResource {name} in {scope}"):
        eks.tag_resource(resourceArn=str(raw["arn"]), tags=dict(change.write))

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
    message = f"scaled {count_of(scaled, 'node group') or '0 node groups'} to zero"
    if close_endpoint:
        message += "; public endpoint closed"
    return Outcome(ref, Action.QUARANTINE, Result.DONE, message)


def release_cluster(api: EksApi, eks: Any, scope: Scope, resource: Resource) -> Outcome:
    ref, name = resource.ref, resource.ref.id
    try:
        raw = api.describe_cluster(eks, scope, name)
        if raw is None or raw.get("status") == DELETING:
            return Outcome(ref, Action.RELEASE, Result.ALREADY_GONE, "not found")
        tags: Mapping[str, str] = raw.get("tags") or {}
        nodegroups = api.nodegroups(eks, scope, name)
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
            private = decode_endpoint(endpoint)
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
        keys = [k for k in (*lifecycle.ALL_KEYS, *ORIGINAL_KEYS, lifecycle.SIGNATURE) if k in tags]
        if keys:
            with translate_errors(f"eks UntagResource {name} in {scope}"):
                eks.untag_resource(resourceArn=str(raw["arn"]), tagKeys=keys)
    except ProviderError as err:
        return Outcome(ref, Action.RELEASE, Result.FAILED, str(err))
    message = f"released; restored {count_of(restored, 'node group') or '0 node groups'}"
    if reopened:
        message += "; public endpoint reopened"
    return Outcome(ref, Action.RELEASE, Result.DONE, message)
