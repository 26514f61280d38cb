"""Seeds the embedded GCP fake with a project of pipeline leftovers, for the demo and tests.

Each seeded instance and cluster carries what the demo policy should do with it (a 12h
TTL for instances, the 24h default for clusters, quarantine for unpatched and exposed
ones), so the demo and the tests check outcomes instead of trusting the sweep's report.
Every label value is a valid GCP label (lowercase ``[a-z0-9_-]``): an expiry is epoch
seconds, a bad TTL has no space in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reaper.sandbox.estate import Specimen
from reaper.sandbox.gcp import FakeGcp, NodePoolSpec

PROJECT_NAME = "ci-gcp"
PROJECT_ID = "acme-ci-123"
ZONE = "us-central1-a"
OTHER_ZONE = "europe-west1-b"
CLUSTER_LOCATION = "us-central1"
IMAGE_PROJECT = "acme-ci-images"
IMAGES = {
    "golden": f"projects/{IMAGE_PROJECT}/global/images/ci-runner-v20261120",
    "old": "projects/debian-cloud/global/images/debian-12-bookworm-v20260501",
    "deprecated": "projects/debian-cloud/global/images/debian-11-bullseye-v20250910",
}
CURRENT_GKE = "1.35.1-gke.1396002"
OUTDATED_GKE = "1.29.15-gke.2725000"


@dataclass(frozen=True)
class InstanceSpecimen(Specimen):
    """A Compute Engine leftover: a Specimen and its status."""

    status: str = "RUNNING"
    zone: str = ZONE


@dataclass(frozen=True)
class ClusterSpecimen(Specimen):
    """A GKE leftover: a Specimen with its version and node pools."""

    version: str = CURRENT_GKE
    node_pools: tuple[NodePoolSpec, ...] = field(
        default=(NodePoolSpec("default-pool", 1), NodePoolSpec("spot", 1, autoscaling=(0, 3)))
    )
    location: str = CLUSTER_LOCATION


@dataclass(frozen=True)
class Seeded:
    label: str
    kind: str
    """``gce_instance`` or ``gke_cluster``."""
    location: str
    name: str
    expect_deleted: bool
    expect_quarantined: bool


def _run(n: int, owner: str = "team-payments") -> dict[str, str]:
    return {"reaper-pipeline": f"gitlab-ci-{n}", "reaper-owner": owner}


def instance_specimens(now: datetime) -> list[InstanceSpecimen]:
    """The Compute Engine leftovers of the demo project."""
    hour = timedelta(hours=1)
    past = str(int((now - hour).timestamp()))
    return [
        InstanceSpecimen("fresh", 1 * hour, _run(501)),
        InstanceSpecimen("fresh", 3 * hour, _run(502, "team-search"), zone=OTHER_ZONE),
        InstanceSpecimen("ttl-expired", 2 * 24 * hour, _run(503), expect_deleted=True),
        InstanceSpecimen("short-ttl-expired", 5 * hour, {**_run(504), "reaper-ttl": "2h"}, True),
        InstanceSpecimen("expiry-passed", hour / 2, {**_run(505), "reaper-expires-at": past}, True),
        InstanceSpecimen("stopped-expired", 3 * 24 * hour, _run(506), True, status="TERMINATED"),
        InstanceSpecimen("protected", 5 * 24 * hour, {**_run(507), "reaper-protect": "true"}),
        InstanceSpecimen("untagged", 10 * 24 * hour, {"team": "platform"}),
        InstanceSpecimen("invalid-label", 4 * 24 * hour, {**_run(508), "reaper-ttl": "3dayz"}),
        InstanceSpecimen("old-image", 2 * hour, _run(509), image="old", expect_quarantined=True),
        InstanceSpecimen(
            "deprecated-image", 2 * hour, _run(510), image="deprecated", expect_quarantined=True
        ),
        InstanceSpecimen(
            "exposed-ssh",
            2 * hour,
            _run(511, "team-search"),
            open_ssh=True,
            expect_quarantined=True,
        ),
    ]


def cluster_specimens(now: datetime) -> list[ClusterSpecimen]:
    """The GKE leftovers of the demo project (the 24h default TTL)."""
    hour = timedelta(hours=1)
    return [
        ClusterSpecimen("fresh", 2 * hour, _run(601, "team-platform")),
        ClusterSpecimen("ttl-expired", 3 * 24 * hour, _run(602, "team-platform"), True),
        ClusterSpecimen(
            "short-ttl-expired", 5 * hour, {**_run(603), "reaper-ttl": "2h"}, True, location=ZONE
        ),
        ClusterSpecimen("protected", 5 * 24 * hour, {**_run(604), "reaper-protect": "true"}),
        ClusterSpecimen("untagged", 10 * 24 * hour, {"team": "platform"}),
        ClusterSpecimen(
            "outdated-kubernetes",
            4 * hour,
            _run(605, "team-platform"),
            version=OUTDATED_GKE,
            expect_quarantined=True,
        ),
    ]


def seed_gcp(fake: FakeGcp, now: datetime, project: str = PROJECT_ID) -> list[Seeded]:
    """Seed the demo project: images, a firewall rule open to SSH, instances, clusters."""
    fake.add_project(project, zones=(ZONE, "us-central1-b", "us-central1-c", OTHER_ZONE))
    fake.add_image(
        IMAGE_PROJECT, IMAGES["golden"].rsplit("/", 1)[1], created=now - timedelta(days=10)
    )
    fake.add_image(
        "debian-cloud", IMAGES["old"].rsplit("/", 1)[1], created=now - timedelta(days=200)
    )
    fake.add_image(
        "debian-cloud",
        IMAGES["deprecated"].rsplit("/", 1)[1],
        created=now - timedelta(days=440),
        deprecated="DEPRECATED",
    )
    # A debug rule a pipeline left open: SSH from anywhere to instances tagged debug-ssh.
    fake.add_firewall(project, "ci-debug-ssh", target_tags=["debug-ssh"])
    seeded: list[Seeded] = []
    for n, spec in enumerate(instance_specimens(now)):
        name = f"{spec.label}-{n}"
        extra: dict[str, Any] = {}
        if spec.open_ssh:
            extra = {"external_ip": f"34.118.0.{10 + n}", "tags": ["debug-ssh"]}
        fake.add_instance(
            project,
            spec.zone,
            name,
            created=now - spec.age,
            status=spec.status,
            labels=spec.tags,
            boot_image=IMAGES[spec.image],
            **extra,
        )
        seeded.append(
            Seeded(
                spec.label,
                "gce_instance",
                spec.zone,
                name,
                spec.expect_deleted,
                spec.expect_quarantined,
            )
        )
    for n, cluster in enumerate(cluster_specimens(now)):
        name = f"ci-{cluster.label}-{n}"
        fake.add_cluster(
            project,
            cluster.location,
            name,
            created=now - cluster.age,
            labels=cluster.tags,
            master_version=cluster.version,
            node_pools=cluster.node_pools,
        )
        seeded.append(
            Seeded(
                cluster.label,
                "gke_cluster",
                cluster.location,
                name,
                cluster.expect_deleted,
                cluster.expect_quarantined,
            )
        )
    return seeded


def demo_section(endpoint: str, project: str = PROJECT_ID) -> dict[str, Any]:
    """The ``providers.gcp`` section of the demo, for a fake serving at ``endpoint``."""
    return {
        "projects": [{"name": PROJECT_NAME, "project_id": project}],
        "kinds": ["gce_instance", "gke_cluster"],
        "endpoints": {"compute": endpoint, "container": endpoint},
    }


def alive(fake: FakeGcp, seeded: Sequence[Seeded], project: str = PROJECT_ID) -> set[str]:
    """Names of the seeded instances and clusters that are still there."""
    instances = {i["name"] for i in fake.instances(project)}
    clusters = {c["name"] for c in fake.clusters(project)}
    return {
        s.name for s in seeded if s.name in (instances if s.kind == "gce_instance" else clusters)
    }


def summary(fake: FakeGcp, seeded: Sequence[Seeded]) -> str:
    """What the demo's sweeps left of the GCP project, one line per kind."""
    left = alive(fake, seeded)
    lines = []
    for kind, noun in (("gce_instance", "GCE instances"), ("gke_cluster", "GKE clusters")):
        mine = [s for s in seeded if s.kind == kind]
        kept = sum(s.name in left for s in mine)
        gone = ", ".join(sorted({s.label for s in mine if s.name not in left})) or "none"
        quarantined = ", ".join(sorted({s.label for s in mine if s.expect_quarantined}))
        lines.append(
            f"GCP: {kept} of {len(mine)} {noun} left, {len(mine) - kept} deleted ({gone}); "
            f"quarantined (stopped and isolated, or scaled to zero): {quarantined or 'none'}."
        )
    return "\n".join(lines)
