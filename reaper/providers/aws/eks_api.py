"""The EKS reads a cluster kind shares: describe (remembering ARNs), dependants, node groups."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.aws.clients import error_code, translate_errors
from reaper.providers.aws.eks_records import Nodegroup, nodegroup_of
from reaper.workers import map_bounded

DELETING = "DELETING"
NOT_FOUND = "ResourceNotFoundException"
IN_USE = "ResourceInUseException"
PAGE_SIZE = 100  # the most ListClusters / ListNodegroups / ListFargateProfiles return

T = TypeVar("T")


def count_of(n: int, noun: str) -> str:
    """``3 node groups``, ``1 node group``, or empty for none."""
    return "" if n == 0 else f"{n} {noun}{'' if n == 1 else 's'}"


class EksApi:
    """EKS reads on the clients of one kind, with the ARNs of clusters seen remembered.

    ``workers`` bounds the concurrent API calls of one ``map``.
    """

    def __init__(self, workers: int = 4) -> None:
        self.workers = workers
        self.lock = threading.Lock()
        self.arns: dict[tuple[Scope, str], str] = {}

    def describe_cluster(self, eks: Any, scope: Scope, name: str) -> Mapping[str, Any] | None:
        """The described cluster, or None if it does not exist."""
        try:
            with translate_errors(f"eks DescribeCluster {name} in {scope}"):
                raw: Mapping[str, Any] = eks.describe_cluster(name=name)["cluster"]
        except ProviderError as err:
            if error_code(err) == NOT_FOUND:
                return None
            raise
        with self.lock:
            self.arns[(scope, name)] = str(raw["arn"])
        return raw

    def arn(self, eks: Any, scope: Scope, name: str) -> str | None:
        """The cluster's ARN (remembered from collect/get), or None if it does not exist."""
        with self.lock:
            known = self.arns.get((scope, name))
        if known is not None:
            return known
        raw = self.describe_cluster(eks, scope, name)
        return None if raw is None else str(raw["arn"])

    def dependants(self, eks: Any, scope: Scope, name: str) -> tuple[list[str], list[str]]:
        """The names of the cluster's node groups and Fargate profiles."""
        with translate_errors(f"eks ListNodegroups {name} in {scope}"):
            nodegroups = [
                str(n)
                for page in eks.get_paginator("list_nodegroups").paginate(
                    clusterName=name, PaginationConfig={"PageSize": PAGE_SIZE}
                )
                for n in page.get("nodegroups", [])
            ]
        with translate_errors(f"eks ListFargateProfiles {name} in {scope}"):
            profiles = [
                str(n)
                for page in eks.get_paginator("list_fargate_profiles").paginate(
                    clusterName=name, PaginationConfig={"PageSize": PAGE_SIZE}
                )
                for n in page.get("fargateProfileNames", [])
            ]
        return nodegroups, profiles

    def nodegroups(self, eks: Any, scope: Scope, name: str) -> list[Nodegroup]:
        """The cluster's node groups that are not being deleted, described."""
        found = []
        for nodegroup in self.dependants(eks, scope, name)[0]:
            try:
                with translate_errors(f"eks DescribeNodegroup {name}/{nodegroup} in {scope}"):
                    raw = eks.describe_nodegroup(clusterName=name, nodegroupName=nodegroup)
            except ProviderError as err:
                if error_code(err) == NOT_FOUND:
                    continue
                raise
            described = nodegroup_of(raw["nodegroup"])
            if described.status != DELETING:
                found.append(described)
        return found

    def dependant_tags(
        self, eks: Any, scope: Scope, cluster: str, kind: str, name: str
    ) -> Mapping[str, str] | None:
        """The tags of a node group (``kind`` nodegroup) or Fargate profile (fargate);
        None if it is gone."""
        operation = "DescribeNodegroup" if kind == "nodegroup" else "DescribeFargateProfile"
        try:
            with translate_errors(f"eks {operation} {cluster}/{name} in {scope}"):
                if kind == "nodegroup":
                    raw = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)
                    described = raw["nodegroup"]
                else:
                    raw = eks.describe_fargate_profile(clusterName=cluster, fargateProfileName=name)
                    described = raw["fargateProfile"]
        except ProviderError as err:
            if error_code(err) == NOT_FOUND:
                return None
            raise
        tags = described.get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()}

    def map(self, call: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        """``call`` on every item, at most ``workers`` at a time; results in item order."""
        return map_bounded(call, items, self.workers, "reaper-eks")
