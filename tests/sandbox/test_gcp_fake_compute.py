"""The Compute Engine half of the GCP fake, driven by the real google-cloud-compute client.

Every client is built the way reaper's provider will build it: anonymous credentials and
``client_options={"api_endpoint": "http://127.0.0.1:<port>"}``; the REST transport keeps
an ``http://`` scheme given in the endpoint. Nothing here patches the SDK.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from reaper.sandbox.gcp import FakeGcp

PROJECT = "ci-project"
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c", "europe-west1-b", "europe-west1-c")
DEBIAN = "projects/debian-cloud/global/images/debian-12-bookworm-v20240110"
DONE = compute_v1.Operation.Status.DONE
C = TypeVar("C")


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        server.add_project(PROJECT, zones=ZONES)
        yield server
        assert server.failures == []


def client(cls: type[C], fake: FakeGcp) -> C:
    return cls(credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint})


def raw_get(fake: FakeGcp, path: str) -> dict[str, Any]:
    """The fake's own wire JSON, to check what proto parsing would hide (omitted keys)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(fake.endpoint + path) as response:
        body: dict[str, Any] = json.load(response)
        return body


def wait_done(fake: FakeGcp, op: compute_v1.Operation, zone: str | None) -> compute_v1.Operation:
    """Poll with ``wait`` until DONE, as a provider must; bounded so a bug cannot hang."""
    if zone is None:
        ops: Any = client(compute_v1.GlobalOperationsClient, fake)
        poll = lambda: ops.wait(project=PROJECT, operation=op.name)  # noqa: E731
    else:
        ops = client(compute_v1.ZoneOperationsClient, fake)
        poll = lambda: ops.wait(project=PROJECT, zone=zone, operation=op.name)  # noqa: E731
    for _ in range(10):
        op = poll()
        if op.status == DONE:
            return op
    raise AssertionError(f"operation {op.name} never finished")


