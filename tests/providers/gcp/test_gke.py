"""GKE clusters end to end: collect, unpatched and exposed, delete with its operation,
clusters busy with another operation, marks, quarantine and release. Real
google-cloud-container (REST) and google-cloud-compute over HTTP to the embedded fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from gcp_support import (
    DAY,
    HOUR,
    NAME,
    NOW,
    PIPELINE,
    PROJECT,
    SIGNER,
    ZONE,
    gcp_config,
    kinds_of,
    reaper_labels,
    seed_project,
    settings_of,
    sweep,
)
from google.auth.credentials import AnonymousCredentials
from google.cloud import container_v1

from reaper import lifecycle
from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.model import Action, Reason, ResourceRef, Result, Scope
from reaper.policy import decide
from reaper.providers.gcp.calendar import GKE_END_OF_STANDARD_SUPPORT
from reaper.providers.gcp.records import ORIGINAL_ENDPOINT, ORIGINAL_POOLS
from reaper.results import ExitCode
from reaper.sandbox.gcp import FakeGcp, NodePoolSpec

REGION = "us-central1"
CURRENT = "1.35.1-gke.1396002"
OUTDATED = "1.29.15-gke.2725000"
EXPIRED = 3 * DAY  # clusters have the 24h default TTL
POOLS = (NodePoolSpec("default-pool", 2), NodePoolSpec("spot", 1, autoscaling=(0, 5)))
QUARANTINE = {"actions": {"ttl-expired": "quarantine"}}


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(wait_seconds=0.01) as server:
        seed_project(server)
        yield server
        assert server.failures == []


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def cluster(fake: FakeGcp, name: str, location: str = REGION, **options: Any) -> None:
    options.setdefault("labels", PIPELINE)
    options.setdefault("master_version", CURRENT)
    options.setdefault("node_pools", POOLS)
    options.setdefault("created", NOW - HOUR)
    fake.add_cluster(PROJECT, location, name, **options)


def config(fake: FakeGcp, audit_path: Path, **options: Any) -> dict[str, Any]:
    return gcp_config(fake, audit_path, kinds=("gke_cluster",), **options)


def cluster_labels(fake: FakeGcp, name: str, location: str = REGION) -> dict[str, str]:
    found = fake.cluster(PROJECT, location, name)
    assert found is not None, f"cluster {name} is gone"
    return dict(found.get("resourceLabels", {}))


def sizes(fake: FakeGcp, name: str, location: str = REGION) -> dict[str, int | None]:
    return {p.name: fake.node_count(PROJECT, location, name, p.name) for p in POOLS}


def autoscaling(fake: FakeGcp, name: str, location: str = REGION) -> dict[str, dict[str, Any]]:
    found = fake.cluster(PROJECT, location, name)
    assert found is not None
    return {p["name"]: p.get("autoscaling", {}) for p in found["nodePools"]}


# -- collect -----------------------------------------------------------------------------


def test_clusters_of_every_location_are_collected_with_what_the_policy_needs(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "regional", created=NOW - 2 * HOUR, endpoint="34.70.1.2")
    cluster(fake, "zonal", ZONE, master_version=OUTDATED)
    cluster(fake, "pet", labels={"team": "x"})
    cluster(fake, "creating", status="PROVISIONING")
    cluster(fake, "deleting", status="STOPPING")
    settings = settings_of(config(fake, audit_path))
    (kind,) = kinds_of(settings)
    fake.stats.reset()

    found = {r.ref.id: r for r in kind.collect(Scope(NAME, "")).resources}

    assert sorted(found) == ["regional", "zonal"]
    regional = found["regional"]
    assert regional.ref.scope == Scope(NAME, REGION)
    assert regional.created_at == NOW - 2 * HOUR
    assert regional.kubernetes_version == CURRENT
    assert regional.support_ends == GKE_END_OF_STANDARD_SUPPORT["1.35"]
    assert regional.tags == PIPELINE
    assert regional.public
    assert regional.open_to_world
    assert found["zonal"].support_ends == date(2025, 4, 12)
    assert fake.stats.counts() == {"container.projects.locations.clusters.list": 1}


def test_a_missing_location_is_a_collect_error_and_the_rest_is_swept(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "seen", created=NOW - EXPIRED)
    cluster(fake, "hidden", ZONE, created=NOW - EXPIRED)
    fake.set_location_missing(PROJECT, ZONE)
    settings = settings_of(config(fake, audit_path))

    report = sweep(settings, kinds_of(settings), audit_path)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    assert [(e.scope, e.message) for e in report.collection.errors] == [
        (Scope(NAME, ZONE), f"location {ZONE} did not answer: its clusters were not swept")
    ]
    assert fake.cluster(PROJECT, REGION, "seen") is None
    assert fake.cluster(PROJECT, ZONE, "hidden") is not None


def test_configured_zones_keep_clusters_of_those_zones_and_their_regions(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "regional")
    cluster(fake, "zonal", ZONE)
    cluster(fake, "europe", "europe-west1-b")
    settings = settings_of(config(fake, audit_path, section={"zones": [ZONE]}))
    (kind,) = kinds_of(settings)

    found = sorted(r.ref.id for r in kind.collect(Scope(NAME, "")).resources)

    assert found == ["regional", "zonal"]


@pytest.mark.parametrize(
    ("version", "policy", "section", "unpatched"),
    [
        pytest.param(CURRENT, {}, {}, False, id="current"),
        pytest.param(OUTDATED, {}, {}, True, id="past-the-shipped-calendar"),
        pytest.param(CURRENT, {"min_kubernetes_version": "1.36"}, {}, True, id="below-minimum"),
        pytest.param(
            OUTDATED,
            {"kubernetes_end_of_support": {"1.29": "2027-01-01"}},
            {},
            False,
            id="policy-override",
        ),
        pytest.param(
            OUTDATED,
            {"kubernetes_end_of_support": {"1.29": "2027-01-01"}},
            {"kubernetes_end_of_support": {"1.29": "2026-01-01"}},
            True,
            id="provider-override-wins",
        ),
    ],
)
def test_unpatched_clusters(
    fake: FakeGcp,
    audit_path: Path,
    version: str,
    policy: dict[str, Any],
    section: dict[str, Any],
    unpatched: bool,
) -> None:
    cluster(fake, "c", master_version=version)
    settings = settings_of(config(fake, audit_path, policy=policy, section=section))
    (kind,) = kinds_of(settings)

    (found,) = kind.collect(Scope(NAME, "")).resources
    decision = decide(found, settings.policy, settings.tags, NOW)

    assert (Reason.UNPATCHED in decision.reasons) is unpatched


@pytest.mark.parametrize(
    ("options", "exposed"),
    [
        pytest.param({}, True, id="public-endpoint-no-authorized-networks"),
        pytest.param({"authorized_networks": ["10.0.0.0/8"]}, False, id="authorized-networks"),
        pytest.param({"authorized_networks": ["0.0.0.0/0"]}, True, id="authorized-world"),
        pytest.param({"private_endpoint": True}, False, id="private-endpoint"),
    ],
)
def test_exposed_is_a_public_endpoint_without_authorized_networks(
    fake: FakeGcp, audit_path: Path, options: dict[str, Any], exposed: bool
) -> None:
    cluster(fake, "c", **options)
    settings = settings_of(config(fake, audit_path, policy={"exposed_ports": [22, 443]}))
    (kind,) = kinds_of(settings)

    (found,) = kind.collect(Scope(NAME, "")).resources
    decision = decide(found, settings.policy, settings.tags, NOW)

    assert (Reason.EXPOSED in decision.reasons) is exposed


# -- delete ------------------------------------------------------------------------------


def test_an_expired_cluster_is_deleted_with_its_node_pools(fake: FakeGcp, audit_path: Path) -> None:
    cluster(fake, "old", created=NOW - EXPIRED)
    cluster(fake, "fresh")
    settings = settings_of(config(fake, audit_path))
    kinds = kinds_of(settings)
    fake.stats.reset()

    report = sweep(settings, kinds, audit_path)

    assert [(o.ref.id, o.action, o.result) for o in report.outcomes] == [
        ("old", Action.DELETE, Result.DONE)
    ]
    assert fake.cluster(PROJECT, REGION, "old") is None
    assert fake.cluster(PROJECT, REGION, "fresh") is not None
    # List, delete, and the two polls its operation needs: the minimum.
    assert fake.stats.counts() == {
        "container.projects.locations.clusters.list": 1,
        "container.projects.locations.clusters.delete": 1,
        "container.projects.locations.operations.get": 2,
    }


def test_a_delete_operation_ending_in_error_fails_with_its_message(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "old", created=NOW - EXPIRED)
    fake.fail_next_operation(
        "container.projects.locations.clusters.delete", "Deleting the firewall rules failed"
    )
    settings = settings_of(config(fake, audit_path))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert (outcome.result, outcome.message) == (
        Result.FAILED,
        "Deleting the firewall rules failed",
    )
    assert cluster_labels(fake, "old")[lifecycle.FAILURES] == "1"
    ref = ResourceRef("gcp", "gke_cluster", Scope(NAME, REGION), "old")
    assert SIGNER.verify(ref, cluster_labels(fake, "old"))


def test_a_cluster_busy_upgrading_is_skipped_without_a_refused_delete_then_deleted_later(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "upgrading", created=NOW - EXPIRED)
    upgrade = fake.start_cluster_operation(PROJECT, REGION, "upgrading")
    settings = settings_of(config(fake, audit_path, grace="0s"))
    kinds = kinds_of(settings)
    fake.stats.reset()

    busy = sweep(settings, kinds, audit_path)
    counts = fake.stats.counts()
    fake.finish_operation(upgrade)
    later = sweep(settings, kinds, audit_path, NOW + HOUR)

    (outcome,) = busy.outcomes
    assert outcome.result is Result.SKIPPED
    assert outcome.message.startswith(f"in progress: operation {upgrade} (UPGRADE_MASTER)")
    assert busy.exit_code == ExitCode.OK
    assert counts == {
        "container.projects.locations.clusters.list": 1,
        "container.projects.locations.operations.list": 1,
    }
    assert [o.result for o in later.outcomes] == [Result.DONE]
    assert fake.cluster(PROJECT, REGION, "upgrading") is None


def test_a_refused_delete_is_skipped_in_progress_not_failed(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "c", created=NOW - EXPIRED)
    settings = settings_of(config(fake, audit_path))
    (kind,) = kinds_of(settings)
    (found,) = kind.collect(Scope(NAME, "")).resources
    repair = fake.start_cluster_operation(PROJECT, REGION, "c", "REPAIR_CLUSTER")

    (outcome,) = kind.delete(found.ref.scope, [found])

    assert outcome.result is Result.SKIPPED
    assert f"Operation {repair} is currently repairing cluster c" in outcome.message
    assert fake.cluster(PROJECT, REGION, "c") is not None


# -- marks -------------------------------------------------------------------------------


def test_marks_use_the_label_fingerprint_and_a_stale_one_is_reread(
    fake: FakeGcp, audit_path: Path
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import container_v1

    cluster(fake, "c")
    settings = settings_of(config(fake, audit_path))
    (kind,) = kinds_of(settings)
    (found,) = kind.collect(Scope(NAME, "")).resources
    gke = container_v1.ClusterManagerClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )
    name = f"projects/{PROJECT}/locations/{REGION}/clusters/c"
    gke.set_labels(
        request=container_v1.SetLabelsRequest(
            name=name,
            resource_labels={**PIPELINE, "team": "x"},
            label_fingerprint=gke.get_cluster(name=name).label_fingerprint,
        )
    )
    fake.stats.reset()
    mark = SIGNER.signed(found.ref, lifecycle.mark_tags(NOW, "delete", "ttl-expired"))

    (outcome,) = kind.tag(found.ref.scope, [found], mark, Action.MARK)

    assert outcome.result is Result.DONE
    assert cluster_labels(fake, "c") == {**PIPELINE, "team": "x", **mark}
    assert fake.stats.counts() == {
        "container.projects.locations.clusters.setResourceLabels": 2,
        "container.projects.locations.clusters.get": 1,
    }


# -- quarantine and release ----------------------------------------------------------------


def test_quarantine_scales_pools_to_zero_closes_the_endpoint_and_release_restores(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "c", created=NOW - EXPIRED)
    section = {"restrict_public_endpoint": True}
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE, section=section))
    kinds = kinds_of(settings)

    report = sweep(settings, kinds, audit_path)

    assert [(o.action, o.result) for o in report.outcomes] == [(Action.QUARANTINE, Result.DONE)]
    assert sizes(fake, "c") == {"default-pool": 0, "spot": 0}
    assert autoscaling(fake, "c") == {"default-pool": {}, "spot": {}}
    after = fake.cluster(PROJECT, REGION, "c")
    assert after is not None
    assert after["masterAuthorizedNetworksConfig"] == {"enabled": True}
    found = reaper_labels(after["resourceLabels"])
    assert found[ORIGINAL_POOLS[0]] == "default-pool_2__spot_1_0_5_b"
    assert found[ORIGINAL_ENDPOINT] == "off"
    assert found[lifecycle.STATE] == "quarantined"
    ref = ResourceRef("gcp", "gke_cluster", Scope(NAME, REGION), "c")
    assert SIGNER.verify(ref, after["resourceLabels"])

    later = sweep(settings, kinds, audit_path, NOW + DAY)
    (decision,) = later.plan.decisions
    assert (decision.resource.isolated, decision.action) == (True, Action.KEEP)

    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    outcome = service.release(kinds[0], "c")

    assert outcome is not None
    assert outcome.result is Result.DONE, outcome
    assert sizes(fake, "c") == {"default-pool": 2, "spot": 1}
    assert autoscaling(fake, "c")["spot"]["maxNodeCount"] == 5
    restored = fake.cluster(PROJECT, REGION, "c")
    assert restored is not None
    assert restored["masterAuthorizedNetworksConfig"] == {}
    assert restored["resourceLabels"] == PIPELINE


@pytest.mark.parametrize(
    "pool",
    [
        pytest.param(NodePoolSpec("spot", 1, autoscaling=(0, 5)), id="per-zone"),
        pytest.param(
            NodePoolSpec("spot", 2, total_autoscaling=(1, 9), location_policy="ANY"),
            id="total-limits-any",
        ),
    ],
)
def test_release_restores_the_autoscaling_as_it_was(
    fake: FakeGcp, audit_path: Path, pool: NodePoolSpec
) -> None:
    cluster(fake, "c", created=NOW - EXPIRED, node_pools=(pool,))
    before = autoscaling(fake, "c")["spot"]
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE))
    kinds = kinds_of(settings)
    report = sweep(settings, kinds, audit_path)
    assert [o.result for o in report.outcomes] == [Result.DONE]
    assert autoscaling(fake, "c")["spot"] == {}

    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    outcome = service.release(kinds[0], "c")

    assert outcome is not None
    assert outcome.result is Result.DONE, outcome
    assert autoscaling(fake, "c")["spot"] == before
    assert fake.node_count(PROJECT, REGION, "c", "spot") == pool.node_count


OPEN_BLOCKS = (("0.0.0.0/0", "anyone"), ("10.0.0.0/8", "corp vpn"))


def reopen(fake: FakeGcp, name: str, cidr: str) -> None:
    """Someone lets ``cidr`` in again, with the real client."""
    gke = container_v1.ClusterManagerClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )
    config = container_v1.MasterAuthorizedNetworksConfig(
        enabled=True, cidr_blocks=[{"cidr_block": cidr}]
    )
    gke.update_cluster(
        name=f"projects/{PROJECT}/locations/{REGION}/clusters/{name}",
        update=container_v1.ClusterUpdate(desired_master_authorized_networks_config=config),
    )
    fake.settle()


def test_authorized_networks_open_to_the_world_are_closed_and_restored_exactly(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(
        fake, "c", created=NOW - EXPIRED, authorized_networks=OPEN_BLOCKS, gcp_public_cidrs=True
    )
    before = fake.cluster(PROJECT, REGION, "c")
    assert before is not None
    section = {"restrict_public_endpoint": True}
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE, section=section))
    kinds = kinds_of(settings)

    report = sweep(settings, kinds, audit_path)

    assert [o.result for o in report.outcomes] == [Result.DONE], report.outcomes
    after = fake.cluster(PROJECT, REGION, "c")
    assert after is not None
    assert after["masterAuthorizedNetworksConfig"] == {"enabled": True}
    later = sweep(settings, kinds, audit_path, NOW + HOUR)
    (decision,) = later.plan.decisions
    assert (decision.resource.isolated, decision.action) == (True, Action.KEEP)

    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    outcome = service.release(kinds[0], "c")

    assert outcome is not None
    assert outcome.result is Result.DONE, outcome
    restored = fake.cluster(PROJECT, REGION, "c")
    assert restored is not None
    assert restored["masterAuthorizedNetworksConfig"] == before["masterAuthorizedNetworksConfig"]
    assert restored["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is True


def test_a_quarantined_endpoint_reopened_to_the_world_is_not_isolated(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "c", created=NOW - EXPIRED, authorized_networks=OPEN_BLOCKS)
    section = {"restrict_public_endpoint": True}
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE, section=section))
    kinds = kinds_of(settings)
    sweep(settings, kinds, audit_path)
    reopen(fake, "c", "0.0.0.0/0")

    later = sweep(settings, kinds, audit_path, NOW + HOUR)

    (decision,) = later.plan.decisions
    assert (decision.resource.isolated, decision.action) == (False, Action.QUARANTINE)
    assert [o.result for o in later.outcomes] == [Result.DONE]
    after = fake.cluster(PROJECT, REGION, "c")
    assert after is not None
    assert after["masterAuthorizedNetworksConfig"] == {"enabled": True}


def test_authorized_networks_too_many_for_the_labels_refuse_the_quarantine(
    fake: FakeGcp, audit_path: Path
) -> None:
    blocks = [("0.0.0.0/0", "anyone")] + [
        (f"10.{i}.0.0/16", f"runner subnet number {i}") for i in range(20)
    ]
    cluster(fake, "c", created=NOW - EXPIRED, authorized_networks=blocks)
    before = fake.cluster(PROJECT, REGION, "c")
    section = {"restrict_public_endpoint": True}
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE, section=section))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert outcome.result is Result.FAILED
    assert "master authorized networks do not fit in reaper's labels" in outcome.message
    after = fake.cluster(PROJECT, REGION, "c")
    assert after is not None
    assert before is not None
    assert after["masterAuthorizedNetworksConfig"] == before["masterAuthorizedNetworksConfig"]
    assert sizes(fake, "c") == {"default-pool": 2, "spot": 1}


def test_without_restrict_the_endpoint_is_left_alone(fake: FakeGcp, audit_path: Path) -> None:
    cluster(fake, "c", created=NOW - EXPIRED)
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE))

    sweep(settings, kinds_of(settings), audit_path)

    after = fake.cluster(PROJECT, REGION, "c")
    assert after is not None
    assert after["masterAuthorizedNetworksConfig"] == {}
    assert ORIGINAL_ENDPOINT not in after["resourceLabels"]


def test_a_retried_quarantine_never_records_zeros_as_the_original_sizes(
    fake: FakeGcp, audit_path: Path
) -> None:
    cluster(fake, "c", created=NOW - EXPIRED, node_pools=(NodePoolSpec("default-pool", 2),))
    fake.fail_next_operation(
        "container.projects.locations.clusters.nodePools.setSize", "Resize failed: quota"
    )
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE))
    kinds = kinds_of(settings)

    failed = sweep(settings, kinds, audit_path)
    between = cluster_labels(fake, "c")
    retried = sweep(settings, kinds, audit_path, NOW + HOUR)

    assert [o.result for o in failed.outcomes] == [Result.FAILED]
    assert "Resize failed: quota" in failed.outcomes[0].message
    assert between[ORIGINAL_POOLS[0]] == "default-pool_2"
    assert between[lifecycle.FAILURES] == "1"
    assert lifecycle.STATE not in between  # quarantined only once it reads back
    # The actuator's failure count is signed over the originals the quarantine recorded.
    assert SIGNER.verify(failed.outcomes[0].ref, between)
    assert [o.result for o in retried.outcomes] == [Result.DONE]
    assert lifecycle.FAILURES not in cluster_labels(fake, "c")
    assert cluster_labels(fake, "c")[ORIGINAL_POOLS[0]] == "default-pool_2"
    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    assert service.release(kinds[0], "c").result is Result.DONE  # type: ignore[union-attr]
    assert fake.node_count(PROJECT, REGION, "c", "default-pool") == 2


def test_a_busy_cluster_is_not_quarantined_now_but_skipped(fake: FakeGcp, audit_path: Path) -> None:
    cluster(fake, "c", created=NOW - EXPIRED)
    fake.start_cluster_operation(PROJECT, REGION, "c")
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert outcome.result is Result.SKIPPED
    assert outcome.message.startswith("in progress:")
    assert sizes(fake, "c") == {"default-pool": 2, "spot": 1}


def test_pools_too_many_for_the_labels_leave_the_cluster_untouched(
    fake: FakeGcp, audit_path: Path
) -> None:
    pools = tuple(NodePoolSpec(f"pool-with-a-rather-long-name-{i:02d}", 1) for i in range(12))
    cluster(fake, "c", created=NOW - EXPIRED, node_pools=pools)
    settings = settings_of(config(fake, audit_path, policy=QUARANTINE))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert outcome.result is Result.FAILED
    assert "do not fit in reaper's labels" in outcome.message
    assert all(fake.node_count(PROJECT, REGION, "c", p.name) == 1 for p in pools)
