"""Every GCP API method the kinds call needs a permission they declare, and each declared
permission is used: a full lifecycle of both kinds against the fake, its request counts
mapped to IAM permissions as Google documents them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gcp_support import (
    DEBIAN,
    EXPIRED,
    NOW,
    PIPELINE,
    PROJECT,
    SIGNER,
    ZONE,
    gcp_config,
    kinds_of,
    seed_project,
    settings_of,
    sweep,
)

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.model import Result
from reaper.providers.base import REGISTRY
from reaper.sandbox.gcp import FakeGcp, NodePoolSpec

# API method -> the IAM permissions it takes (cloud.google.com/compute/docs/reference/rest,
# cloud.google.com/kubernetes-engine/docs/reference/api-permissions).
PERMISSIONS = {
    "compute.instances.aggregatedList": ("compute.instances.list",),
    "compute.instances.list": ("compute.instances.list",),
    "compute.instances.get": ("compute.instances.get",),
    "compute.instances.delete": ("compute.instances.delete",),
    "compute.instances.setLabels": ("compute.instances.setLabels",),
    "compute.instances.setTags": ("compute.instances.setTags",),
    "compute.instances.stop": ("compute.instances.stop",),
    "compute.instances.start": ("compute.instances.start",),
    "compute.zoneOperations.wait": ("compute.zoneOperations.get",),
    "compute.globalOperations.wait": ("compute.globalOperations.get",),
    "compute.disks.aggregatedList": ("compute.disks.list",),
    "compute.disks.list": ("compute.disks.list",),
    "compute.disks.get": ("compute.disks.get",),
    "compute.images.get": ("compute.images.get",),
    "compute.firewalls.list": ("compute.firewalls.list",),
    "compute.firewalls.get": ("compute.firewalls.get",),
    "compute.firewalls.insert": ("compute.firewalls.create", "compute.networks.updatePolicy"),
    "compute.instanceGroupManagers.get": ("compute.instanceGroupManagers.get",),
    "container.projects.locations.clusters.list": ("container.clusters.list",),
    "container.projects.locations.clusters.get": ("container.clusters.get",),
    "container.projects.locations.clusters.delete": ("container.clusters.delete",),
    "container.projects.locations.clusters.update": ("container.clusters.update",),
    "container.projects.locations.clusters.setResourceLabels": ("container.clusters.update",),
    "container.projects.locations.clusters.nodePools.setSize": ("container.clusters.update",),
    "container.projects.locations.clusters.nodePools.setAutoscaling": (
        "container.clusters.update",
    ),
    "container.projects.locations.operations.list": ("container.operations.list",),
    "container.projects.locations.operations.get": ("container.operations.get",),
}


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(wait_seconds=0.01) as server:
        seed_project(server)
        yield server
        assert server.failures == []


def test_every_call_is_a_declared_permission_and_every_permission_is_used(
    fake: FakeGcp, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    fake.add_firewall(PROJECT, "open")
    for name in ("a", "b"):
        fake.add_instance(
            PROJECT,
            ZONE,
            f"quarantined-{name}",
            labels=PIPELINE,
            created=NOW - EXPIRED,
            external_ip="34.1.2.3",
            boot_image=DEBIAN,
        )
    fake.add_instance(PROJECT, "us-central1-b", "single", labels=PIPELINE, boot_image=DEBIAN)
    pools = (NodePoolSpec("np", 1, autoscaling=(0, 2)),)
    for name in ("expired", "upgrading"):
        fake.add_cluster(
            PROJECT, ZONE, name, labels=PIPELINE, created=NOW - 3 * EXPIRED, node_pools=pools
        )
    fake.start_cluster_operation(PROJECT, ZONE, "upgrading")
    fake.add_cluster(PROJECT, "us-central1", "risky", labels=PIPELINE, node_pools=pools)
    settings = settings_of(
        gcp_config(
            fake,
            audit,
            kinds=("gce_instance", "gke_cluster"),
            section={"restrict_public_endpoint": True},
            policy={"actions": {"ttl-expired": "quarantine"}, "exposed_ports": [22, 443]},
        )
    )
    kinds = kinds_of(settings)
    fake.stats.reset()

    report = sweep(settings, kinds, audit)
    service = SweepService(settings, kinds, lambda: AuditLog(audit), signer=SIGNER)
    released = [
        service.release(k, n) for k, n in ((kinds[0], "quarantined-a"), (kinds[1], "risky"))
    ]
    # Expired now deletes: the cluster still upgrading is looked up in operations.list.
    deleting = settings_of(
        gcp_config(fake, audit, kinds=("gce_instance", "gke_cluster"), policy={"kinds": {}})
    )
    deleted = sweep(deleting, kinds_of(deleting), audit, NOW + 4 * EXPIRED)

    assert {o.result for o in report.outcomes} == {Result.DONE, Result.SKIPPED}
    assert [o.result for o in released if o is not None] == [Result.DONE, Result.DONE]
    assert {o.result for o in deleted.outcomes} == {Result.DONE, Result.SKIPPED}
    used = set(fake.stats.counts())
    assert used <= set(PERMISSIONS), f"map these methods: {sorted(used - set(PERMISSIONS))}"
    needed = {p for method in used for p in PERMISSIONS[method]}
    declared = {
        p for key, kind in REGISTRY.items() if key.startswith("gcp:") for p in kind.permissions
    }
    assert needed == declared, (
        f"undeclared: {sorted(needed - declared)}; declared, not used: {sorted(declared - needed)}"
    )