class TestAggregatedList:
    def test_1200_instances_over_3_zones_come_in_3_pages_of_at_most_500(
        self, fake: FakeGcp
    ) -> None:
        for zone in ZONES[:3]:
            for i in range(400):
                fake.add_instance(PROJECT, zone, f"ci-{zone[-1]}-{i:04d}")
        instances = client(compute_v1.InstancesClient, fake)
        request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, max_results=500)

        pages = list(instances.aggregated_list(request=request).pages)

        assert len(pages) == 3
        sizes = [sum(len(scoped.instances) for scoped in page.items.values()) for page in pages]
        assert sizes == [500, 500, 200]
        names = [
            i.name for page in pages for scoped in page.items.values() for i in scoped.instances
        ]
        assert len(names) == len(set(names)) == 1200
        first = pages[0]
        assert set(first.items) == {f"zones/{zone}" for zone in ZONES}
        empty = first.items["zones/europe-west1-b"].warning
        assert empty.code == "NO_RESULTS_ON_PAGE"
        assert (
            empty.message == "There are no results for scope 'zones/europe-west1-b' on this page."
        )
        assert [(d.key, d.value) for d in empty.data] == [("scope", "zones/europe-west1-b")]
        assert not pages[-1].next_page_token
        assert fake.stats.count("compute.instances.aggregatedList") == 3

    def test_the_wire_json_has_kind_id_selflink_and_scope_warnings(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm-1")

        body = raw_get(fake, f"/compute/v1/projects/{PROJECT}/aggregated/instances")

        assert body["kind"] == "compute#instanceAggregatedList"
        assert body["id"] == f"projects/{PROJECT}/aggregated/instances"
        assert body["selfLink"].endswith(f"/compute/v1/projects/{PROJECT}/aggregated/instances")
        assert body["items"]["zones/us-central1-a"]["instances"][0]["kind"] == "compute#instance"
        assert body["items"]["zones/us-central1-b"]["warning"]["code"] == "NO_RESULTS_ON_PAGE"
        assert "nextPageToken" not in body
        assert "unreachables" not in body

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            pytest.param("labels.reaper-pipeline:*", {"a", "b"}, id="key-present"),
            pytest.param('labels.env = "ci"', {"a", "c"}, id="aip-equals-quoted"),
            pytest.param("labels.env eq ci", {"a", "c"}, id="regex-eq"),
            pytest.param("labels.env ne ci", {"b", "d"}, id="regex-ne"),
            pytest.param("(labels.env = ci) (labels.reaper-pipeline:*)", {"a"}, id="and"),
            pytest.param("(labels.env = prod) OR (name = d)", {"b", "d"}, id="or"),
            pytest.param("status = TERMINATED", {"d"}, id="status"),
        ],
    )
    def test_label_filters(self, fake: FakeGcp, expression: str, expected: set[str]) -> None:
        fake.add_instance(
            PROJECT, "us-central1-a", "a", labels={"reaper-pipeline": "1", "env": "ci"}
        )
        fake.add_instance(
            PROJECT, "us-central1-b", "b", labels={"reaper-pipeline": "2", "env": "prod"}
        )
        fake.add_instance(PROJECT, "us-central1-a", "c", labels={"env": "ci"})
        fake.add_instance(PROJECT, "europe-west1-b", "d", status="TERMINATED")
        instances = client(compute_v1.InstancesClient, fake)
        request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, filter=expression)

        found = {
            i.name
            for _, scoped in instances.aggregated_list(request=request)
            for i in scoped.instances
        }

        assert found == expected
        assert fake.stats.filtered("compute.instances.aggregatedList") == 1

    def test_unfiltered_lists_are_not_counted_as_filtered(self, fake: FakeGcp) -> None:
        instances = client(compute_v1.InstancesClient, fake)

        list(instances.aggregated_list(project=PROJECT))

        assert fake.stats.count("compute.instances.aggregatedList") == 1
        assert fake.stats.filtered("compute.instances.aggregatedList") == 0

    def test_a_bad_filter_is_a_400(self, fake: FakeGcp) -> None:
        instances = client(compute_v1.InstancesClient, fake)
        request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, filter="labels.env")

        with pytest.raises(gexc.BadRequest, match="Invalid list filter expression"):
            list(instances.aggregated_list(request=request))

    def test_an_unreachable_zone_is_reported_not_silently_empty(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "seen")
        fake.add_instance(PROJECT, "us-central1-b", "hidden")
        fake.set_zone_unreachable(PROJECT, "us-central1-b")
        instances = client(compute_v1.InstancesClient, fake)

        page = next(iter(instances.aggregated_list(project=PROJECT).pages))

        assert list(page.unreachables) == ["zones/us-central1-b"]
        assert page.items["zones/us-central1-b"].warning.code == "UNREACHABLE"
        names = {i.name for scoped in page.items.values() for i in scoped.instances}
        assert names == {"seen"}

    def test_with_partial_success_the_unreachable_zone_has_no_key(self, fake: FakeGcp) -> None:
        fake.set_zone_unreachable(PROJECT, "us-central1-b")

        body = raw_get(
            fake, f"/compute/v1/projects/{PROJECT}/aggregated/instances?returnPartialSuccess=true"
        )

        assert body["unreachables"] == ["zones/us-central1-b"]
        assert "zones/us-central1-b" not in body["items"]

    def test_max_results_over_500_is_refused(self, fake: FakeGcp) -> None:
        instances = client(compute_v1.InstancesClient, fake)
        request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, max_results=501)

        with pytest.raises(gexc.BadRequest, match="maxResults"):
            list(instances.aggregated_list(request=request))

    def test_paging_survives_deletions_between_pages(self, fake: FakeGcp) -> None:
        for i in range(6):
            fake.add_instance(PROJECT, "us-central1-a", f"vm-{i}")
        instances = client(compute_v1.InstancesClient, fake)
        request = compute_v1.AggregatedListInstancesRequest(project=PROJECT, max_results=2)
        seen: list[str] = []

        for page in instances.aggregated_list(request=request).pages:
            batch = [i.name for scoped in page.items.values() for i in scoped.instances]
            seen.extend(batch)
            for name in batch:
                op = instances.delete_unary(project=PROJECT, zone="us-central1-a", instance=name)
                wait_done(fake, op, "us-central1-a")

        assert seen == [f"vm-{i}" for i in range(6)]


