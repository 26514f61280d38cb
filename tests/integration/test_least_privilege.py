"""Least privilege, for real: reaper sweeps the demo estate as an IAM principal that holds
only the policy ``reaper iam-policy`` generates for its config, on moto with IAM enforced,
and what that policy does not allow is denied.

moto on its own evaluates neither the ``Resource`` of EC2 and EKS requests nor any
condition of an identity policy; the sandbox's authorizer (``reaper/sandbox/_moto_iam.py``)
adds both for the calls reaper makes, so these tests exercise the policy's resources and
conditions the way AWS applies them. What neither evaluates is listed there and in the
README ("Least privilege").
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from click.testing import CliRunner
from conftest import demo_config

from reaper.app import SweepService
from reaper.audit import verify_lines
from reaper.audit.build import build_audit_log
from reaper.cli import cli
from reaper.config import Settings, load_settings
from reaper.model import Action, Result
from reaper.providers.aws.clients import AwsConnection
from reaper.providers.aws.ec2_isolation import QUARANTINE_GROUP
from reaper.providers.catalog import build_kinds
from reaper.results import ExitCode
from reaper.sandbox.demo import DEMO_LAYOUT, demo_cluster_specs
from reaper.sandbox.estate import (
    STAGING_ROLE,
    SeededInstance,
    live_instances,
    sandbox_session,
    seed_estate,
)
from reaper.sandbox.estate_eks import SeededCluster, seed_clusters
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.organization import SandboxOrganization, launch_aged, live_ids
from reaper.sandbox.principals import (
    ADMIN,
    ADMIN_POLICY,
    SWEEPER,
    Principal,
    iam_role,
    iam_user,
    sweeper,
)

REGION = "us-east-1"
BUCKET = "reaper-audit-trail"
PREFIX = "reaper-audit"
DENIED = ("UnauthorizedOperation", "AccessDeniedException", "AccessDenied")


@dataclass(frozen=True)
class Estate:
    instances: list[SeededInstance]
    clusters: list[SeededCluster]
    now: datetime

    def instance(self, label: str, account: str = "ci", region: str = REGION) -> str:
        (found,) = [
            s.instance_id
            for s in self.instances
            if (s.label, s.account, s.region) == (label, account, region)
        ][:1]
        return found

    def cluster(self, label: str) -> SeededCluster:
        return next(c for c in self.clusters if c.label == label)


def _seed(
    server: MotoServer, layout: dict[str, tuple[str, ...]], clusters: Collection[str] = ()
) -> Estate:
    """The demo estate in ``layout``, the demo's EKS clusters (those labelled ``clusters``,
    if given) and the audit bucket."""
    now = datetime.now(UTC)
    instances = seed_estate(server, now, layout, risks=True)
    specs = [c for c in demo_cluster_specs(now) if not clusters or c.label in clusters]
    seeded = seed_clusters(server, sandbox_session(), REGION, now, specs, age=server.age_clusters)
    s3 = sandbox_session().client("s3", region_name=REGION, endpoint_url=server.endpoint_url)
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return Estate(instances, seeded, now)


def _write_config(tmp_path: Path) -> Path:
    """The demo config's AWS part (the policy is AWS's; no fake Kubernetes API runs here),
    with an S3 audit sink that locks every object, and EKS quarantine closing public
    endpoints."""
    data = copy.deepcopy(demo_config())
    data["providers"] = {"aws": data["providers"]["aws"]}
    data["providers"]["aws"]["restrict_public_endpoint"] = True
    data["audit"] = {
        "path": str(tmp_path / "audit.jsonl"),
        "s3": {
            "bucket": BUCKET,
            "prefix": PREFIX,
            "region": REGION,
            "object_lock_mode": "GOVERNANCE",
            "retain_days": 1,
            "required": True,
        },
    }
    path = tmp_path / "reaper.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _generated_policy(config: Path, *options: str) -> dict[str, Any]:
    """`reaper iam-policy -c CONFIG`, run as an operator would."""
    result = subprocess.run(
        [*reaper_command(), "iam-policy", "-c", str(config), *options],
        env=sandbox_env(None),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert result.returncode == ExitCode.OK, explain(result)
    policy: dict[str, Any] = json.loads(result.stdout)
    return policy


def _policy(config: Path, *options: str) -> dict[str, Any]:
    """`reaper iam-policy -c CONFIG`, in this process."""
    result = CliRunner().invoke(cli, ["iam-policy", "-c", str(config), *options])
    assert result.exit_code == 0, result.output
    policy: dict[str, Any] = json.loads(result.stdout)
    return policy


def _service(settings: Settings, principal: Principal, server: MotoServer) -> SweepService:
    """The sweep service of `reaper run`, every AWS call signed by ``principal``."""
    kinds = build_kinds(settings, {"aws": AwsConnection(principal.session, server.endpoint_url)})
    return SweepService(
        settings,
        kinds,
        lambda: build_audit_log(
            settings.audit, aws_session=principal.session, s3_endpoint_url=server.endpoint_url
        ),
    )


@pytest.fixture
def denials(sandbox: MotoServer) -> Callable[[], list[str]]:
    """``denials()``: the requests the sandbox denied since the test began."""
    log = sandbox.log_path
    assert log is not None
    start = log.stat().st_size

    def read() -> list[str]:
        with open(log, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
        return [line for line in text.splitlines() if "reaper-sandbox iam: denied" in line]

    return read


def _client(principal: Principal, service: str, server: MotoServer, region: str = REGION) -> Any:
    return principal.session.client(service, region_name=region, endpoint_url=server.endpoint_url)


# -- the whole demo, as the generated policy's principal ------------------------------------------


def test_the_demo_sweeps_and_releases_as_a_principal_holding_only_the_generated_policy(
    sandbox: MotoServer, tmp_path: Path, denials: Callable[[], list[str]]
) -> None:
    estate = _seed(sandbox, dict(DEMO_LAYOUT))
    config = _write_config(tmp_path)
    settings, _ = load_settings(config)
    principal = sweeper(sandbox, settings, _generated_policy(config))
    service = _service(settings, principal, sandbox)
    kinds = {k.key(): k for k in service.kinds}
    released_instance = estate.instance("old-image")
    released_cluster = estate.cluster("outdated-kubernetes").name

    with sandbox.iam_enforced():
        marked = service.run(estate.now, dry_run=False)
        acted = service.run(estate.now + settings.policy.grace_period, dry_run=False)
        releases = [
            service.release(kinds["aws:ec2_instance"], released_instance),
            service.release(kinds["aws:eks_cluster"], released_cluster),
        ]
        s3 = _client(principal, "s3", sandbox)
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=BUCKET, Prefix=f"{PREFIX}/"
            )
            for o in page.get("Contents", [])
        ]
        trail = [
            line
            for key in sorted(keys)
            for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines(True)
        ]

    assert denials() == []
    assert (marked.exit_code, acted.exit_code) == (ExitCode.OK, ExitCode.OK)
    assert marked.plan.count(Action.MARK) == len(marked.outcomes) > 0
    assert {o.result for o in (*marked.outcomes, *acted.outcomes)} == {Result.DONE}
    assert acted.plan.count(Action.DELETE) == 18  # 16 instances, 2 clusters
    assert acted.plan.count(Action.QUARANTINE) == 13  # 12 instances, 1 cluster
    assert [(o.result, o.ref.id) for o in releases if o is not None] == [
        (Result.DONE, released_instance),
        (Result.DONE, released_cluster),
    ]
    verified = verify_lines(trail)
    assert verified.ok, verified.problem
    assert verified.records > 2 * len(acted.outcomes)

    # What is left, read with the sandbox's own credentials once IAM is no longer enforced.
    alive = live_instances(sandbox, DEMO_LAYOUT)
    assert {s.instance_id for s in estate.instances if s.expect_deleted} & alive == set()
    assert {s.instance_id for s in estate.instances if not s.expect_deleted} <= alive
    states = _instance_states(sandbox, estate)
    quarantined = {s.instance_id for s in estate.instances if s.expect_quarantined}
    assert {states[i] for i in quarantined - {released_instance}} == {("stopped", QUARANTINE_GROUP)}
    assert states[released_instance] == ("running", "default")
    eks = sandbox_session().client("eks", region_name=REGION, endpoint_url=sandbox.endpoint_url)
    left = set(eks.list_clusters()["clusters"])
    assert {c.name for c in estate.clusters if c.expect_deleted} & left == set()
    assert {c.name for c in estate.clusters if not c.expect_deleted} <= left
    (nodegroup,) = eks.list_nodegroups(clusterName=released_cluster)["nodegroups"]
    scaling = eks.describe_nodegroup(clusterName=released_cluster, nodegroupName=nodegroup)
    assert scaling["nodegroup"]["scalingConfig"]["desiredSize"] == 2


def _instance_states(server: MotoServer, estate: Estate) -> dict[str, tuple[str, str]]:
    """Each live instance's state and the group name of its network interfaces."""
    found: dict[str, tuple[str, str]] = {}
    for account, regions in DEMO_LAYOUT.items():
        session = sandbox_session()
        if account == "staging":
            sts = session.client("sts", region_name=REGION, endpoint_url=server.endpoint_url)
            c = sts.assume_role(RoleArn=STAGING_ROLE, RoleSessionName="check")["Credentials"]
            session = boto3.Session(
                aws_access_key_id=c["AccessKeyId"],
                aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"],
            )
        for region in regions:
            ec2 = session.client("ec2", region_name=region, endpoint_url=server.endpoint_url)
            for page in ec2.get_paginator("describe_instances").paginate():
                for reservation in page["Reservations"]:
                    for i in reservation["Instances"]:
                        groups = {
                            g["GroupName"] for n in i["NetworkInterfaces"] for g in n["Groups"]
                        }
                        found[i["InstanceId"]] = (i["State"]["Name"], ",".join(sorted(groups)))
    return found


