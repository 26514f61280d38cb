"""Collecting Compute Engine instances: listing, the facts the policy needs, request counts
against the fewest the APIs allow, and the faults GCP answers with. Real google-cloud-compute
over HTTP to the embedded fake; outcomes are read from the plan, the fake and the metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from gcp_support import (
    DAY,
    DEBIAN,
    EXPIRED,
    FAST,
    HOUR,
    NAME,
    NOW,
    PIPELINE,
    PROJECT,
    SIGNER,
    ZONE,
    ZONES,
    counted,
    gcp_config,
    kinds_of,
    seed_project,
    settings_of,
    sweep,
)
from google.cloud import compute_v1
from prometheus_client import CollectorRegistry

from reaper.errors import ProviderError
from reaper.metrics import Metrics
from reaper.model import Action, Collected, PortRange, Reason, Resource, Result, Scope
from reaper.policy import decide
from reaper.providers.base import ResourceKind
from reaper.providers.catalog import build_kinds
from reaper.providers.gcp.gce import GceInstances
from reaper.results import ExitCode
from reaper.sandbox.gcp import FakeGcp, Fault


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(wait_seconds=0.01) as server:
        seed_project(server)
        yield server
        assert server.failures == []


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def collect(fake: FakeGcp, audit_path: Path, **options: object) -> tuple[Collected, Metrics]:
    metrics = Metrics(CollectorRegistry())
    settings = settings_of(gcp_config(fake, audit_path, **options))  # type: ignore[arg-type]
    (kind,) = kinds_of(settings, metrics)
    kind.begin_collection()
    fake.stats.reset()
    found = [kind.collect(scope) for scope in kind.scopes()]
    return (
        Collected(
            tuple(r for c in found for r in c.resources),
            sum(c.skipped for c in found),
            tuple(e for c in found for e in c.errors),
        ),
        metrics,
    )


def by_name(collected: Collected) -> dict[str, Resource]:
    return {r.ref.id: r for r in collected.resources}


# -- listing -----------------------------------------------------------------------------


def test_1500_instances_in_3_zones_cost_3_pages_and_only_pipeline_ones_are_resources(
    fake: FakeGcp, audit_path: Path
) -> None:
    for zone in ZONES:
        for i in range(450):
            fake.add_instance(PROJECT, zone, f"ci-{zone[-1]}-{i:03d}", labels=PIPELINE)
        for i in range(50):
            fake.add_instance(PROJECT, zone, f"pet-{zone[-1]}-{i:02d}", labels={"team": "x"})

    collected, metrics = collect(fake, audit_path)

    assert len(collected.resources) == 1350
    assert all(r.ref.id.startswith("ci-") for r in collected.resources)
    assert {r.ref.scope for r in collected.resources} == {Scope(NAME, z) for z in ZONES}
    # Client-side filtering: 1,500 instances are 3 pages of 500, and no filtered list; their
    # 1,500 boot disks are 3 pages of the disk list, not 1,350 disks.get.
    expected = {"compute.instances.aggregatedList": 3, "compute.disks.aggregatedList": 3}
    assert fake.stats.counts() == expected
    assert fake.stats.filtered("compute.instances.aggregatedList") == 0
    assert counted(metrics) == expected


def test_server_side_filtering_is_a_filtered_list(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "ci", labels=PIPELINE)
    fake.add_instance(PROJECT, ZONE, "pet", labels={"team": "x"})
    settings = settings_of(gcp_config(fake, audit_path))
    clients = kinds_of(settings)[0]._clients  # type: ignore[attr-defined]
    kind = GceInstances(clients, settings.tags, server_side_filter=True)
    fake.stats.reset()

    found = kind.collect(Scope(NAME, ""))

    assert [r.ref.id for r in found.resources] == ["ci"]
    assert fake.stats.filtered("compute.instances.aggregatedList") == 1


def test_configured_zones_are_listed_one_by_one_and_no_others(
    fake: FakeGcp, audit_path: Path
) -> None:
    for zone in ZONES:
        fake.add_instance(PROJECT, zone, f"ci-{zone}", labels=PIPELINE)

    collected, _ = collect(fake, audit_path, section={"zones": list(ZONES[:2])})

    assert sorted(by_name(collected)) == [f"ci-{z}" for z in sorted(ZONES[:2])]
    # One instance per zone: its boot disk costs a disks.get, fewer than a disk list.
    assert fake.stats.counts() == {"compute.instances.list": 2, "compute.disks.get": 2}


@pytest.mark.parametrize(
    ("status", "collected_as", "transitioning"),
    [
        pytest.param("RUNNING", "running", False, id="running"),
        pytest.param("TERMINATED", "terminated", False, id="stopped-is-swept"),
        pytest.param("SUSPENDED", "suspended", False, id="suspended-is-swept"),
        pytest.param("STAGING", "staging", False, id="starting"),
        pytest.param("STOPPING", "stopping", True, id="stopping-is-in-transition"),
        pytest.param("SUSPENDING", "suspending", True, id="suspending-is-in-transition"),
    ],
)
def test_every_status_is_collected_and_the_policy_holds_back_transitions(
    fake: FakeGcp, audit_path: Path, status: str, collected_as: str, transitioning: bool
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, status=status, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path))

    collected, _ = collect(fake, audit_path)

    vm = by_name(collected)["vm"]
    assert (vm.state, vm.transitioning) == (collected_as, transitioning)
    decision = decide(vm, settings.policy, settings.tags, NOW)
    if transitioning:
        assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.IN_TRANSITION,))
    else:
        assert decision.reasons == (Reason.TTL_EXPIRED,)


def test_gke_nodes_are_left_to_their_cluster(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "node", labels={**PIPELINE, "goog-gke-node": ""})
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE)

    collected, _ = collect(fake, audit_path)

    assert list(by_name(collected)) == ["vm"]


def test_an_instance_reads_back_with_its_labels_age_and_owner(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)

    (vm,) = collect(fake, audit_path)[0].resources

    assert vm.ref.scope == Scope(NAME, ZONE)
    assert vm.created_at == NOW - EXPIRED
    assert vm.tags == PIPELINE
    assert (vm.pipeline_run, vm.owner) == ("gitlab-ci-4711", "team-payments")
    assert vm.isolated is None


def test_unreadable_items_are_logged_counted_and_skipped(
    fake: FakeGcp, audit_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_of(gcp_config(fake, audit_path))
    (kind,) = kinds_of(settings)
    assert isinstance(kind, GceInstances)
    raws = [
        compute_v1.Instance(name="ok", zone=f"z/{ZONE}", labels=PIPELINE, status="RUNNING"),
        compute_v1.Instance(name="", zone=f"z/{ZONE}", labels=PIPELINE),
        compute_v1.Instance(
            name="bad-time", zone=f"z/{ZONE}", labels=PIPELINE, creation_timestamp="yesterday"
        ),
    ]

    reads, skipped = kind._read(settings.providers.gcp.projects[0], raws)  # type: ignore[union-attr]

    assert [r.resource.ref.id for r in reads] == ["ok"]
    assert skipped == 2
    assert "unreadable creationTimestamp 'yesterday'" in caplog.text


# -- unreachable zones, failing projects ---------------------------------------------------


def test_an_unreachable_zone_is_a_collect_error_and_the_rest_is_swept(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONES[0], "seen", labels=PIPELINE, created=NOW - EXPIRED)
    fake.add_instance(PROJECT, ZONES[1], "hidden", labels=PIPELINE, created=NOW - EXPIRED)
    fake.set_zone_unreachable(PROJECT, ZONES[1])
    settings = settings_of(gcp_config(fake, audit_path))

    report = sweep(settings, kinds_of(settings), audit_path)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    assert [(e.scope, e.message) for e in report.collection.errors] == [
        (
            Scope(NAME, ZONES[1]),
            f"zone {ZONES[1]} did not answer (unreachable): its instances were not swept",
        )
    ]
    assert fake.instance(PROJECT, ZONES[0], "seen") is None
    assert fake.instance(PROJECT, ZONES[1], "hidden") is not None


def test_a_failing_project_is_reported_and_the_others_are_swept(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "doomed", labels=PIPELINE, created=NOW - EXPIRED)
    projects = (("gone", "deleted-project-1"), (NAME, PROJECT))
    settings = settings_of(gcp_config(fake, audit_path, projects=projects))

    report = sweep(settings, kinds_of(settings), audit_path)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    (error,) = report.collection.errors
    assert error.scope == Scope("gone", "")
    assert "HTTP 404" in error.message
    assert fake.instance(PROJECT, ZONE, "doomed") is None


# -- faults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.RATE_LIMITED, Fault.QUOTA_FORBIDDEN, Fault.UNAVAILABLE],
    ids=["429", "403-rate-limit", "503"],
)
def test_throttling_and_outages_are_retried_and_every_attempt_is_counted(
    fake: FakeGcp, audit_path: Path, fault: Fault
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE)
    fake.fail_next("compute.instances.aggregatedList", fault, times=2)

    collected, metrics = collect(fake, audit_path)

    assert list(by_name(collected)) == ["vm"]
    assert fake.stats.count("compute.instances.aggregatedList") == 3
    assert counted(metrics)["compute.instances.aggregatedList"] == 3


def impatient_kinds(fake: FakeGcp, audit_path: Path, kinds: tuple[str, ...]) -> list[ResourceKind]:
    """The kinds with a 0.5 s request timeout, for answers delayed past it."""
    settings = settings_of(gcp_config(fake, audit_path, kinds=kinds))
    return build_kinds(settings, {"gcp": replace(FAST, request_timeout=0.5)}, None, SIGNER)


def test_a_read_answered_after_the_timeout_is_sent_again(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE)
    (kind,) = impatient_kinds(fake, audit_path, ("gce_instance",))
    fake.delay_next("compute.instances.aggregatedList", 1.5)
    fake.stats.reset()

    collected = kind.collect(Scope(NAME, ""))

    assert [r.ref.id for r in collected.resources] == ["vm"]
    assert fake.stats.count("compute.instances.aggregatedList") == 2


def test_a_mutation_with_a_request_id_is_sent_again_after_a_timeout_and_runs_once(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE)
    (kind,) = impatient_kinds(fake, audit_path, ("gce_instance",))
    (vm,) = kind.collect(Scope(NAME, "")).resources
    fake.delay_next("compute.instances.delete", 1.5)
    fake.stats.reset()

    (outcome,) = kind.delete(vm.ref.scope, [vm])

    assert (outcome.result, outcome.message) == (Result.DONE, "deleted")
    assert fake.instances(PROJECT) == []
    assert fake.stats.count("compute.instances.delete") == 2


def test_a_mutation_without_a_request_id_is_not_sent_again_after_a_timeout(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_cluster(PROJECT, "us-central1", "c", labels=PIPELINE)
    (kind,) = impatient_kinds(fake, audit_path, ("gke_cluster",))
    (cluster,) = kind.collect(Scope(NAME, "")).resources
    fake.delay_next("container.projects.locations.clusters.delete", 1.5)
    fake.stats.reset()

    (outcome,) = kind.delete(cluster.ref.scope, [cluster])

    assert outcome.result is Result.FAILED
    assert "ReadTimeout" in outcome.message
    assert fake.stats.count("container.projects.locations.clusters.delete") == 1


@pytest.mark.parametrize(
    "fault", [Fault.PERMISSION_DENIED, None], ids=["403-permission-denied", "404-no-project"]
)
def test_a_denial_or_a_missing_project_is_not_retried(
    fake: FakeGcp, audit_path: Path, fault: Fault | None
) -> None:
    if fault is not None:
        fake.fail_next("compute.instances.aggregatedList", fault)
    project = PROJECT if fault is not None else "no-such-project"
    settings = settings_of(gcp_config(fake, audit_path, projects=((NAME, project),)))
    (kind,) = kinds_of(settings)
    fake.stats.reset()

    with pytest.raises(ProviderError, match=r"HTTP 40[34]"):
        kind.collect(Scope(NAME, ""))

    assert fake.stats.count("compute.instances.aggregatedList") == 1


@pytest.mark.parametrize(
    ("method", "kinds", "fault", "detail"),
    [
        pytest.param(
            "compute.instances.aggregatedList",
            ("gce_instance",),
            Fault.UNPARSEABLE,
            "ParseError: Failed to load JSON",
            id="instances-not-json",
        ),
        pytest.param(
            "compute.instances.aggregatedList",
            ("gce_instance",),
            Fault.DEEP_JSON,
            "RecursionError: maximum recursion depth exceeded",
            id="instances-deep-json-error",
        ),
        pytest.param(
            "container.projects.locations.clusters.list",
            ("gke_cluster",),
            Fault.UNPARSEABLE,
            "ParseError: Failed to load JSON",
            id="clusters-not-json",
        ),
    ],
)
def test_an_unparseable_reply_is_a_collect_error_of_its_scope_not_a_traceback(
    fake: FakeGcp,
    audit_path: Path,
    method: str,
    kinds: tuple[str, ...],
    fault: Fault,
    detail: str,
) -> None:
    fake.fail_next(method, fault)
    settings = settings_of(gcp_config(fake, audit_path, kinds=kinds))

    report = sweep(settings, kinds_of(settings), audit_path)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    (error,) = report.collection.errors
    assert error.scope == Scope(NAME, "")
    assert f"{method} ({'instances' if 'compute' in method else 'clusters'} in {NAME}) " in (
        error.message
    )
    assert f"failed: unparseable response: {detail}" in error.message
    assert "\n" not in error.message  # one line,
    assert len(error.message) < 400  # clipped
    assert fake.stats.count(method) == 1  # not retried


# -- unpatched -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "seed", "unpatched"),
    [
        pytest.param("fresh", {"created_days": 10}, False, id="fresh"),
        pytest.param("old", {"created_days": 200}, True, id="older-than-max-image-age"),
        pytest.param("dep", {"deprecated": "DEPRECATED"}, True, id="deprecated"),
        pytest.param("obs", {"deprecated": "OBSOLETE"}, True, id="obsolete"),
        pytest.param("del", {"deprecated": "DELETED"}, True, id="deleted-state"),
        pytest.param("gone", None, True, id="image-404"),
    ],
)
def test_unpatched_follows_the_boot_disk_to_its_image(
    fake: FakeGcp, audit_path: Path, image: str, seed: dict[str, object] | None, unpatched: bool
) -> None:
    if seed is not None:
        days = int(seed.get("created_days", 30))  # type: ignore[call-overload]
        fake.add_image(
            "ci-images",
            image,
            created=NOW - timedelta(days=days),
            deprecated=seed.get("deprecated"),  # type: ignore[arg-type]
        )
    fake.add_instance(
        PROJECT,
        ZONE,
        "vm",
        labels=PIPELINE,
        created=NOW - HOUR,
        boot_image=f"projects/ci-images/global/images/{image}",
    )
    settings = settings_of(gcp_config(fake, audit_path))

    (vm,) = collect(fake, audit_path)[0].resources
    decision = decide(vm, settings.policy, settings.tags, NOW)

    assert vm.image is not None
    assert vm.image.missing is (seed is None)
    assert (Reason.UNPATCHED in decision.reasons) is unpatched
    assert decision.action is (Action.QUARANTINE if unpatched else Action.KEEP)


def test_a_denied_image_is_unknown_once_a_sweep_and_expired_instances_still_go(
    fake: FakeGcp, audit_path: Path
) -> None:
    private = "projects/secret-images/global/images/golden"
    fake.add_image("secret-images", "golden", created=NOW - 400 * DAY)
    for zone in ZONES[:2]:
        fake.add_instance(
            PROJECT,
            zone,
            f"old-{zone}",
            labels=PIPELINE,
            created=NOW - EXPIRED,
            boot_image=private,
        )
        fake.add_instance(
            PROJECT, zone, f"new-{zone}", labels=PIPELINE, created=NOW - HOUR, boot_image=private
        )
    fake.fail_next("compute.images.get", Fault.PERMISSION_DENIED, times=100)
    settings = settings_of(gcp_config(fake, audit_path, section={"zones": list(ZONES[:2])}))
    fake.stats.reset()

    report = sweep(settings, kinds_of(settings), audit_path)

    assert sorted(i["name"] for i in fake.instances(PROJECT)) == [
        f"new-{zone}" for zone in ZONES[:2]
    ]
    kept = [d for d in report.plan.decisions if d.ref.id.startswith("new-")]
    assert [(d.action, d.reasons) for d in kept] == [(Action.KEEP, (Reason.WITHIN_TTL,))] * 2
    assert all(d.resource.image is None for d in kept)
    (error,) = report.collection.errors
    assert error.scope == Scope(NAME, "")
    assert f"image {private} could not be read" in error.message
    assert "HTTP 403" in error.message
    assert fake.stats.count("compute.images.get") == 1
    assert report.exit_code == ExitCode.PARTIAL_FAILURE


def test_denied_firewall_rules_make_exposure_unknown_and_expired_instances_still_go(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_firewall(PROJECT, "leftover")
    fake.add_instance(
        PROJECT, ZONE, "open", labels=PIPELINE, created=NOW - HOUR, external_ip="34.1.2.3"
    )
    fake.add_instance(
        PROJECT, ZONE, "old", labels=PIPELINE, created=NOW - EXPIRED, external_ip="34.1.2.4"
    )
    fake.fail_next("compute.firewalls.list", Fault.PERMISSION_DENIED, times=100)
    settings = settings_of(gcp_config(fake, audit_path))
    fake.stats.reset()

    report = sweep(settings, kinds_of(settings), audit_path)

    assert [i["name"] for i in fake.instances(PROJECT)] == ["open"]
    (kept,) = [d for d in report.plan.decisions if d.ref.id == "open"]
    assert (kept.action, kept.resource.open_to_world) == (Action.KEEP, ())
    (error,) = report.collection.errors
    assert f"the firewall rules of project {PROJECT} could not be read" in error.message
    assert fake.stats.count("compute.firewalls.list") == 1


def test_each_image_is_fetched_once_per_sweep_across_zones_and_projects(
    fake: FakeGcp, audit_path: Path
) -> None:
    seed_project(fake, "acme-ci-456")
    for project in (PROJECT, "acme-ci-456"):
        for zone in ZONES:
            for i in range(3):
                fake.add_instance(
                    project, zone, f"vm-{zone}-{i}", labels=PIPELINE, boot_image=DEBIAN
                )
    fake.add_image("ci-images", "golden", created=NOW - DAY)
    fake.add_instance(
        PROJECT,
        ZONE,
        "golden",
        labels=PIPELINE,
        boot_image="projects/ci-images/global/images/golden",
    )
    projects = ((NAME, PROJECT), ("other", "acme-ci-456"))
    settings = settings_of(
        gcp_config(fake, audit_path, projects=projects, section={"zones": list(ZONES)})
    )
    kinds = kinds_of(settings)

    for _ in range(2):
        fake.stats.reset()
        report = sweep(settings, kinds, audit_path, dry_run=True)
        assert len(report.plan.decisions) == 19
        assert fake.stats.count("compute.images.get") == 2  # debian's and golden
    # One disk list per zone scope; no disks.get per instance.
    assert fake.stats.count("compute.disks.list") == 6
    assert fake.stats.count("compute.disks.get") == 0


def test_one_instance_costs_a_disks_get_not_a_disk_list(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, boot_image=DEBIAN)

    collect(fake, audit_path)

    assert fake.stats.counts() == {
        "compute.instances.aggregatedList": 1,
        "compute.disks.get": 1,
        "compute.images.get": 1,
    }


# -- exposed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "instance", "exposed"),
    [
        pytest.param({}, {}, True, id="ssh-from-anywhere-to-all"),
        pytest.param({"source_ranges": ["::/0"]}, {}, True, id="ipv6-anywhere"),
        pytest.param({"source_ranges": ["10.0.0.0/8"]}, {}, False, id="internal-only"),
        pytest.param({"target_tags": ["ssh"]}, {"tags": ["ssh"]}, True, id="matching-tag"),
        pytest.param({"target_tags": ["ssh"]}, {"tags": ["web"]}, False, id="other-tag"),
        pytest.param(
            {"target_service_accounts": ["ci@acme-ci-123.iam.gserviceaccount.com"]},
            {"service_accounts": ["ci@acme-ci-123.iam.gserviceaccount.com"]},
            True,
            id="matching-service-account",
        ),
        pytest.param(
            {"target_service_accounts": ["ci@acme-ci-123.iam.gserviceaccount.com"]},
            {},
            False,
            id="other-service-account",
        ),
        pytest.param(
            {"allowed": [{"IPProtocol": "tcp", "ports": ["8000-9000"]}]}, {}, False, id="port-8k"
        ),
        pytest.param(
            {"allowed": [{"IPProtocol": "tcp", "ports": ["20-25"]}]}, {}, True, id="range-22"
        ),
        pytest.param({"allowed": [{"IPProtocol": "all"}]}, {}, True, id="all-protocols"),
        pytest.param({"allowed": [{"IPProtocol": "tcp"}]}, {}, True, id="all-tcp-ports"),
        pytest.param({"disabled": True}, {}, False, id="disabled-rule"),
        pytest.param({"network": "other"}, {}, False, id="other-network"),
        pytest.param({}, {"external_ip": None}, False, id="no-external-ip"),
        pytest.param(
            {"source_ranges": ["::/0"]},
            {"external_ip": None, "external_ipv6": "2600:1900:4000:1::"},
            True,
            id="external-ipv6-only",
        ),
        pytest.param({}, {"status": "TERMINATED"}, False, id="stopped"),
    ],
)
def test_exposed_is_an_external_ip_and_a_rule_open_to_the_world(
    fake: FakeGcp,
    audit_path: Path,
    rule: dict[str, object],
    instance: dict[str, object],
    exposed: bool,
) -> None:
    fake.add_network(PROJECT, "other")
    fake.add_firewall(PROJECT, "leftover", **rule)  # type: ignore[arg-type]
    fake.add_instance(
        PROJECT,
        ZONE,
        "vm",
        labels=PIPELINE,
        created=NOW - HOUR,
        **{"external_ip": "34.1.2.3", **instance},  # type: ignore[arg-type]
    )
    settings = settings_of(gcp_config(fake, audit_path))

    (vm,) = collect(fake, audit_path)[0].resources
    decision = decide(vm, settings.policy, settings.tags, NOW)

    assert (Reason.EXPOSED in decision.reasons) is exposed


def test_a_higher_priority_deny_all_hides_an_open_rule(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_firewall(PROJECT, "open", priority=1000)
    fake.add_firewall(PROJECT, "shut", priority=10, denied=[{"IPProtocol": "all"}])
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, external_ip="34.1.2.3")

    (vm,) = collect(fake, audit_path)[0].resources

    assert vm.public
    assert vm.open_to_world == ()


@pytest.mark.parametrize(
    ("open_from", "denied_from", "exposed"),
    [
        pytest.param("::/0", "0.0.0.0/0", True, id="ipv4-deny-leaves-ipv6-open"),
        pytest.param("0.0.0.0/0", "::/0", True, id="ipv6-deny-leaves-ipv4-open"),
        pytest.param("::/0", "::/0", False, id="ipv6-deny-closes-ipv6"),
        pytest.param("0.0.0.0/0", "0.0.0.0/0", False, id="ipv4-deny-closes-ipv4"),
    ],
)
def test_a_deny_all_hides_only_open_rules_of_its_own_ip_family(
    fake: FakeGcp, audit_path: Path, open_from: str, denied_from: str, exposed: bool
) -> None:
    fake.add_firewall(PROJECT, "open", priority=1000, source_ranges=[open_from])
    fake.add_firewall(
        PROJECT, "shut", priority=10, denied=[{"IPProtocol": "all"}], source_ranges=[denied_from]
    )
    fake.add_instance(
        PROJECT, ZONE, "vm", labels=PIPELINE, external_ip="34.1.2.3", external_ipv6="2600:1900::1"
    )

    (vm,) = collect(fake, audit_path)[0].resources

    assert vm.public
    assert (vm.open_to_world == (PortRange("tcp", 22, 22),)) is exposed


def test_firewall_rules_are_listed_once_per_project_and_only_when_needed(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_firewall(PROJECT, "open")
    for zone in ZONES:
        fake.add_instance(PROJECT, zone, f"public-{zone}", labels=PIPELINE, external_ip="34.1.2.3")
    fake.add_instance(PROJECT, ZONE, "private", labels=PIPELINE)

    collected, _ = collect(fake, audit_path, section={"zones": list(ZONES)})

    assert fake.stats.count("compute.firewalls.list") == 1
    assert fake.stats.filtered("compute.firewalls.list") == 0
    found = by_name(collected)
    assert found[f"public-{ZONE}"].open_to_world == (PortRange("tcp", 22, 22),)
    assert found["private"].open_to_world == ()


def test_private_instances_cost_no_firewall_list(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "private", labels=PIPELINE)

    collect(fake, audit_path)

    assert fake.stats.count("compute.firewalls.list") == 0
