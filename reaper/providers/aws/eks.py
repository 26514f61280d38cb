"""EKS clusters left behind by pipeline runs, with their node groups and Fargate profiles.

A cluster is one resource to reaper. Its managed node groups and Fargate profiles are its
dependants: EKS refuses DeleteCluster while they exist, so ``delete`` removes them first
(:mod:`.eks_teardown`). ``quarantine`` scales every node group to zero and, if asked,
closes the public API endpoint; ``release`` restores them (:mod:`.eks_isolation`). For a
cluster whose (signed) tags say quarantined, ``collect`` reads its node groups back and
reports whether it is still isolated. What is recorded on a cluster, and read off it, is
in :mod:`.eks_records`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from reaper import lifecycle
from reaper.config import TagKeys
from reaper.errors import ProviderError
from reaper.lifecycle import State, StateSigner
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
from reaper.providers.aws.eks_api import DELETING, NOT_FOUND, PAGE_SIZE, EksApi
from reaper.providers.aws.eks_isolation import Isolator, isolation_problems
from reaper.providers.aws.eks_records import (
    ORIGINAL_ENDPOINT,
    ORIGINAL_KEYS,
    ORIGINAL_SCALING,
    ClusterFacts,
    Scaling,
    decode_scaling,
    encode_scaling,
    facts_of,
)
from reaper.providers.aws.eks_teardown import Wait, delete_clusters
from reaper.providers.base import ResourceKind, register
from reaper.versions import end_of_support

log = logging.getLogger(__name__)


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
        "eks:DescribeFargateProfile",
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
    state_tags = ORIGINAL_KEYS
    """On the cluster; ``reaper-original-scaling`` also on node groups (eks_records)."""
    audited_tags = ("Name",)
    delete_order = 40
    # EKS's CreateCluster: 1-100 characters, alphanumerics first, then also '-' and '_'.
    id_pattern = r"[0-9A-Za-z][0-9A-Za-z_-]{0,99}"
    id_shape = "a cluster name: 1-100 letters, digits, '-' and '_', starting with a letter or digit"

    def __init__(
        self,
        clients: AwsClients,
        tags: TagKeys,
        *,
        restrict_public_endpoint: bool = False,
        calendar: Mapping[str, date] = EKS_END_OF_STANDARD_SUPPORT,
        signer: StateSigner | None = None,
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
        self._signer = signer or StateSigner(None, ())
        self._wait = Wait(wait_seconds, poll_seconds, sleep, monotonic, tags)
        self._api = EksApi(workers)
        self.facts: dict[ResourceRef, ClusterFacts] = {}
        """The facts of every cluster the last ``collect`` or ``get`` of its scope saw."""

    def scopes(self) -> Sequence[Scope]:
        return self._clients.scopes()

    def is_shared(self, scope: Scope) -> bool:
        return self._clients.is_error_scope(scope)

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope)

    # -- reading -----------------------------------------------------------------------

    def collect(self, scope: Scope) -> Collected:
        eks = self._clients.client(scope, "eks")
        with translate_errors(f"eks ListClusters in {scope}"):
            names = [
                str(name)
                for page in eks.get_paginator("list_clusters").paginate(
                    PaginationConfig={"PageSize": PAGE_SIZE}
                )
                for name in page.get("clusters", [])
            ]
        # EKS cannot filter by tag: every cluster is described to read its tags.
        described = self._api.map(lambda name: self._api.describe_cluster(eks, scope, name), names)
        collected = self._collected(eks, scope, [raw for raw in described if raw is not None])
        # Forget what a long-running daemon learnt about clusters that are gone.
        seen = {r.ref for r in collected.resources}
        listed = set(names)
        with self._api.lock:
            for ref in [ref for ref in self.facts if ref.scope == scope and ref not in seen]:
                del self.facts[ref]
            for key in [k for k in self._api.arns if k[0] == scope and k[1] not in listed]:
                del self._api.arns[key]
        return collected

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        eks = self._clients.client(scope, "eks")
        described = self._api.map(lambda name: self._api.describe_cluster(eks, scope, name), ids)
        return self._collected(eks, scope, [raw for raw in described if raw is not None])

    def _collected(
        self, eks: Any, scope: Scope, described: Iterable[Mapping[str, Any]]
    ) -> Collected:
        resources: list[Resource] = []
        raws: dict[ResourceRef, Mapping[str, Any]] = {}
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
            facts = facts_of(raw)
            resource = self._to_resource(scope, raw, tags, facts)
            resources.append(resource)
            raws[resource.ref] = raw
            with self._api.lock:
                self.facts[resource.ref] = facts
        # Only quarantined clusters have their node groups read, once each: an ordinary
        # sweep costs no request more.
        quarantined = [(r, raws[r.ref]) for r in resources if self._quarantined(r)]
        isolated = self._api.map(lambda item: self._isolated(eks, scope, *item), quarantined)
        found = {
            r.ref: replace(r, isolated=i) for (r, _), i in zip(quarantined, isolated, strict=True)
        }
        return Collected(tuple(found.get(r.ref, r) for r in resources), skipped)

    def _quarantined(self, resource: Resource) -> bool:
        """Its tags say reaper quarantined it, and they are reaper's (signed)."""
        tags = resource.tags
        return tags.get(lifecycle.STATE) == State.QUARANTINED and self._signer.verify(
            resource.ref, tags
        )

    def _isolated(
        self, eks: Any, scope: Scope, resource: Resource, raw: Mapping[str, Any]
    ) -> bool | None:
        """Whether a quarantined cluster reads back isolated; None if it cannot be read."""
        try:
            nodegroups = self._api.nodegroups(eks, scope, resource.ref.id)
        except ProviderError as err:
            log.warning("cannot read back the isolation of %s: %s", resource.ref, err)
            return None
        return not isolation_problems(raw, nodegroups, self._restrict_public_endpoint)

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
            arn = self._api.arn(eks, ref.scope, ref.id)
            if arn is None:
                return Outcome(ref, action, Result.ALREADY_GONE, "cluster does not exist")
            with translate_errors(f"eks {operation} {ref.id} in {ref.scope}"):
                call(arn)
        except ProviderError as err:
            if error_code(err) == NOT_FOUND:
                return Outcome(ref, action, Result.ALREADY_GONE, "cluster does not exist")
            return Outcome(ref, action, Result.FAILED, str(err))
        return Outcome(ref, action, Result.DONE, operation)

    # -- delete, quarantine, release -------------------------------------------------

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        """Dependants first, then each cluster; see :mod:`.eks_teardown`."""
        eks = self._clients.client(scope, "eks")
        return delete_clusters(self._api, eks, resources, self._wait)

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        return self._isolator(scope).quarantine(decisions, now)

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        return self._isolator(scope).release(resource)

    def _isolator(self, scope: Scope) -> Isolator:
        eks = self._clients.client(scope, "eks")
        return Isolator(self._api, eks, scope, self._signer, self._restrict_public_endpoint)


__all__ = [
    "ORIGINAL_ENDPOINT",
    "ORIGINAL_SCALING",
    "ClusterFacts",
    "EksClusters",
    "Scaling",
    "decode_scaling",
    "encode_scaling",
]