# -- an organization, as the generated policy's principal ------------------------------------------


def test_an_organization_is_listed_and_its_accounts_swept_with_only_the_generated_policy(
    sandbox: MotoServer, tmp_path: Path, denials: Callable[[], list[str]]
) -> None:
    org = SandboxOrganization(sandbox_session(), sandbox.endpoint_url)
    ci = org.add_ou("ci")
    members = [org.add_account("CI One", ci), org.add_account("CI Two", org.add_ou("deep", ci))]
    outside = org.add_account("Prod")
    now = datetime.now(UTC)
    tags = {"reaper-pipeline": "gitlab-ci-1", "reaper-owner": "team-ci"}
    expired = {
        account: set(
            launch_aged(
                sandbox, org.session_in(account), account, REGION, [timedelta(2)], tags, now
            )
        )
        for account in (*members, outside)
    }
    data = {
        "dry_run": False,
        "providers": {"aws": {"regions": [REGION], "organization": {"include_ous": [ci]}}},
        "policy": {"grace_period": "0s"},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
    }
    config = tmp_path / "org.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    settings, _ = load_settings(config)
    policy = _generated_policy(config)
    principal = iam_user(sandbox, SWEEPER, policy)
    for account in (*members, outside):  # the role exists everywhere; only ci's are swept
        iam_role(sandbox, f"arn:aws:iam::{account}:role/reaper", policy, principal.arn)
    # Controls: the same policy without the organization's reads, or without its role.
    without = {
        sid: iam_user(
            sandbox,
            f"without-{sid.lower()}",
            {**policy, "Statement": [s for s in policy["Statement"] if s["Sid"] != sid]},
        )
        for sid in ("OrganizationRead", "AssumeOrganizationRole")
    }

    with sandbox.iam_enforced():
        unlisted = _service(settings, without["OrganizationRead"], sandbox).plan(now)[1]
        unassumed = _service(settings, without["AssumeOrganizationRole"], sandbox).plan(now)[1]
        denied = len(denials())
        report = _service(settings, principal, sandbox).run(now, dry_run=False)

    assert len(denials()) == denied  # the generated policy's sweep was denied nothing
    assert report.exit_code == ExitCode.OK, report.collection.errors
    assert {d.ref.scope.account for d in report.plan.decisions} == set(members)
    deleted = {o.ref.id for o in report.outcomes if o.result is Result.DONE}
    assert deleted == expired[members[0]] | expired[members[1]]
    for account in members:
        assert live_ids(org.session_in(account), sandbox.endpoint_url, REGION).isdisjoint(
            expired[account]
        )
    assert live_ids(org.session_in(outside), sandbox.endpoint_url, REGION) == expired[outside]
    # Each statement is needed: without the reads nothing is listed, without the role no
    # account is reached.
    (unreadable,) = unlisted.errors
    assert str(unreadable.scope) == "aws-organization"
    assert "not authorized to perform: organizations:DescribeOrganization" in unreadable.message
    assert len(unassumed.errors) == len(members)
    assert all(
        "not authorized to perform: sts:AssumeRole" in e.message for e in unassumed.errors
    ), unassumed.errors