class TestZonalList:
    def test_list_is_by_name_or_newest_first(self, fake: FakeGcp) -> None:
        fake.add_instance(
            PROJECT, "us-central1-a", "a-old", created=datetime(2024, 1, 1, tzinfo=UTC)
        )
        fake.add_instance(
            PROJECT, "us-central1-a", "b-new", created=datetime(2024, 6, 1, tzinfo=UTC)
        )
        fake.add_instance(PROJECT, "us-central1-b", "elsewhere")
        instances = client(compute_v1.InstancesClient, fake)
        newest_first = compute_v1.ListInstancesRequest(
            project=PROJECT, zone="us-central1-a", order_by="creationTimestamp desc"
        )

        by_name = [i.name for i in instances.list(project=PROJECT, zone="us-central1-a")]
        by_age = [i.name for i in instances.list(request=newest_first)]

        assert by_name == ["a-old", "b-new"]
        assert by_age == ["b-new", "a-old"]
        assert fake.stats.count("compute.instances.list") == 2


class TestInstanceJson:
    def test_an_instance_reads_back_with_the_fields_a_provider_needs(self, fake: FakeGcp) -> None:
        fake.add_image("debian-cloud", "debian-12-bookworm-v20240110")
        fake.add_instance(
            PROJECT,
            "us-central1-a",
            "runner-1",
            created=datetime(2024, 1, 2, 11, 4, 5, 678000, tzinfo=UTC),
            labels={"reaper-pipeline": "gl-1"},
            external_ip="34.66.1.2",
            tags=["ssh"],
            metadata={"startup-script": "echo hi"},
            service_accounts=["ci@ci-project.iam.gserviceaccount.com"],
            boot_image=DEBIAN,
        )
        instances = client(compute_v1.InstancesClient, fake)

        vm = instances.get(project=PROJECT, zone="us-central1-a", instance="runner-1")

        assert vm.creation_timestamp == "2024-01-02T03:04:05.678-08:00"
        assert vm.status == "RUNNING"
        assert vm.zone.endswith(f"/projects/{PROJECT}/zones/us-central1-a")
        assert dict(vm.labels) == {"reaper-pipeline": "gl-1"}
        assert vm.label_fingerprint
        assert vm.network_interfaces[0].network.endswith("/global/networks/default")
        assert vm.network_interfaces[0].access_configs[0].nat_i_p == "34.66.1.2"
        assert list(vm.tags.items) == ["ssh"]
        assert [(m.key, m.value) for m in vm.metadata.items] == [("startup-script", "echo hi")]
        assert vm.service_accounts[0].email == "ci@ci-project.iam.gserviceaccount.com"
        boot = vm.disks[0]
        assert boot.boot
        assert boot.source.endswith("/zones/us-central1-a/disks/runner-1")
        disk = client(compute_v1.DisksClient, fake).get(
            project=PROJECT, zone="us-central1-a", disk="runner-1"
        )
        assert disk.source_image.endswith(DEBIAN)
        assert list(disk.users) == [vm.self_link]

    def test_an_unlabelled_instance_has_no_labels_key_but_a_fingerprint(
        self, fake: FakeGcp
    ) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "bare")

        body = raw_get(fake, f"/compute/v1/projects/{PROJECT}/zones/us-central1-a/instances/bare")

        assert "labels" not in body
        assert body["labelFingerprint"] == "42WmSpB8rSM="
        assert "accessConfigs" not in body["networkInterfaces"][0]

    def test_a_missing_instance_is_the_real_404(self, fake: FakeGcp) -> None:
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(gexc.NotFound) as caught:
            instances.get(project=PROJECT, zone="us-central1-a", instance="ghost")

        resource = f"projects/{PROJECT}/zones/us-central1-a/instances/ghost"
        assert f"The resource '{resource}' was not found" in caught.value.message
        assert caught.value.errors[0]["reason"] == "notFound"
        assert caught.value.errors[0]["domain"] == "global"


