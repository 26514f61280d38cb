"""MotoServer: a real moto HTTP server in a child process, aged through /_reaper/ endpoints."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from reaper.sandbox.moto_server import MotoControlError, MotoServer

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
MOTO_AMI = "ami-12c6146b"  # one of moto's default (amazon-owned) AMIs


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as srv:
        yield srv


@pytest.fixture
def ec2(server: MotoServer) -> Any:
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _three_days_ago() -> datetime:
    # EC2 reports timestamps to the whole second.
    return (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)


def _run_instance(ec2: Any) -> str:
    reservation = ec2.run_instances(ImageId=MOTO_AMI, MinCount=1, MaxCount=1)
    instance_id: str = reservation["Instances"][0]["InstanceId"]
    return instance_id


def _launch_time(ec2: Any, instance_id: str) -> datetime:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    launch_time: datetime = reservations[0]["Instances"][0]["LaunchTime"]
    return launch_time


def test_health_endpoint_answers_ok(server: MotoServer) -> None:
    assert server.endpoint_url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{server.endpoint_url}/_reaper/health", timeout=5) as resp:
        assert resp.status == 200
        assert resp.read() == b"ok"


def test_default_ami_is_available(ec2: Any) -> None:
    images = ec2.describe_images(Owners=["amazon"], ImageIds=[MOTO_AMI])["Images"]
    assert [image["ImageId"] for image in images] == [MOTO_AMI]


def test_age_instance_sets_exact_launch_time(server: MotoServer, ec2: Any) -> None:
    instance_id = _run_instance(ec2)
    when = _three_days_ago()

    assert server.age_instances(ACCOUNT, REGION, {instance_id: when}) == 1

    assert _launch_time(ec2, instance_id) == when


def test_age_instance_accepts_naive_utc_and_other_offsets(server: MotoServer, ec2: Any) -> None:
    first, second = _run_instance(ec2), _run_instance(ec2)
    when = _three_days_ago()
    plus_two = when.astimezone(timezone(timedelta(hours=2)))

    server.age_instances(ACCOUNT, REGION, {first: when.replace(tzinfo=None), second: plus_two})

    assert _launch_time(ec2, first) == when
    assert _launch_time(ec2, second) == when


def test_age_image_sets_creation_date_and_deprecation_time(server: MotoServer, ec2: Any) -> None:
    instance_id = _run_instance(ec2)
    image_id = ec2.create_image(InstanceId=instance_id, Name="reaper-test-image")["ImageId"]
    created = _three_days_ago() - timedelta(days=30)
    deprecated = created + timedelta(days=7)

    updated = server.age_images(ACCOUNT, REGION, {image_id: created}, {image_id: deprecated})

    assert updated == 1
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["CreationDate"] == created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert image["DeprecationTime"] == deprecated.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_unknown_instance_id_is_404_and_changes_nothing(server: MotoServer, ec2: Any) -> None:
    instance_id = _run_instance(ec2)
    before = _launch_time(ec2, instance_id)

    with pytest.raises(MotoControlError) as excinfo:
        server.age_instances(
            ACCOUNT, REGION, {instance_id: _three_days_ago(), "i-0000000000000dead": before}
        )

    assert excinfo.value.status == 404
    assert excinfo.value.payload["missing"] == ["i-0000000000000dead"]
    assert _launch_time(ec2, instance_id) == before


def test_unknown_image_id_is_404(server: MotoServer) -> None:
    with pytest.raises(MotoControlError) as excinfo:
        server.age_images(ACCOUNT, REGION, {"ami-00000000": _three_days_ago()})

    assert excinfo.value.status == 404
    assert excinfo.value.payload["missing"] == ["ami-00000000"]


def test_malformed_control_request_is_400(server: MotoServer) -> None:
    request = urllib.request.Request(
        f"{server.endpoint_url}/_reaper/age-instances",
        data=json.dumps(
            {"account_id": ACCOUNT, "region": REGION, "launch_times": {"i-1": "yesterday"}}
        ).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=5)
    assert excinfo.value.code == 400


def test_reset_empties_the_estate(server: MotoServer, ec2: Any) -> None:
    _run_instance(ec2)
    assert ec2.describe_instances()["Reservations"]

    server.reset()

    assert ec2.describe_instances()["Reservations"] == []


def test_child_exits_when_stopped() -> None:
    srv = MotoServer()
    srv.start()
    pid = srv.pid
    assert pid is not None
    os.kill(pid, 0)  # alive

    srv.stop()

    # stop() waits for (and so reaps) the child: the pid is gone, not a zombie.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert srv.pid is None
    srv.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = srv.endpoint_url


def test_eks_lists_of_a_missing_cluster_answer_not_found_as_eks_does(server: MotoServer) -> None:
    eks = boto3.client(
        "eks",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for call in (eks.list_nodegroups, eks.list_fargate_profiles):
        with pytest.raises(ClientError) as missing:
            call(clusterName="never-created")
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
