"""Pinned plans and ids on GCP: an item outside the configured projects, zones and GKE
locations is refused before any request; a plan of clusters collects only the locations it
names (the brake's population is theirs); a malformed id never reaches the API."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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
    seed_project,
    settings_of,
)

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.model import Action, ResourceRef, Result, Scope
from reaper.pinned import PinnedItem, PinnedPlan, PlanRefused, read_pinned
from reaper.report import plan_to_json
from reaper.sandbox.gcp import FakeGcp, NodePoolSpec
from reaper.shards import Shard, owner

REGION = "us-central1"
EUROPE_ZONE = "europe-west1-b"
EUROPE = "europe-west1"
CURRENT = "1.35.1-gke.1396002"
KINDS = ("gce_instance", "gke_cluster")


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(wait_seconds=0.01) as server:
        seed_project(server)
        yield server
        assert server.failures == []


def service_of(
    fake: FakeGcp, tmp_path: Path, shard: Shard | None = None, **section: Any
) -> SweepService:
    settings = settings_of(gcp_config(fake, tmp_path / "audit.jsonl", kinds=KINDS, section=section))
    return SweepService(
        settings,
        kinds_of(settings),
        lambda: AuditLog(tmp_path / "audit.jsonl"),
        signer=SIGNER,
        shard=shard,
    )


def pinned(*items: tuple[str, str, str]) -> PinnedPlan:
    """A plan deleting ``(kind, account, region)`` items, each named ``thing``."""
    return PinnedPlan(
        NOW,
        "c",
        tuple(
            PinnedItem(
                ResourceRef("gcp", kind, Scope(account, region), "thing"), Action.DELETE, None
            )
            for kind, account, region in items
        ),
        "plan.json",
    )


@pytest.mark.parametrize(
    ("zones", "item"),
    [
        pytest.param((), ("gce_instance", NAME, ZONE), id="instance-any-zone"),
        pytest.param((), ("gce_instance", NAME, EUROPE_ZONE), id="instance-other-zone"),
        pytest.param((ZONE,), ("gce_instance", NAME, ZONE), id="instance-configured-zone"),
        pytest.param((), ("gke_cluster", NAME, EUROPE), id="cluster-any-location"),
        pytest.param((ZONE,), ("gke_cluster", NAME, ZONE), id="cluster-in-a-configured-zone"),
        pytest.param((ZONE,), ("gke_cluster", NAME, REGION), id="cluster-in-its-region"),
    ],
)
def test_items_within_the_configured_projects_zones_and_locations_pass(
    fake: FakeGcp, tmp_path: Path, zones: Sequence[str], item: tuple[str, str, str]
) -> None:
    service = service_of(fake, tmp_path, zones=list(zones))

    service.check_scope(pinned(item))

    assert fake.stats.total() == 0


@pytest.mark.parametrize(
    ("zones", "item", "problem"),
    [
        pytest.param(
            (),
            ("gce_instance", "prod", ZONE),
            f"gcp:gce_instance:thing in prod/{ZONE}: account prod is not configured "
            "(configured: ci)",
            id="instance-other-project",
        ),
        pytest.param(
            (ZONE,),
            ("gce_instance", NAME, EUROPE_ZONE),
            f"gcp:gce_instance:thing in ci/{EUROPE_ZONE}: region {EUROPE_ZONE} is not "
            f"configured (configured: {ZONE})",
            id="instance-zone-not-configured",
        ),
        pytest.param(
            (),
            ("gce_instance", NAME, ""),
            "gcp:gce_instance:thing in ci: region '' is not configured (configured: all)",
            id="instance-without-a-zone",
        ),
        pytest.param(
            (ZONE,),
            ("gke_cluster", NAME, EUROPE),
            f"gcp:gke_cluster:thing in ci/{EUROPE}: region {EUROPE} is not configured "
            f"(configured: {REGION}, {ZONE})",
            id="cluster-location-not-configured",
        ),
        pytest.param(
            (ZONE,),
            ("gke_cluster", NAME, "us-central1-b"),
            f"gcp:gke_cluster:thing in ci/us-central1-b: region us-central1-b is not configured "
            f"(configured: {REGION}, {ZONE})",
            id="cluster-other-zone-of-the-region",
        ),
        pytest.param(
            (),
            ("gke_cluster", "prod", REGION),
            f"gcp:gke_cluster:thing in prod/{REGION}: account prod is not configured "
            "(configured: ci)",
            id="cluster-other-project",
        ),
    ],
)
def test_items_outside_the_configured_scope_are_refused_before_any_request(
    fake: FakeGcp,
    tmp_path: Path,
    zones: Sequence[str],
    item: tuple[str, str, str],
    problem: str,
) -> None:
    service = service_of(fake, tmp_path, zones=list(zones))

    with pytest.raises(PlanRefused) as refused:
        service.check_scope(pinned(item))

    assert refused.value.problems == (
        f"plan.json: {problem}",
        "plan.json: 1 item(s) outside the configured kinds, accounts and regions; nothing was done",
    )
    assert fake.stats.total() == 0
    assert not (tmp_path / "audit.jsonl").exists()


@pytest.mark.parametrize(
    ("zones", "item", "swept"),
    [
        pytest.param((), ("gce_instance", NAME, EUROPE_ZONE), f"gcp/{NAME}", id="instance"),
        pytest.param((ZONE,), ("gce_instance", NAME, ZONE), f"gcp/{NAME}/{ZONE}", id="zone"),
        pytest.param((ZONE,), ("gke_cluster", NAME, REGION), f"gcp/{NAME}", id="cluster"),
    ],
)
def test_only_the_shard_that_collects_an_items_scope_may_apply_it(
    fake: FakeGcp, tmp_path: Path, zones: Sequence[str], item: tuple[str, str, str], swept: str
) -> None:
    """An instance or cluster names its own zone or location; the shard that owns it is the
    one whose collection finds it: the whole project's, or the configured zone's."""
    _, account, region = item
    own = f"gcp/{account}/{region}"  # the item's own scope: not what a shard owns here
    count = next(n for n in range(2, 100) if swept == own or owner(swept, n) != owner(own, n))
    mine = owner(swept, count)
    other = (mine + 1) % count

    service_of(fake, tmp_path, Shard(mine, count), zones=list(zones)).check_scope(pinned(item))
    with pytest.raises(PlanRefused) as refused:
        service_of(fake, tmp_path, Shard(other, count), zones=list(zones)).check_scope(pinned(item))

    assert (
        f"shard {mine}/{count} sweeps {swept}, not this shard ({other}/{count})"
        in (refused.value.problems[0])
    )
    assert fake.stats.total() == 0


def test_a_plan_of_clusters_collects_only_the_locations_it_names(
    fake: FakeGcp, tmp_path: Path
) -> None:
    pools = {"node_pools": (NodePoolSpec("default-pool", 1),), "master_version": CURRENT}
    old = NOW - 3 * DAY  # clusters have the 24h default TTL
    fake.add_cluster(PROJECT, REGION, "planned", labels=PIPELINE, created=old, **pools)
    fake.add_cluster(PROJECT, REGION, "fresh", labels=PIPELINE, created=NOW, **pools)
    service = service_of(fake, tmp_path)
    plan, _collection, _brake = service.plan(NOW)
    document = json.loads(json.dumps(plan_to_json(plan, dry_run=True, config_sha256="c")))
    # After the review: a leftover in another location, which the plan does not name.
    fake.add_cluster(PROJECT, EUROPE, "later", labels=PIPELINE, created=old, **pools)
    plan_file = read_pinned(document, "plan.json", "c", 2 * HOUR, NOW)
    fake.stats.reset()

    report = service.apply(plan_file, NOW, dry_run=False)

    assert [(o.ref.id, o.result) for o in report.outcomes] == [("planned", Result.DONE)]
    assert report.plan.population == {"gcp:gke_cluster": 2}  # planned and fresh, not later
    assert fake.stats.counts()["container.projects.locations.clusters.list"] == 1
    assert fake.cluster(PROJECT, REGION, "planned") is None
    assert fake.cluster(PROJECT, EUROPE, "later") is not None


@pytest.mark.parametrize(
    ("kind", "resource_id"),
    [
        pytest.param("gce_instance", 'vm" OR name = "other', id="instance-filter-quote"),
        pytest.param("gce_instance", "VM-1", id="instance-upper-case"),
        pytest.param("gke_cluster", "c" * 41, id="cluster-too-long"),
    ],
)
def test_a_malformed_id_is_never_looked_up(
    fake: FakeGcp, tmp_path: Path, kind: str, resource_id: str
) -> None:
    fake.add_instance(PROJECT, ZONE, "other", labels=PIPELINE)
    service = service_of(fake, tmp_path)
    (found,) = [k for k in service.kinds if k.kind == kind]
    fake.stats.reset()

    collected = [found.get(scope, [resource_id]) for scope in found.scopes()]

    assert [c.resources for c in collected] == [()]
    assert fake.stats.total() == 0
