"""Quarantine of a namespace (deny-all NetworkPolicy, workloads at 0, CronJobs suspended),
its verification on every sweep, and release of exactly what reaper recorded and signed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from kube_support import PIPELINE, START, Harness

from reaper.config import TagKeys
from reaper.lifecycle import SIGNATURE
from reaper.model import Action, Reason, Result
from reaper.policy import UNVERIFIED
from reaper.providers.kubernetes.metadata import namespace_ref, tags_of
from reaper.sandbox.kube import KubeFake, ManualClock

NAMESPACE = "ci-4790-preview"
JSON = dict[str, object]


@pytest.fixture
def exposed(fake: KubeFake) -> KubeFake:
    """A fresh pipeline namespace exposed by a NodePort, with workloads of every kind."""
    fake.seed_namespace(NAMESPACE, labels=PIPELINE, created=START - timedelta(hours=1))
    fake.seed_service(NAMESPACE, "web", type="NodePort")
    fake.seed_deployment(NAMESPACE, "web", replicas=3)
    fake.seed_deployment(NAMESPACE, "idle", replicas=0)
    fake.seed_statefulset(NAMESPACE, "db", replicas=2)
    fake.seed_cronjob(NAMESPACE, "nightly", suspend=False)
    fake.seed_cronjob(NAMESPACE, "weekly", suspend=True)
    return fake


def _spec(fake: KubeFake, resource: str, name: str) -> dict[str, object]:
    found = fake.get(resource, name, NAMESPACE)
    assert found is not None
    spec: dict[str, object] = found["spec"]
    return spec


def _annotations(fake: KubeFake, resource: str, name: str, namespace: str = NAMESPACE) -> JSON:
    found = fake.get(resource, name, namespace)
    assert found is not None
    notes: JSON = found["metadata"].get("annotations") or {}
    return notes


def _replicas(fake: KubeFake) -> dict[str, object]:
    return {
        "web": _spec(fake, "deployments", "web")["replicas"],
        "idle": _spec(fake, "deployments", "idle")["replicas"],
        "db": _spec(fake, "statefulsets", "db")["replicas"],
        "nightly": _spec(fake, "cronjobs", "nightly")["suspend"],
        "weekly": _spec(fake, "cronjobs", "weekly")["suspend"],
    }


ORIGINAL = {"web": 3, "idle": 0, "db": 2, "nightly": False, "weekly": True}
QUARANTINED = {"web": 0, "idle": 0, "db": 0, "nightly": True, "weekly": True}


def test_quarantine_cuts_off_stops_and_records_and_release_restores_exactly(
    exposed: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    sweeper = harness()

    report = sweeper.sweep()

    (outcome,) = report.outcomes
    assert (outcome.action, outcome.result) == (Action.QUARANTINE, Result.DONE)
    assert outcome.message == (
        "NetworkPolicy reaper-quarantine created; scaled 2 workloads to 0; suspended 1 CronJob"
    )
    policy = exposed.get("networkpolicies", "reaper-quarantine", NAMESPACE)
    assert policy is not None
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policy["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "reaper"}
    assert _replicas(exposed) == QUARANTINED
    # Scaled through the scale subresource, once per workload that was running.
    assert exposed.request_count("patch", "deployments", "scale") == 1
    assert exposed.request_count("patch", "statefulsets", "scale") == 1
    web = _annotations(exposed, "deployments", "web")
    assert web["reaper-original-replicas"] == "3"
    assert len(str(web[SIGNATURE])) == 32
    assert _annotations(exposed, "deployments", "idle")["reaper-original-replicas"] == "0"
    assert _annotations(exposed, "statefulsets", "db")["reaper-original-replicas"] == "2"
    assert _annotations(exposed, "cronjobs", "nightly")["reaper-original-suspend"] == "false"
    assert _annotations(exposed, "cronjobs", "weekly")["reaper-original-suspend"] == "true"
    namespace = exposed.get("namespaces", NAMESPACE)
    assert namespace is not None
    notes = namespace["metadata"]["annotations"]
    assert notes["reaper-state"] == "quarantined"
    assert notes["reaper-quarantined-at"] == str(int(START.timestamp()))
    assert notes["reaper-reason"] == "exposed"
    assert {"reaper-quarantine-id", SIGNATURE} <= set(notes)
    assert namespace["metadata"]["labels"] == {
        **PIPELINE,
        "kubernetes.io/metadata.name": NAMESPACE,
    }

    clock.advance(timedelta(minutes=30))
    (kept,) = sweeper.plan().decisions
    assert (kept.action, kept.reasons) == (Action.KEEP, (Reason.QUARANTINED,))
    assert kept.resource.isolated is True

    released = sweeper.service().release(sweeper.kind, f"ci/{NAMESPACE}")

    assert released is not None
    assert (released.result, released.message) == (
        Result.DONE,
        "released; restored 3 workloads; resumed 1 CronJob; NetworkPolicy reaper-quarantine "
        "removed",
    )
    assert _replicas(exposed) == ORIGINAL
    assert exposed.get("networkpolicies", "reaper-quarantine", NAMESPACE) is None
    for resource, name in [("deployments", "web"), ("statefulsets", "db"), ("cronjobs", "nightly")]:
        assert not any(k.startswith("reaper-") for k in _annotations(exposed, resource, name))
    namespace = exposed.get("namespaces", NAMESPACE)
    assert namespace is not None
    assert not any(k.startswith("reaper-") for k in namespace["metadata"].get("annotations", {}))


_GROUPS = {"networkpolicies": ".networking.k8s.io", "deployments": ".apps"}
_GROUPS |= {"statefulsets": ".apps", "cronjobs": ".batch"}


def test_quarantine_and_release_use_only_the_declared_permissions(
    exposed: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    """The replicas are read from the workload list, never from the ``scale`` subresource
    (no ``get`` on it); ``patch`` on the workloads writes the signed replica records."""
    sweeper = harness()
    sweeper.sweep()
    clock.advance(timedelta(minutes=30))
    sweeper.sweep()  # reads the quarantine back
    assert sweeper.service().release(sweeper.kind, f"ci/{NAMESPACE}") is not None

    used = {
        f"{key.resource}{_GROUPS.get(key.resource, '')}"
        f"{'/' + key.subresource if key.subresource else ''}:{key.verb}"
        for key in exposed.request_counts()
        if not key.resource.startswith("/")
    }
    assert used <= set(sweeper.kind.permissions), used - set(sweeper.kind.permissions)
    assert {"deployments.apps:patch", "deployments.apps/scale:patch"} <= used
    assert not any(p.endswith("/scale:get") for p in sweeper.kind.permissions)


def test_release_is_refused_for_a_namespace_reaper_did_not_quarantine(
    exposed: KubeFake, harness: Callable[..., Harness]
) -> None:
    exposed.change(
        "namespaces",
        NAMESPACE,
        lambda ns: (
            ns["metadata"]
            .setdefault("annotations", {})
            .update(
                {"reaper-state": "quarantined", "reaper-quarantined-at": "1", SIGNATURE: "0" * 32}
            )
        ),
    )
    exposed.change(
        "deployments", "web", lambda d: d["spec"].update(replicas=0), namespace=NAMESPACE
    )

    outcome = harness().service().release(harness().kind, f"ci/{NAMESPACE}")

    assert outcome is not None
    assert outcome.result is Result.FAILED
    assert "not signed with the state key" in outcome.message
    assert _spec(exposed, "deployments", "web")["replicas"] == 0
    assert exposed.request_count("patch", "deployments", "scale") == 0


def test_a_forged_or_copied_workload_record_is_not_restored(
    exposed: KubeFake, harness: Callable[..., Harness]
) -> None:
    exposed.seed_deployment(NAMESPACE, "api", replicas=1)
    sweeper = harness()
    sweeper.sweep()
    db = _annotations(exposed, "statefulsets", "db")

    def forge(deployment: dict[str, object]) -> None:
        meta = deployment["metadata"]
        assert isinstance(meta, dict)
        meta["annotations"]["reaper-original-replicas"] = "50"  # signature no longer matches

    exposed.change("deployments", "web", forge, namespace=NAMESPACE)
    # A record that verifies on db, copied onto another object: bound to db's identity.
    exposed.change(
        "deployments",
        "api",
        lambda d: d["metadata"]["annotations"].update(db),
        namespace=NAMESPACE,
    )

    outcome = sweeper.service().release(sweeper.kind, f"ci/{NAMESPACE}")

    assert outcome is not None
    assert outcome.result is Result.DONE
    assert outcome.message.endswith(
        "not restored, their records are not signed by reaper: deployment api, deployment web"
    )
    assert _spec(exposed, "deployments", "web")["replicas"] == 0
    assert _spec(exposed, "deployments", "api")["replicas"] == 0
    assert _spec(exposed, "statefulsets", "db")["replicas"] == 2


def test_a_record_from_an_earlier_quarantine_is_not_restored(
    exposed: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    sweeper = harness()
    sweeper.sweep()
    old_record = _annotations(exposed, "deployments", "web")
    sweeper.service().release(sweeper.kind, f"ci/{NAMESPACE}")
    exposed.change(
        "deployments", "web", lambda d: d["spec"].update(replicas=1), namespace=NAMESPACE
    )
    clock.advance(timedelta(minutes=5))
    sweeper.sweep()  # quarantined again: a new quarantine id, a new record ("1")
    # Someone puts back the first quarantine's record (signed by reaper, for 3 replicas).
    exposed.change(
        "deployments",
        "web",
        lambda d: d["metadata"]["annotations"].update(old_record),
        namespace=NAMESPACE,
    )

    outcome = sweeper.service().release(sweeper.kind, f"ci/{NAMESPACE}")

    assert outcome is not None
    assert outcome.message.endswith("not signed by reaper: deployment web")
    assert _spec(exposed, "deployments", "web")["replicas"] == 0


def test_a_controller_scaling_back_up_is_reported_as_drift_and_quarantined_again(
    exposed: KubeFake,
    harness: Callable[..., Harness],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweeper = harness()
    sweeper.sweep()
    quarantined_at = _annotations(exposed, "namespaces", NAMESPACE, "")["reaper-quarantined-at"]
    # A GitOps controller syncs the Deployment back to its desired 5 replicas.
    exposed.change(
        "deployments", "web", lambda d: d["spec"].update(replicas=5), namespace=NAMESPACE
    )
    clock.advance(timedelta(hours=2))

    with caplog.at_level(logging.WARNING):
        report = sweeper.sweep()

    (decision,) = report.plan.decisions
    assert (decision.action, decision.reasons) == (
        Action.QUARANTINE,
        (Reason.QUARANTINE_INCOMPLETE,),
    )
    assert decision.resource.isolated is False
    assert (
        f"namespace {NAMESPACE} in ci is tagged quarantined but is not isolated (drift; it is "
        "quarantined again): deployment web has 5 replicas" in caplog.text
    )
    assert [o.result for o in report.outcomes] == [Result.DONE]
    assert _replicas(exposed) == QUARANTINED
    # The original is still the first one recorded, and the quarantine TTL runs on.
    assert _annotations(exposed, "deployments", "web")["reaper-original-replicas"] == "3"
    notes = _annotations(exposed, "namespaces", NAMESPACE, "")
    assert notes["reaper-quarantined-at"] == quarantined_at
    assert notes["reaper-reason"] == "exposed"


def test_a_loosened_policy_is_replaced(
    exposed: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    sweeper = harness()
    sweeper.sweep()
    exposed.change(
        "networkpolicies",
        "reaper-quarantine",
        lambda p: p["spec"].update(ingress=[{}]),  # allow everything in
        namespace=NAMESPACE,
    )
    clock.advance(timedelta(minutes=10))

    (outcome,) = sweeper.sweep().outcomes

    assert outcome.message.startswith("NetworkPolicy reaper-quarantine replaced;")
    policy = exposed.get("networkpolicies", "reaper-quarantine", NAMESPACE)
    assert policy is not None
    assert policy["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_a_failed_quarantine_writes_no_quarantined_state_and_a_retry_keeps_the_originals(
    exposed: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    exposed.fail(500, times=1, verb="patch", resource="statefulsets", subresource="scale")
    sweeper = harness()

    (failed,) = sweeper.sweep().outcomes

    assert failed.result is Result.FAILED
    assert "patch statefulsets/scale" in failed.message
    notes = _annotations(exposed, "namespaces", NAMESPACE, "")
    assert "reaper-state" not in notes
    assert notes["reaper-failures"] == "1"
    assert _spec(exposed, "deployments", "web")["replicas"] == 0  # got that far

    clock.advance(timedelta(minutes=31))  # past the retry backoff
    (retried,) = sweeper.sweep().outcomes

    assert retried.result is Result.DONE
    assert _replicas(exposed) == QUARANTINED
    # Recorded once, before the first change: not the 0 the failed attempt left.
    assert _annotations(exposed, "deployments", "web")["reaper-original-replicas"] == "3"
    notes = _annotations(exposed, "namespaces", NAMESPACE, "")
    assert notes["reaper-state"] == "quarantined"
    assert "reaper-failures" not in notes
    sweeper.service().release(sweeper.kind, f"ci/{NAMESPACE}")
    assert _replicas(exposed) == ORIGINAL


def _forge_failures(fake: KubeFake) -> None:
    """Someone else's ``reaper-failures`` annotation on the namespace: not signed by reaper."""

    def forge(namespace: dict[str, Any]) -> None:
        namespace["metadata"].setdefault("annotations", {})["reaper-failures"] = "9"

    fake.change("namespaces", NAMESPACE, forge)


