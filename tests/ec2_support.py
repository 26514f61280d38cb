"""EC2 lifecycle tests on moto: the demo config narrowed to one region, instances launched
and read back with boto3, sweeps through the sweep service, and the ``reaper`` CLI.

Shared by the EC2 lifecycle, verified-quarantine and forged-state test modules.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from cli_support import CLI_TIMEOUT, reaper_command, sandbox_env
from sweep_support import run_sweep

from reaper import lifecycle
from reaper.config import Settings, parse_settings
from reaper.model import ResourceRef, Scope
from reaper.notify import WebhookNotifier
from reaper.providers.aws.ec2_isolation import ORIGINAL_GROUPS, ORIGINAL_STATE, QUARANTINE_GROUP
from reaper.providers.base import ResourceKind
from reaper.results import SweepReport
from reaper.sandbox.estate import CI_ACCOUNT_ID, SANDBOX_AMI
from reaper.sandbox.moto_server import MotoServer

REGION = "us-east-1"


def ec2_ref(instance_id: str) -> ResourceRef:
    """The ref of an instance in the ``ci`` account's region, as reaper's kind makes it."""
    return ResourceRef("aws", "ec2_instance", Scope("ci", REGION), instance_id)


MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EXPIRED = 2 * DAY  # the demo config gives EC2 instances a TTL of 12h
FRESH = HOUR
QUARANTINE_TTL = 3 * DAY  # the demo config's
REAPER_KEYS = (*lifecycle.ALL_KEYS, ORIGINAL_GROUPS, ORIGINAL_STATE)
"""The tags reaper writes on an instance, its signature left out."""

ConfigFactory = Callable[..., dict[str, Any]]
KindsFactory = Callable[..., list[ResourceKind]]
ReadAudit = Callable[[Path | str], list[dict[str, Any]]]


def lifecycle_config(
    make_config: ConfigFactory,
    *,
    grace: str = "1h",
    notify: Mapping[str, Any] | None = None,
    **policy: Any,
) -> dict[str, Any]:
    """The demo config for the ``ci`` account in one region, applied, with policy overrides.

    These estates are a handful of instances, all due: the brake may act on all of them.
    """
    data = make_config(
        accounts=("ci",),
        regions=(REGION,),
        dry_run=False,
        grace_period=grace,
        safety={"max_fraction": 1.0},
    )
    data["policy"].update(policy)
    if notify is not None:
        data["notify"] = dict(notify)
    return data


def lifecycle_settings(make_config: ConfigFactory, **options: Any) -> Settings:
    return parse_settings(lifecycle_config(make_config, **options), "tests/lifecycle.yaml")


def sweep(
    settings: Settings,
    kinds: list[ResourceKind],
    audit_path: Path,
    now: datetime,
    notifier: WebhookNotifier | None = None,
) -> SweepReport:
    return run_sweep(settings, kinds, audit_path, now, False, notifier=notifier)


def ec2_client(session: boto3.Session, sandbox: MotoServer) -> Any:
    """An EC2 client of the ``ci`` account straight to moto (no proxy)."""
    return session.client("ec2", region_name=REGION, endpoint_url=sandbox.endpoint_url)


def launch(
    ec2: Any,
    sandbox: MotoServer,
    now: datetime,
    *,
    age: timedelta = EXPIRED,
    owner: str = "team-payments",
    tags: Mapping[str, str] | None = None,
    **launch: Any,
) -> str:
    """One pipeline instance launched ``age`` before ``now``; returns its id."""
    all_tags = {"reaper-pipeline": "gitlab-ci-4711", "reaper-owner": owner, **(tags or {})}
    answer = ec2.run_instances(
        ImageId=SANDBOX_AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()],
            }
        ],
        **launch,
    )
    instance_id = str(answer["Instances"][0]["InstanceId"])
    sandbox.age_instances(CI_ACCOUNT_ID, REGION, {instance_id: now - age})
    return instance_id


def describe(ec2: Any, instance_id: str) -> dict[str, Any]:
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    (instance,) = reservation["Instances"]
    return dict(instance)


def instance_state(ec2: Any, instance_id: str) -> str:
    return str(describe(ec2, instance_id)["State"]["Name"])


def instance_tags(ec2: Any, instance_id: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in describe(ec2, instance_id).get("Tags", [])}


def reaper_tags(ec2: Any, instance_id: str) -> dict[str, str]:
    """The tags reaper writes (lifecycle and quarantine bookkeeping) on an instance."""
    return {k: v for k, v in instance_tags(ec2, instance_id).items() if k in REAPER_KEYS}


def events(
    records: list[dict[str, Any]], event: str, instance_id: str | None = None
) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["event"] == event and (instance_id is None or r["resource"]["id"] == instance_id)
    ]


def actions(records: list[dict[str, Any]], instance_id: str) -> list[tuple[str, str, str]]:
    """(event, action, result) of every intent and outcome about one instance, in order."""
    return [
        (r["event"], r["action"], r.get("result", ""))
        for r in records
        if r["event"] in ("intent", "outcome") and r["resource"]["id"] == instance_id
    ]


@dataclass(frozen=True)
class Network:
    """A VPC with a subnet and the two security groups its instances are launched with."""

    vpc: str
    subnet: str
    groups: tuple[str, str]


def make_network(ec2: Any, octet: int = 10) -> Network:
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{octet}.1.0/24")["Subnet"]["SubnetId"]
    groups = []
    for name, port in (("web", 443), ("ssh", 22)):
        group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
        )
        groups.append(str(group))
    return Network(str(vpc), str(subnet), (groups[0], groups[1]))


def launch_in(
    ec2: Any, sandbox: MotoServer, now: datetime, network: Network, **options: Any
) -> str:
    # Through an explicit network interface in the network's subnet, in both its groups.
    interface = {"DeviceIndex": 0, "SubnetId": network.subnet, "Groups": list(network.groups)}
    return launch(ec2, sandbox, now, NetworkInterfaces=[interface], **options)


def interface_groups(ec2: Any, instance_id: str) -> dict[str, set[str]]:
    """The security groups of each network interface of an instance, as EC2 reports them."""
    return {
        eni["NetworkInterfaceId"]: {g["GroupId"] for g in eni["Groups"]}
        for eni in describe(ec2, instance_id)["NetworkInterfaces"]
    }


def quarantine_groups(ec2: Any, vpc: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": "group-name", "Values": [QUARANTINE_GROUP]}]
    if vpc is not None:
        filters.append({"Name": "vpc-id", "Values": [vpc]})
    return list(ec2.describe_security_groups(Filters=filters)["SecurityGroups"])


def cli(sandbox: MotoServer, cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``reaper`` against the sandbox, finding moto through AWS_ENDPOINT_URL."""
    return subprocess.run(
        [*reaper_command(), *map(str, args)],
        env=sandbox_env(sandbox.endpoint_url, REGION),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
