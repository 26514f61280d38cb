"""The record schema: what is written is read back, and trails of reaper 0.1.0 still verify
and recover.

``tests/data/trail-0.1.0.jsonl`` was written by reaper 0.1.0's own ``AuditLog`` and
``Actuator`` (commit 4d3f40b): one finished sweep, then a sweep killed after two intents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REPO

from reaper.app import SweepService
from reaper.audit import AuditLog, dangling_intents, find_dangling, verify_lines
from reaper.config import parse_settings
from reaper.model import (
    Action,
    Collected,
    Decision,
    Outcome,
    Reason,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.providers.base import ResourceKind
from reaper.records import (
    Event,
    RecordError,
    Writer,
    action_key,
    decode_ref,
    encode_ref,
    read_intent,
)

OLD_TRAIL = REPO / "tests" / "data" / "trail-0.1.0.jsonl"
NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)

texts = st.text(min_size=0, max_size=40)
refs = st.builds(
    ResourceRef,
    st.text(min_size=1, max_size=12),
    st.text(min_size=1, max_size=20),
    st.builds(Scope, texts, texts),
    st.text(min_size=1, max_size=80),
)


@settings(max_examples=300, deadline=None)
@given(refs)
def test_a_ref_survives_the_trip_through_a_json_record(ref: ResourceRef) -> None:
    line = json.dumps({"resource": encode_ref(ref)}, sort_keys=True)
    assert decode_ref(json.loads(line)["resource"]) == ref


@settings(max_examples=200, deadline=None)
@given(refs, st.sampled_from([Action.DELETE, Action.QUARANTINE, Action.MARK]), texts)
def test_an_intent_reads_back_and_matches_its_outcome_and_its_recovery(
    ref: ResourceRef, action: Action, principal: str
) -> None:
    writer = Writer("sweep-1", "reaper/test", "host")
    resource = Resource(ref, name="n", created_at=None, tags={"Name": "x", "secret": "y"})
    decision = Decision(resource, action, (Reason.TTL_EXPIRED,), deadline=NOW)
    outcome = Outcome(ref, action, Result.DONE, "ok")

    intent = json.loads(
        json.dumps(writer.action_record(Event.INTENT, NOW, decision, principal, {"Name"}))
    )
    done = writer.action_record(Event.OUTCOME, NOW, decision, principal, {"Name"}, outcome=outcome)
    later = Writer("sweep-2", "reaper/test", "host")
    recovered = later.recovered_record(NOW, intent, Result.ALREADY_GONE, "gone")

    read = read_intent(intent)
    assert (read.ref, read.action, read.sweep_id) == (ref, str(action), "sweep-1")
    assert intent["resource"]["tags"] == {"Name": "x"}
    assert action_key(intent) == action_key(done) == action_key(recovered)
    assert recovered["recovered_by"] == "sweep-2"
    assert find_dangling([intent, recovered]) == []


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="not-a-mapping"),
        pytest.param({"provider": "aws", "kind": "ec2_instance", "id": "i-1"}, id="no-scope"),
        pytest.param(
            {"provider": "aws", "kind": "k", "id": "i-1", "account": "ci", "region": 3},
            id="region-not-text",
        ),
        pytest.param(
            {"provider": "aws", "kind": "k", "id": "i-1", "scope": {"account": "ci"}},
            id="nested-scope-without-region",
        ),
    ],
)
def test_a_resource_without_the_fields_is_refused(raw: object) -> None:
    with pytest.raises(RecordError):
        decode_ref(raw)


def test_a_plan_item_of_0_1_0_with_a_nested_scope_is_read() -> None:
    raw = {
        "provider": "aws",
        "kind": "ec2_instance",
        "id": "i-1",
        "scope": {"account": "ci", "region": "us-east-1"},
    }
    assert decode_ref(raw) == ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-1")


def test_a_0_1_0_trail_verifies_and_its_dangling_intents_are_read(tmp_path: Path) -> None:
    result = verify_lines(OLD_TRAIL.read_bytes().splitlines(keepends=True))
    assert result.ok, result.problem
    assert result.records == 8

    dangling = [read_intent(r) for r in dangling_intents(OLD_TRAIL)]
    # What a sweep's audit log reads back (only as far as the sweep-end's sweep's start).
    copy = tmp_path / "trail.jsonl"
    copy.write_bytes(OLD_TRAIL.read_bytes())
    with AuditLog(copy) as log:
        assert [read_intent(r) for r in log.open_intents] == dangling

    assert [(i.ref, i.action, i.sweep_id) for i in dangling] == [
        (
            ResourceRef("aws", "ec2_instance", Scope("ci", "eu-west-1"), "i-0bbbbbbbbbbbbbbb1"),
            "delete",
            "5f4e3d2c1b0a",
        ),
        (
            ResourceRef("aws", "ec2_instance", Scope("ci", "eu-west-1"), "i-0bbbbbbbbbbbbbbb2"),
            "quarantine",
            "5f4e3d2c1b0a",
        ),
    ]


class _Gone(ResourceKind):
    """A kind whose resources are all gone: what recovery sees after a delete went through."""

    provider = "aws"
    kind = "ec2_instance"
    permissions = ("ec2:DescribeInstances",)
    delete_order = 50

    def scopes(self) -> Sequence[Scope]:
        return []

    def collect(self, scope: Scope) -> Collected:
        return Collected(())

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        return Collected(())

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        raise AssertionError("recovery never repeats an action")


def test_a_sweep_recovers_a_0_1_0_trail_and_continues_its_chain(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(OLD_TRAIL.read_bytes())
    data = {"providers": {"aws": {"regions": ["us-east-1"]}}, "audit": {"path": str(trail)}}
    settings_ = parse_settings(data, "test.yaml")

    report = SweepService(settings_, [_Gone()], lambda: AuditLog(trail)).run(
        NOW + timedelta(hours=2), dry_run=False
    )

    assert report.exit_code == 0
    records = [json.loads(line) for line in trail.read_bytes().splitlines()]
    recovered = [r for r in records if r.get("recovered_by") == report.sweep_id]
    assert [(r["resource"]["id"], r["action"], r["result"]) for r in recovered] == [
        ("i-0bbbbbbbbbbbbbbb1", "delete", "already-gone"),
        ("i-0bbbbbbbbbbbbbbb2", "quarantine", "already-gone"),
    ]
    assert dangling_intents(trail) == []
    assert verify_lines(trail.read_bytes().splitlines(keepends=True)).ok
