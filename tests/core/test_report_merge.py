"""Merging shards' JSON plans: read back exactly, added up, overlaps refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reaper.model import (
    Action,
    CollectError,
    Decision,
    Outcome,
    Plan,
    Reason,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.report import plan_to_json, render
from reaper.report.merge import PlanDocumentError, merge_plans, read_plan

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
EC2 = "aws:ec2_instance"


def decision(account: str, n: int, action: Action = Action.DELETE) -> Decision:
    ref = ResourceRef("aws", "ec2_instance", Scope(account, "us-east-1"), f"i-{n:04x}")
    resource = Resource(
        ref, f"runner-{n}", NOW - timedelta(days=2), owner="team-a", pipeline_run="gl-1"
    )
    return Decision(resource, action, (Reason.TTL_EXPIRED,), deadline=NOW - timedelta(days=1))


def document(account: str, ids: range, created: datetime, sha: str, dry_run: bool) -> object:
    plan = Plan(created, tuple(decision(account, n) for n in ids), {EC2: len(ids) * 2})
    outcomes = [Outcome(d.ref, d.action, Result.DONE) for d in plan.decisions[:1]]
    errors = [CollectError(EC2, Scope(account, "eu-west-1"), "AccessDenied")]
    return plan_to_json(plan, dry_run, errors, ("too many",), outcomes, sha)


def test_a_plan_reads_back_as_it_was_written() -> None:
    raw = document("ci", range(3), NOW, "abc", True)
    again = read_plan(raw, "p.json")
    assert (
        plan_to_json(again.plan, True, again.collect_errors, again.brake, again.outcomes, "abc")
        == raw
    )


def test_shards_plans_add_up() -> None:
    a = read_plan(document("ci", range(3), NOW, "abc", False), "a.json")
    b = read_plan(document("ops", range(2), NOW - timedelta(minutes=3), "abc", True), "b.json")
    merged = merge_plans([a, b])
    assert len(merged.plan.decisions) == 5
    assert merged.plan.population == {EC2: 10}
    assert merged.plan.created_at == NOW - timedelta(minutes=3)
    assert merged.config_sha256 == "abc"
    assert merged.dry_run is False
    assert [str(e.scope) for e in merged.collect_errors] == ["ci/eu-west-1", "ops/eu-west-1"]
    assert merged.brake == ("a.json: too many", "b.json: too many")
    assert len(merged.outcomes) == 2
    assert "5 resources: 5 delete" in render("markdown", merged.plan, dry_run=False)


def test_plans_of_other_configs_lose_the_pin_and_overlaps_are_refused() -> None:
    a = read_plan(document("ci", range(3), NOW, "abc", True), "a.json")
    b = read_plan(document("ops", range(2), NOW, "def", True), "b.json")
    assert merge_plans([a, b]).config_sha256 == ""
    c = read_plan(document("ci", range(2, 4), NOW, "abc", True), "c.json")
    with pytest.raises(PlanDocumentError, match=r"in both a.json and c.json: the plans overlap"):
        merge_plans([a, c])
    # The same file given twice is an overlap too, not a plan counted twice.
    with pytest.raises(PlanDocumentError, match=r"in both a.json and a.json: the plans overlap"):
        merge_plans([a, read_plan(document("ci", range(3), NOW, "abc", True), "a.json")])
    with pytest.raises(PlanDocumentError, match="not a reaper plan"):
        read_plan({"x": 1}, "x.json")
