"""What one request of each operation costs, timed directly against moto (no proxy).

Each call is timed twice over: the whole boto3 call (serialize, send, moto's work, read,
parse), and from the moment botocore sends it until the answer has been read, before
parsing (botocore's ``before-send`` and ``before-parse`` events): the server's share,
moto's own time plus loopback transfer. Calls run one at a time, a few samples each,
and the median counts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.client import BaseClient

from bench.minimum import (
    CALLER_IDENTITY,
    DELETE_CLUSTER,
    DELETE_NODEGROUP,
    DELETE_PROFILE,
    DESCRIBE_CLUSTER,
    DESCRIBE_GROUPS,
    DESCRIBE_IMAGES,
    DESCRIBE_INSTANCES,
    DESCRIBE_NODEGROUP,
    DESCRIBE_PROFILE,
    EC2_PAGE,
    LIST_CLUSTERS,
    LIST_NODEGROUPS,
    LIST_PROFILES,
    TERMINATE,
    OpKey,
)
from reaper.config import TagKeys
from reaper.providers.aws import ec2_facts
from reaper.providers.aws.ec2 import LIVE_STATES
from reaper.providers.aws.ec2_facts import FILTER_BATCH
from reaper.sandbox.estate_eks import ClusterSpec, seed_clusters
from reaper.sandbox.moto_server import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import DescribeInstancesResultTypeDef, FilterTypeDef
    from mypy_boto3_sts import STSClient

T = TypeVar("T")


@dataclass
class OpTiming:
    """Samples of one operation; ``note`` says what was asked (page size, batch size)."""

    op: OpKey
    note: str = ""
    totals: list[float] = field(default_factory=list)
    servers: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Median seconds of the whole call."""
        return statistics.median(self.totals)

    @property
    def server(self) -> float:
        """Median seconds from send to the answer read, before parsing."""
        return statistics.median(self.servers)

    @property
    def client(self) -> float:
        """The rest: building, signing and parsing in the client."""
        return max(0.0, self.total - self.server)


class Stopwatch:
    """Times the calls of one boto3 client."""

    def __init__(self, client: BaseClient) -> None:
        self._sent = 0.0
        self._answered = 0.0
        client.meta.events.register("before-send", self._on_send)
        client.meta.events.register("before-parse", self._on_answer)

    def _on_send(self, **_: object) -> None:
        # Must return None: botocore takes any other value for the HTTP response.
        self._sent = time.perf_counter()

    def _on_answer(self, **_: object) -> None:
        self._answered = time.perf_counter()

    def sample(self, timing: OpTiming, call: Callable[[], T]) -> T:
        """Run ``call`` (one request) and add its times to ``timing``; returns its answer."""
        start = time.perf_counter()
        answer = call()
        timing.totals.append(time.perf_counter() - start)
        timing.servers.append(self._answered - self._sent)
        return answer


def ec2_client(session: boto3.Session, region: str, endpoint: str) -> EC2Client:
    return session.client("ec2", region_name=region, endpoint_url=endpoint)


def sts_client(session: boto3.Session, region: str, endpoint: str) -> STSClient:
    return session.client("sts", region_name=region, endpoint_url=endpoint)


def eks_client(session: boto3.Session, region: str, endpoint: str) -> Any:
    """An EKS client: untyped, as the dev dependencies carry no EKS stubs."""
    return session.client("eks", region_name=region, endpoint_url=endpoint)


