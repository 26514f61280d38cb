"""The fake Kubernetes API server, driven by the official ``kubernetes`` Python client.

Every test talks HTTP to a fresh :class:`KubeFake` through a client built from the fake's
own kubeconfig, and asserts what the real API server would answer: the objects, the
``Status`` bodies of failures, and the fake's state afterwards.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from reaper.sandbox.kube import KubeFake, ManualClock, RequestKey

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(clock=ManualClock(START)) as running:
        yield running


@pytest.fixture
def api_client(fake: KubeFake, tmp_path: Path) -> Iterator[client.ApiClient]:
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    built = config.new_client_from_config(config_file=str(kubeconfig), context=fake.context)
    yield built
    built.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def status_of(error: ApiException) -> dict[str, Any]:
    """The ``Status`` body of a failed call."""
    body: dict[str, Any] = json.loads(error.body)
    return body


def names(listing: Any) -> list[str]:
    return [item.metadata.name for item in listing.items]


# -- namespaces: selectors and paging -----------------------------------------------------------


@pytest.fixture
def labelled(fake: KubeFake) -> KubeFake:
    """Five CI namespaces with labels to select on (beside the four system ones)."""
    fake.seed_namespace("ci-1", labels={"owner": "ci", "tier": "web"})
    fake.seed_namespace("ci-2", labels={"owner": "ci", "tier": "db"})
    fake.seed_namespace("ci-3", labels={"owner": "ci", "tier": "cache", "keep": "true"})
    fake.seed_namespace("qa-1", labels={"owner": "qa", "tier": "web"})
    fake.seed_namespace("scratch", labels={"tier": "web"})
    return fake


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("owner=ci", ["ci-1", "ci-2", "ci-3"], id="equals"),
        pytest.param("owner==qa", ["qa-1"], id="double-equals"),
        pytest.param("owner!=ci,tier=web", ["qa-1", "scratch"], id="not-equals-and"),
        pytest.param("keep", ["ci-3"], id="exists"),
        pytest.param("owner,!keep", ["ci-1", "ci-2", "qa-1"], id="exists-and-not-exists"),
        pytest.param("tier in (db,cache)", ["ci-2", "ci-3"], id="in"),
        pytest.param("owner=ci,tier notin (web,db)", ["ci-3"], id="notin"),
        pytest.param(
            "tier notin (web)",
            ["ci-2", "ci-3", "default", "kube-node-lease", "kube-public", "kube-system"],
            id="notin-matches-missing-key",
        ),
        pytest.param("kubernetes.io/metadata.name=default", ["default"], id="prefixed-key"),
    ],
)
def test_list_namespaces_with_a_label_selector(
    labelled: KubeFake, core: client.CoreV1Api, selector: str, expected: list[str]
) -> None:
    assert names(core.list_namespace(label_selector=selector)) == expected


def test_a_selector_that_does_not_parse_is_a_bad_request(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespace(label_selector="tier in web")
    assert caught.value.status == 400
    assert status_of(caught.value)["reason"] == "BadRequest"
    assert (
        status_of(caught.value)["message"]
        == "unable to parse requirement: found 'web' expected: '('"
    )


def test_field_selector_on_the_namespace_name(labelled: KubeFake, core: client.CoreV1Api) -> None:
    assert names(core.list_namespace(field_selector="metadata.name=qa-1")) == ["qa-1"]
    assert "qa-1" not in names(core.list_namespace(field_selector="metadata.name!=qa-1"))
    with pytest.raises(ApiException) as caught:
        core.list_namespace(field_selector="spec.owner=ci")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"] == "field label not supported: spec.owner"


def test_limit_and_continue_page_through_a_consistent_snapshot(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    first = core.list_namespace(label_selector="owner", limit=2)
    assert names(first) == ["ci-1", "ci-2"]
    assert first.metadata._continue
    labelled.seed_namespace("ci-4", labels={"owner": "ci"})  # after the snapshot: not seen
    second = core.list_namespace(
        label_selector="owner", limit=2, _continue=first.metadata._continue
    )
    assert names(second) == ["ci-3", "qa-1"]
    assert second.metadata.resource_version == first.metadata.resource_version
    last = core.list_namespace(label_selector="owner", limit=2, _continue=second.metadata._continue)
    assert names(last) == []
    assert last.metadata._continue is None


def test_remaining_item_count_only_without_a_selector(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    assert core.list_namespace(limit=4).metadata.remaining_item_count == 5
    assert (
        core.list_namespace(limit=4, label_selector="owner").metadata.remaining_item_count is None
    )


def test_an_expired_continue_token_answers_410_with_an_inconsistent_token(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    first = core.list_namespace(limit=2)
    labelled.expire_continue_tokens()
    with pytest.raises(ApiException) as caught:
        core.list_namespace(limit=2, _continue=first.metadata._continue)
    status = status_of(caught.value)
    assert caught.value.status == 410
    assert status["reason"] == "Expired"
    assert status["message"].startswith(
        "The provided continue parameter is too old to display a consistent list result."
    )
    resumed = core.list_namespace(limit=2, _continue=status["metadata"]["continue"])
    assert names(resumed) == ["ci-3", "default"]


def test_continue_tokens_expire_after_the_configured_number_of_writes(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    labelled.set_continue_token_writes(3)
    first = core.list_namespace(limit=2)
    labelled.seed_namespace("w-1")
    labelled.seed_namespace("w-2")
    assert names(core.list_namespace(limit=2, _continue=first.metadata._continue)) == [
        "ci-3",
        "default",
    ]
    labelled.seed_namespace("w-3")
    with pytest.raises(ApiException) as caught:
        core.list_namespace(limit=2, _continue=first.metadata._continue)
    assert caught.value.status == 410


def test_the_next_continued_lists_can_be_made_to_find_their_token_expired(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    labelled.expire_next_continues("namespaces", times=1)
    first = core.list_namespace(limit=2)
    with pytest.raises(ApiException) as caught:
        core.list_namespace(limit=2, _continue=first.metadata._continue)
    assert caught.value.status == 410
    assert status_of(caught.value)["reason"] == "Expired"
    # Only that one: a list started afresh pages through as usual.
    again = core.list_namespace(limit=2)
    assert names(core.list_namespace(limit=2, _continue=again.metadata._continue)) == [
        "ci-3",
        "default",
    ]


def test_a_garbled_continue_token_is_a_bad_request(
    labelled: KubeFake, core: client.CoreV1Api
) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespace(limit=2, _continue="not-a-token")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"].startswith(
        "invalid continue token: continue key is not valid"
    )


# -- namespaces: create, patch, validation -------------------------------------------------------


def test_created_namespace_has_what_the_server_adds(fake: KubeFake, core: client.CoreV1Api) -> None:
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ci-new")))
    assert created.status.phase == "Active"
    assert created.spec.finalizers == ["kubernetes"]
    assert created.metadata.labels == {"kubernetes.io/metadata.name": "ci-new"}
    assert created.metadata.creation_timestamp == START
    assert created.metadata.uid
    assert int(created.metadata.resource_version) == fake.resource_version


def test_create_of_an_existing_namespace_is_409_already_exists(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_namespace("ci-dup")
    with pytest.raises(ApiException) as caught:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ci-dup")))
    assert caught.value.status == 409
    assert status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'namespaces "ci-dup" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "ci-dup", "kind": "namespaces"},
        "code": 409,
    }


def test_reading_a_missing_namespace_is_404_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespace("gone")
    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'namespaces "gone" not found'
    assert status_of(caught.value)["details"] == {"name": "gone", "kind": "namespaces"}


@pytest.mark.parametrize(
    ("name", "labels", "field"),
    [
        pytest.param("Bad_Name", None, "metadata.name", id="name-not-dns-1123"),
        pytest.param("x" * 64, None, "metadata.name", id="name-too-long"),
        pytest.param("ok", {"bad key": "v"}, "metadata.labels", id="label-key"),
        pytest.param("ok", {"team": "-dash-"}, "metadata.labels", id="label-value"),
        pytest.param("ok", {"a/b/c": "v"}, "metadata.labels", id="label-key-two-slashes"),
    ],
)
def test_invalid_names_and_labels_are_422_invalid(
    core: client.CoreV1Api, name: str, labels: dict[str, str] | None, field: str
) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )
    status = status_of(caught.value)
    assert caught.value.status == 422
    assert status["reason"] == "Invalid"
    assert status["details"]["kind"] == "Namespace"
    assert status["details"]["causes"][0]["field"] == field
    assert status["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    assert f'Namespace "{name}" is invalid: ' in status["message"]


def test_merge_patch_null_removes_a_label_and_an_annotation(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_namespace(
        "ci-p", labels={"owner": "ci", "ttl": "2h"}, annotations={"note": "x", "keep": "y"}
    )
    patched = core.patch_namespace(
        "ci-p",
        {"metadata": {"labels": {"ttl": None, "swept": "yes"}, "annotations": {"note": None}}},
        _content_type=MERGE,
    )
    assert patched.metadata.labels == {
        "owner": "ci",
        "swept": "yes",
        "kubernetes.io/metadata.name": "ci-p",
    }
    assert patched.metadata.annotations == {"keep": "y"}
    assert fake.get("namespaces", "ci-p")["metadata"]["labels"] == patched.metadata.labels


def test_merge_patch_cannot_remove_the_name_label(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_namespace("ci-p")
    patched = core.patch_namespace(
        "ci-p", {"metadata": {"labels": {"kubernetes.io/metadata.name": None}}}, _content_type=MERGE
    )
    assert patched.metadata.labels == {"kubernetes.io/metadata.name": "ci-p"}


def test_strategic_merge_patch_merges_labels_and_finalizer_lists(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_namespace("ci-s", labels={"owner": "ci"}, finalizers=["a.example.com/one"])
    patched = core.patch_namespace(
        "ci-s",
        {"metadata": {"labels": {"quarantined": "true"}, "finalizers": ["b.example.com/two"]}},
    )
    assert patched.metadata.labels["owner"] == "ci"
    assert patched.metadata.labels["quarantined"] == "true"
    assert patched.metadata.finalizers == ["a.example.com/one", "b.example.com/two"]
    cleared = core.patch_namespace("ci-s", {"metadata": {"finalizers": None}})
    assert cleared.metadata.finalizers is None


def test_a_patch_that_changes_nothing_keeps_the_resource_version(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    before = fake.seed_namespace("ci-same", labels={"owner": "ci"})
    after = core.patch_namespace(
        "ci-same", {"metadata": {"labels": {"owner": "ci"}}}, _content_type=MERGE
    )
    assert after.metadata.resource_version == before["metadata"]["resourceVersion"]


def test_json_patch_and_its_failed_test_operation(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_namespace("ci-j", labels={"owner": "ci"})
    patched = core.patch_namespace(
        "ci-j",
        [
            {"op": "test", "path": "/metadata/labels/owner", "value": "ci"},
            {"op": "add", "path": "/metadata/labels/reaper~1state", "value": "marked"},
        ],
    )
    assert patched.metadata.labels["reaper/state"] == "marked"
    with pytest.raises(ApiException) as caught:
        core.patch_namespace(
            "ci-j", [{"op": "test", "path": "/metadata/labels/owner", "value": "qa"}]
        )
    assert caught.value.status == 422


def test_patch_with_a_stale_resource_version_is_a_conflict(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_namespace("ci-rv")
    with pytest.raises(ApiException) as caught:
        core.patch_namespace(
            "ci-rv",
            {"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}},
            _content_type=MERGE,
        )
    assert caught.value.status == 409
    assert status_of(caught.value)["reason"] == "Conflict"


# -- namespace deletion -------------------------------------------------------------------


def test_background_delete_terminates_then_removes_after_the_contents(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_deployment("ci-del", "web", replicas=2)
    fake.seed_service("ci-del", "web")
    answer = core.delete_namespace("ci-del", propagation_policy="Background")
    assert answer["status"]["phase"] == "Terminating"
    assert answer["metadata"]["deletionTimestamp"] == "2025-06-01T12:00:00Z"
    terminating = core.read_namespace("ci-del")
    assert terminating.status.phase == "Terminating"
    assert terminating.spec.finalizers == ["kubernetes"]
    assert fake.names("deployments", "ci-del") == ["web"]
    again = core.delete_namespace("ci-del", propagation_policy="Background")
    assert again["metadata"]["name"] == "ci-del"
    fake.step()
    assert fake.namespace_phase("ci-del") is None
    assert fake.objects("deployments", "ci-del") == []
    assert fake.objects("services", "ci-del") == []
    with pytest.raises(ApiException) as caught:
        core.read_namespace("ci-del")
    assert caught.value.status == 404


def test_a_stuck_finalizer_keeps_the_namespace_terminating_with_conditions(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_deployment("ci-stuck", "web")
    fake.seed_stuck_finalizer("ci-stuck")
    core.delete_namespace("ci-stuck", propagation_policy="Background")
    fake.step(3)
    namespace = core.read_namespace("ci-stuck")
    assert namespace.status.phase == "Terminating"
    conditions = {c.type: c for c in namespace.status.conditions}
    assert [c.type for c in namespace.status.conditions] == [
        "NamespaceDeletionDiscoveryFailure",
        "NamespaceDeletionGroupVersionParsingFailure",
        "NamespaceDeletionContentFailure",
        "NamespaceContentRemaining",
        "NamespaceFinalizersRemaining",
    ]
    remaining = conditions["NamespaceFinalizersRemaining"]
    assert (remaining.status, remaining.reason) == ("True", "SomeFinalizersRemain")
    assert remaining.message == (
        "Some content in the namespace has finalizers remaining: "
        "foo.example.com/finalizer in 1 resource instances"
    )
    content = conditions["NamespaceContentRemaining"]
    assert (content.status, content.reason) == ("True", "SomeResourcesRemain")
    assert content.message == (
        "Some resources are remaining: networkpolicies.networking.k8s.io has 1 resource instances"
    )
    discovered = conditions["NamespaceDeletionDiscoveryFailure"]
    assert (discovered.status, discovered.reason) == ("False", "ResourcesDiscovered")
    stuck = fake.get("networkpolicies", "stuck", "ci-stuck")
    assert stuck["metadata"]["deletionTimestamp"] == "2025-06-01T12:00:00Z"
    assert stuck["metadata"]["deletionGracePeriodSeconds"] == 0
    assert fake.objects("deployments", "ci-stuck") == []

    networking = client.NetworkingV1Api(core.api_client)
    networking.patch_namespaced_network_policy(
        "stuck", "ci-stuck", {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    assert fake.get("networkpolicies", "stuck", "ci-stuck") is None
    fake.step()
    assert fake.namespace_phase("ci-stuck") is None


def test_an_unanswering_aggregated_api_keeps_the_namespace_terminating(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_namespace("ci-disc")
    fake.break_discovery("metrics.k8s.io/v1beta1")
    core.delete_namespace("ci-disc")
    fake.step()
    failure = fake.namespace_conditions("ci-disc")["NamespaceDeletionDiscoveryFailure"]
    assert (failure["status"], failure["reason"]) == ("True", "DiscoveryFailed")
    assert failure["message"] == (
        "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of "
        "server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request"
    )
    assert fake.namespace_phase("ci-disc") == "Terminating"
    fake.repair_discovery()
    fake.step()
    assert fake.namespace_phase("ci-disc") is None


def test_content_cannot_be_created_in_a_terminating_namespace(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.seed_stuck_finalizer("ci-term")
    core.delete_namespace("ci-term")
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service(
            "ci-term",
            client.V1Service(
                metadata=client.V1ObjectMeta(name="late"),
                spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
            ),
        )
    status = status_of(caught.value)
    assert caught.value.status == 403
    assert status["message"] == (
        'services "late" is forbidden: unable to create new content in namespace ci-term '
        "because it is being terminated"
    )
    assert status["details"]["causes"][0]["reason"] == "NamespaceTerminating"


def test_system_namespaces_cannot_be_deleted(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("kube-system")
    assert caught.value.status == 403
    assert (
        status_of(caught.value)["message"]
        == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'
    )


def test_finalize_subresource_releases_a_namespace(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_namespace("ci-fin")
    fake.break_discovery()
    core.delete_namespace("ci-fin")
    fake.step()
    namespace = core.read_namespace("ci-fin")
    namespace.spec.finalizers = []
    core.replace_namespace_finalize("ci-fin", namespace)
    assert fake.namespace_phase("ci-fin") is None


# -- workloads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["deployment", "stateful_set"])
def test_scale_subresource_read_patch_and_put(
    fake: KubeFake, apps: client.AppsV1Api, kind: str
) -> None:
    seed = fake.seed_deployment if kind == "deployment" else fake.seed_statefulset
    seed("ci-w", "app", replicas=3)
    read = getattr(apps, f"read_namespaced_{kind}_scale")
    patch = getattr(apps, f"patch_namespaced_{kind}_scale")
    replace = getattr(apps, f"replace_namespaced_{kind}_scale")

    scale = read("app", "ci-w")
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (3, 3, "app=app")

    patched = patch("app", "ci-w", {"spec": {"replicas": 0}}, _content_type=MERGE)
    assert patched.spec.replicas == 0
    resource = "deployments" if kind == "deployment" else "statefulsets"
    assert fake.get(resource, "app", "ci-w")["spec"]["replicas"] == 0
    assert fake.get(resource, "app", "ci-w")["metadata"]["generation"] == 2

    current = read("app", "ci-w")
    current.spec.replicas = 2
    assert replace("app", "ci-w", current).spec.replicas == 2
    current.spec.replicas = 5  # still carries the resourceVersion read before the last write
    with pytest.raises(ApiException) as caught:
        replace("app", "ci-w", current)
    assert caught.value.status == 409
    plural = "deployments.apps" if kind == "deployment" else "statefulsets.apps"
    assert status_of(caught.value)["message"] == (
        f'Operation cannot be fulfilled on {plural} "app": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    fake.step()
    assert read("app", "ci-w").status.replicas == 2


def test_negative_scale_is_invalid(fake: KubeFake, apps: client.AppsV1Api) -> None:
    fake.seed_deployment("ci-w", "app")
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale("app", "ci-w", {"spec": {"replicas": -1}})
    assert caught.value.status == 422
    assert status_of(caught.value)["message"] == (
        'Scale.autoscaling "app" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_deployment_status_and_spec_changes(fake: KubeFake, apps: client.AppsV1Api) -> None:
    fake.seed_deployment("ci-w", "api", replicas=2, labels={"owner": "ci"})
    listed = apps.list_namespaced_deployment("ci-w", label_selector="owner=ci")
    assert names(listed) == ["api"]
    deployment = listed.items[0]
    assert (deployment.status.ready_replicas, deployment.status.observed_generation) == (2, 1)
    assert deployment.spec.strategy.rolling_update.max_surge == "25%"
    everywhere = apps.list_deployment_for_all_namespaces()
    assert names(everywhere) == ["api"]


def test_cronjob_suspend_patch(fake: KubeFake, api_client: client.ApiClient) -> None:
    batch = client.BatchV1Api(api_client)
    fake.seed_cronjob("ci-c", "nightly", labels={"owner": "ci"})
    assert batch.read_namespaced_cron_job("nightly", "ci-c").spec.suspend is False
    patched = batch.patch_namespaced_cron_job("nightly", "ci-c", {"spec": {"suspend": True}})
    assert patched.spec.suspend is True
    assert patched.metadata.generation == 2
    assert fake.get("cronjobs", "nightly", "ci-c")["spec"]["suspend"] is True
    assert names(batch.list_cron_job_for_all_namespaces(label_selector="owner=ci")) == ["nightly"]


def test_services_of_each_type(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_service("ci-s", "internal")
    fake.seed_service("ci-s", "nodes", type="NodePort")
    fake.seed_service(
        "ci-s", "public", type="LoadBalancer", load_balancer_source_ranges=["0.0.0.0/0"]
    )
    services = {s.metadata.name: s for s in core.list_namespaced_service("ci-s").items}
    assert services["internal"].spec.type == "ClusterIP"
    assert services["nodes"].spec.ports[0].node_port >= 30000
    public = services["public"]
    assert public.spec.load_balancer_source_ranges == ["0.0.0.0/0"]
    assert public.status.load_balancer.ingress[0].ip.startswith("203.0.113.")
    assert names(core.list_service_for_all_namespaces(field_selector="spec.type=LoadBalancer")) == [
        "public"
    ]


def test_source_ranges_need_a_load_balancer(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_namespace("ci-s")
    body = client.V1Service(
        metadata=client.V1ObjectMeta(name="open"),
        spec=client.V1ServiceSpec(
            ports=[client.V1ServicePort(port=80)], load_balancer_source_ranges=["0.0.0.0/0"]
        ),
    )
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service("ci-s", body)
    assert caught.value.status == 422
    assert status_of(caught.value)["details"]["causes"][0] == {
        "reason": "FieldValueForbidden",
        "message": "Forbidden: may only be used when `type` is 'LoadBalancer'",
        "field": "spec.loadBalancerSourceRanges",
    }


def test_network_policy_create_get_list_delete(
    fake: KubeFake, api_client: client.ApiClient
) -> None:
    networking = client.NetworkingV1Api(api_client)
    fake.seed_namespace("ci-n")
    body = client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="reaper-quarantine", labels={"reaper": "quarantine"}),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(), policy_types=["Ingress", "Egress"]
        ),
    )
    created = networking.create_namespaced_network_policy("ci-n", body)
    assert created.spec.policy_types == ["Ingress", "Egress"]
    assert (
        networking.read_namespaced_network_policy("reaper-quarantine", "ci-n").metadata.uid
        == created.metadata.uid
    )
    assert names(networking.list_namespaced_network_policy("ci-n", label_selector="reaper")) == [
        "reaper-quarantine"
    ]
    with pytest.raises(ApiException) as caught:
        networking.create_namespaced_network_policy("ci-n", body)
    assert caught.value.status == 409
    answer = networking.delete_namespaced_network_policy("reaper-quarantine", "ci-n")
    assert answer["status"] == "Success"
    assert answer["details"]["kind"] == "networkpolicies"
    assert fake.objects("networkpolicies", "ci-n") == []


def test_creating_in_a_missing_namespace_is_404(api_client: client.ApiClient) -> None:
    networking = client.NetworkingV1Api(api_client)
    body = client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="np"),
        spec=client.V1NetworkPolicySpec(pod_selector=client.V1LabelSelector()),
    )
    with pytest.raises(ApiException) as caught:
        networking.create_namespaced_network_policy("nowhere", body)
    assert caught.value.status == 404
    assert status_of(caught.value)["message"] == 'namespaces "nowhere" not found'


# -- leases ----------------------------------------------------------------------------------------


def test_lease_create_update_conflict_delete(fake: KubeFake, api_client: client.ApiClient) -> None:
    coordination = client.CoordinationV1Api(api_client)
    fake.seed_namespace("reaper-system")
    renewed = datetime(2025, 6, 1, 12, 0, 1, 250000, tzinfo=UTC)
    lease = coordination.create_namespaced_lease(
        "reaper-system",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="reaper"),
            spec=client.V1LeaseSpec(
                holder_identity="pod-a", lease_duration_seconds=15, renew_time=renewed
            ),
        ),
    )
    assert (
        fake.get("leases", "reaper", "reaper-system")["spec"]["renewTime"]
        == "2025-06-01T12:00:01.250000Z"
    )
    stale = coordination.read_namespaced_lease("reaper", "reaper-system")
    lease.spec.holder_identity = "pod-b"
    updated = coordination.replace_namespaced_lease("reaper", "reaper-system", lease)
    assert int(updated.metadata.resource_version) > int(lease.metadata.resource_version)
    stale.spec.holder_identity = "pod-c"
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("reaper", "reaper-system", stale)
    assert caught.value.status == 409
    assert status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            'Operation cannot be fulfilled on leases.coordination.k8s.io "reaper": the object has '
            "been modified; please apply your changes to the latest version and try again"
        ),
        "reason": "Conflict",
        "details": {"name": "reaper", "group": "coordination.k8s.io", "kind": "leases"},
        "code": 409,
    }
    assert fake.get("leases", "reaper", "reaper-system")["spec"]["holderIdentity"] == "pod-b"
    patched = coordination.patch_namespaced_lease(
        "reaper", "reaper-system", {"spec": {"leaseDurationSeconds": 30}}
    )
    assert patched.spec.lease_duration_seconds == 30
    coordination.delete_namespaced_lease("reaper", "reaper-system")
    assert fake.get("leases", "reaper", "reaper-system") is None


def test_the_clients_lease_lock_sees_the_conflict(
    fake: KubeFake, api_client: client.ApiClient
) -> None:
    fake.seed_namespace("reaper-system")
    first, second = (
        LeaseLock("reaper", "reaper-system", "pod-a"),
        LeaseLock("reaper", "reaper-system", "pod-b"),
    )
    for lock in (first, second):
        lock.api_instance.api_client.close()
        lock.api_instance = client.CoordinationV1Api(api_client)
    acquired = str(datetime(2025, 6, 1, 12, 0, 0, 500000))
    renewed = str(datetime(2025, 6, 1, 12, 0, 2, 500000))
    created = first.create(
        "reaper", "reaper-system", LeaderElectionRecord("pod-a", "15", acquired, acquired)
    )
    assert created is True
    found, record = second.get("reaper", "reaper-system")
    assert found is True
    assert record.holder_identity == "pod-a"
    renewal = LeaderElectionRecord("pod-a", "15", acquired, renewed)
    assert first.update("reaper", "reaper-system", renewal) is True
    takeover = LeaderElectionRecord("pod-b", "15", renewed, renewed)
    assert second.update("reaper", "reaper-system", takeover) is False
    assert fake.get("leases", "reaper", "reaper-system")["spec"]["holderIdentity"] == "pod-a"


def test_the_clients_leader_election_acquires_the_lease(
    fake: KubeFake, api_client: client.ApiClient
) -> None:
    fake.seed_namespace("reaper-system")
    lock = LeaseLock("reaper", "reaper-system", "pod-a")
    lock.api_instance.api_client.close()
    lock.api_instance = client.CoordinationV1Api(api_client)
    seen: list[str] = []

    def lead() -> None:
        stored = fake.get("leases", "reaper", "reaper-system") or {}
        seen.append(stored.get("spec", {}).get("holderIdentity", ""))
        raise RuntimeError("stop leading: the test is over")

    settings = electionconfig.Config(lock, 3, 2, 1, lead, lambda: seen.append("stopped"))
    leaderelection.LeaderElection(settings).run()
    assert seen == ["pod-a", "stopped"]
    assert fake.request_count("create", "leases") == 1


# -- seeding, counting, faults, several clusters ----------------------------------------


def test_seeded_ages_show_in_creation_timestamps(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_namespace("ci-old", created=START - timedelta(days=9))
    assert core.read_namespace("ci-old").metadata.creation_timestamp == START - timedelta(days=9)
    fake.advance(3600)
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="ci-new")))
    assert created.metadata.creation_timestamp == START + timedelta(hours=1)


def test_requests_are_counted_by_verb_resource_and_subresource(
    fake: KubeFake, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    fake.seed_deployment("ci-w", "app")
    core.list_namespace()
    core.list_namespace(limit=1)
    apps.read_namespaced_deployment_scale("app", "ci-w")
    apps.patch_namespaced_deployment_scale("app", "ci-w", {"spec": {"replicas": 2}})
    assert fake.request_count("list", "namespaces") == 2
    assert fake.request_count("get", "deployments", "scale") == 1
    assert fake.request_counts()[RequestKey("patch", "deployments", "scale")] == 1
    assert [r.status for r in fake.requests()] == [200, 200, 200, 200]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        pytest.param(500, "InternalError", id="500"),
        pytest.param(503, "ServiceUnavailable", id="503"),
        pytest.param(429, "TooManyRequests", id="429"),
    ],
)
def test_injected_failures_answer_a_status_then_recover(
    fake: KubeFake, core: client.CoreV1Api, code: int, reason: str
) -> None:
    fake.fail(code, times=2, verb="list", resource="namespaces")
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            core.list_namespace()
        assert caught.value.status == code
        assert status_of(caught.value)["reason"] == reason
    assert "default" in names(core.list_namespace())
    assert fake.request_count("list", "namespaces") == 3


def test_a_429_with_retry_after_is_retried_by_the_client(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    fake.fail(429, times=1, verb="list", resource="namespaces", retry_after=1)
    assert "default" in names(core.list_namespace())
    assert [r.status for r in fake.requests()] == [429, 200]


def test_a_dropped_connection_and_an_offline_server(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.drop_connections(times=None, verb="create", resource="namespaces")
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name="ci-x")), _request_timeout=5
        )
    fake.clear_faults()
    fake.go_offline()
    with pytest.raises(urllib3.exceptions.MaxRetryError, match=r"(?i)refused"):
        core.list_namespace(_request_timeout=2)
    fake.go_online()
    assert "default" in names(core.list_namespace())


def test_latency_is_injected(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.slow_down(0.3, times=1, verb="get", resource="namespaces")
    started = datetime.now(UTC)
    core.read_namespace("default")
    assert datetime.now(UTC) - started >= timedelta(seconds=0.3)


def test_two_fakes_are_independent(tmp_path: Path) -> None:
    with KubeFake(context="one") as one, KubeFake(context="two") as two:
        one.seed_namespace("only-in-one")
        clients = [
            config.new_client_from_config(
                config_file=str(f.write_kubeconfig(tmp_path / f.context)), context=f.context
            )
            for f in (one, two)
        ]
        try:
            seen = [names(client.CoreV1Api(c).list_namespace()) for c in clients]
        finally:
            for built in clients:
                built.close()
    assert one.port != two.port
    assert "only-in-one" in seen[0]
    assert "only-in-one" not in seen[1]


def test_concurrent_writers_each_get_a_distinct_resource_version(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    versions: list[str] = []
    guard = threading.Lock()

    def create(index: int) -> None:
        made = core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=f"ci-{index}"))
        )
        with guard:
            versions.append(made.metadata.resource_version)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(versions)) == 8
    assert len([n for n in fake.names("namespaces") if n.startswith("ci-")]) == 8


def test_discovery_documents(fake: KubeFake, api_client: client.ApiClient) -> None:
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "32")
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "batch", "networking.k8s.io", "coordination.k8s.io"} <= groups
    resources = {r.name: r for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert resources["deployments"].short_names == ["deploy"]
    assert resources["deployments/scale"].group == "autoscaling"
    assert resources["deployments/scale"].kind == "Scale"
    core = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert core["namespaces"].namespaced is False
    assert "deletecollection" not in core["namespaces"].verbs


def test_delete_collection_by_label(fake: KubeFake, apps: client.AppsV1Api) -> None:
    fake.seed_deployment("ci-dc", "one", labels={"owner": "ci"})
    fake.seed_deployment("ci-dc", "two", labels={"owner": "ci"})
    fake.seed_deployment("ci-dc", "kept", labels={"owner": "platform"})
    apps.delete_collection_namespaced_deployment("ci-dc", label_selector="owner=ci")
    assert fake.names("deployments", "ci-dc") == ["kept"]


def test_what_is_not_served_says_so(
    fake: KubeFake, api_client: client.ApiClient, core: client.CoreV1Api
) -> None:
    with pytest.raises(ApiException) as watched:
        core.list_namespace(watch=True, _preload_content=False)
    assert watched.value.status == 405
    with pytest.raises(ApiException) as applied:
        core.patch_namespace(
            "default",
            {"metadata": {}},
            _content_type="application/apply-patch+yaml",
            field_manager="t",
        )
    assert applied.value.status == 415


def test_a_background_controller_loop_finishes_deletions_by_itself(tmp_path: Path) -> None:
    with KubeFake(controller_interval=0.02) as running:
        running.seed_deployment("ci-bg", "web")
        built = config.new_client_from_config(
            config_file=str(running.write_kubeconfig(tmp_path / "kubeconfig")),
            context=running.context,
        )
        try:
            client.CoreV1Api(built).delete_namespace("ci-bg")
        finally:
            built.close()
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while running.namespace_phase("ci-bg") is not None and datetime.now(UTC) < deadline:
            threading.Event().wait(0.02)
        assert running.namespace_phase("ci-bg") is None


def test_python_side_delete_and_settle(fake: KubeFake, core: client.CoreV1Api) -> None:
    fake.seed_namespace("ci-py", created=START - timedelta(days=2))
    fake.seed_cronjob("ci-py", "nightly")
    answer = fake.delete("namespaces", "ci-py")
    assert answer["status"]["phase"] == "Terminating"
    assert core.read_namespace("ci-py").status.phase == "Terminating"
    assert fake.settle() >= 1
    assert fake.namespace_phase("ci-py") is None
    assert fake.objects("cronjobs", "ci-py") == []


def test_a_namespace_delete_with_a_stale_resource_version_is_409_and_changes_nothing(
    fake: KubeFake, core: client.CoreV1Api
) -> None:
    seeded = fake.seed_namespace("ci-rv")
    read = seeded["metadata"]["resourceVersion"]
    fake.change("namespaces", "ci-rv", lambda ns: ns["metadata"]["labels"].update(keep="true"))
    current = fake.get("namespaces", "ci-rv")["metadata"]["resourceVersion"]

    with pytest.raises(ApiException) as caught:
        core.delete_namespace(
            "ci-rv",
            body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(
                    uid=seeded["metadata"]["uid"], resource_version=read
                )
            ),
        )

    assert caught.value.status == 409
    assert status_of(caught.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on namespaces "ci-rv": Precondition failed: '
        f"ResourceVersion in precondition: {read}, ResourceVersion in object meta: {current}",
        "reason": "Conflict",
        "details": {"name": "ci-rv", "kind": "namespaces"},
        "code": 409,
    }
    assert fake.namespace_phase("ci-rv") == "Active"
    core.delete_namespace(
        "ci-rv",
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=current)),
    )
    assert fake.namespace_phase("ci-rv") == "Terminating"


def test_an_object_delete_with_a_stale_resource_version_is_409_as_before_delete_says(
    fake: KubeFake, api_client: client.ApiClient
) -> None:
    networking = client.NetworkingV1Api(api_client)
    seeded = fake.seed_network_policy("ci-n", "np")
    read = seeded["metadata"]["resourceVersion"]
    fake.change(
        "networkpolicies",
        "np",
        lambda np: np["metadata"].setdefault("labels", {}).update(edited="yes"),
        namespace="ci-n",
    )
    current = fake.get("networkpolicies", "np", "ci-n")["metadata"]["resourceVersion"]

    with pytest.raises(ApiException) as caught:
        networking.delete_namespaced_network_policy(
            "np",
            "ci-n",
            body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=read)
            ),
        )

    assert caught.value.status == 409
    body = status_of(caught.value)
    assert (body["reason"], body["code"]) == ("Conflict", 409)
    assert body["message"] == (
        'Operation cannot be fulfilled on NetworkPolicy.networking.k8s.io "np": the '
        f"ResourceVersion in the precondition ({read}) does not match the ResourceVersion "
        f"in record ({current}). The object might have been modified"
    )
    assert fake.names("networkpolicies", "ci-n") == ["np"]