def _namespace_tags(fake: KubeFake) -> dict[str, str]:
    found = fake.get("namespaces", NAMESPACE)
    assert found is not None
    tags = tags_of(found["metadata"], TagKeys())
    assert tags is not None
    return tags


def test_a_failed_quarantine_returns_the_tags_it_left_signed(
    exposed: KubeFake, harness: Callable[..., Harness]
) -> None:
    """The outcome carries the namespace's tags as the quarantine left them: the quarantine
    id it recorded, signed; a key someone added since the plan, gone."""
    exposed.fail(500, times=1, verb="patch", resource="statefulsets", subresource="scale")
    sweeper = harness()
    (decision,) = sweeper.plan().decisions
    assert decision.action is Action.QUARANTINE
    _forge_failures(exposed)

    (failed,) = sweeper.kind.quarantine(sweeper.scope(), [decision], START)

    assert failed.result is Result.FAILED
    assert failed.tags is not None
    ref = namespace_ref(sweeper.scope(), NAMESPACE)
    assert sweeper.signer.verify(ref, failed.tags)
    assert {k for k in failed.tags if k.startswith("reaper-")} == {
        "reaper-pipeline",
        "reaper-owner",
        "reaper-quarantine-id",
        SIGNATURE,
    }
    on_it = _namespace_tags(exposed)
    assert on_it["reaper-quarantine-id"] == failed.tags["reaper-quarantine-id"]
    assert "reaper-failures" not in on_it
    assert sweeper.signer.verify(ref, on_it)


