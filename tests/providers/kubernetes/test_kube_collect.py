"""Collecting pipeline namespaces: server-side selection, pages, tags, exposure, failures.

Each test seeds a fake API server, sweeps it with the real ``kubernetes`` client and
checks what reaper saw and decided, and what the fake was asked.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from kube_support import PIPELINE, START, Harness, kube_config
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry

from reaper.config import parse_settings
from reaper.errors import ProviderError
from reaper.metrics import Metrics
from reaper.model import Action, Reason, Scope
from reaper.providers.kubernetes import KubeConnection
from reaper.providers.kubernetes.clients import KubeApiError, KubeClients
from reaper.providers.kubernetes.namespaces import CHANGED, Namespaces
from reaper.report import render
from reaper.results import ExitCode
from reaper.sandbox.kube import KubeFake, ManualClock

OLD = START - timedelta(days=3)


def _names(harness: Harness) -> list[str]:
    return sorted(r.name for r in harness.kind.collect(harness.scope()).resources)


def test_only_namespaces_with_the_pipeline_label_are_listed_server_side(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.seed_namespace("ci-4711-review", labels=PIPELINE, created=OLD)
    fake.seed_namespace("team-shared", labels={"team": "payments"}, created=OLD)
    # The pipeline key as an annotation only is not the label the list selects on.
    fake.seed_namespace("annotated", annotations={"reaper-pipeline": "x"}, created=OLD)

    assert _names(harness()) == ["ci-4711-review"]
    (listing,) = [r for r in fake.requests() if r.info.key.resource == "namespaces"]
    query = parse_qs(listing.query)
    assert query["labelSelector"] == ["reaper-pipeline"]
    assert query["limit"] == ["500"]


def test_more_than_a_page_is_read_in_pages_of_500(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    for n in range(1201):
        fake.seed_namespace(f"ci-{n:04d}", labels=PIPELINE)

    assert len(_names(harness())) == 1201
    pages = [r for r in fake.requests() if r.info.key.resource == "namespaces"]
    assert len(pages) == 3
    assert ["continue=" in p.query for p in pages] == [False, True, True]


def test_an_expired_continue_token_restarts_the_list_once(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    for n in range(1001):
        fake.seed_namespace(f"ci-{n:04d}", labels=PIPELINE)
    fake.expire_next_continues("namespaces", times=1)

    assert len(_names(harness())) == 1001
    pages = [r for r in fake.requests() if r.info.key.resource == "namespaces"]
    # page 1, page 2 (410), then the whole list again from the start: 3 pages.
    assert [p.status for p in pages] == [200, 410, 200, 200, 200]
    assert ["continue=" in p.query for p in pages] == [False, True, False, True, True]


def test_a_second_expiry_in_one_sweep_is_a_collect_error(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    for n in range(600):
        fake.seed_namespace(f"ci-{n:04d}", labels=PIPELINE, created=OLD)
    fake.expire_next_continues("namespaces", times=2)

    report = harness().sweep(dry_run=True)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    (error,) = report.collection.errors
    assert error.kind_key == "kubernetes:namespace"
    assert "410" in error.message
    assert "already restarted once" in error.message
    assert report.plan.decisions == ()


def _pages(fake: KubeFake, resource: str) -> list[int]:
    """The statuses the fake answered to the lists of ``resource``, in order."""
    return [
        r.status for r in fake.requests() if (r.info.verb, r.info.resource) == ("list", resource)
    ]


def test_one_restart_per_cluster_and_sweep_is_shared_by_the_namespace_and_service_lists(
    clock: ManualClock, tmp_path: Path
) -> None:
    with (
        KubeFake(clock=clock, context="ci") as ci,
        KubeFake(clock=clock, context="staging") as staging,
    ):
        for fake in (ci, staging):
            fake.seed_namespace("ci-old", labels=PIPELINE, created=OLD)
            for n in range(600):
                fake.seed_namespace(f"ci-{n:04d}", labels=PIPELINE)
            fake.expire_next_continues("namespaces", times=1)
        for n in range(600):
            ci.seed_service("ci-0000", f"svc-{n:04d}")
        # ci's Service list expires after its namespace list did, in the same sweep.
        ci.expire_next_continues("services", times=1)
        harness = Harness({"ci": ci, "staging": staging}, clock, tmp_path / "audit.jsonl")

        report = harness.sweep()

        assert report.exit_code == ExitCode.PARTIAL_FAILURE
        (error,) = report.collection.errors
        assert str(error.scope) == "ci"
        assert "list services in ci failed: 410" in error.message
        assert "already restarted once this sweep" in error.message
        assert _pages(ci, "namespaces") == [200, 410, 200, 200]
        assert _pages(ci, "services") == [200, 410]
        # staging spent its own restart, and was swept.
        assert _pages(staging, "namespaces") == [200, 410, 200, 200]
        deleted = [d.ref.id for d in report.plan.decisions if d.action is Action.DELETE]
        assert deleted == ["staging/ci-old"]
        assert staging.namespace_phase("ci-old") == "Terminating"
        assert ci.namespace_phase("ci-old") == "Active"


def test_every_sweep_gets_a_restart_of_its_own(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    for n in range(600):
        fake.seed_namespace(f"ci-{n:04d}", labels=PIPELINE)
    sweeper = harness()

    for _ in range(3):
        fake.reset_requests()
        fake.expire_next_continues("namespaces", times=1)

        report = sweeper.sweep(dry_run=True)

        assert report.collection.errors == ()
        assert _pages(fake, "namespaces") == [200, 410, 200, 200]
        assert len(report.collection.resources) == 600


def _quarantined_with_many_deployments(
    fake: KubeFake, sweeper: Harness, clock: ManualClock
) -> None:
    """ci-exposed quarantined by a sweep, then 600 more Deployments (at 0) in it: reading
    its quarantine back lists Deployments in two pages."""
    fake.seed_namespace("ci-exposed", labels=PIPELINE, created=START - timedelta(hours=1))
    fake.seed_service("ci-exposed", "web", type="NodePort")
    fake.seed_deployment("ci-exposed", "web", replicas=3)
    report = sweeper.sweep()
    assert [o.action for o in report.outcomes] == [Action.QUARANTINE]
    for n in range(600):
        fake.seed_deployment("ci-exposed", f"idle-{n:04d}", replicas=0)
    clock.advance(timedelta(minutes=10))
    fake.reset_requests()


def test_an_expired_list_of_a_quarantined_namespaces_workloads_restarts_once(
    fake: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    sweeper = harness()
    _quarantined_with_many_deployments(fake, sweeper, clock)
    fake.expire_next_continues("deployments", times=1)

    report = sweeper.sweep(dry_run=True)

    assert report.collection.errors == ()
    assert _pages(fake, "deployments") == [200, 410, 200, 200]
    (resource,) = report.collection.resources
    assert resource.isolated is True


def test_an_expired_workload_list_after_an_expired_namespace_list_is_a_collect_error(
    fake: KubeFake, harness: Callable[..., Harness], clock: ManualClock
) -> None:
    sweeper = harness()
    _quarantined_with_many_deployments(fake, sweeper, clock)
    for n in range(600):
        fake.seed_namespace(f"ci-{n:04d}", labels=PIPELINE)
    fake.expire_next_continues("namespaces", times=1)
    fake.expire_next_continues("deployments", times=1)

    report = sweeper.sweep(dry_run=True)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    (error,) = report.collection.errors
    assert "list deployments in ci/ci-exposed failed: 410" in error.message
    assert "already restarted once this sweep" in error.message
    assert _pages(fake, "namespaces") == [200, 410, 200, 200]
    assert _pages(fake, "deployments") == [200, 410]
    assert report.plan.decisions == ()


def test_labels_and_annotations_are_one_set_of_tags_and_the_annotation_wins(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.seed_namespace(
        "ci-review",
        labels={**PIPELINE, "reaper-ttl": "1h", "reaper-expires-at": "1767225600"},
        annotations={"reaper-ttl": "30d", "reaper-owner": "team-search"},
        created=OLD,
    )
    fake.seed_namespace(
        "ci-rfc3339",
        labels=PIPELINE,
        annotations={"reaper-expires-at": (START - timedelta(hours=1)).isoformat()},
        created=START - timedelta(hours=1),
    )

    (resource, _expiring) = sorted(
        harness().kind.collect(harness().scope()).resources, key=lambda r: r.name
    )

    assert resource.name == "ci-review"
    assert resource.ref.id == "ci/ci-review"
    assert resource.created_at == OLD
    assert resource.tags["reaper-ttl"] == "30d"
    assert resource.tags["reaper-expires-at"] == "1767225600"
    assert resource.owner == "team-search"
    assert resource.pipeline_run == "gitlab-ci-4711"
    assert resource.state == "Active"
    decisions = {d.resource.name: d for d in harness().plan().decisions}
    # RFC 3339 can only be an annotation: it is read, and it has passed.
    assert decisions["ci-rfc3339"].reasons == (Reason.EXPIRY_PASSED,)
    # The label said 1h, the annotation 30d: within its TTL... but its epoch expiry passed.
    assert decisions["ci-review"].reasons == (Reason.EXPIRY_PASSED,)


@pytest.mark.parametrize(
    ("service", "exposed"),
    [
        pytest.param({"type": "LoadBalancer"}, True, id="load-balancer-open"),
        pytest.param(
            {"type": "LoadBalancer", "load_balancer_source_ranges": ["0.0.0.0/0"]},
            True,
            id="load-balancer-all-addresses",
        ),
        pytest.param(
            {"type": "LoadBalancer", "load_balancer_source_ranges": ["10.0.0.0/8"]},
            False,
            id="load-balancer-with-ranges",
        ),
        pytest.param({"type": "NodePort", "ports": (8080,)}, True, id="node-port"),
        pytest.param({"type": "ClusterIP", "ports": (22,)}, False, id="cluster-ip"),
    ],
)
def test_a_load_balancer_without_source_ranges_or_a_node_port_exposes_the_namespace(
    fake: KubeFake,
    harness: Callable[..., Harness],
    service: dict[str, object],
    exposed: bool,
) -> None:
    fake.seed_namespace("ci-preview", labels=PIPELINE, created=START - timedelta(hours=1))
    fake.seed_service("ci-preview", "web", **service)  # type: ignore[arg-type]
    fake.seed_namespace("ci-other", labels=PIPELINE, created=START - timedelta(hours=1))
    fake.seed_service("ci-other", "web", type="ClusterIP")

    decisions = {d.resource.name: d for d in harness().plan().decisions}

    preview = decisions["ci-preview"]
    assert (preview.action, preview.reasons) == (
        (Action.QUARANTINE, (Reason.EXPOSED,)) if exposed else (Action.KEEP, (Reason.WITHIN_TTL,))
    )
    if exposed:
        assert preview.details[0].startswith(f"service web: {service['type']}")
    assert decisions["ci-other"].action is Action.KEEP
    # One cluster-wide list of services, not one per namespace.
    assert fake.request_count("list", "services") == 1


def test_exposed_follows_policy_actions(fake: KubeFake, harness: Callable[..., Harness]) -> None:
    fake.seed_namespace("ci-preview", labels=PIPELINE, created=START - timedelta(hours=1))
    fake.seed_service("ci-preview", "web", type="NodePort")

    (decision,) = (
        harness(policy={"kinds": {"kubernetes:namespace": {"actions": {"exposed": "delete"}}}})
        .plan()
        .decisions
    )

    assert (decision.action, decision.reasons) == (Action.DELETE, (Reason.EXPOSED,))


def test_an_unreachable_cluster_is_a_collect_error_and_the_others_are_swept(
    clock: ManualClock, tmp_path: Path
) -> None:
    with (
        KubeFake(clock=clock, context="ci") as ci,
        KubeFake(clock=clock, context="staging") as staging,
    ):
        ci.seed_namespace("ci-old", labels=PIPELINE, created=OLD)
        staging.seed_namespace("staging-old", labels=PIPELINE, created=OLD)
        harness = Harness({"ci": ci, "staging": staging}, clock, tmp_path / "audit.jsonl")
        staging.go_offline()

        report = harness.sweep()

        assert report.exit_code == ExitCode.PARTIAL_FAILURE
        (error,) = report.collection.errors
        assert str(error.scope) == "staging"
        assert [d.ref.id for d in report.plan.decisions] == ["ci/ci-old"]
        assert ci.namespace_phase("ci-old") == "Terminating"
        assert staging.namespace_phase("staging-old") == "Active"


def test_a_cluster_whose_kubeconfig_cannot_be_read_is_its_own_collect_error(
    fake: KubeFake, clock: ManualClock, tmp_path: Path
) -> None:
    fake.seed_namespace("ci-old", labels=PIPELINE, created=OLD)
    harness = Harness(
        {"ci": fake},
        clock,
        tmp_path / "audit.jsonl",
        section={
            "clusters": [
                {"name": "ci"},
                {"name": "gone", "kubeconfig": str(tmp_path / "missing"), "context": "x"},
            ]
        },
    )

    report = harness.sweep(dry_run=True)

    (error,) = report.collection.errors
    assert str(error.scope) == "gone"
    assert "cluster gone: reading its configuration failed" in error.message
    assert [d.ref.id for d in report.plan.decisions] == ["ci/ci-old"]


def test_errors_are_reaper_errors_with_the_sdk_error_chained(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.fail(500, times=None, verb="list", resource="namespaces", message="etcd is on fire")

    with pytest.raises(ProviderError) as raised:
        harness().kind.collect(harness().scope())

    assert isinstance(raised.value, KubeApiError)
    assert raised.value.status == 500
    assert str(raised.value).endswith("InternalError: etcd is on fire")
    assert isinstance(raised.value.__cause__, ApiException)


def test_every_http_attempt_is_counted_retries_included(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.seed_namespace("ci-new", labels=PIPELINE)
    fake.fail(503, times=1, verb="list", resource="namespaces", retry_after=1)
    metrics = Metrics(CollectorRegistry())

    assert _names(harness(metrics=metrics)) == ["ci-new"]

    assert fake.request_count("list", "namespaces") == 2
    sample = metrics.registry.get_sample_value(
        "reaper_cloud_api_requests_total",
        {"provider": "kubernetes", "operation": "list namespaces"},
    )
    assert sample == 2


def test_a_terminating_namespace_is_in_progress_and_escalated_once_stuck(
    fake: KubeFake,
    clock: ManualClock,
    harness: Callable[..., Harness],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.seed_namespace("ci-stuck", labels=PIPELINE, created=OLD)
    fake.seed_stuck_finalizer("ci-stuck")
    sweeper = harness()

    first = sweeper.sweep()
    assert [(o.action, o.result) for o in first.outcomes] == [(Action.DELETE, "done")]
    fake.step()
    assert fake.namespace_phase("ci-stuck") == "Terminating"

    clock.advance(timedelta(minutes=30))
    (waiting,) = sweeper.plan().decisions
    assert (waiting.action, waiting.reasons, waiting.escalated) == (
        Action.KEEP,
        (Reason.DELETING,),
        False,
    )

    clock.advance(timedelta(minutes=31))
    with caplog.at_level(logging.WARNING):
        report = sweeper.sweep()
    (stuck,) = report.plan.decisions
    assert (stuck.action, stuck.escalated) == (Action.KEEP, True)
    (warning,) = stuck.warnings
    assert warning.startswith("still deleting 1h1m after its deletion was requested: ")
    assert "NamespaceFinalizersRemaining: Some content in the namespace has finalizers " in warning
    assert "foo.example.com/finalizer in 1 resource instances" in warning
    assert f"escalated kind=kubernetes:namespace id=ci/ci-stuck {warning}" in caplog.text
    markdown = render("markdown", report.plan)
    assert "## Escalated: 1 resource needs a person" in markdown
    assert "foo.example.com/finalizer in 1 resource instances" in markdown
    document = json.loads(render("json", report.plan))
    (listed,) = document["decisions"]
    assert (listed["escalated"], listed["warnings"]) == (True, [warning])
    assert report.outcomes == ()  # reaper never removes finalizers
    assert fake.request_count("delete", "namespaces") == 1
    # No finalizer is removed: no namespaces/ci-stuck/finalize update was sent, and the
    # namespace still waits for the stuck content.
    finalizes = [
        r.info.name
        for r in fake.requests()
        if (r.info.verb, r.info.resource, r.info.subresource)
        == ("update", "namespaces", "finalize")
    ]
    assert finalizes == []
    assert fake.namespace_phase("ci-stuck") == "Terminating"
    end = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()][-1]
    assert end["event"] == "sweep-end"


def test_a_namespace_recreated_since_it_was_read_is_not_deleted(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.seed_namespace("ci-reused", labels=PIPELINE, created=OLD)
    sweeper = harness()
    (resource,) = sweeper.kind.collect(sweeper.scope()).resources
    fake.delete("namespaces", "ci-reused")
    fake.step()
    fake.seed_namespace("ci-reused", labels=PIPELINE)

    (outcome,) = sweeper.kind.delete(sweeper.scope(), [resource])

    assert (outcome.result, outcome.message) == ("skipped", CHANGED)
    assert fake.namespace_phase("ci-reused") == "Active"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda ns: ns["metadata"]["labels"].update({"reaper-protect": "true"}),
            id="protect-label",
        ),
        pytest.param(
            lambda ns: ns["metadata"].setdefault("annotations", {}).update({"reaper-ttl": "30d"}),
            id="longer-ttl",
        ),
    ],
)
def test_a_namespace_changed_between_collect_and_delete_is_skipped_not_deleted(
    fake: KubeFake, harness: Callable[..., Harness], change: Callable[[dict[str, Any]], None]
) -> None:
    fake.seed_namespace("ci-changed", labels=PIPELINE, created=OLD)
    sweeper = harness()
    (decision,) = sweeper.plan().decisions
    assert decision.action == Action.DELETE
    fake.change("namespaces", "ci-changed", change)

    (outcome,) = sweeper.kind.delete(sweeper.scope(), [decision.resource])

    assert (outcome.result, outcome.message) == ("skipped", CHANGED)
    assert fake.namespace_phase("ci-changed") == "Active"
    (next_sweep,) = sweeper.plan().decisions
    assert next_sweep.action == Action.KEEP


def test_reapers_own_patches_keep_the_delete_condition_current(
    fake: KubeFake, harness: Callable[..., Harness]
) -> None:
    fake.seed_namespace("ci-marked", labels=PIPELINE, created=OLD)
    sweeper = harness()
    (decision,) = sweeper.plan().decisions
    scope = sweeper.scope()
    (tagged,) = sweeper.kind.tag(
        scope, [decision.resource], {"reaper-state": "marked"}, Action.MARK
    )
    assert tagged.result == "done"

    (outcome,) = sweeper.kind.delete(scope, [decision.resource])

    assert outcome.result == "done"
    assert fake.namespace_phase("ci-marked") == "Terminating"


_WAITING_PLUGIN = """\
import json, pathlib, sys, time
release = pathlib.Path(sys.argv[1])
release.with_suffix(".started").touch()
deadline = time.monotonic() + 30
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": sys.argv[2]},
}))
"""


def test_a_cluster_whose_credential_plugin_hangs_holds_up_no_other_cluster(
    clock: ManualClock, tmp_path: Path
) -> None:
    with (
        KubeFake(clock=clock, context="ci") as ci,
        KubeFake(clock=clock, context="slow") as slow,
    ):
        ci.seed_namespace("ci-old", labels=PIPELINE, created=OLD)
        slow.seed_namespace("slow-old", labels=PIPELINE, created=OLD)
        plugin = tmp_path / "plugin.py"
        plugin.write_text(_WAITING_PLUGIN)
        release = tmp_path / "release"
        kubeconfig = slow.kubeconfig()
        kubeconfig["users"][0]["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": sys.executable,
                "args": [str(plugin), str(release), slow.token or ""],
                "interactiveMode": "Never",
            }
        }
        settings = parse_settings(kube_config(["ci", "slow"], tmp_path / "a.jsonl"), "k.yaml")
        assert settings.providers.kubernetes is not None
        clients = KubeClients(
            settings.providers.kubernetes,
            KubeConnection({"ci": ci.kubeconfig(), "slow": kubeconfig}),
        )
        kind = Namespaces(clients, settings.tags)
        slow_names: list[str] = []
        waiting = threading.Thread(
            target=lambda: slow_names.extend(
                r.name for r in kind.collect(Scope("slow", "")).resources
            )
        )
        waiting.start()
        try:
            started = release.with_suffix(".started")
            for _ in range(200):
                if started.exists():
                    break
                time.sleep(0.05)
            assert started.exists(), "the credential plugin never ran"

            collected = ThreadPoolExecutor(1).submit(kind.collect, Scope("ci", ""))
            ci_names = [r.name for r in collected.result(timeout=10).resources]

            assert ci_names == ["ci-old"]
            assert waiting.is_alive()  # still building the slow cluster's client
        finally:
            release.touch()
            waiting.join(timeout=30)
        assert slow_names == ["slow-old"]