class TestDelete:
    def test_delete_unary_then_polling_the_zone_operation(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "doomed", boot_image=DEBIAN)
        instances = client(compute_v1.InstancesClient, fake)
        operations = client(compute_v1.ZoneOperationsClient, fake)

        op = instances.delete_unary(project=PROJECT, zone="us-central1-a", instance="doomed")

        assert op.status == compute_v1.Operation.Status.PENDING
        assert op.operation_type == "delete"
        assert op.target_link.endswith("/zones/us-central1-a/instances/doomed")
        assert fake.instance(PROJECT, "us-central1-a", "doomed")["status"] == "STOPPING"  # type: ignore[index]
        polled = operations.get(project=PROJECT, zone="us-central1-a", operation=op.name)
        assert polled.status == compute_v1.Operation.Status.RUNNING
        assert fake.instance(PROJECT, "us-central1-a", "doomed") is not None
        polled = operations.get(project=PROJECT, zone="us-central1-a", operation=op.name)
        assert polled.status == DONE
        assert polled.progress == 100
        assert fake.instance(PROJECT, "us-central1-a", "doomed") is None
        assert fake.disk(PROJECT, "us-central1-a", "doomed") is None
        with pytest.raises(gexc.NotFound):
            instances.get(project=PROJECT, zone="us-central1-a", instance="doomed")
        assert fake.stats.count("compute.zoneOperations.get") == 2

    def test_wait_returns_unfinished_operations_too(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "doomed")
        instances = client(compute_v1.InstancesClient, fake)
        operations = client(compute_v1.ZoneOperationsClient, fake)
        op = instances.delete_unary(project=PROJECT, zone="us-central1-a", instance="doomed")

        first = operations.wait(project=PROJECT, zone="us-central1-a", operation=op.name)
        second = operations.wait(project=PROJECT, zone="us-central1-a", operation=op.name)

        assert first.status == compute_v1.Operation.Status.RUNNING
        assert second.status == DONE
        assert fake.stats.count("compute.zoneOperations.wait") == 2

    def test_extended_operation_result_polls_the_default_endpoint_not_ours(
        self, fake: FakeGcp, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``InstancesClient.delete()`` returns an ExtendedOperation whose ``result()`` polls
        through a ZoneOperationsClient the transport builds without our client_options.

        To see where it goes without leaving the machine, HTTPS_PROXY points at a local
        listener that records the CONNECT line and refuses it.
        """
        seen: list[bytes] = []
        listener = socket.create_server(("127.0.0.1", 0))

        def record() -> None:
            conn, _ = listener.accept()
            with conn:
                seen.append(conn.recv(4096).split(b"\r\n")[0])
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

        thread = threading.Thread(target=record, daemon=True)
        thread.start()
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        fake.add_instance(PROJECT, "us-central1-a", "doomed")
        instances = client(compute_v1.InstancesClient, fake)

        extended = instances.delete(project=PROJECT, zone="us-central1-a", instance="doomed")
        with pytest.raises(Exception, match=r"compute\.googleapis\.com"):
            extended.result(timeout=5)

        thread.join(timeout=5)
        listener.close()
        assert seen == [b"CONNECT compute.googleapis.com:443 HTTP/1.0"]
        assert fake.stats.count("compute.instances.delete") == 1
        assert fake.stats.count("compute.zoneOperations.get") == 0
        assert extended.name.startswith("operation-")

    def test_a_repeated_request_id_returns_the_same_operation(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "doomed")
        instances = client(compute_v1.InstancesClient, fake)
        request = compute_v1.DeleteInstanceRequest(
            project=PROJECT,
            zone="us-central1-a",
            instance="doomed",
            request_id="5f2b4c8e-1d2a-4b3c-9e8f-0a1b2c3d4e5f",
        )

        first = instances.delete_unary(request=request)
        again = instances.delete_unary(request=request)

        assert again.name == first.name

    def test_a_second_delete_while_the_first_runs_is_not_ready(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "doomed")
        instances = client(compute_v1.InstancesClient, fake)
        instances.delete_unary(project=PROJECT, zone="us-central1-a", instance="doomed")

        with pytest.raises(gexc.BadRequest, match="is not ready") as caught:
            instances.delete_unary(project=PROJECT, zone="us-central1-a", instance="doomed")

        assert caught.value.errors[0]["reason"] == "resourceNotReady"

    def test_an_injected_failure_ends_the_operation_in_error(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "stuck")
        fake.fail_next_operation(
            "compute.instances.delete",
            "The disk resource is already being used by 'stuck-2'",
            code="RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        )
        instances = client(compute_v1.InstancesClient, fake)

        op = instances.delete_unary(project=PROJECT, zone="us-central1-a", instance="stuck")
        done = wait_done(fake, op, "us-central1-a")

        assert done.error.errors[0].code == "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE"
        assert "already being used" in done.error.errors[0].message
        assert done.http_error_status_code == 400
        assert done.http_error_message == "BAD REQUEST"
        assert fake.instance(PROJECT, "us-central1-a", "stuck")["status"] == "RUNNING"  # type: ignore[index]

    def test_deletion_protection_refuses_the_delete(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "pet", deletion_protection=True)
        instances = client(compute_v1.InstancesClient, fake)

        with pytest.raises(gexc.BadRequest, match="protected against deletion"):
            instances.delete_unary(project=PROJECT, zone="us-central1-a", instance="pet")

        assert fake.instance(PROJECT, "us-central1-a", "pet") is not None


class TestFingerprints:
    def test_set_labels_with_a_stale_fingerprint_is_412_and_a_reread_fixes_it(
        self, fake: FakeGcp
    ) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm", labels={"reaper-pipeline": "gl-1"})
        instances = client(compute_v1.InstancesClient, fake)
        stale = instances.get(
            project=PROJECT, zone="us-central1-a", instance="vm"
        ).label_fingerprint

        def set_labels(labels: dict[str, str], fingerprint: str) -> compute_v1.Operation:
            body = compute_v1.InstancesSetLabelsRequest(
                labels=labels, label_fingerprint=fingerprint
            )
            return instances.set_labels_unary(
                project=PROJECT,
                zone="us-central1-a",
                instance="vm",
                instances_set_labels_request_resource=body,
            )

        set_labels({"reaper-pipeline": "gl-1", "reaper-state": "marked"}, stale)
        with pytest.raises(gexc.PreconditionFailed) as caught:
            set_labels({"reaper-pipeline": "gl-1", "reaper-state": "quarantined"}, stale)
        fresh = instances.get(project=PROJECT, zone="us-central1-a", instance="vm")
        set_labels({**fresh.labels, "reaper-state": "quarantined"}, fresh.label_fingerprint)

        error = caught.value
        assert error.code == 412
        assert error.message.endswith(
            "Labels fingerprint either invalid or resource labels have changed"
        )
        assert error.errors[0] == {
            "message": "Labels fingerprint either invalid or resource labels have changed",
            "domain": "global",
            "reason": "conditionNotMet",
            "location": "If-Match",
            "locationType": "header",
        }
        final = instances.get(project=PROJECT, zone="us-central1-a", instance="vm")
        assert final.labels["reaper-state"] == "quarantined"
        assert len({stale, fresh.label_fingerprint, final.label_fingerprint}) == 3

    def test_writing_the_same_labels_still_moves_the_fingerprint(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm", labels={"a": "b"})
        instances = client(compute_v1.InstancesClient, fake)
        before = instances.get(
            project=PROJECT, zone="us-central1-a", instance="vm"
        ).label_fingerprint
        body = compute_v1.InstancesSetLabelsRequest(labels={"a": "b"}, label_fingerprint=before)

        instances.set_labels_unary(
            project=PROJECT,
            zone="us-central1-a",
            instance="vm",
            instances_set_labels_request_resource=body,
        )

        after = instances.get(
            project=PROJECT, zone="us-central1-a", instance="vm"
        ).label_fingerprint
        assert after != before

    @pytest.mark.parametrize(
        "labels",
        [
            pytest.param({"env": "CI"}, id="uppercase-value"),
            pytest.param({"1st": "x"}, id="key-starts-with-digit"),
            pytest.param({"env": "a" * 64}, id="value-too-long"),
            pytest.param({"env": "a.b"}, id="dot-in-value"),
            pytest.param({f"k{i}": "v" for i in range(65)}, id="65-labels"),
        ],
    )
    def test_invalid_labels_are_a_400(self, fake: FakeGcp, labels: dict[str, str]) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm")
        instances = client(compute_v1.InstancesClient, fake)
        fingerprint = instances.get(
            project=PROJECT, zone="us-central1-a", instance="vm"
        ).label_fingerprint
        body = compute_v1.InstancesSetLabelsRequest(labels=labels, label_fingerprint=fingerprint)

        with pytest.raises(gexc.BadRequest) as caught:
            instances.set_labels_unary(
                project=PROJECT,
                zone="us-central1-a",
                instance="vm",
                instances_set_labels_request_resource=body,
            )

        assert caught.value.errors[0]["reason"] == "invalid"

    def test_set_tags_checks_and_moves_its_fingerprint(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm", tags=["ssh"])
        instances = client(compute_v1.InstancesClient, fake)
        tags = instances.get(project=PROJECT, zone="us-central1-a", instance="vm").tags

        instances.set_tags_unary(
            project=PROJECT,
            zone="us-central1-a",
            instance="vm",
            tags_resource=compute_v1.Tags(
                items=["reaper-quarantine"], fingerprint=tags.fingerprint
            ),
        )
        with pytest.raises(gexc.PreconditionFailed):
            instances.set_tags_unary(
                project=PROJECT,
                zone="us-central1-a",
                instance="vm",
                tags_resource=compute_v1.Tags(items=["ssh"], fingerprint=tags.fingerprint),
            )

        after = instances.get(project=PROJECT, zone="us-central1-a", instance="vm").tags
        assert list(after.items) == ["reaper-quarantine"]
        assert after.fingerprint != tags.fingerprint

    def test_set_metadata_checks_and_moves_its_fingerprint(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm", metadata={"owner": "ci"})
        instances = client(compute_v1.InstancesClient, fake)
        metadata = instances.get(project=PROJECT, zone="us-central1-a", instance="vm").metadata
        wanted = compute_v1.Metadata(
            items=[
                compute_v1.Items(key="owner", value="ci"),
                compute_v1.Items(key="reaper", value="x"),
            ],
            fingerprint=metadata.fingerprint,
        )

        instances.set_metadata_unary(
            project=PROJECT, zone="us-central1-a", instance="vm", metadata_resource=wanted
        )
        with pytest.raises(gexc.PreconditionFailed, match="metadata fingerprint"):
            instances.set_metadata_unary(
                project=PROJECT, zone="us-central1-a", instance="vm", metadata_resource=wanted
            )

        after = instances.get(project=PROJECT, zone="us-central1-a", instance="vm").metadata
        assert [(i.key, i.value) for i in after.items] == [("owner", "ci"), ("reaper", "x")]
        assert after.fingerprint != metadata.fingerprint


class TestStopStart:
    def test_stop_goes_through_stopping_to_terminated(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm")
        instances = client(compute_v1.InstancesClient, fake)

        op = instances.stop_unary(project=PROJECT, zone="us-central1-a", instance="vm")
        during = instances.get(project=PROJECT, zone="us-central1-a", instance="vm").status
        wait_done(fake, op, "us-central1-a")
        after = instances.get(project=PROJECT, zone="us-central1-a", instance="vm")

        assert op.operation_type == "stop"
        assert during == "STOPPING"
        assert after.status == "TERMINATED"
        assert after.last_stop_timestamp

    def test_start_brings_a_stopped_instance_back(self, fake: FakeGcp) -> None:
        fake.add_instance(PROJECT, "us-central1-a", "vm", status="TERMINATED")
        instances = client(compute_v1.InstancesClient, fake)

        op = instances.start_unary(project=PROJECT, zone="us-central1-a", instance="vm")
        during = instances.get(project=PROJECT, zone="us-central1-a", instance="vm").status
        wait_done(fake, op, "us-central1-a")

        assert during == "STAGING"
        assert (
            instances.get(project=PROJECT, zone="us-central1-a", instance="vm").status == "RUNNING"
        )


class TestImages:
    def test_images_in_other_projects_carry_their_deprecation(self, fake: FakeGcp) -> None:
        fake.add_image(
            "debian-cloud",
            "debian-11-bullseye-v20230101",
            created=datetime(2023, 1, 1, tzinfo=UTC),
            deprecated="DEPRECATED",
            replacement="projects/debian-cloud/global/images/debian-12-bookworm-v20240110",
        )
        fake.add_image("debian-cloud", "debian-12-bookworm-v20240110", family="debian-12")
        images = client(compute_v1.ImagesClient, fake)

        old = images.get(project="debian-cloud", image="debian-11-bullseye-v20230101")
        current = images.get(project="debian-cloud", image="debian-12-bookworm-v20240110")

        assert old.deprecated.state == "DEPRECATED"
        assert old.deprecated.replacement.endswith(DEBIAN)
        assert old.creation_timestamp == "2022-12-31T16:00:00.000-08:00"
        assert not current.deprecated.state
        assert current.family == "debian-12"

    def test_a_deleted_image_is_404(self, fake: FakeGcp) -> None:
        fake.add_image("ci-images", "golden-v1", deprecated="DELETED")
        fake.add_image("ci-images", "golden-v0")
        fake.remove_image("ci-images", "golden-v0")
        images = client(compute_v1.ImagesClient, fake)

        assert images.get(project="ci-images", image="golden-v1").deprecated.state == "DELETED"
        with pytest.raises(gexc.NotFound, match="projects/ci-images/global/images/golden-v0"):
            images.get(project="ci-images", image="golden-v0")


class TestDisks:
    def test_aggregated_list_pages_every_zones_disks_with_their_source_image(
        self, fake: FakeGcp
    ) -> None:
        fake.add_image("debian-cloud", "debian-12-bookworm-v20240110")
        for i in range(3):
            fake.add_instance(PROJECT, "us-central1-a", f"vm-a{i}", boot_image=DEBIAN)
        fake.add_instance(PROJECT, "europe-west1-b", "vm-b", boot_image=DEBIAN)
        fake.add_disk(PROJECT, "europe-west1-b", "scratch")
        disks = client(compute_v1.DisksClient, fake)
        request = compute_v1.AggregatedListDisksRequest(project=PROJECT, max_results=2)

        pages = list(disks.aggregated_list(request=request).pages)

        assert len(pages) == 3
        found = {
            d.name: d.source_image for page in pages for s in page.items.values() for d in s.disks
        }
        assert set(found) == {"vm-a0", "vm-a1", "vm-a2", "vm-b", "scratch"}
        assert found["vm-b"].endswith(DEBIAN)
        assert found["scratch"] == ""
        empty = pages[0].items["zones/europe-west1-b"].warning
        assert empty.code == "NO_RESULTS_ON_PAGE"
        assert fake.stats.count("compute.disks.aggregatedList") == 3

    def test_zonal_list_pages_and_filters(self, fake: FakeGcp) -> None:
        for i in range(3):
            fake.add_disk(PROJECT, "us-central1-a", f"d{i}", labels={"n": str(i)})
        fake.add_disk(PROJECT, "us-central1-b", "elsewhere")
        disks = client(compute_v1.DisksClient, fake)

        listed = [d.name for d in disks.list(project=PROJECT, zone="us-central1-a")]
        filtered = disks.list(
            request=compute_v1.ListDisksRequest(
                project=PROJECT, zone="us-central1-a", filter="labels.n = 1"
            )
        )

        assert listed == ["d0", "d1", "d2"]
        assert [d.name for d in filtered] == ["d1"]
        assert fake.stats.filtered("compute.disks.list") == 1

    def test_an_unreachable_zone_is_left_out_and_reported(self, fake: FakeGcp) -> None:
        fake.add_disk(PROJECT, "us-central1-a", "seen")
        fake.add_disk(PROJECT, "us-central1-b", "hidden")
        fake.set_zone_unreachable(PROJECT, "us-central1-b")

        body = raw_get(fake, f"/compute/v1/projects/{PROJECT}/aggregated/disks")

        assert body["unreachables"] == ["zones/us-central1-b"]
        assert "zones/us-central1-b" not in body["items"]
        assert [d["name"] for d in body["items"]["zones/us-central1-a"]["disks"]] == ["seen"]


class TestFirewalls:
    def test_insert_takes_effect_when_its_global_operation_is_done(self, fake: FakeGcp) -> None:
        firewalls = client(compute_v1.FirewallsClient, fake)
        rule = compute_v1.Firewall(
            name="ci-allow-ssh",
            network=f"projects/{PROJECT}/global/networks/default",
            allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])],
            target_tags=["ci-runner"],
        )

        op = firewalls.insert_unary(project=PROJECT, firewall_resource=rule)
        with pytest.raises(gexc.NotFound):
            firewalls.get(project=PROJECT, firewall="ci-allow-ssh")
        done = wait_done(fake, op, None)
        created = firewalls.get(project=PROJECT, firewall="ci-allow-ssh")

        assert done.operation_type == "insert"
        assert not done.zone
        assert created.network.endswith(f"/projects/{PROJECT}/global/networks/default")
        assert created.priority == 1000
        assert created.direction == "INGRESS"
        assert list(created.source_ranges) == ["0.0.0.0/0"]
        assert created.allowed[0].I_p_protocol == "tcp"
        assert list(created.allowed[0].ports) == ["22"]
        assert list(created.target_tags) == ["ci-runner"]
        assert fake.stats.count("compute.globalOperations.wait") >= 1

    def test_a_duplicate_insert_is_409(self, fake: FakeGcp) -> None:
        fake.add_firewall(PROJECT, "ci-allow-ssh")
        firewalls = client(compute_v1.FirewallsClient, fake)
        rule = compute_v1.Firewall(
            name="ci-allow-ssh", allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])]
        )

        with pytest.raises(gexc.Conflict, match="already exists"):
            firewalls.insert_unary(project=PROJECT, firewall_resource=rule)

    def test_a_rule_with_neither_allowed_nor_denied_is_400(self, fake: FakeGcp) -> None:
        firewalls = client(compute_v1.FirewallsClient, fake)

        with pytest.raises(gexc.BadRequest):
            firewalls.insert_unary(
                project=PROJECT, firewall_resource=compute_v1.Firewall(name="empty")
            )

    @pytest.mark.parametrize(
        ("sources", "destinations", "field"),
        [
            pytest.param(["0.0.0.0/0", "::/0"], [], "sourceRanges[1]", id="ipv4-then-ipv6"),
            pytest.param(["2001:db8::/32", "10.0.0.0/8"], [], "sourceRanges[1]", id="v6-then-v4"),
            pytest.param(["10.0.0.0/8"], ["::/0"], "destinationRanges[0]", id="across-fields"),
        ],
    )
    def test_a_rule_mixing_ipv4_and_ipv6_ranges_is_400(
        self, fake: FakeGcp, sources: list[str], destinations: list[str], field: str
    ) -> None:
        firewalls = client(compute_v1.FirewallsClient, fake)
        rule = compute_v1.Firewall(
            name="dual-stack",
            denied=[compute_v1.Denied(I_p_protocol="all")],
            source_ranges=sources,
            destination_ranges=destinations,
        )

        with pytest.raises(gexc.BadRequest) as refused:
            firewalls.insert_unary(project=PROJECT, firewall_resource=rule)

        assert f"Invalid value for field 'resource.{field}'" in refused.value.message
        assert "cannot be mixed" in refused.value.message
        assert [e["reason"] for e in refused.value.errors] == ["invalid"]
        assert fake.firewall(PROJECT, "dual-stack") is None

    @pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"], ids=["ipv4", "ipv6"])
    def test_a_rule_of_one_family_is_made(self, fake: FakeGcp, world: str) -> None:
        firewalls = client(compute_v1.FirewallsClient, fake)
        rule = compute_v1.Firewall(
            name="deny-out",
            direction="EGRESS",
            denied=[compute_v1.Denied(I_p_protocol="all")],
            destination_ranges=[world],
        )

        wait_done(fake, firewalls.insert_unary(project=PROJECT, firewall_resource=rule), None)

        made = firewalls.get(project=PROJECT, firewall="deny-out")
        assert list(made.destination_ranges) == [world]

    def test_seeding_a_rule_that_mixes_families_is_refused(self, fake: FakeGcp) -> None:
        with pytest.raises(ValueError, match="never both"):
            fake.add_firewall(PROJECT, "dual-stack", source_ranges=["0.0.0.0/0", "::/0"])

    def test_list_pages_and_filters_on_network(self, fake: FakeGcp) -> None:
        fake.add_network(PROJECT, "ci-net")
        for i in range(5):
            fake.add_firewall(PROJECT, f"ci-net-rule-{i}", network="ci-net")
        fake.add_firewall(PROJECT, "default-allow-ssh")
        firewalls = client(compute_v1.FirewallsClient, fake)
        network = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/networks/ci-net"
        request = compute_v1.ListFirewallsRequest(
            project=PROJECT, filter=f'network = "{network}"', max_results=2
        )

        pager = firewalls.list(request=request)
        names = [rule.name for rule in pager]

        assert names == [f"ci-net-rule-{i}" for i in range(5)]
        assert fake.stats.count("compute.firewalls.list") == 3
        assert fake.stats.filtered("compute.firewalls.list") == 3

    def test_delete_removes_the_rule_when_done(self, fake: FakeGcp) -> None:
        fake.add_firewall(PROJECT, "leftover", source_ranges=["10.0.0.0/8"])
        firewalls = client(compute_v1.FirewallsClient, fake)

        op = firewalls.delete_unary(project=PROJECT, firewall="leftover")
        assert fake.firewall(PROJECT, "leftover") is not None
        wait_done(fake, op, None)

        assert fake.firewall(PROJECT, "leftover") is None

    def test_networks_get_and_list(self, fake: FakeGcp) -> None:
        networks = client(compute_v1.NetworksClient, fake)

        default = networks.get(project=PROJECT, network="default")
        listed = [n.name for n in networks.list(project=PROJECT)]

        assert default.auto_create_subnetworks is True
        assert listed == ["default"]
