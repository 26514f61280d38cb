"""An AWS organization in the sandbox: OUs, member accounts, and pipeline instances in them.

moto's default account (``CI_ACCOUNT_ID``) creates the organization and so is its
management account. Member accounts get ids moto chooses; reaper reaches them by
assuming ``arn:aws:iam::<id>:role/<role_name>``, which moto grants without a role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import boto3

from reaper.sandbox.estate import SANDBOX_AMI
from reaper.sandbox.moto_server import MotoServer

RUN_CHUNK = 500
"""Most instances one RunInstances call launches."""


class SandboxOrganization:
    """Builds an organization in moto through its HTTP API (``endpoint_url``)."""

    def __init__(self, session: boto3.Session, endpoint_url: str) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.client: Any = session.client(
            "organizations", region_name="us-east-1", endpoint_url=endpoint_url
        )
        organization = self.client.create_organization(FeatureSet="ALL")["Organization"]
        self.management_id = str(organization["MasterAccountId"])
        self.root_id = str(self.client.list_roots()["Roots"][0]["Id"])

    def add_ou(self, name: str, parent: str | None = None) -> str:
        """A new OU under ``parent`` (the root when None); its id."""
        unit = self.client.create_organizational_unit(ParentId=parent or self.root_id, Name=name)
        return str(unit["OrganizationalUnit"]["Id"])

    def add_account(self, name: str, parent: str | None = None) -> str:
        """A new member account, moved under ``parent`` when given; its id."""
        email = f"{len(name)}-{abs(hash(name)) % 10**8}@example.com"
        status = self.client.create_account(Email=email, AccountName=name)["CreateAccountStatus"]
        account_id = str(status["AccountId"])
        if parent is not None:
            self.client.move_account(
                AccountId=account_id, SourceParentId=self.root_id, DestinationParentId=parent
            )
        return account_id

    def session_in(self, account_id: str, role_name: str = "reaper") -> boto3.Session:
        """Credentials of ``account_id``, by assuming the role reaper assumes there."""
        return assumed_session(self.session, self.endpoint_url, account_id, role_name)


def assumed_session(
    session: boto3.Session, endpoint_url: str, account_id: str, role_name: str = "reaper"
) -> boto3.Session:
    """Credentials of any account of the sandbox, by assuming a role there."""
    sts = session.client("sts", region_name="us-east-1", endpoint_url=endpoint_url)
    role = f"arn:aws:iam::{account_id}:role/{role_name}"
    c = sts.assume_role(RoleArn=role, RoleSessionName="sandbox")["Credentials"]
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name="us-east-1",
    )


def launch_aged(
    server: MotoServer,
    session: boto3.Session,
    account_id: str,
    region: str,
    ages: Sequence[timedelta],
    tags: Mapping[str, str],
    now: datetime,
) -> list[str]:
    """One instance per age, all with ``tags``, launched at ``now - age``; their ids."""
    ec2: Any = session.client("ec2", region_name=region, endpoint_url=server.endpoint_url)
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    ids: list[str] = []
    for start in range(0, len(ages), RUN_CHUNK):
        count = len(ages[start : start + RUN_CHUNK])
        answer = ec2.run_instances(
            ImageId=SANDBOX_AMI,
            MinCount=count,
            MaxCount=count,
            InstanceType="t3.micro",
            TagSpecifications=spec,
        )
        ids += [str(i["InstanceId"]) for i in answer["Instances"]]
    if ids:
        server.age_instances(
            account_id, region, {i: now - age for i, age in zip(ids, ages, strict=True)}
        )
    return ids


def live_ids(session: boto3.Session, endpoint_url: str, region: str) -> set[str]:
    """Ids of the instances of the session's account in ``region`` that are not terminated."""
    ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url)
    states = ["pending", "running", "stopping", "stopped"]
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": states}]
    )
    return {i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]}
