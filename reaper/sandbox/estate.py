"""Seeds the sandbox with a realistic estate of pipeline leftovers.

Each seeded resource carries what the demo policy should do with it, so tests and the
demo can check outcomes instead of trusting the sweep's own report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3

from reaper.sandbox.moto_server import MotoServer

SANDBOX_AMI = "ami-12c6146b"  # one of moto's built-in Amazon images: the fresh "golden" one
OLD_AMI = "ami-1812c061"  # aged to 200 days by the seeder
DEPRECATED_AMI = "ami-1e749f67"  # deprecated yesterday by the seeder
IMAGES = {"golden": SANDBOX_AMI, "old": OLD_AMI, "deprecated": DEPRECATED_AMI}
CI_ACCOUNT_ID = "123456789012"  # moto's default account
STAGING_ACCOUNT_ID = "210987654321"
STAGING_ROLE = f"arn:aws:iam::{STAGING_ACCOUNT_ID}:role/reaper-sandbox"
# Placeholder credentials moto accepts; they open nothing outside the sandbox.
SANDBOX_KEY_ID = "testing"
SANDBOX_SECRET = "testing"


@dataclass(frozen=True)
class Specimen:
    """One kind of leftover: its tags (relative to now) and its age."""

    label: str
    age: timedelta
    tags: Mapping[str, str] = field(default_factory=dict)
    expect_deleted: bool = False
    image: str = "golden"
    """Which sandbox image it runs: golden (fresh), old or deprecated."""
    open_ssh: bool = False
    """In a security group that lets the whole internet in on port 22."""
    expect_quarantined: bool = False


@dataclass(frozen=True)
class SeededInstance:
    label: str
    account: str
    region: str
    instance_id: str
    expect_deleted: bool
    expect_quarantined: bool = False


def specimens(now: datetime) -> list[Specimen]:
    """The demo estate of one region, for the default tag keys and a 12h EC2 TTL."""
    hour = timedelta(hours=1)
    epoch_past = str(int((now - hour).timestamp()))
    future = (now + 2 * 24 * hour).strftime("%Y-%m-%dT%H:%M:%SZ")

    def run(n: int, owner: str = "team-payments") -> dict[str, str]:
        return {"reaper-pipeline": f"gitlab-ci-{n}", "reaper-owner": owner}

    return [
        Specimen("fresh", 1 * hour, run(101)),
        Specimen("fresh", 2 * hour, run(102, "team-search")),
        Specimen("fresh", 10 * hour, run(103)),
        Specimen("ttl-expired", 2 * 24 * hour, run(90), expect_deleted=True),
        Specimen("ttl-expired", 13 * hour, run(91, "team-search"), expect_deleted=True),
        Specimen("short-ttl-expired", 5 * hour, {**run(92), "reaper-ttl": "2h"}, True),
        Specimen("expiry-passed", hour / 2, {**run(93), "reaper-expires-at": epoch_past}, True),
        Specimen("expiry-extended", 3 * 24 * hour, {**run(94), "reaper-expires-at": future}),
        Specimen("protected", 5 * 24 * hour, {**run(80), "reaper-protect": "true"}),
        Specimen("untagged", 10 * 24 * hour, {"team": "platform"}),
        Specimen("untagged", 30 * 24 * hour, {}),
        Specimen("bad-ttl", 4 * 24 * hour, {**run(70), "reaper-ttl": "3 dayz"}),
        Specimen("bad-expiry", 4 * 24 * hour, {**run(71), "reaper-expires-at": "next-tuesday"}),
    ]


def risky_specimens(now: datetime) -> list[Specimen]:
    """Unpatched and exposed leftovers (and one more fresh one, so the demo stays under
    the brake's max_fraction of 0.5)."""
    hour = timedelta(hours=1)

    def run(n: int, owner: str = "team-payments") -> dict[str, str]:
        return {"reaper-pipeline": f"gitlab-ci-{n}", "reaper-owner": owner}

    return [
        Specimen("fresh", 3 * hour, run(104, "team-search")),
        Specimen("old-image", 2 * hour, run(60), image="old", expect_quarantined=True),
        Specimen(
            "deprecated-image", 2 * hour, run(61), image="deprecated", expect_quarantined=True
        ),
        Specimen(
            "exposed-ssh", 2 * hour, run(62, "team-search"), open_ssh=True, expect_quarantined=True
        ),
    ]


def sandbox_session(region: str = "us-east-1") -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=SANDBOX_KEY_ID, aws_secret_access_key=SANDBOX_SECRET, region_name=region
    )