def time_ec2_reads(
    session: boto3.Session, endpoint: str, region: str, tags: TagKeys, samples: int
) -> dict[OpKey, OpTiming]:
    """The collect's three EC2 calls as the EC2 kind makes them, in one region."""
    ec2 = ec2_client(session, region, endpoint)
    watch = Stopwatch(ec2)
    filters: list[FilterTypeDef] = [
        {"Name": "tag-key", "Values": [tags.pipeline]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ]
    pages = OpTiming(DESCRIBE_INSTANCES)
    answer: DescribeInstancesResultTypeDef | None = None
    for _ in range(samples):
        answer = watch.sample(
            pages, lambda: ec2.describe_instances(Filters=filters, MaxResults=EC2_PAGE)
        )
    reservations = answer.get("Reservations", []) if answer is not None else []
    instances = [i for r in reservations for i in r.get("Instances", [])]
    pages.note = f"first page: {len(instances)} instances"
    image_ids = sorted({str(i["ImageId"]) for i in instances if i.get("ImageId")})[:FILTER_BATCH]
    group_ids = sorted({g for i in instances for g in ec2_facts.group_ids(i)})[:FILTER_BATCH]
    images = OpTiming(DESCRIBE_IMAGES, f"{len(image_ids)} image(s)")
    groups = OpTiming(DESCRIBE_GROUPS, f"{len(group_ids)} group(s)")
    for _ in range(samples):
        watch.sample(
            images,
            lambda: ec2.describe_images(
                Filters=[{"Name": "image-id", "Values": image_ids}], IncludeDeprecated=True
            ),
        )
        watch.sample(
            groups,
            lambda: ec2.describe_security_groups(
                Filters=[{"Name": "group-id", "Values": group_ids}]
            ),
        )
    return {t.op: t for t in (pages, images, groups)}


def time_terminate(
    session: boto3.Session, endpoint: str, region: str, ids: Sequence[str], samples: int
) -> OpTiming:
    """TerminateInstances on a batch of instances the sweep already terminated.

    EC2 (and moto) answer for terminated instances too, with the same document.
    """
    ec2 = ec2_client(session, region, endpoint)
    watch = Stopwatch(ec2)
    batch = list(ids)[:EC2_PAGE]
    timing = OpTiming(TERMINATE, f"batch of {len(batch)} instances")
    for _ in range(samples):
        watch.sample(timing, lambda: ec2.terminate_instances(InstanceIds=batch))
    return timing


def time_sts(session: boto3.Session, endpoint: str, region: str, samples: int) -> OpTiming:
    sts = sts_client(session, region, endpoint)
    watch = Stopwatch(sts)
    timing = OpTiming(CALLER_IDENTITY)
    for _ in range(samples):
        watch.sample(timing, sts.get_caller_identity)
    return timing


def time_eks(
    server: MotoServer,
    session: boto3.Session,
    region: str,
    samples: int,
    version: str,
    now: datetime,
) -> dict[OpKey, OpTiming]:
    """Every EKS call of collect and delete, on scratch clusters in a region not swept.

    Each scratch cluster has one node group and one Fargate profile, and is torn down
    the way the EKS kind does it.
    """
    specs = [
        ClusterSpec(
            name=f"bench-timing-{n}",
            age=timedelta(0),
            nodegroups={"workers": (1, 2, 3)},
            fargate_profiles=("jobs",),
            version=version,
        )
        for n in range(samples)
    ]
    seed_clusters(server, session, region, now, specs)
    eks = eks_client(session, region, server.endpoint_url)
    watch = Stopwatch(eks)
    ops = (
        LIST_CLUSTERS,
        DESCRIBE_CLUSTER,
        LIST_NODEGROUPS,
        LIST_PROFILES,
        DESCRIBE_NODEGROUP,
        DESCRIBE_PROFILE,
        DELETE_NODEGROUP,
        DELETE_PROFILE,
        DELETE_CLUSTER,
    )
    timings = {op: OpTiming(op) for op in ops}
    for spec in specs:
        name = spec.name
        calls: list[tuple[OpKey, Callable[[], object]]] = [
            (LIST_CLUSTERS, partial(eks.list_clusters, maxResults=100)),
            (DESCRIBE_CLUSTER, partial(eks.describe_cluster, name=name)),
            (LIST_NODEGROUPS, partial(eks.list_nodegroups, clusterName=name, maxResults=100)),
            (LIST_PROFILES, partial(eks.list_fargate_profiles, clusterName=name, maxResults=100)),
            (
                DESCRIBE_NODEGROUP,
                partial(eks.describe_nodegroup, clusterName=name, nodegroupName="workers"),
            ),
            (
                DESCRIBE_PROFILE,
                partial(eks.describe_fargate_profile, clusterName=name, fargateProfileName="jobs"),
            ),
            (
                DELETE_NODEGROUP,
                partial(eks.delete_nodegroup, clusterName=name, nodegroupName="workers"),
            ),
            (
                DELETE_PROFILE,
                partial(eks.delete_fargate_profile, clusterName=name, fargateProfileName="jobs"),
            ),
            (DELETE_CLUSTER, partial(eks.delete_cluster, name=name)),
        ]
        for op, call in calls:
            watch.sample(timings[op], call)
    return timings
