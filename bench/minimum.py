"""The fewest requests a sweep of the seeded estate needs, and the time bound they set.

Pure: everything here is arithmetic on what was seeded and on measured per-request times.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.estate import Ec2Region, EksRegion

OpKey = tuple[str, str]
"""``(service, operation)`` as the proxy counts it, e.g. ``("ec2", "DescribeInstances")``."""

DESCRIBE_INSTANCES: OpKey = ("ec2", "DescribeInstances")
DESCRIBE_IMAGES: OpKey = ("ec2", "DescribeImages")
DESCRIBE_GROUPS: OpKey = ("ec2", "DescribeSecurityGroups")
TERMINATE: OpKey = ("ec2", "TerminateInstances")
CALLER_IDENTITY: OpKey = ("sts", "GetCallerIdentity")
LIST_CLUSTERS: OpKey = ("eks", "ListClusters")
DESCRIBE_CLUSTER: OpKey = ("eks", "DescribeCluster")
LIST_NODEGROUPS: OpKey = ("eks", "ListNodegroups")
LIST_PROFILES: OpKey = ("eks", "ListFargateProfiles")
DESCRIBE_NODEGROUP: OpKey = ("eks", "DescribeNodegroup")
DESCRIBE_PROFILE: OpKey = ("eks", "DescribeFargateProfile")
DELETE_NODEGROUP: OpKey = ("eks", "DeleteNodegroup")
DELETE_PROFILE: OpKey = ("eks", "DeleteFargateProfile")
DELETE_CLUSTER: OpKey = ("eks", "DeleteCluster")

EC2_PAGE = 1000
"""Instances per DescribeInstances page and per TerminateInstances call (EC2's maximum)."""
EKS_PAGE = 100
"""Clusters per ListClusters page (EKS's maximum)."""


def _pages(items: int, size: int) -> int:
    """Calls to list ``items``: an empty listing still costs one."""
    return max(1, math.ceil(items / size))


def collect_minimum(ec2: Sequence[Ec2Region], eks: Sequence[EksRegion] | None) -> Counter[OpKey]:
    """Requests to collect everything once: list pages, one image and one group batch."""
    need: Counter[OpKey] = Counter()
    for region in ec2:
        need[DESCRIBE_INSTANCES] += _pages(region.total, EC2_PAGE)
        if region.total:
            need[DESCRIBE_IMAGES] += 1  # one distinct image per region
            need[DESCRIBE_GROUPS] += 1  # one batch of security groups per region
    for cluster_region in eks or ():
        need[LIST_CLUSTERS] += _pages(len(cluster_region.clusters), EKS_PAGE)
        need[DESCRIBE_CLUSTER] += len(cluster_region.clusters)  # EKS cannot filter by tag
    return need


def action_minimum(
    ec2: Sequence[Ec2Region], eks: Sequence[EksRegion] | None, accounts: int = 1
) -> Counter[OpKey]:
    """Requests to delete what expired, and to learn who reaper acts as (per account).

    A cluster's dependants are each described once before anything of the cluster is
    deleted: a node group or Fargate profile with the protect tag keeps its cluster, and
    their tags are only in their own descriptions.
    """
    need: Counter[OpKey] = Counter()
    for region in ec2:
        if region.expired:
            need[TERMINATE] += math.ceil(region.expired / EC2_PAGE)
    for cluster_region in eks or ():
        for cluster in cluster_region.expired:
            need[LIST_NODEGROUPS] += 1
            need[LIST_PROFILES] += 1
            need[DESCRIBE_NODEGROUP] += cluster.nodegroups
            need[DESCRIBE_PROFILE] += cluster.fargate_profiles
            need[DELETE_NODEGROUP] += cluster.nodegroups
            need[DELETE_PROFILE] += cluster.fargate_profiles
            need[DELETE_CLUSTER] += 1
    if need:
        need[CALLER_IDENTITY] += accounts
    return need


@dataclass(frozen=True)
class Chain:
    """A sequence of requests that cannot overlap, and what it costs."""

    where: str
    steps: tuple[tuple[OpKey, int], ...]
    seconds: float

    def describe(self) -> str:
        parts = ", ".join(f"{n} x {op[1]}" for op, n in self.steps if n)
        return f"{self.where}: {parts or 'nothing'} = {self.seconds:.2f} s"


def _chain(where: str, steps: Sequence[tuple[OpKey, int]], cost: Mapping[OpKey, float]) -> Chain:
    kept = tuple((op, n) for op, n in steps if n)
    return Chain(where, kept, sum(cost[op] * n for op, n in kept))


def collect_chains(
    ec2: Sequence[Ec2Region],
    eks: Sequence[EksRegion] | None,
    cost: Mapping[OpKey, float],
    eks_workers: int,
) -> list[Chain]:
    """Per region, the longer of its EC2 and EKS collect chains (the two run concurrently).

    EC2: the list pages one after the other (each needs the last one's token), then the
    image batch, then the group batch. EKS: the list pages, then the DescribeCluster calls,
    ``eks_workers`` at a time as the kind runs them.
    """
    chains = []
    eks_by_region = {r.region: r for r in eks or ()}
    for region in ec2:
        options = [
            _chain(
                f"{region.region} ec2",
                [
                    (DESCRIBE_INSTANCES, _pages(region.total, EC2_PAGE)),
                    (DESCRIBE_IMAGES, 1 if region.total else 0),
                    (DESCRIBE_GROUPS, 1 if region.total else 0),
                ],
                cost,
            )
        ]
        clusters = eks_by_region.get(region.region)
        if clusters is not None:
            n = len(clusters.clusters)
            options.append(
                _chain(
                    f"{region.region} eks",
                    [
                        (LIST_CLUSTERS, _pages(n, EKS_PAGE)),
                        (DESCRIBE_CLUSTER, math.ceil(n / eks_workers)),
                    ],
                    cost,
                )
            )
        chains.append(max(options, key=lambda c: c.seconds))
    return chains


def action_chains(
    ec2: Sequence[Ec2Region],
    eks: Sequence[EksRegion] | None,
    cost: Mapping[OpKey, float],
    eks_workers: int,
) -> list[Chain]:
    """The longest chain of each action level, in the order the actuator runs them.

    Clusters (delete order 40) go before instances (50); within a level, regions run
    concurrently. Who reaper acts as (GetCallerIdentity) is asked once, before the first
    action. A cluster's delete is: list node groups, list Fargate profiles, describe each
    of them (the protect tag), delete each of them, delete the cluster; the kind works on
    ``eks_workers`` clusters at a time.
    """
    levels: list[Chain] = []
    eks_chains = []
    for cluster_region in eks or ():
        expired = cluster_region.expired
        if not expired:
            continue
        worst = max(expired, key=lambda c: c.nodegroups + c.fargate_profiles)
        rounds = math.ceil(len(expired) / eks_workers)
        eks_chains.append(
            _chain(
                f"{cluster_region.region} eks delete",
                [
                    (LIST_NODEGROUPS, rounds),
                    (LIST_PROFILES, rounds),
                    (DESCRIBE_NODEGROUP, rounds * worst.nodegroups),
                    (DESCRIBE_PROFILE, rounds * worst.fargate_profiles),
                    (DELETE_NODEGROUP, rounds * worst.nodegroups),
                    (DELETE_PROFILE, rounds * worst.fargate_profiles),
                    (DELETE_CLUSTER, rounds),
                ],
                cost,
            )
        )
    ec2_chains = [
        _chain(
            f"{region.region} ec2 delete",
            [(TERMINATE, math.ceil(region.expired / EC2_PAGE))],
            cost,
        )
        for region in ec2
        if region.expired
    ]
    if eks_chains or ec2_chains:
        levels.append(_chain("once", [(CALLER_IDENTITY, 1)], cost))
    for chains in (eks_chains, ec2_chains):
        if chains:
            levels.append(max(chains, key=lambda c: c.seconds))
    return levels


def serial_seconds(need: Mapping[OpKey, int], server: Mapping[OpKey, float]) -> float:
    """The server time of every request back to back: the bound of a one-at-a-time server."""
    return sum(server[op] * n for op, n in need.items() if n)


@dataclass(frozen=True)
class Minimum:
    """The fewest requests of the plan phase (a collect) and of the apply phase."""

    collect: Counter[OpKey]
    actions: Counter[OpKey]

    @classmethod
    def of(
        cls, ec2: Sequence[Ec2Region], eks: Sequence[EksRegion] | None, accounts: int = 1
    ) -> Minimum:
        return cls(collect_minimum(ec2, eks), action_minimum(ec2, eks, accounts=accounts))

    @property
    def plan(self) -> Counter[OpKey]:
        return self.collect

    @property
    def apply(self) -> Counter[OpKey]:
        """An applied sweep collects, then acts."""
        return self.collect + self.actions
