"""The GKE half of the GCP fake, driven by the real google-cloud-container REST client.

``ClusterManagerClient(transport="rest")`` with anonymous credentials and
``client_options={"api_endpoint": "http://127.0.0.1:<port>"}``: the default transport is
gRPC, which the fake (HTTP/JSON only) does not speak.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1

from reaper.sandbox.gcp import FakeGcp, NodePoolSpec

PROJECT = "ci-project"
REGION = "us-central1"
ZONE = "europe-west1-b"
CLUSTER = f"projects/{PROJECT}/locations/{REGION}/clusters/ci-gke"
DONE = container_v1.Operation.Status.DONE


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        server.add_project(PROJECT)
        server.add_cluster(
            PROJECT,
            REGION,
            "ci-gke",
            created=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            labels={"reaper-pipeline": "gl-7"},
            endpoint="34.70.1.2",
            node_pools=[
                NodePoolSpec("default-pool", 2),
                NodePoolSpec("spot", 1, autoscaling=(0, 5)),
            ],
        )
        server.add_cluster(
            PROJECT, ZONE, "zonal", private_nodes=True, authorized_networks=["10.0.0.0/8"]
        )
        yield server
        assert server.failures == []


@pytest.fixture
def gke(fake: FakeGcp) -> container_v1.ClusterManagerClient:
    return container_v1.ClusterManagerClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )


def raw_get(fake: FakeGcp, path: str) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(fake.endpoint + path) as response:
        body: dict[str, Any] = json.load(response)
        return body


def finish(
    gke: container_v1.ClusterManagerClient, op: container_v1.Operation
) -> container_v1.Operation:
    name = f"projects/{PROJECT}/locations/{op.location}/operations/{op.name}"
    for _ in range(10):
        op = gke.get_operation(name=name)
        if op.status == DONE:
            return op
    raise AssertionError(f"operation {op.name} never finished")


class TestList:
    def test_dash_lists_every_location(self, gke: container_v1.ClusterManagerClient) -> None:
        listed = gke.list_clusters(parent=f"projects/{PROJECT}/locations/-")

        assert sorted((c.name, c.location) for c in listed.clusters) == [
            ("ci-gke", REGION),
            ("zonal", ZONE),
        ]
        assert list(listed.missing_zones) == []

    def test_a_missing_location_is_reported(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        fake.set_location_missing(PROJECT, ZONE)

        listed = gke.list_clusters(parent=f"projects/{PROJECT}/locations/-")

        assert [c.name for c in listed.clusters] == ["ci-gke"]
        assert list(listed.missing_zones) == [ZONE]

    def test_one_location_and_the_legacy_zones_path(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        by_location = gke.list_clusters(parent=f"projects/{PROJECT}/locations/{REGION}")
        by_zone = gke.list_clusters(project_id=PROJECT, zone=ZONE)

        assert [c.name for c in by_location.clusters] == ["ci-gke"]
        assert [c.name for c in by_zone.clusters] == ["zonal"]

    def test_an_unknown_location_is_400(self, gke: container_v1.ClusterManagerClient) -> None:
        with pytest.raises(gexc.BadRequest, match='Location "mars-north1" does not exist'):
            gke.list_clusters(parent=f"projects/{PROJECT}/locations/mars-north1")


class TestClusterJson:
    def test_a_cluster_reads_back_with_the_fields_a_provider_needs(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        cluster = gke.get_cluster(name=CLUSTER)

        assert cluster.status == container_v1.Cluster.Status.RUNNING
        assert cluster.create_time == "2024-01-02T03:04:05+00:00"
        assert dict(cluster.resource_labels) == {"reaper-pipeline": "gl-7"}
        assert len(cluster.label_fingerprint) == 8
        assert cluster.current_master_version == "1.29.4-gke.1043002"
        assert cluster.endpoint == "34.70.1.2"
        assert cluster.location == REGION
        assert list(cluster.locations) == ["us-central1-a", "us-central1-b", "us-central1-c"]
        assert cluster.current_node_count == (2 + 1) * 3
        pool = cluster.node_pools[1]
        assert (pool.name, pool.initial_node_count) == ("spot", 1)
        assert pool.autoscaling.enabled
        assert pool.autoscaling.max_node_count == 5
        assert pool.self_link.endswith(f"{CLUSTER}/nodePools/spot")
        assert len(pool.instance_group_urls) == 3
        assert not cluster.master_authorized_networks_config.enabled

    def test_private_cluster_with_authorized_networks(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        cluster = gke.get_cluster(name=f"projects/{PROJECT}/locations/{ZONE}/clusters/zonal")

        assert cluster.private_cluster_config.enable_private_nodes
        assert cluster.private_cluster_config.public_endpoint == cluster.endpoint
        config = cluster.master_authorized_networks_config
        assert config.enabled
        assert [b.cidr_block for b in config.cidr_blocks] == ["10.0.0.0/8"]

    def test_the_wire_json_is_proto3_and_omits_defaults(self, fake: FakeGcp) -> None:
        fake.add_cluster(PROJECT, ZONE, "empty", node_pools=[NodePoolSpec("idle", 0)])

        body = raw_get(fake, f"/v1/projects/{PROJECT}/locations/{ZONE}/clusters/empty")

        pool = body["nodePools"][0]
        assert "initialNodeCount" not in pool
        assert "nodeCount" not in pool
        assert pool["autoscaling"] == {}
        assert "currentNodeCount" not in body
        assert "resourceLabels" not in body
        assert body["labelFingerprint"] == "a9dc16a7"
        assert body["masterAuthorizedNetworksConfig"] == {}
        assert "privateClusterConfig" not in body

    def test_a_missing_cluster_is_404(self, gke: container_v1.ClusterManagerClient) -> None:
        with pytest.raises(
            gexc.NotFound, match=f"Not found: projects/{PROJECT}/locations/{REGION}/clusters/nope"
        ):
            gke.get_cluster(name=f"projects/{PROJECT}/locations/{REGION}/clusters/nope")


class TestDelete:
    def test_delete_stops_the_cluster_then_it_disappears(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        op = gke.delete_cluster(name=CLUSTER)

        assert op.operation_type == container_v1.Operation.Type.DELETE_CLUSTER
        assert op.status == container_v1.Operation.Status.RUNNING
        assert op.target_link.endswith(f"/locations/{REGION}/clusters/ci-gke")
        assert gke.get_cluster(name=CLUSTER).status == container_v1.Cluster.Status.STOPPING
        done = finish(gke, op)
        assert done.end_time
        with pytest.raises(gexc.NotFound):
            gke.get_cluster(name=CLUSTER)
        assert fake.cluster(PROJECT, REGION, "ci-gke") is None
        assert fake.stats.count("container.projects.locations.clusters.delete") == 1

    def test_operations_list_and_get(self, gke: container_v1.ClusterManagerClient) -> None:
        op = gke.delete_cluster(name=CLUSTER)

        listed = gke.list_operations(parent=f"projects/{PROJECT}/locations/-")
        got = gke.get_operation(name=f"projects/{PROJECT}/locations/{REGION}/operations/{op.name}")

        assert [o.name for o in listed.operations] == [op.name]
        assert got.name == op.name

    def test_an_injected_failure_leaves_the_cluster_in_error(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        fake.fail_next_operation(
            "container.projects.locations.clusters.delete", "Deleting firewall failed"
        )

        done = finish(gke, gke.delete_cluster(name=CLUSTER))

        assert done.error.message == "Deleting firewall failed"
        assert done.status_message == "Deleting firewall failed"
        assert gke.get_cluster(name=CLUSTER).status == container_v1.Cluster.Status.ERROR


def set_labels(
    gke: container_v1.ClusterManagerClient, labels: dict[str, str], fingerprint: str
) -> container_v1.Operation:
    request = container_v1.SetLabelsRequest(
        name=CLUSTER, resource_labels=labels, label_fingerprint=fingerprint
    )
    return gke.set_labels(request=request)


class TestLabels:
    def test_a_stale_fingerprint_is_failed_precondition(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        stale = gke.get_cluster(name=CLUSTER).label_fingerprint
        set_labels(gke, {"reaper-state": "marked"}, stale)

        with pytest.raises(gexc.BadRequest) as caught:
            set_labels(gke, {"reaper-state": "x"}, stale)

        fresh = gke.get_cluster(name=CLUSTER)
        assert caught.value.code == 400
        assert "Labels could not be set due to fingerprint mismatch" in caught.value.message
        assert f'incorrect fingerprint supplied was "{stale}"' in caught.value.message
        assert f'the expected one is "{fresh.label_fingerprint}"' in caught.value.message
        assert caught.value.errors[0]["reason"] == "failedPrecondition"
        assert dict(fresh.resource_labels) == {"reaper-state": "marked"}

    def test_the_error_body_carries_the_status(self, fake: FakeGcp) -> None:
        request = urllib.request.Request(
            f"{fake.endpoint}/v1/{CLUSTER}:setResourceLabels",
            data=json.dumps(
                {"resourceLabels": {"a": "b"}, "labelFingerprint": "00000000"}
            ).encode(),
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(request)

        body = json.load(caught.value)
        assert caught.value.code == 400
        assert body["error"]["code"] == 400
        assert body["error"]["status"] == "FAILED_PRECONDITION"

    def test_invalid_labels_are_400(self, gke: container_v1.ClusterManagerClient) -> None:
        fingerprint = gke.get_cluster(name=CLUSTER).label_fingerprint

        with pytest.raises(gexc.BadRequest, match="violates format constraints"):
            set_labels(gke, {"Env": "x"}, fingerprint)


def resize(gke: container_v1.ClusterManagerClient, pool: str, count: int) -> container_v1.Operation:
    return gke.set_node_pool_size(
        request=container_v1.SetNodePoolSizeRequest(name=pool, node_count=count)
    )


def autoscale(
    gke: container_v1.ClusterManagerClient, pool: str, autoscaling: container_v1.NodePoolAutoscaling
) -> container_v1.Operation:
    request = container_v1.SetNodePoolAutoscalingRequest(name=pool, autoscaling=autoscaling)
    return gke.set_node_pool_autoscaling(request=request)


class TestNodePools:
    def test_set_size_to_zero_resizes_the_groups_not_the_initial_count(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        pool_name = f"{CLUSTER}/nodePools/default-pool"

        op = resize(gke, pool_name, 0)
        during = gke.get_node_pool(name=pool_name).status
        finish(gke, op)

        pool = gke.get_node_pool(name=pool_name)
        assert op.operation_type == container_v1.Operation.Type.SET_NODE_POOL_SIZE
        assert during == container_v1.NodePool.Status.RECONCILING
        assert pool.status == container_v1.NodePool.Status.RUNNING
        assert pool.initial_node_count == 2
        assert fake.node_count(PROJECT, REGION, "ci-gke", "default-pool") == 0
        groups = compute_v1.InstanceGroupManagersClient(
            credentials=AnonymousCredentials(), client_options={"api_endpoint": fake.endpoint}
        )
        for url in pool.instance_group_urls:
            *_, zone, _kind, name = url.split("/")
            assert (
                groups.get(project=PROJECT, zone=zone, instance_group_manager=name).target_size == 0
            )
        assert gke.get_cluster(name=CLUSTER).current_node_count == 1 * 3

    def test_set_size_to_zero_sends_no_node_count_and_the_fake_reads_it_as_zero(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        fake.add_cluster(PROJECT, ZONE, "solo", node_pools=[NodePoolSpec("np", 1)])
        name = f"projects/{PROJECT}/locations/{ZONE}/clusters/solo"

        finish(gke, resize(gke, f"{name}/nodePools/np", 0))

        body = raw_get(fake, f"/v1/{name}")
        assert "currentNodeCount" not in body
        assert body["nodePools"][0]["initialNodeCount"] == 1
        assert fake.node_count(PROJECT, ZONE, "solo", "np") == 0

    def test_autoscaling_off_is_an_empty_message(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        pool_name = f"{CLUSTER}/nodePools/spot"

        op = autoscale(gke, pool_name, container_v1.NodePoolAutoscaling(enabled=False))
        finish(gke, op)

        assert not gke.get_node_pool(name=pool_name).autoscaling.enabled
        body = raw_get(fake, f"/v1/{pool_name}")
        assert body["autoscaling"] == {}

    def test_total_limits_and_the_location_policy_read_back_as_sent(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        pool_name = f"{CLUSTER}/nodePools/spot"
        wanted = container_v1.NodePoolAutoscaling(
            enabled=True, total_min_node_count=2, total_max_node_count=9, location_policy="ANY"
        )

        finish(gke, autoscale(gke, pool_name, wanted))

        assert gke.get_node_pool(name=pool_name).autoscaling == wanted
        body = raw_get(fake, f"/v1/{pool_name}")
        assert body["autoscaling"] == {
            "enabled": True,
            "totalMinNodeCount": 2,
            "totalMaxNodeCount": 9,
            "locationPolicy": "ANY",
        }

    def test_per_zone_and_total_limits_together_are_400(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        both = container_v1.NodePoolAutoscaling(
            enabled=True, min_node_count=1, max_node_count=3, total_max_node_count=9
        )

        with pytest.raises(gexc.BadRequest, match="mutually exclusive"):
            autoscale(gke, f"{CLUSTER}/nodePools/spot", both)

    def test_autoscaling_with_max_below_min_is_400(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        bad = container_v1.NodePoolAutoscaling(enabled=True, min_node_count=3, max_node_count=1)

        with pytest.raises(gexc.BadRequest):
            autoscale(gke, f"{CLUSTER}/nodePools/spot", bad)


class TestMasterAuthorizedNetworks:
    def test_enabling_with_no_blocks_locks_the_endpoint(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        update = container_v1.ClusterUpdate(
            desired_master_authorized_networks_config=container_v1.MasterAuthorizedNetworksConfig(
                enabled=True, cidr_blocks=[]
            )
        )

        op = gke.update_cluster(name=CLUSTER, update=update)
        during = gke.get_cluster(name=CLUSTER).status
        finish(gke, op)

        config = gke.get_cluster(name=CLUSTER).master_authorized_networks_config
        assert op.operation_type == container_v1.Operation.Type.UPDATE_CLUSTER
        assert during == container_v1.Cluster.Status.RECONCILING
        assert config.enabled
        assert list(config.cidr_blocks) == []
        assert gke.get_cluster(name=CLUSTER).status == container_v1.Cluster.Status.RUNNING

    def test_blocks_keep_their_names_and_gcp_public_cidrs_is_kept_when_not_sent(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        Config = container_v1.MasterAuthorizedNetworksConfig
        blocks = [Config.CidrBlock(cidr_block="10.0.0.0/8", display_name="corp vpn")]
        opened = Config(enabled=True, cidr_blocks=blocks, gcp_public_cidrs_access_enabled=True)
        update = container_v1.ClusterUpdate(desired_master_authorized_networks_config=opened)
        finish(gke, gke.update_cluster(name=CLUSTER, update=update))
        unsent = container_v1.ClusterUpdate(
            desired_master_authorized_networks_config=Config(enabled=True, cidr_blocks=blocks)
        )

        finish(gke, gke.update_cluster(name=CLUSTER, update=unsent))

        config = gke.get_cluster(name=CLUSTER).master_authorized_networks_config
        assert config == opened

    def test_an_unsupported_update_field_is_refused(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        update = container_v1.ClusterUpdate(desired_master_version="1.30.1-gke.1")

        with pytest.raises(gexc.GoogleAPICallError) as caught:
            gke.update_cluster(name=CLUSTER, update=update)

        assert caught.value.code == 501


class TestRunningOperation:
    def test_mutations_are_refused_while_an_upgrade_runs(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        upgrade = fake.start_cluster_operation(
            PROJECT, REGION, "ci-gke", target_version="1.30.1-gke.1"
        )
        expected = (
            f"Operation {upgrade} is currently upgrading cluster ci-gke. "
            "Please wait and try again once it is done."
        )

        with pytest.raises(gexc.BadRequest) as refused:
            resize(gke, f"{CLUSTER}/nodePools/default-pool", 0)
        with pytest.raises(gexc.BadRequest, match=expected):
            gke.delete_cluster(name=CLUSTER)
        listed = gke.list_operations(parent=f"projects/{PROJECT}/locations/{REGION}")
        status = gke.get_cluster(name=CLUSTER).status
        fake.finish_operation(upgrade)
        finish(gke, gke.delete_cluster(name=CLUSTER))

        assert refused.value.message.endswith(expected)
        assert refused.value.errors[0]["reason"] == "failedPrecondition"
        assert [(o.name, o.status, o.operation_type) for o in listed.operations] == [
            (
                upgrade,
                container_v1.Operation.Status.RUNNING,
                container_v1.Operation.Type.UPGRADE_MASTER,
            )
        ]
        assert status == container_v1.Cluster.Status.RECONCILING
        assert fake.cluster(PROJECT, REGION, "ci-gke") is None

    def test_a_node_pool_operation_blocks_only_that_pool(
        self, fake: FakeGcp, gke: container_v1.ClusterManagerClient
    ) -> None:
        fake.start_cluster_operation(
            PROJECT, REGION, "ci-gke", "DELETE_NODE_POOL", node_pool="spot"
        )

        resize(gke, f"{CLUSTER}/nodePools/default-pool", 1)
        with pytest.raises(
            gexc.BadRequest, match="is currently deleting a node pool for cluster ci-gke"
        ):
            resize(gke, f"{CLUSTER}/nodePools/spot", 0)
        with pytest.raises(gexc.BadRequest, match="deleting a node pool"):
            gke.delete_cluster(name=CLUSTER)

    def test_a_concurrent_resize_of_the_same_pool_is_refused(
        self, gke: container_v1.ClusterManagerClient
    ) -> None:
        pool = f"{CLUSTER}/nodePools/default-pool"
        first = resize(gke, pool, 1)

        with pytest.raises(gexc.BadRequest, match=f"Operation {first.name} is currently"):
            resize(gke, pool, 0)
