"""Seeding the benchmark's estate in moto: pipeline-tagged EC2 instances and EKS clusters.

Instances are launched in chunks of up to 500 per ``RunInstances`` call (one reservation
per call), then aged with one ``MotoServer.age_instances`` call per region. Clusters are
created with ``reaper.sandbox.estate_eks.seed_clusters``; moto cannot age them, so the
expired ones carry an expiry tag in the past instead of an old ``createdAt``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import boto3

from reaper.config import TagKeys
from reaper.sandbox.estate import CI_ACCOUNT_ID, SANDBOX_AMI
from reaper.sandbox.estate_eks import ClusterSpec, seed_clusters
from reaper.sandbox.moto_server import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
from reaper.providers.aws.calendar import EKS_END_OF_STANDARD_SUPPORT

RUN_CHUNK = 500
"""Most instances launched by one RunInstances call (and so in one reservation)."""
EC2_TTL = timedelta(hours=12)
"""The EC2 TTL of the benchmark's config; ``expired`` instances are well past it."""


@dataclass(frozen=True)
class Category:
    """One share of the estate: its tags (besides pipeline and owner), age and fate."""

    label: str
    share: float
    age: timedelta
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    expect_delete: bool = False


def ec2_mix(tags: TagKeys) -> tuple[Category, ...]:
    """60% fresh, 30% expired by TTL, 5% protected, 5% with an unparsable TTL tag."""
    return (
        Category("fresh", 0.60, timedelta(hours=1)),
        Category("expired", 0.30, timedelta(days=2), expect_delete=True),
        Category("protected", 0.05, timedelta(days=5), {tags.protect: "true"}),
        Category("bad-tags", 0.05, timedelta(days=4), {tags.ttl: "3 dayz"}),
    )


def cluster_mix(tags: TagKeys, now: datetime) -> tuple[Category, ...]:
    """The same shares for clusters; expiry by tag, since moto cannot age a cluster."""
    past = str(int((now - timedelta(hours=1)).timestamp()))
    return (
        Category("fresh", 0.60, timedelta(0)),
        Category("expired", 0.30, timedelta(0), {tags.expires_at: past}, expect_delete=True),
        Category("protected", 0.05, timedelta(0), {tags.protect: "true"}),
        Category("bad-tags", 0.05, timedelta(0), {tags.ttl: "3 dayz"}),
    )


