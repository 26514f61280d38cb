"""The namespace lifecycle: mark (signed annotations), grace, delete (Terminating, then
gone), unmark, and the namespaces reaper never touches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kube_support import PIPELINE, START, Harness

from reaper.config import ALWAYS_EXCLUDED_NAMESPACES, TagKeys
from reaper.lifecycle import SIGNATURE
from reaper.model import Action, Decision, Reason, Result, Scope
from reaper.providers.kubernetes.namespaces import read_namespace_item
from reaper.sandbox.kube import KubeFake, ManualClock

OLD = START - timedelta(days=2)


def _meta(fake: KubeFake, name: str) -> dict[str, dict[str, str]]:
    found = fake.get("namespaces", name)
    assert found is not None
    return {k: found["metadata"].get(k) or {} for k in ("labels", "annotations")}


def test_mark_grace_delete_then_gone(
    fake: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    fake.seed_namespace("ci-4711-review", labels=PIPELINE, created=OLD)
    fake.seed_deployment("ci-4711-review", "web", replicas=2)
    sweeper = harness(policy={"grace_period": "1h"})

    (marked,) = sweeper.sweep().outcomes
    assert (marked.action, marked.result) == (Action.MARK, Result.DONE)
    meta = _meta(fake, "ci-4711-review")
    assert meta["annotations"]["reaper-state"] == "marked"
    assert meta["annotations"]["reaper-action"] == "delete"
    assert meta["annotations"]["reaper-reason"] == "ttl-expired"
    assert meta["annotations"]["reaper-marked-at"] == str(int(START.timestamp()))
    assert SIGNATURE in meta["annotations"]
    assert not any(k.startswith("reaper-") and k not in PIPELINE for k in meta["labels"])

    clock.advance(timedelta(minutes=30))
    (waiting,) = sweeper.plan().decisions
    assert waiting.reasons == (Reason.TTL_EXPIRED, Reason.IN_GRACE)

    clock.advance(timedelta(minutes=31))
    (deleted,) = sweeper.sweep().outcomes
    assert (deleted.action, deleted.result, deleted.message) == (
        Action.DELETE,
        Result.DONE,
        "Terminating: deletion in progress (Background)",
    )
    assert fake.namespace_phase("ci-4711-review") == "Terminating"
    (in_progress,) = sweeper.plan().decisions
    assert (in_progress.action, in_progress.reasons) == (Action.KEEP, (Reason.DELETING,))

    fake.settle()
    assert fake.namespace_phase("ci-4711-review") is None
    assert sweeper.plan().decisions == ()
    assert fake.request_count("delete", "namespaces") == 1


def test_a_mark_forged_as_labels_is_not_reapers_state_and_is_removed(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    """reaper's keys are read from the annotations only: labels of those keys, even with
    the values reaper would write, are not its state; marking removes them."""
    long_ago = str(int((START - timedelta(days=5)).timestamp()))
    fake.seed_namespace(
        "ci-forged",
        labels={
            **PIPELINE,
            "reaper-state": "marked",
            "reaper-action": "delete",
            "reaper-marked-at": long_ago,
        },
        created=OLD,
    )

    report = harness(policy={"grace_period": "1h"}).sweep()

    (decision,) = report.plan.decisions
    assert (decision.action, decision.intended) == (Action.MARK, Action.DELETE)
    assert not [k for k in decision.resource.tags if k.startswith("reaper-") and k not in PIPELINE]
    assert fake.namespace_phase("ci-forged") == "Active"
    meta = _meta(fake, "ci-forged")
    assert meta["annotations"]["reaper-state"] == "marked"
    assert meta["annotations"]["reaper-marked-at"] == str(int(START.timestamp()))
    assert meta["labels"] == {**PIPELINE, "kubernetes.io/metadata.name": "ci-forged"}


def test_a_label_cannot_shadow_or_change_reapers_signed_state(
    fake: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    fake.seed_namespace("ci-4711-review", labels=PIPELINE, created=OLD)
    sweeper = harness(policy={"grace_period": "1h"})
    (marked,) = sweeper.sweep().outcomes
    assert marked.action is Action.MARK

    def relabel(namespace: dict[str, Any]) -> None:
        namespace["metadata"]["labels"].update(
            {"reaper-state": "quarantined", "reaper-marked-at": "0", "reaper-signature": "x"}
        )

    fake.change("namespaces", "ci-4711-review", relabel)
    clock.advance(timedelta(hours=2))

    (decision,) = sweeper.plan().decisions

    assert (decision.action, decision.verified) == (Action.DELETE, True)
    assert decision.resource.tags["reaper-state"] == "marked"
    assert decision.resource.tags["reaper-marked-at"] == str(int(START.timestamp()))


def test_a_namespace_that_no_longer_qualifies_is_unmarked(
    fake: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    fake.seed_namespace("ci-keep", labels=PIPELINE, created=OLD)
    sweeper = harness(policy={"grace_period": "1h"})
    sweeper.sweep()
    fake.change(
        "namespaces",
        "ci-keep",
        lambda ns: ns["metadata"].setdefault("annotations", {}).update({"reaper-ttl": "30d"}),
    )
    clock.advance(timedelta(minutes=10))

    (outcome,) = sweeper.sweep().outcomes

    assert (outcome.action, outcome.result) == (Action.UNMARK, Result.DONE)
    meta = _meta(fake, "ci-keep")
    assert meta["annotations"] == {"reaper-ttl": "30d"}
    assert meta["labels"]["reaper-pipeline"] == PIPELINE["reaper-pipeline"]


# -- never touched -------------------------------------------------------------------------

TAGS = TagKeys()
EXCLUDED = (*ALWAYS_EXCLUDED_NAMESPACES, "reaper", "ci-keep")
KEYS = st.sampled_from(
    [
        "reaper-pipeline",
        "reaper-ttl",
        "reaper-expires-at",
        "reaper-protect",
        "reaper-state",
        "reaper-action",
        "reaper-marked-at",
        "reaper-quarantined-at",
        "reaper-signature",
        "team",
    ]
)
VALUES = st.sampled_from(["", "1", "1h", "0", "marked", "quarantined", "delete", "true"])
METADATA = st.dictionaries(KEYS, VALUES, max_size=6)


@given(
    name=st.sampled_from(EXCLUDED), labels=METADATA, annotations=METADATA, terminating=st.booleans()
)
def test_an_excluded_namespace_is_never_read_whatever_its_labels(
    name: str, labels: dict[str, str], annotations: dict[str, str], terminating: bool
) -> None:
    raw = {
        "metadata": {
            "name": name,
            "labels": {**labels, "reaper-pipeline": "ci-1"},
            "annotations": annotations,
            "creationTimestamp": "2020-01-01T00:00:00Z",
            **({"deletionTimestamp": "2020-01-02T00:00:00Z"} if terminating else {}),
        }
    }
    read = read_namespace_item(raw, Scope("ci", ""), TAGS, frozenset(EXCLUDED), timedelta(hours=1))
    assert read.resource is None
    assert not read.unreadable
    # The same namespace under any other name is read: the rule is the name, nothing else.
    raw["metadata"]["name"] = f"x{name}"
    other = read_namespace_item(raw, Scope("ci", ""), TAGS, frozenset(EXCLUDED), timedelta(hours=1))
    assert other.resource is not None


@pytest.mark.parametrize("name", EXCLUDED)
def test_every_action_refuses_an_excluded_namespace(
    fake: KubeFake, clock: ManualClock, tmp_path: Path, name: str
) -> None:
    sweeper = Harness(
        {"ci": fake},
        clock,
        tmp_path / "audit.jsonl",
        own_namespace="reaper",
        section={"clusters": [{"name": "ci"}], "exclude_namespaces": ["ci-keep"]},
    )
    assert sweeper.kind.excluded == frozenset(EXCLUDED)
    resource = read_namespace_item(
        {"metadata": {"name": name, "labels": dict(PIPELINE)}},
        sweeper.scope(),
        TAGS,
        (),
        timedelta(hours=1),
    ).resource
    assert resource is not None
    kind, scope = sweeper.kind, sweeper.scope()
    decision = Decision(resource, Action.QUARANTINE, (Reason.EXPOSED,))
    outcomes = [
        *kind.tag(scope, [resource], {"reaper-state": "marked"}, Action.MARK),
        *kind.untag(scope, [resource], ["reaper-state"], Action.UNMARK),
        *kind.delete(scope, [resource]),
        *kind.quarantine(scope, [decision], START),
        kind.release(scope, resource),
    ]
    assert {o.result for o in outcomes} == {Result.FAILED}
    assert {o.message for o in outcomes} == {
        f"namespace {name} is excluded: reaper never touches it"
    }
    assert kind.get(scope, [f"ci/{name}"]).resources == ()
    assert fake.requests() == []


def test_a_sweep_never_touches_excluded_namespaces(
    fake: KubeFake, clock: ManualClock, tmp_path: Path
) -> None:
    forged = {"reaper-state": "quarantined", "reaper-quarantined-at": "1", SIGNATURE: "0" * 32}
    expired = {**PIPELINE, "reaper-ttl": "1h"}
    for name in ("kube-system", "kube-public", "kube-node-lease", "default"):
        fake.change(
            "namespaces",
            name,
            lambda ns: ns["metadata"].update(
                labels={**ns["metadata"]["labels"], **expired}, annotations=forged
            ),
        )
    fake.seed_namespace("reaper", labels=expired, created=OLD)
    fake.seed_namespace("ci-keep", labels=expired, created=OLD)
    fake.seed_namespace("ci-go", labels=expired, created=OLD)
    fake.seed_service("kube-system", "dns", type="NodePort")
    sweeper = Harness(
        {"ci": fake},
        clock,
        tmp_path / "audit.jsonl",
        own_namespace="reaper",
        section={"clusters": [{"name": "ci"}], "exclude_namespaces": ["ci-keep"]},
    )

    report = sweeper.sweep()

    assert [d.ref.id for d in report.plan.decisions] == ["ci/ci-go"]
    assert report.plan.population == {"kubernetes:namespace": 1}
    writes = [r.info for r in fake.requests() if r.info.verb not in ("get", "list")]
    assert [(w.verb, w.resource, w.name) for w in writes] == [("delete", "namespaces", "ci-go")]
