"""The lifecycle on Compute Engine: mark, grace, delete; quarantine, release and the
quarantine TTL; failures, retries and faults. Real google-cloud-compute over HTTP to the
embedded fake; what a sweep did is read back from the fake and the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gcp_support import (
    DAY,
    EXPIRED,
    HOUR,
    NAME,
    NOW,
    PIPELINE,
    PROJECT,
    SIGNER,
    ZONE,
    ZONES,
    gcp_config,
    kinds_of,
    labels,
    reaper_labels,
    seed_project,
    settings_of,
    sweep,
)
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1
from sweep_support import run_sweep

from reaper import lifecycle
from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.model import Action, Reason, ResourceRef, Result, Scope
from reaper.pinned import read_pinned
from reaper.pipelines.facts import PipelineFacts
from reaper.policy import decide
from reaper.providers.gcp.gce import GceInstances
from reaper.providers.gcp.gce_facts import QUARANTINE_RULES, DenyAll
from reaper.providers.gcp.gce_isolation import rule_name
from reaper.providers.gcp.records import ORIGINAL_STATE, ORIGINAL_TAGS, QUARANTINE_TAG
from reaper.report import plan_to_json
from reaper.results import ExitCode
from reaper.sandbox.ci import FakeGithub, FakeGitlab
from reaper.sandbox.ci_estate import SANDBOX_TOKENS, ci_specimens, pipelines_section, seed_runs
from reaper.sandbox.gcp import FakeGcp, Fault

QUARANTINE = {"actions": {"ttl-expired": "quarantine"}}
NETWORK = f"projects/{PROJECT}/global/networks/default"


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(wait_seconds=0.01) as server:
        seed_project(server)
        yield server
        assert server.failures == []


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


def records(path: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in lines if r["event"] == event]


def compute(fake: FakeGcp) -> compute_v1.InstancesClient:
    return compute_v1.InstancesClient(
        credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint}
    )


def verified(fake: FakeGcp, name: str, zone: str = ZONE) -> bool:
    ref = ResourceRef("gcp", "gce_instance", Scope(NAME, zone), name)
    return SIGNER.verify(ref, labels(fake, name, zone))


# -- mark, grace, delete -------------------------------------------------------------


def test_mark_then_grace_then_delete(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "old", labels=PIPELINE, created=NOW - EXPIRED)
    fake.add_instance(PROJECT, ZONE, "fresh", labels=PIPELINE, created=NOW - HOUR)
    settings = settings_of(gcp_config(fake, audit_path, grace="1h"))
    kinds = kinds_of(settings)

    fake.stats.reset()
    first = sweep(settings, kinds, audit_path)
    marked = labels(fake, "old")
    mark_requests = fake.stats.count("compute.instances.setLabels")
    mark_reads = fake.stats.count("compute.instances.get")
    waiting = sweep(settings, kinds, audit_path, NOW + timedelta(minutes=30))
    fake.stats.reset()
    last = sweep(settings, kinds, audit_path, NOW + HOUR)

    assert [(d.ref.id, d.action) for d in first.plan.actionable()] == [("old", Action.MARK)]
    assert marked[lifecycle.STATE] == "marked"
    assert marked[lifecycle.ACTION] == "delete"
    assert marked[lifecycle.REASON] == "ttl-expired"
    assert verified(fake, "fresh")
    assert SIGNER.verify(ResourceRef("gcp", "gce_instance", Scope(NAME, ZONE), "old"), marked)
    # The sweep's own read gave the label fingerprint: one setLabels, no re-read.
    assert (mark_requests, mark_reads) == (1, 0)
    assert waiting.plan.actionable() == ()
    assert [(o.ref.id, o.action, o.result) for o in last.outcomes] == [
        ("old", Action.DELETE, Result.DONE)
    ]
    assert fake.instance(PROJECT, ZONE, "old") is None
    assert fake.instance(PROJECT, ZONE, "fresh") is not None
    # Delete, then two polls of its zone operation on the configured endpoint.
    assert fake.stats.count("compute.instances.delete") == 1
    assert fake.stats.count("compute.zoneOperations.wait") == 2
    (outcome,) = [r for r in records(audit_path, "outcome") if r["action"] == "delete"]
    assert outcome["resource"]["id"] == "old"
    assert outcome["result"] == "done"
    assert (outcome["resource"]["account"], outcome["resource"]["region"]) == (NAME, ZONE)


def test_deletes_run_in_parallel_and_share_one_wait(fake: FakeGcp, audit_path: Path) -> None:
    for zone in ZONES[:2]:
        for i in range(6):
            fake.add_instance(PROJECT, zone, f"old-{i}", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path))
    kinds = kinds_of(settings)
    fake.stats.reset()

    report = sweep(settings, kinds, audit_path)

    assert {o.result for o in report.outcomes} == {Result.DONE}
    assert fake.instances(PROJECT) == []
    # The minimum: one delete per instance and the polls each operation needs (2).
    assert fake.stats.count("compute.instances.delete") == 12
    assert fake.stats.count("compute.zoneOperations.wait") == 24
    assert fake.stats.count("compute.zoneOperations.get") == 0


def test_an_operation_ending_in_error_is_a_failure_with_the_apis_message(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "stuck", labels=PIPELINE, created=NOW - EXPIRED)
    fake.fail_next_operation(
        "compute.instances.delete", "The disk resource 'stuck' is already being used"
    )
    settings = settings_of(gcp_config(fake, audit_path))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert outcome.result is Result.FAILED
    assert outcome.message == "The disk resource 'stuck' is already being used"
    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    found = labels(fake, "stuck")
    assert found[lifecycle.FAILURES] == "1"
    assert verified(fake, "stuck")


def test_a_denied_operation_wait_fails_the_delete_at_once_with_few_requests(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "old", labels=PIPELINE, created=NOW - EXPIRED)
    fake.fail_next("compute.zoneOperations.wait", Fault.PERMISSION_DENIED, times=1_000_000)
    settings = settings_of(gcp_config(fake, audit_path))
    kinds = kinds_of(settings)
    fake.stats.reset()

    report = sweep(settings, kinds, audit_path)

    (outcome,) = report.outcomes
    assert (outcome.action, outcome.result) == (Action.DELETE, Result.FAILED)
    assert "waiting for the operation failed" in outcome.message
    assert "403" in outcome.message
    # One wait, not a busy loop until the operation timeout.
    assert fake.stats.count("compute.zoneOperations.wait") == 1


@pytest.mark.parametrize(
    ("setup", "result", "message"),
    [
        pytest.param("gone", Result.ALREADY_GONE, "instance does not exist", id="404"),
        pytest.param("protected", Result.FAILED, "protected against deletion", id="protected"),
        pytest.param("stopping", Result.SKIPPED, "in progress", id="operation-running"),
    ],
)
def test_delete_outcomes(
    fake: FakeGcp, audit_path: Path, setup: str, result: Result, message: str
) -> None:
    fake.add_instance(
        PROJECT, ZONE, "vm", labels=PIPELINE, deletion_protection=setup == "protected"
    )
    settings = settings_of(gcp_config(fake, audit_path))
    (kind,) = kinds_of(settings)
    (vm,) = kind.collect(Scope(NAME, "")).resources
    if setup == "gone":
        compute(fake).delete_unary(project=PROJECT, zone=ZONE, instance="vm")
        fake.settle()
    if setup == "stopping":
        compute(fake).stop_unary(project=PROJECT, zone=ZONE, instance="vm")

    (outcome,) = kind.delete(vm.ref.scope, [vm])

    assert outcome.result is result
    assert message in outcome.message


@pytest.mark.parametrize("policy", [{}, QUARANTINE], ids=["delete", "quarantine"])
def test_a_stopping_instance_is_kept_in_transition_and_acted_on_once_stopped(
    fake: FakeGcp, audit_path: Path, policy: dict[str, Any]
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    compute(fake).stop_unary(project=PROJECT, zone=ZONE, instance="vm")
    settings = settings_of(gcp_config(fake, audit_path, policy=policy))
    kinds = kinds_of(settings)
    fake.stats.reset()

    held = sweep(settings, kinds, audit_path)

    (decision,) = held.plan.decisions
    assert decision.resource.state == "stopping"
    assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.IN_TRANSITION,))
    assert held.outcomes == ()
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert (vm["status"], vm["labels"]) == ("STOPPING", PIPELINE)
    assert set(fake.stats.counts()) <= {
        "compute.instances.aggregatedList",
        "compute.disks.aggregatedList",
        "compute.disks.get",
    }

    fake.settle()  # the stop finishes: TERMINATED
    settled = sweep(settings, kinds, audit_path, NOW + HOUR)

    intended = Action.QUARANTINE if policy else Action.DELETE
    assert [(o.action, o.result) for o in settled.outcomes] == [(intended, Result.DONE)]


# -- labels ----------------------------------------------------------------------------


def test_a_stale_fingerprint_is_reread_and_the_labels_merged(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE)
    settings = settings_of(gcp_config(fake, audit_path))
    (kind,) = kinds_of(settings)
    (vm,) = kind.collect(Scope(NAME, "")).resources
    now = compute(fake).get(project=PROJECT, zone=ZONE, instance="vm")
    compute(fake).set_labels_unary(
        project=PROJECT,
        zone=ZONE,
        instance="vm",
        instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
            labels={**PIPELINE, "team": "search"}, label_fingerprint=now.label_fingerprint
        ),
    )
    fake.stats.reset()
    mark = SIGNER.signed(vm.ref, lifecycle.mark_tags(NOW, "delete", "ttl-expired"))

    (outcome,) = kind.tag(vm.ref.scope, [vm], mark, Action.MARK)

    assert outcome.result is Result.DONE
    assert labels(fake, "vm") == {**PIPELINE, "team": "search", **mark}
    # 412 on the sweep's fingerprint, one read, one successful write.
    assert fake.stats.counts() == {"compute.instances.setLabels": 2, "compute.instances.get": 1}


def test_a_throttled_label_write_is_retried_once_applied(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    fake.fail_next("compute.instances.setLabels", Fault.RATE_LIMITED)
    settings = settings_of(gcp_config(fake, audit_path, grace="1h"))

    report = sweep(settings, kinds_of(settings), audit_path)

    assert [o.result for o in report.outcomes] == [Result.DONE]
    assert labels(fake, "vm")[lifecycle.STATE] == "marked"
    assert fake.stats.count("compute.instances.setLabels") == 2


def test_unmark_removes_the_marks_and_keeps_the_rest(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path, grace="1h"))
    kinds = kinds_of(settings)
    sweep(settings, kinds, audit_path)
    protect = settings_of(
        gcp_config(fake, audit_path, grace="1h", policy={"kinds": {"gce_instance": {"ttl": "7d"}}})
    )

    report = sweep(protect, kinds_of(protect), audit_path, NOW + timedelta(minutes=10))

    assert [(d.action, d.reasons) for d in report.plan.actionable()] == [
        (Action.UNMARK, (Reason.WITHIN_TTL,))
    ]
    assert labels(fake, "vm") == PIPELINE


# -- quarantine and release ---------------------------------------------------------------


def test_quarantine_stops_isolates_and_release_restores(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(
        PROJECT,
        ZONE,
        "vm",
        labels=PIPELINE,
        created=NOW - EXPIRED,
        tags=["web", "ssh"],
        external_ip="34.1.2.3",
    )
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))
    kinds = kinds_of(settings)

    report = sweep(settings, kinds, audit_path)

    assert [(o.action, o.result) for o in report.outcomes] == [(Action.QUARANTINE, Result.DONE)]
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert vm["status"] == "TERMINATED"
    assert vm["tags"]["items"] == [QUARANTINE_TAG]
    found = reaper_labels(vm["labels"])
    assert found[lifecycle.STATE] == "quarantined"
    assert found[lifecycle.QUARANTINED_AT] == lifecycle.epoch(NOW)
    assert found[ORIGINAL_TAGS[0]] == "web_ssh"
    assert found[ORIGINAL_STATE] == "running"
    assert verified(fake, "vm")
    made = {r["name"]: r for r in fake.firewalls(PROJECT)}
    # Ingress and egress, for IPv4 and for IPv6: a rule cannot hold both families.
    assert {name for name in made if name.startswith(QUARANTINE_TAG)} == {
        "reaper-quarantine-in-default",
        "reaper-quarantine-out-default",
        "reaper-quarantine-in6-default",
        "reaper-quarantine-out6-default",
    }
    for deny in QUARANTINE_RULES:
        rule = made[rule_name(NETWORK, deny)]
        field = "sourceRanges" if deny.direction == "INGRESS" else "destinationRanges"
        assert rule["direction"] == deny.direction
        assert rule["priority"] == 0
        assert rule["denied"] == [{"IPProtocol": "all"}]
        assert rule["targetTags"] == [QUARANTINE_TAG]
        assert rule[field] == [deny.world]
        assert rule["description"].startswith("reaper-managed")

    later = sweep(settings, kinds, audit_path, NOW + DAY)
    (decision,) = later.plan.decisions
    assert decision.resource.isolated is True
    assert decision.reasons == (Reason.QUARANTINED,)
    assert decision.action is Action.KEEP

    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    outcome = service.release(kinds[0], "vm")

    assert outcome is not None
    assert outcome.result is Result.DONE, outcome
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert vm["status"] == "RUNNING"
    assert vm["tags"]["items"] == ["web", "ssh"]
    assert vm["labels"] == PIPELINE
    assert records(audit_path, "outcome")[-1]["action"] == "release"
    # The rules are the network's, shared by every quarantined instance: they stay.
    assert all(fake.firewall(PROJECT, rule_name(NETWORK, d)) for d in QUARANTINE_RULES)


def test_quarantine_costs_the_fewest_requests_and_makes_the_rules_once_a_sweep(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_firewall(PROJECT, "debug-ssh")
    for zone in ZONES[:2]:
        fake.add_instance(
            PROJECT,
            zone,
            f"exposed-{zone}",
            labels=PIPELINE,
            created=NOW - HOUR,
            external_ip="34.1.2.3",
        )
    settings = settings_of(gcp_config(fake, audit_path))
    fake.stats.reset()

    report = sweep(settings, kinds_of(settings), audit_path)

    assert [(o.action, o.result) for o in report.outcomes] == [(Action.QUARANTINE, Result.DONE)] * 2
    assert fake.stats.counts() == {
        # collect: one page of instances, one of their disks, the project's rules
        "compute.instances.aggregatedList": 1,
        "compute.disks.aggregatedList": 1,
        "compute.firewalls.list": 1,
        # per instance: read, record originals, tag, stop, read back, record the state;
        # two polls per operation (the fake's)
        "compute.instances.get": 4,
        "compute.instances.setLabels": 4,
        "compute.instances.setTags": 2,
        "compute.instances.stop": 2,
        "compute.zoneOperations.wait": 8,
        # the network's four rules (in, out; IPv4, IPv6), missing from the sweep's list:
        # made once, read back
        "compute.firewalls.insert": 4,
        "compute.globalOperations.wait": 8,
        "compute.firewalls.get": 4,
    }


def test_rules_deleted_after_the_sweep_listed_them_are_made_again_before_quarantined(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "first", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))
    (kind,) = kinds_of(settings)
    sweep(settings, [kind], audit_path)  # makes the network's rules
    fake.add_instance(PROJECT, ZONE, "second", labels=PIPELINE, created=NOW - EXPIRED)
    kind.begin_collection()
    collected = kind.collect(Scope(NAME, "")).resources
    firewalls = compute_v1.FirewallsClient(
        credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint}
    )
    for deny in QUARANTINE_RULES:  # gone between the sweep's list and the quarantine
        firewalls.delete_unary(project=PROJECT, firewall=rule_name(NETWORK, deny))
    fake.settle()
    (second,) = [r for r in collected if r.ref.id == "second"]
    decision = decide(second, settings.policy, settings.tags, NOW, SIGNER)
    assert decision.action is Action.QUARANTINE

    (outcome,) = kind.quarantine(second.ref.scope, [decision], NOW)

    assert outcome.result is Result.DONE, outcome
    assert labels(fake, "second")[lifecycle.STATE] == "quarantined"
    assert all(fake.firewall(PROJECT, rule_name(NETWORK, d)) for d in QUARANTINE_RULES)


def test_an_unreleased_quarantine_is_deleted_after_the_quarantine_ttl(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))
    kinds = kinds_of(settings)
    sweep(settings, kinds, audit_path)

    report = sweep(settings, kinds, audit_path, NOW + 3 * DAY)

    (decision,) = report.plan.decisions
    assert decision.resource.state == "terminated"  # found although stopped
    assert (decision.action, decision.reasons) == (Action.DELETE, (Reason.QUARANTINE_EXPIRED,))
    assert fake.instance(PROJECT, ZONE, "vm") is None


def test_a_retried_quarantine_never_records_the_quarantine_as_the_original(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED, tags=["web"])
    fake.fail_next_operation("compute.instances.stop", "Instance is in a failed state")
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))
    kinds = kinds_of(settings)

    failed = sweep(settings, kinds, audit_path)
    between = fake.instance(PROJECT, ZONE, "vm")
    retried = sweep(settings, kinds, audit_path, NOW + HOUR)

    assert [o.result for o in failed.outcomes] == [Result.FAILED]
    assert "Instance is in a failed state" in failed.outcomes[0].message
    assert between is not None
    assert between["status"] == "RUNNING"
    assert between["tags"]["items"] == [QUARANTINE_TAG]  # tagged before the stop failed
    assert between["labels"][ORIGINAL_TAGS[0]] == "web"
    assert between["labels"][lifecycle.FAILURES] == "1"
    assert lifecycle.STATE not in between["labels"] or between["labels"][lifecycle.STATE] != (
        "quarantined"
    )
    assert verified(fake, "vm")  # the failure count was signed over the recorded originals
    assert [o.result for o in retried.outcomes] == [Result.DONE]
    after = labels(fake, "vm")
    assert after[ORIGINAL_TAGS[0]] == "web"
    assert after[ORIGINAL_STATE] == "running"
    assert lifecycle.FAILURES not in after

    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    assert service.release(kinds[0], "vm").result is Result.DONE  # type: ignore[union-attr]
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert (vm["status"], vm["tags"]["items"]) == ("RUNNING", ["web"])


@pytest.mark.parametrize("removed", QUARANTINE_RULES, ids=str)
def test_a_reopened_quarantine_is_isolated_again_and_keeps_its_quarantine_time(
    fake: FakeGcp, audit_path: Path, removed: DenyAll
) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))
    kinds = kinds_of(settings)
    sweep(settings, kinds, audit_path)
    firewalls = compute_v1.FirewallsClient(
        credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint}
    )
    firewalls.delete_unary(project=PROJECT, firewall=rule_name(NETWORK, removed))
    fake.settle()

    report = sweep(settings, kinds, audit_path, NOW + DAY)

    (decision,) = report.plan.decisions
    assert decision.resource.isolated is False
    assert decision.reasons == (Reason.QUARANTINE_INCOMPLETE,)
    assert [o.result for o in report.outcomes] == [Result.DONE]
    assert fake.firewall(PROJECT, rule_name(NETWORK, removed)) is not None
    assert labels(fake, "vm")[lifecycle.QUARANTINED_AT] == lifecycle.epoch(NOW)


@pytest.mark.parametrize(
    ("deny", "impostor", "named"),
    [
        pytest.param(
            DenyAll("INGRESS", 4),
            {"source_ranges": ["0.0.0.0/0"], "disabled": True},
            "IPv4 ingress",
            id="ipv4-ingress-disabled",
        ),
        pytest.param(
            DenyAll("INGRESS", 6),
            {"source_ranges": ["0.0.0.0/0"]},
            "IPv6 ingress",
            id="ipv6-name-ipv4-ranges",
        ),
        pytest.param(
            DenyAll("EGRESS", 6),
            {"direction": "EGRESS", "destination_ranges": ["2001:db8::/32"]},
            "IPv6 egress",
            id="ipv6-egress-not-to-everywhere",
        ),
    ],
)
def test_a_rule_of_reapers_name_that_is_not_reapers_fails_the_quarantine(
    fake: FakeGcp, audit_path: Path, deny: DenyAll, impostor: dict[str, Any], named: str
) -> None:
    fake.add_firewall(
        PROJECT,
        rule_name(NETWORK, deny),
        priority=0,
        denied=[{"IPProtocol": "all"}],
        target_tags=[QUARANTINE_TAG],
        **impostor,
    )
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert outcome.result is Result.FAILED
    assert f"is not reaper's deny-all {named} rule" in outcome.message
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert vm["status"] == "RUNNING"
    assert "items" not in vm["tags"]


def test_tags_too_long_for_the_labels_leave_the_instance_untouched(
    fake: FakeGcp, audit_path: Path
) -> None:
    tags = [f"very-long-network-tag-number-{i:02d}-of-a-pipeline" for i in range(12)]
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED, tags=tags)
    settings = settings_of(gcp_config(fake, audit_path, policy=QUARANTINE))

    report = sweep(settings, kinds_of(settings), audit_path)

    (outcome,) = report.outcomes
    assert outcome.result is Result.FAILED
    assert "do not fit in reaper's labels" in outcome.message
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert (vm["status"], vm["tags"]["items"]) == ("RUNNING", tags)
    assert ORIGINAL_TAGS[0] not in vm["labels"]


def test_forged_quarantine_labels_are_ignored_and_release_refused(
    fake: FakeGcp, audit_path: Path
) -> None:
    forged = {
        lifecycle.STATE: "quarantined",
        lifecycle.QUARANTINED_AT: lifecycle.epoch(NOW - HOUR),
        ORIGINAL_TAGS[0]: "allow-all",
        ORIGINAL_STATE: "running",
        lifecycle.SIGNATURE: "0" * 32,
    }
    fake.add_instance(PROJECT, ZONE, "vm", labels={**PIPELINE, **forged}, created=NOW - HOUR)
    settings = settings_of(gcp_config(fake, audit_path))
    kinds = kinds_of(settings)

    report = sweep(settings, kinds, audit_path)
    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    outcome = service.release(kinds[0], "vm")

    (decision,) = report.plan.decisions
    assert not decision.verified
    assert decision.reasons == (Reason.WITHIN_TTL,)
    assert outcome is not None
    assert outcome.result is Result.FAILED
    assert "not signed" in outcome.message
    vm = fake.instance(PROJECT, ZONE, "vm")
    assert vm is not None
    assert "items" not in vm["tags"]


# -- pinned plans ------------------------------------------------------------------------


def test_a_pinned_plan_acts_on_exactly_its_instances(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "planned", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path))
    kinds = kinds_of(settings)
    service = SweepService(settings, kinds, lambda: AuditLog(audit_path), signer=SIGNER)
    plan, _collection, _brake = service.plan(NOW)
    document = json.loads(json.dumps(plan_to_json(plan, dry_run=True, config_sha256="c")))
    fake.add_instance(PROJECT, ZONE, "later", labels=PIPELINE, created=NOW - EXPIRED)
    pinned = read_pinned(document, "plan.json", "c", settings.safety.plan_max_age, NOW)

    report = service.apply(pinned, NOW, dry_run=False)

    assert [(o.ref.id, o.result) for o in report.outcomes] == [("planned", Result.DONE)]
    assert fake.instance(PROJECT, ZONE, "planned") is None
    assert fake.instance(PROJECT, ZONE, "later") is not None


def test_a_dry_run_changes_nothing(fake: FakeGcp, audit_path: Path) -> None:
    fake.add_instance(PROJECT, ZONE, "vm", labels=PIPELINE, created=NOW - EXPIRED)
    settings = settings_of(gcp_config(fake, audit_path))
    fake.stats.reset()

    report = run_sweep(settings, kinds_of(settings), audit_path, NOW, True, signer=SIGNER)

    assert [o.result for o in report.outcomes] == [Result.DRY_RUN]
    assert labels(fake, "vm") == PIPELINE
    mutations = [
        m
        for m in fake.stats.counts()
        if m.rsplit(".", 1)[1] not in ("aggregatedList", "get", "list")
    ]
    assert mutations == []


def test_kind_refs_are_per_zone_and_release_finds_them_without_one(
    fake: FakeGcp, audit_path: Path
) -> None:
    fake.add_instance(PROJECT, ZONES[2], "vm", labels=PIPELINE)
    settings = settings_of(gcp_config(fake, audit_path))
    (kind,) = kinds_of(settings)
    assert isinstance(kind, GceInstances)
    fake.stats.reset()

    (found,) = kind.get(Scope(NAME, ""), ["vm"]).resources

    assert found.ref.scope == Scope(NAME, ZONES[2])
    assert (found.name, found.tags) == ("vm", PIPELINE)
    assert fake.stats.filtered("compute.instances.aggregatedList") == 1


# -- pipeline-aware ----------------------------------------------------------------------


def test_instances_die_with_their_ci_run(fake: FakeGcp, audit_path: Path) -> None:
    """The CI run a label names decides on GCP as on AWS: the labels are valid label values."""
    with FakeGithub() as github, FakeGitlab() as gitlab:
        seed_runs(github, gitlab, NOW)
        specimens = ci_specimens()
        for n, specimen in enumerate(specimens):
            name = f"{specimen.label}-{n}"
            fake.add_instance(PROJECT, ZONE, name, labels=specimen.tags, created=NOW - specimen.age)
        data = gcp_config(fake, audit_path)
        data["pipelines"] = pipelines_section(github.url, gitlab.url)
        settings = settings_of(data)
        step = PipelineFacts.from_settings(settings, SANDBOX_TOKENS)

        kinds = kinds_of(settings)
        report = run_sweep(settings, kinds, audit_path, NOW, False, signer=SIGNER, pipelines=step)

    assert report.exit_code == ExitCode.OK
    reasons = {d.ref.id.rsplit("-", 1)[0]: d.reasons for d in report.plan.decisions}
    assert reasons == {
        "run-finished": (Reason.RUN_FINISHED,),
        "run-active": (Reason.RUN_ACTIVE,),
        "run-unknown": (Reason.WITHIN_TTL,),
        "run-active-ttl-expired": (Reason.TTL_EXPIRED,),
    }
    left = {i["name"].rsplit("-", 1)[0] for i in fake.instances(PROJECT)}
    assert left == {s.label for s in specimens if not s.expect_deleted}