def allocate(total: int, shares: Sequence[float]) -> list[int]:
    """Split ``total`` by ``shares`` in whole numbers (largest remainder). Pure."""
    exact = [total * s / sum(shares) for s in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class Ec2Region:
    """What was seeded in one region."""

    region: str
    total: int
    by_label: Mapping[str, int]
    expired: int
    """Instances the sweep should terminate."""
    reservations: int
    """RunInstances calls made; moto pages DescribeInstances by reservation."""


def seed_ec2_region(
    server: MotoServer,
    session: boto3.Session,
    region: str,
    count: int,
    now: datetime,
    tags: TagKeys,
    *,
    label_prefix: str = "bench",
) -> Ec2Region:
    """Launch ``count`` instances of the mix in one region, then age them in one call."""
    ec2: EC2Client = session.client("ec2", region_name=region, endpoint_url=server.endpoint_url)
    # Moto's built-in image is years old: make it a fresh one, or every instance is unpatched.
    server.age_images(CI_ACCOUNT_ID, region, {SANDBOX_AMI: now - timedelta(days=10)})
    mix = ec2_mix(tags)
    counts = allocate(count, [c.share for c in mix])
    launch_times: dict[str, datetime] = {}
    by_label: dict[str, int] = {}
    reservations = 0
    for category, n in zip(mix, counts, strict=True):
        by_label[category.label] = n
        for start in range(0, n, RUN_CHUNK):
            size = min(RUN_CHUNK, n - start)
            pairs = {
                "Name": f"{label_prefix}-{category.label}-{region}",
                tags.pipeline: f"gitlab-ci-{reservations}",
                tags.owner: "team-bench",
                **category.extra_tags,
            }
            answer = ec2.run_instances(
                ImageId=SANDBOX_AMI,
                MinCount=size,
                MaxCount=size,
                InstanceType="t3.micro",
                TagSpecifications=[
                    {
                        "ResourceType": "instance",
                        "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()],
                    }
                ],
            )
            reservations += 1
            for instance in answer["Instances"]:
                launch_times[str(instance["InstanceId"])] = now - category.age
    if launch_times:
        server.age_instances(CI_ACCOUNT_ID, region, launch_times)
    expired = sum(n for c, n in zip(mix, counts, strict=True) if c.expect_delete)
    return Ec2Region(region, count, by_label, expired, reservations)


@dataclass(frozen=True)
class SeededCluster:
    name: str
    nodegroups: int
    fargate_profiles: int
    expect_delete: bool


@dataclass(frozen=True)
class EksRegion:
    """The clusters seeded in one region."""

    region: str
    clusters: tuple[SeededCluster, ...]

    @property
    def expired(self) -> tuple[SeededCluster, ...]:
        return tuple(c for c in self.clusters if c.expect_delete)


def newest_kubernetes_version() -> str:
    """The version with the latest end of standard support, so no cluster is unpatched."""
    return max(EKS_END_OF_STANDARD_SUPPORT.items(), key=lambda item: item[1])[0]


def plan_clusters(
    total: int, regions: Sequence[str], tags: TagKeys, now: datetime
) -> dict[str, list[tuple[ClusterSpec, SeededCluster]]]:
    """The mix over all clusters, dealt round-robin to the regions. Pure."""
    mix = cluster_mix(tags, now)
    counts = allocate(total, [c.share for c in mix])
    # Category by category, each dealt round-robin: every region gets its share of each.
    dealt = [category for category, n in zip(mix, counts, strict=True) for _ in range(n)]
    version = newest_kubernetes_version()
    out: dict[str, list[tuple[ClusterSpec, SeededCluster]]] = {r: [] for r in regions}
    for n, category in enumerate(dealt):
        region = regions[n % len(regions)]
        name = f"bench-{category.label}-{n}"
        # Every other cluster of a region has a Fargate profile too.
        profiles = ("jobs",) if (n // len(regions)) % 2 == 0 else ()
        spec = ClusterSpec(
            name=name,
            tags={
                tags.pipeline: f"gitlab-ci-eks-{n}",
                tags.owner: "team-bench",
                **category.extra_tags,
            },
            nodegroups={"workers": (1, 2, 3)},
            fargate_profiles=profiles,
            version=version,
            label=category.label,
            expect_deleted=category.expect_delete,
        )
        out[region].append(
            (spec, SeededCluster(name, len(spec.nodegroups), len(profiles), category.expect_delete))
        )
    return out


def seed_eks(
    server: MotoServer,
    session: boto3.Session,
    total: int,
    regions: Sequence[str],
    tags: TagKeys,
    now: datetime,
) -> list[EksRegion]:
    """Create ``total`` clusters with node groups (and some Fargate profiles)."""
    seeded = []
    for region, items in plan_clusters(total, regions, tags, now).items():
        if items:
            seed_clusters(server, session, region, now, [spec for spec, _ in items])
        seeded.append(EksRegion(region, tuple(cluster for _, cluster in items)))
    return seeded


@dataclass(frozen=True)
class Estate:
    """Everything the sweep phase seeded, and so what a correct sweep of it does."""

    ec2: tuple[Ec2Region, ...]
    eks: tuple[EksRegion, ...] | None
    """None when reaper does not sweep EKS clusters here (and none were seeded)."""

    @property
    def resources(self) -> int:
        """Every pipeline-tagged resource: what the plan should hold."""
        return sum(r.total for r in self.ec2) + sum(len(r.clusters) for r in self.eks or ())

    @property
    def expired_instances(self) -> int:
        """Instances the sweep should terminate."""
        return sum(r.expired for r in self.ec2)

    @property
    def expired_clusters(self) -> int:
        """Clusters the sweep should delete."""
        return sum(len(r.expired) for r in self.eks or ())