def seed_estate(
    server: MotoServer,
    now: datetime,
    layout: Mapping[str, tuple[str, ...]] | None = None,
    risks: bool = False,
    extra: Sequence[Specimen] = (),
) -> list[SeededInstance]:
    """Create and age the estate; ``layout`` maps account name to its regions.

    ``risks`` adds instances on old and deprecated images and one open to the internet;
    ``extra`` more specimens in every region (the CI-run ones of ``ci_estate``).
    """
    layout = layout or {"ci": ("us-east-1", "eu-west-1", "us-west-2"), "staging": ("eu-west-1",)}
    seeded: list[SeededInstance] = []
    for account, regions in layout.items():
        session = _account_session(server, account)
        account_id = STAGING_ACCOUNT_ID if account == "staging" else CI_ACCOUNT_ID
        for region in regions:
            ec2 = session.client("ec2", region_name=region, endpoint_url=server.endpoint_url)
            server.age_images(
                account_id,
                region,
                {OLD_AMI: now - timedelta(days=200), SANDBOX_AMI: now - timedelta(days=10)},
                deprecation_times={DEPRECATED_AMI: now - timedelta(days=1)},
            )
            open_group = _open_ssh_group(ec2)
            launch_times: dict[str, datetime] = {}
            for specimen in [*specimens(now), *(risky_specimens(now) if risks else []), *extra]:
                instance_id = _launch(ec2, specimen, f"{account}-{region}", open_group)
                launch_times[instance_id] = now - specimen.age
                seeded.append(
                    SeededInstance(
                        specimen.label,
                        account,
                        region,
                        instance_id,
                        specimen.expect_deleted,
                        specimen.expect_quarantined,
                    )
                )
            server.age_instances(account_id, region, launch_times)
    return seeded


def _account_session(server: MotoServer, account: str) -> boto3.Session:
    base = sandbox_session()
    if account != "staging":
        return base
    sts = base.client("sts", endpoint_url=server.endpoint_url)
    creds = sts.assume_role(RoleArn=STAGING_ROLE, RoleSessionName="seed")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def _open_ssh_group(ec2: Any) -> str:
    """A security group in the default VPC that lets the whole internet in on port 22."""
    group_id = str(
        ec2.create_security_group(GroupName="debug-ssh", Description="left open by a pipeline")[
            "GroupId"
        ]
    )
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    return group_id


def _launch(ec2: Any, specimen: Specimen, where: str, open_group: str) -> str:
    tags = [{"Key": "Name", "Value": f"{specimen.label}-{where}"}]
    tags += [{"Key": k, "Value": v} for k, v in specimen.tags.items()]
    extra = {"SecurityGroupIds": [open_group]} if specimen.open_ssh else {}
    answer = ec2.run_instances(
        ImageId=IMAGES[specimen.image],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        **extra,
    )
    return str(answer["Instances"][0]["InstanceId"])


def live_instances(server: MotoServer, layout: Mapping[str, tuple[str, ...]]) -> set[str]:
    """Ids of every instance not terminated, tagged or not, across the layout."""
    alive: set[str] = set()
    for account, regions in layout.items():
        session = _account_session(server, account)
        for region in regions:
            ec2 = session.client("ec2", region_name=region, endpoint_url=server.endpoint_url)
            for page in ec2.get_paginator("describe_instances").paginate():
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        if instance["State"]["Name"] not in ("terminated", "shutting-down"):
                            alive.add(instance["InstanceId"])
    return alive
