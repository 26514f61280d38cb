"""Unpatched and exposed EC2 instances in moto: found with one lookup per image and
security group, and quarantined as the policy says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from sweep_support import run_sweep

from reaper.providers.aws.ec2_isolation import QUARANTINE_GROUP
from reaper.sandbox.estate import seed_estate
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

LAYOUT = {"ci": ("eu-west-1",)}


def _instances(session: boto3.Session, sandbox: MotoServer) -> dict[str, dict[str, Any]]:
    ec2 = session.client("ec2", region_name="eu-west-1", endpoint_url=sandbox.endpoint_url)
    found = ec2.describe_instances()["Reservations"]
    return {i["InstanceId"]: i for r in found for i in r["Instances"]}


def test_unpatched_and_exposed_instances_are_quarantined_the_rest_as_before(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: Any,
    make_kinds: Any,
    audit_path: Any,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, LAYOUT, risks=True)
    settings = make_settings(accounts=("ci",), regions=("eu-west-1",), dry_run=False)
    kinds = make_kinds(settings, endpoint_url=proxy.endpoint_url)
    report = run_sweep(settings, kinds, audit_path, now, dry_run=False)
    assert report.exit_code == 0

    instances = _instances(aws_session, sandbox)
    ec2 = aws_session.client("ec2", region_name="eu-west-1", endpoint_url=sandbox.endpoint_url)
    quarantine_group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [QUARANTINE_GROUP]}]
    )["SecurityGroups"]
    assert len(quarantine_group) == 1
    group_id = quarantine_group[0]["GroupId"]
    for specimen in seeded:
        instance = instances[specimen.instance_id]
        state = instance["State"]["Name"]
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        if specimen.expect_quarantined:
            assert state in ("stopping", "stopped"), specimen.label
            assert tags["reaper-state"] == "quarantined", specimen.label
            groups = {g["GroupId"] for eni in instance["NetworkInterfaces"] for g in eni["Groups"]}
            assert group_id in groups, specimen.label
            assert tags["reaper-original-sgs"].startswith("eni-"), specimen.label
            if specimen.label != "exposed-ssh":
                # moto keeps reporting groups given at launch (SecurityGroupIds) on the
                # interface whatever ModifyNetworkInterfaceAttribute set; AWS does not.
                # tests/test_lifecycle_aws.py checks the exact swap with interface groups.
                assert groups == {group_id}, specimen.label
        elif specimen.expect_deleted:
            assert state in ("shutting-down", "terminated"), specimen.label
        else:
            assert state == "running", specimen.label
            assert "reaper-state" not in tags, specimen.label

    decisions = {d.ref.id: d for d in report.plan.decisions}
    by_label = {s.label: decisions[s.instance_id] for s in seeded if s.instance_id in decisions}
    assert any("200d old" in d for d in by_label["old-image"].details)
    assert any("deprecated" in d for d in by_label["deprecated-image"].details)
    assert any("on 22" in d for d in by_label["exposed-ssh"].details)
    # One image lookup and one security-group lookup for the whole scope.
    assert proxy.count("ec2", "DescribeImages") == 1
    assert proxy.count("ec2", "DescribeSecurityGroups", "eu-west-1") >= 1


def test_an_instance_whose_image_was_deregistered_is_unpatched(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_settings: Any,
    make_kinds: Any,
    audit_path: Any,
) -> None:
    ec2 = aws_session.client("ec2", region_name="us-east-1", endpoint_url=sandbox.endpoint_url)
    source = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    image_id = ec2.create_image(InstanceId=source["InstanceId"], Name="pipeline-built")["ImageId"]
    launched = ec2.run_instances(
        ImageId=image_id,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "reaper-pipeline", "Value": "ci-9"}]}
        ],
    )["Instances"][0]
    ec2.deregister_image(ImageId=image_id)
    settings = make_settings(accounts=("ci",), regions=("us-east-1",), dry_run=True)
    report = run_sweep(settings, make_kinds(settings), audit_path, datetime.now(UTC), True)
    decision = next(d for d in report.plan.decisions if d.ref.id == launched["InstanceId"])
    assert decision.reasons == ("unpatched",)
    assert decision.resource.image is not None
    assert decision.resource.image.missing