# -- what the policy does not allow --------------------------------------------------------------


def test_what_the_generated_policy_does_not_allow_is_denied(
    sandbox: MotoServer, tmp_path: Path, denials: Callable[[], list[str]]
) -> None:
    estate = _seed(sandbox, {"ci": (REGION,)}, clusters=("untagged", "protected"))
    config = _write_config(tmp_path)
    settings, _ = load_settings(config)
    principal = sweeper(sandbox, settings, _policy(config))
    sweep_only = iam_user(sandbox, "reaper-sweep-only", _policy(config, "--sweep-only"))
    admin = iam_user(sandbox, ADMIN, ADMIN_POLICY)
    ec2, eks = _client(principal, "ec2", sandbox), _client(principal, "eks", sandbox)
    s3, sts = _client(principal, "s3", sandbox), _client(principal, "sts", sandbox)
    untagged, protected = estate.instance("untagged"), estate.instance("protected")
    fresh, exposed = estate.instance("fresh"), estate.instance("exposed-ssh")
    protected_cluster = estate.cluster("protected")
    open_group = _group_of(sandbox, exposed)
    interface = _interface_of(sandbox, exposed)
    vpc = _vpc_of(sandbox, exposed)
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": estate.now + timedelta(1)}
    attempts: dict[str, Callable[[], object]] = {
        "terminate an instance without the pipeline tag": lambda: ec2.terminate_instances(
            InstanceIds=[untagged]
        ),
        "terminate a protected pipeline instance": lambda: ec2.terminate_instances(
            InstanceIds=[protected]
        ),
        "stop a protected pipeline instance": lambda: ec2.stop_instances(InstanceIds=[protected]),
        "delete the protect tag": lambda: ec2.delete_tags(
            Resources=[protected], Tags=[{"Key": "reaper-protect"}]
        ),
        "overwrite the protect tag": lambda: ec2.create_tags(
            Resources=[protected], Tags=[{"Key": "reaper-protect", "Value": "false"}]
        ),
        "extend a pipeline's ttl": lambda: ec2.create_tags(
            Resources=[fresh], Tags=[{"Key": "reaper-ttl", "Value": "30d"}]
        ),
        "remove every tag of an instance": lambda: ec2.delete_tags(Resources=[fresh]),
        "tag an instance without the pipeline tag": lambda: ec2.create_tags(
            Resources=[untagged], Tags=[{"Key": "reaper-state", "Value": "marked"}]
        ),
        "close a group reaper does not manage": lambda: ec2.revoke_security_group_egress(
            GroupId=open_group,
            IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        ),
        "create a group not tagged as reaper's": lambda: ec2.create_security_group(
            GroupName="not-reapers", Description="x", VpcId=vpc
        ),
        "look at a region the config does not sweep": lambda: _client(
            principal, "ec2", sandbox, "ap-south-1"
        ).describe_instances(),
        "sweep-only: attach a group reaper does not manage": lambda: _client(
            sweep_only, "ec2", sandbox
        ).modify_network_interface_attribute(NetworkInterfaceId=interface, Groups=[open_group]),
        "sweep-only: start an instance": lambda: _client(
            sweep_only, "ec2", sandbox
        ).start_instances(InstanceIds=[fresh]),
        "delete a cluster without the pipeline tag": lambda: eks.delete_cluster(
            name=estate.cluster("untagged").name
        ),
        "delete a protected cluster": lambda: eks.delete_cluster(name=protected_cluster.name),
        "remove a cluster's protect tag": lambda: eks.untag_resource(
            resourceArn=protected_cluster.arn, tagKeys=["reaper-protect"]
        ),
        "write outside the audit prefix": lambda: s3.put_object(
            Bucket=BUCKET, Key="elsewhere/000000000001-000000000001.jsonl", Body=b"{}\n", **lock
        ),
        "write an audit object without the lock": lambda: s3.put_object(
            Bucket=BUCKET, Key=f"{PREFIX}/000000000001-000000000001.jsonl", Body=b"{}\n"
        ),
        "assume a role the config does not name": lambda: sts.assume_role(
            RoleArn="arn:aws:iam::210987654321:role/admin", RoleSessionName="probe"
        ),
    }

    with sandbox.iam_enforced():
        outcomes = {name: _error_code(attempt) for name, attempt in attempts.items()}
        # The same requests from a principal allowed everything go through: the denials
        # are the policy's, not the sandbox refusing what it cannot evaluate.
        allowed = _client(admin, "ec2", sandbox)
        allowed.delete_tags(Resources=[protected], Tags=[{"Key": "reaper-protect"}])
        allowed.terminate_instances(InstanceIds=[untagged])

    assert {name: code in DENIED for name, code in outcomes.items()} == dict.fromkeys(
        attempts, True
    ), outcomes
    assert len(denials()) == len(attempts)
    assert not [line for line in denials() if "cannot evaluate" in line]
    assert live_instances(sandbox, {"ci": (REGION,)}) >= {protected, fresh, exposed}
    eks_admin = sandbox_session().client(
        "eks", region_name=REGION, endpoint_url=sandbox.endpoint_url
    )
    clusters = set(eks_admin.list_clusters()["clusters"])
    assert {protected_cluster.name, estate.cluster("untagged").name} <= clusters


def _error_code(call: Callable[[], object]) -> str:
    try:
        call()
    except ClientError as err:
        return str(err.response.get("Error", {}).get("Code", "?"))
    return "allowed"


def _described(server: MotoServer, instance_id: str) -> dict[str, Any]:
    ec2 = sandbox_session().client("ec2", region_name=REGION, endpoint_url=server.endpoint_url)
    (reservation,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    found: dict[str, Any] = reservation["Instances"][0]
    return found


def _group_of(server: MotoServer, instance_id: str) -> str:
    return str(_described(server, instance_id)["SecurityGroups"][0]["GroupId"])


def _interface_of(server: MotoServer, instance_id: str) -> str:
    return str(_described(server, instance_id)["NetworkInterfaces"][0]["NetworkInterfaceId"])


def _vpc_of(server: MotoServer, instance_id: str) -> str:
    return str(_described(server, instance_id)["VpcId"])
