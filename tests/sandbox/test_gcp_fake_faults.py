"""Fault and latency injection, request accounting, time settings and concurrency.

Which injected errors the client libraries retry by themselves is their default retry
policy (google-cloud-compute 1.57 / google-cloud-container 2.67): ``instances.get``,
``instances.aggregatedList`` and GKE reads retry 503 (ServiceUnavailable); nothing retries
429 or 403, and no mutation retries anything. These tests pin that down.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1
from google.protobuf import json_format

from reaper.sandbox.gcp import FakeGcp, Fault

PROJECT = "ci-project"
ZONE = "us-central1-a"
C = TypeVar("C")


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        server.add_project(PROJECT)
        server.add_instance(PROJECT, ZONE, "vm")
        server.add_cluster(PROJECT, ZONE, "gke")
        yield server
        assert server.failures == []


def client(cls: type[C], fake: FakeGcp) -> C:
    return cls(credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint})


def gke(fake: FakeGcp) -> container_v1.ClusterManagerClient:
    return container_v1.ClusterManagerClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )


def raw(
    fake: FakeGcp, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fake.endpoint + path, data=data, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class TestInjectedErrors:
    def test_compute_get_retries_a_503_by_itself(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.get", Fault.UNAVAILABLE)
        instances = client(compute_v1.InstancesClient, fake)

        vm = instances.get(project=PROJECT, zone=ZONE, instance="vm")

        assert vm.name == "vm"
        assert fake.stats.count("compute.instances.get") == 2

    def test_compute_list_surfaces_a_429_with_its_quota_reason(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.aggregatedList", Fault.RATE_LIMITED)
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(gexc.TooManyRequests) as caught:
            list(instances.aggregated_list(project=PROJECT))

        assert caught.value.code == 429
        assert "Quota exceeded for quota metric 'Read requests'" in caught.value.message
        assert caught.value.errors[0]["reason"] == "rateLimitExceeded"
        assert caught.value.reason == "RATE_LIMIT_EXCEEDED"
        assert fake.stats.count("compute.instances.aggregatedList") == 1

    def test_compute_403_rate_limit_is_forbidden_and_not_retried(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.get", Fault.QUOTA_FORBIDDEN)
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(gexc.Forbidden) as caught:
            instances.get(project=PROJECT, zone=ZONE, instance="vm")

        assert caught.value.errors[0]["reason"] == "rateLimitExceeded"
        assert caught.value.errors[0]["domain"] == "usageLimits"
        assert fake.stats.count("compute.instances.get") == 1

    def test_a_permission_denial_is_a_403_forbidden_not_a_rate_limit(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.get", Fault.PERMISSION_DENIED)
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(gexc.Forbidden) as caught:
            instances.get(project=PROJECT, zone=ZONE, instance="vm")

        assert caught.value.errors[0]["reason"] == "forbidden"
        assert "Required 'compute.instances.get' permission" in caught.value.message
        assert fake.stats.count("compute.instances.get") == 1

    def test_an_unparseable_reply_is_a_200_whose_body_is_not_json(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.get", Fault.UNPARSEABLE)
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(json_format.ParseError, match="Failed to load JSON"):
            instances.get(project=PROJECT, zone=ZONE, instance="vm")

        assert instances.get(project=PROJECT, zone=ZONE, instance="vm").name == "vm"

    def test_a_deep_json_error_body_breaks_the_clients_error_parser(self, fake: FakeGcp) -> None:
        fake.fail_next("container.projects.locations.clusters.list", Fault.DEEP_JSON)

        with pytest.raises(RecursionError):
            gke(fake).list_clusters(parent=f"projects/{PROJECT}/locations/-", retry=None)

        assert fake.stats.count("container.projects.locations.clusters.list") == 1

    def test_a_mutation_is_not_retried_on_503(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.delete", Fault.UNAVAILABLE)
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(gexc.ServiceUnavailable):
            instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm")

        assert fake.stats.count("compute.instances.delete") == 1
        assert fake.instance(PROJECT, ZONE, "vm") is not None

    def test_gke_list_retries_a_503_and_surfaces_a_429(self, fake: FakeGcp) -> None:
        method = "container.projects.locations.clusters.list"
        fake.fail_next(method, Fault.UNAVAILABLE)
        listed = gke(fake).list_clusters(parent=f"projects/{PROJECT}/locations/-")
        fake.fail_next(method, Fault.RATE_LIMITED)

        with pytest.raises(gexc.TooManyRequests) as caught:
            gke(fake).list_clusters(parent=f"projects/{PROJECT}/locations/-")

        assert [c.name for c in listed.clusters] == ["gke"]
        assert "container.googleapis.com" in caught.value.message
        assert fake.stats.count(method) == 3

    def test_a_pattern_and_a_count_cover_several_calls(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.*", Fault.RATE_LIMITED, times=2)
        instances = client(compute_v1.InstancesClient, fake)

        for _ in range(2):
            with pytest.raises(gexc.TooManyRequests):
                instances.get(project=PROJECT, zone=ZONE, instance="vm")
        vm = instances.get(project=PROJECT, zone=ZONE, instance="vm")

        assert vm.name == "vm"

    def test_clear_faults_drops_pending_injections(self, fake: FakeGcp) -> None:
        fake.fail_next("compute.instances.get", Fault.RATE_LIMITED)
        fake.clear_faults()

        assert client(compute_v1.InstancesClient, fake).get(
            project=PROJECT, zone=ZONE, instance="vm"
        )

    def test_a_late_answer_is_dropped_after_its_effect_applies(self, fake: FakeGcp) -> None:
        fake.delay_next("compute.instances.setLabels", 0.5)
        instances = client(compute_v1.InstancesClient, fake)
        vm = instances.get(project=PROJECT, zone=ZONE, instance="vm")
        body = compute_v1.InstancesSetLabelsRequest(
            labels={"late": "yes"}, label_fingerprint=vm.label_fingerprint
        )

        with pytest.raises(requests.exceptions.ReadTimeout):
            instances.set_labels_unary(
                project=PROJECT,
                zone=ZONE,
                instance="vm",
                instances_set_labels_request_resource=body,
                retry=None,
                timeout=0.2,
            )

        time.sleep(1.0)  # the fake serves it 0.5 s after it came in
        fake.settle()
        assert instances.get(project=PROJECT, zone=ZONE, instance="vm").labels == {"late": "yes"}
        assert fake.stats.count("compute.instances.setLabels") == 1


class TestStrictRequests:
    def test_an_unknown_query_parameter_is_400(self, fake: FakeGcp) -> None:
        status, body = raw(
            fake, "GET", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/vm?bogus=1"
        )

        assert status == 400
        assert 'Unknown name "bogus"' in body["error"]["message"]

    def test_an_unknown_body_field_is_400(self, fake: FakeGcp) -> None:
        path = f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/vm/setLabels"

        status, body = raw(fake, "POST", path, {"labels": {}, "labelFingerprint": "x", "extra": 1})

        assert status == 400
        assert 'Unknown name "extra"' in body["error"]["message"]

    def test_an_unknown_project_is_404_in_compute(self, fake: FakeGcp) -> None:
        with pytest.raises(gexc.NotFound, match="The resource 'projects/nope' was not found"):
            client(compute_v1.InstancesClient, fake).get(project="nope", zone=ZONE, instance="vm")

    def test_an_unknown_zone_is_400(self, fake: FakeGcp) -> None:
        with pytest.raises(gexc.BadRequest, match="Unknown zone"):
            client(compute_v1.InstancesClient, fake).get(
                project=PROJECT, zone="mars-1a", instance="vm"
            )


class TestAccountingAndLatency:
    def test_counts_are_per_method_and_resettable(self, fake: FakeGcp) -> None:
        instances = client(compute_v1.InstancesClient, fake)
        instances.get(project=PROJECT, zone=ZONE, instance="vm")
        instances.get(project=PROJECT, zone=ZONE, instance="vm")
        gke(fake).get_cluster(name=f"projects/{PROJECT}/locations/{ZONE}/clusters/gke")

        counts = fake.stats.counts()
        fake.stats.reset()

        assert counts == {
            "compute.instances.get": 2,
            "container.projects.locations.clusters.get": 1,
        }
        assert fake.stats.total() == 0

    def test_latency_holds_only_the_methods_it_names(self, fake: FakeGcp) -> None:
        fake.set_latency(0.3, "compute.instances.get")
        instances = client(compute_v1.InstancesClient, fake)
        instances.get(project=PROJECT, zone=ZONE, instance="vm")

        started = time.monotonic()
        instances.get(project=PROJECT, zone=ZONE, instance="vm")
        slow = time.monotonic() - started
        started = time.monotonic()
        list(instances.aggregated_list(project=PROJECT))
        fast = time.monotonic() - started

        assert slow >= 0.3
        assert fast < 0.3


class TestTimeSettings:
    def test_operation_seconds_finishes_operations_without_polling(self) -> None:
        with FakeGcp(operation_seconds=0.0) as fake:
            fake.add_project(PROJECT)
            fake.add_instance(PROJECT, ZONE, "vm")
            instances = client(compute_v1.InstancesClient, fake)

            instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm")

            with pytest.raises(gexc.NotFound):
                instances.get(project=PROJECT, zone=ZONE, instance="vm")

    def test_zero_polls_answers_done_at_once(self) -> None:
        with FakeGcp(operation_polls=0) as fake:
            fake.add_project(PROJECT)
            fake.add_instance(PROJECT, ZONE, "vm")

            op = client(compute_v1.InstancesClient, fake).delete_unary(
                project=PROJECT, zone=ZONE, instance="vm"
            )

            assert op.status == compute_v1.Operation.Status.DONE
            assert fake.instance(PROJECT, ZONE, "vm") is None

    def test_settle_finishes_everything_but_held_operations(self, fake: FakeGcp) -> None:
        held = fake.start_cluster_operation(PROJECT, ZONE, "gke")
        op = client(compute_v1.InstancesClient, fake).delete_unary(
            project=PROJECT, zone=ZONE, instance="vm"
        )

        fake.settle()

        assert fake.operation(op.name)["status"] == "DONE"  # type: ignore[index]
        assert fake.operation(held)["status"] == "RUNNING"  # type: ignore[index]
        assert fake.instance(PROJECT, ZONE, "vm") is None


class TestConcurrency:
    def test_parallel_reads_and_deletes_stay_consistent(self, fake: FakeGcp) -> None:
        for i in range(40):
            fake.add_instance(PROJECT, ZONE, f"ci-{i:02d}")
        fake.stats.reset()

        def read(_: int) -> str:
            return (
                client(compute_v1.InstancesClient, fake)
                .get(project=PROJECT, zone=ZONE, instance="vm")
                .name
            )

        def delete(i: int) -> str:
            instances = client(compute_v1.InstancesClient, fake)
            operations = client(compute_v1.ZoneOperationsClient, fake)
            op = instances.delete_unary(project=PROJECT, zone=ZONE, instance=f"ci-{i:02d}")
            while op.status != compute_v1.Operation.Status.DONE:
                op = operations.wait(project=PROJECT, zone=ZONE, operation=op.name)
            return op.name

        with ThreadPoolExecutor(max_workers=16) as pool:
            reads = list(pool.map(read, range(200)))
            deleted = list(pool.map(delete, range(40)))

        assert reads == ["vm"] * 200
        assert len(set(deleted)) == 40
        assert [i["name"] for i in fake.instances(PROJECT)] == ["vm"]
        assert fake.stats.count("compute.instances.get") == 200
        assert fake.stats.count("compute.instances.delete") == 40
        assert fake.stats.count("compute.zoneOperations.wait") == 80
