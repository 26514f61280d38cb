"""Seeds the sandbox with EKS clusters left behind by pipelines, node groups and all.

Moto's EKS needs a role ARN (it checks only its form) and subnets for clusters and node
groups; one VPC with two subnets per seeding serves them all. Moto stamps ``createdAt``
at creation and its HTTP API cannot change it: ageing needs a control endpoint, passed in
as ``age`` (see ``seed_clusters``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3

from reaper import lifecycle
from reaper.providers.aws.eks_records import ORIGINAL_KEYS
from reaper.sandbox.estate import CI_ACCOUNT_ID, Specimen
from reaper.sandbox.moto_server import MotoServer

SANDBOX_CLUSTER_ROLE = "arn:aws:iam::{account_id}:role/reaper-sandbox-eks"
_VPC_CIDR = "10.90.0.0/16"

AgeClusters = Callable[[str, str, Mapping[str, datetime]], int]
"""``(account_id, region, {cluster name: createdAt}) -> clusters updated``."""


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster to seed: its tags, age, node groups and Fargate profiles."""

    name: str
    age: timedelta = timedelta(0)
    """How long before ``now`` it should have been created (applied only with ``age``)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    nodegroups: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    """Node group name -> (min, desired, max) size."""
    nodegroup_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Extra tags of some node groups, by name (each also gets the cluster's ``tags``,
    except reaper's own state on the cluster: see :func:`_dependant_tags`)."""
    fargate_profiles: tuple[str, ...] = ()
    fargate_tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Extra tags of some Fargate profiles, by name (like ``nodegroup_tags``)."""
    version: str = "1.34"
    endpoint_public: bool = True
    """Public API endpoint; when False the private endpoint is enabled instead."""
    label: str = ""
    expect_deleted: bool = False


@dataclass(frozen=True)
class SeededCluster:
    label: str
    region: str
    name: str
    arn: str
    created_at: datetime
    """As moto reports it after seeding: the intended time if aged, else the seeding time."""
    aged: bool
    expect_deleted: bool


def cluster_specimens(now: datetime) -> list[Specimen]:
    """The demo's EKS leftovers of one region, for the default tag keys and a 24h TTL."""
    hour = timedelta(hours=1)

    def run(n: int, owner: str = "team-platform") -> dict[str, str]:
        return {"reaper-pipeline": f"gitlab-ci-{n}", "reaper-owner": owner}

    return [
        Specimen("fresh", 2 * hour, run(301)),
        Specimen("ttl-expired", 3 * 24 * hour, run(302), expect_deleted=True),
        Specimen("short-ttl-expired", 5 * hour, {**run(303), "reaper-ttl": "2h"}, True),
        Specimen("protected", 5 * 24 * hour, {**run(304), "reaper-protect": "true"}),
        Specimen("untagged", 10 * 24 * hour, {"team": "platform"}),
    ]


def cluster_specs(now: datetime) -> list[ClusterSpec]:
    """``cluster_specimens`` as clusters, each with a node group, one with a Fargate profile."""
    specs = []
    for n, specimen in enumerate(cluster_specimens(now)):
        specs.append(
            ClusterSpec(
                name=f"ci-{specimen.label}-{n}",
                age=specimen.age,
                tags=specimen.tags,
                nodegroups={"workers": (1, 2, 3)},
                fargate_profiles=("jobs",) if n == 1 else (),
                label=specimen.label,
                expect_deleted=specimen.expect_deleted,
            )
        )
    return specs


def seed_clusters(
    server: MotoServer,
    session: boto3.Session,
    region: str,
    now: datetime,
    specs: Sequence[ClusterSpec],
    *,
    account_id: str = CI_ACCOUNT_ID,
    age: AgeClusters | None = None,
) -> list[SeededCluster]:
    """Create the clusters of ``specs`` in one region of the session's account.

    ``age`` sets clusters' ``createdAt`` to ``now - spec.age``; moto has no way to do that
    over its own API, so without it clusters keep the time they were seeded at.
    """
    ec2 = session.client("ec2", region_name=region, endpoint_url=server.endpoint_url)
    eks = session.client("eks", region_name=region, endpoint_url=server.endpoint_url)
    subnets = _subnets(ec2, region)
    role = SANDBOX_CLUSTER_ROLE.format(account_id=account_id)
    for spec in specs:
        _create(eks, spec, role, subnets)
    if age is not None and specs:
        age(account_id, region, {s.name: now - s.age for s in specs})
    seeded = []
    for spec in specs:
        cluster = eks.describe_cluster(name=spec.name)["cluster"]
        seeded.append(
            SeededCluster(
                label=spec.label,
                region=region,
                name=spec.name,
                arn=str(cluster["arn"]),
                created_at=cluster["createdAt"],
                aged=age is not None,
                expect_deleted=spec.expect_deleted,
            )
        )
    return seeded


def _subnets(ec2: Any, region: str) -> list[str]:
    vpc_id = ec2.create_vpc(CidrBlock=_VPC_CIDR)["Vpc"]["VpcId"]
    return [
        str(
            ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=f"10.90.{n}.0/24", AvailabilityZone=f"{region}{zone}"
            )["Subnet"]["SubnetId"]
        )
        for n, zone in enumerate("ab")
    ]


def _create(eks: Any, spec: ClusterSpec, role: str, subnets: list[str]) -> None:
    vpc_config: dict[str, Any] = {
        "subnetIds": subnets,
        "endpointPublicAccess": spec.endpoint_public,
        "endpointPrivateAccess": not spec.endpoint_public,
    }
    if spec.endpoint_public:
        vpc_config["publicAccessCidrs"] = ["0.0.0.0/0"]
    eks.create_cluster(
        name=spec.name,
        version=spec.version,
        roleArn=role,
        resourcesVpcConfig=vpc_config,
        tags=dict(spec.tags),
    )
    for name, (low, desired, high) in spec.nodegroups.items():
        eks.create_nodegroup(
            clusterName=spec.name,
            nodegroupName=name,
            nodeRole=role,
            subnets=subnets,
            # Always explicit: moto shares one default scaling dict among node groups
            # created without one, so updating one would resize them all.
            scalingConfig={"minSize": low, "desiredSize": desired, "maxSize": high},
            tags={**_dependant_tags(spec.tags), **spec.nodegroup_tags.get(name, {})},
        )
    for name in spec.fargate_profiles:
        eks.create_fargate_profile(
            clusterName=spec.name,
            fargateProfileName=name,
            podExecutionRoleArn=role,
            subnets=subnets,
            selectors=[{"namespace": name}],
            tags={**_dependant_tags(spec.tags), **spec.fargate_tags.get(name, {})},
        )


def _dependant_tags(cluster_tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a pipeline puts on a cluster's node groups and Fargate profiles: the
    cluster's own (pipeline, owner, protect...), but not the state reaper records on the
    cluster, which is the cluster's alone."""
    theirs = {*lifecycle.ALL_KEYS, lifecycle.SIGNATURE, *ORIGINAL_KEYS}
    return {k: v for k, v in cluster_tags.items() if k not in theirs}