def test_the_failure_count_is_signed_over_what_the_failed_quarantine_wrote(
    exposed: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    """One signature covers the quarantine id and the failure count, so the next sweep
    trusts both: it backs off, and the retry keeps the workload records."""
    exposed.fail(500, times=1, verb="patch", resource="statefulsets", subresource="scale")
    sweeper = harness()

    (failed,) = sweeper.sweep().outcomes

    assert failed.result is Result.FAILED
    tags = _namespace_tags(exposed)
    assert sweeper.signer.verify(namespace_ref(sweeper.scope(), NAMESPACE), tags)
    assert (tags["reaper-failures"], tags["reaper-last-failure-at"]) == (
        "1",
        str(int(START.timestamp())),
    )
    quarantine_id = tags["reaper-quarantine-id"]
    # Two writes on the namespace: the quarantine id, then the failure count over it.
    assert exposed.request_count("patch", "namespaces") == 2

    (backing_off,) = sweeper.plan().decisions
    assert backing_off.verified is True
    assert UNVERIFIED not in backing_off.warnings
    assert backing_off.failures == 1
    assert backing_off.action is Action.KEEP

    clock.advance(timedelta(minutes=31))
    (retried,) = sweeper.sweep().outcomes

    assert retried.result is Result.DONE
    tags = _namespace_tags(exposed)
    assert tags["reaper-quarantine-id"] == quarantine_id
    assert tags["reaper-state"] == "quarantined"
    assert "reaper-failures" not in tags
    assert _annotations(exposed, "deployments", "web")["reaper-original-replicas"] == "3"


def test_a_network_policy_by_that_name_that_reaper_did_not_create_is_left_alone(
    exposed: KubeFake, harness: Callable[..., Harness]
) -> None:
    exposed.seed_network_policy(NAMESPACE, "reaper-quarantine", ingress=[{}])

    (outcome,) = harness().sweep().outcomes

    assert outcome.result is Result.FAILED
    assert "a NetworkPolicy named reaper-quarantine that reaper did not create" in outcome.message
    policy = exposed.get("networkpolicies", "reaper-quarantine", NAMESPACE)
    assert policy is not None
    assert policy["spec"]["ingress"] == [{}]
    assert _replicas(exposed) == ORIGINAL


@pytest.mark.parametrize("resource", ["cronjobs", "deployments"])
def test_a_conflict_while_recording_is_read_again_and_retried_not_a_failed_quarantine(
    exposed: KubeFake, harness: Callable[..., Harness], resource: str
) -> None:
    """Someone changed the CronJob (Deployment) between reaper's list and its patch: the
    API server answers 409 Conflict; it is read again and patched afresh, and the
    quarantine goes through."""
    name = "nightly" if resource == "cronjobs" else "web"
    exposed.fail(409, times=1, verb="patch", resource=resource, name=name)

    report = harness().sweep()

    (outcome,) = report.outcomes
    assert (outcome.action, outcome.result) == (Action.QUARANTINE, Result.DONE), outcome.message
    assert _replicas(exposed) == QUARANTINED
    assert _annotations(exposed, "cronjobs", "nightly")["reaper-original-suspend"] == "false"
    assert _annotations(exposed, "deployments", "web")["reaper-original-replicas"] == "3"
    assert exposed.request_count("patch", resource) >= 2


def test_a_cronjob_that_keeps_changing_fails_the_quarantine_after_three_attempts(
    exposed: KubeFake, harness: Callable[..., Harness]
) -> None:
    exposed.fail(409, times=None, verb="patch", resource="cronjobs", name="nightly")

    report = harness().sweep()

    (outcome,) = report.outcomes
    assert (outcome.action, outcome.result) == (Action.QUARANTINE, Result.FAILED)
    assert outcome.message == (
        f"cronjobs {NAMESPACE}/nightly kept changing while reaper suspended it"
    )
    patches = [
        r
        for r in exposed.requests()
        if (r.info.verb, r.info.resource, r.info.name) == ("patch", "cronjobs", "nightly")
    ]
    assert len(patches) == 3
