"""IAM principals in the sandbox: sweeping as a principal that holds only a given policy.

Create them before IAM is enforced (``MotoServer.iam_enforced()``): creating users and
roles with the sandbox's placeholder credentials is itself an unauthenticated request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from reaper.config import Settings
from reaper.sandbox.estate import sandbox_session
from reaper.sandbox.moto_server import MotoServer

SWEEPER = "reaper"
"""The IAM user reaper sweeps as, and the role name's fallback in other accounts."""
ADMIN = "sandbox-admin"
ADMIN_POLICY: Mapping[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
_REGION = "us-east-1"


@dataclass(frozen=True)
class Principal:
    """An IAM user of the sandbox's default account, with its own keys."""

    arn: str
    session: boto3.Session


def iam_user(server: MotoServer, name: str, policy: Mapping[str, Any]) -> Principal:
    """A new IAM user in the sandbox's default account holding only ``policy`` (inline)."""
    iam = sandbox_session().client("iam", region_name=_REGION, endpoint_url=server.endpoint_url)
    arn = str(iam.create_user(UserName=name)["User"]["Arn"])
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    session = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name=_REGION,
    )
    return Principal(arn, session)


def iam_role(server: MotoServer, role_arn: str, policy: Mapping[str, Any], trusted: str) -> None:
    """Create the role ``role_arn`` in its own account, holding only ``policy`` (inline),
    assumable by the principal ``trusted``."""
    name = role_arn.rsplit("/", 1)[-1]
    sts = sandbox_session().client("sts", region_name=_REGION, endpoint_url=server.endpoint_url)
    # Unauthenticated, moto hands out credentials in the role's account for any role ARN.
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="setup")["Credentials"]
    iam = boto3.client(
        "iam",
        region_name=_REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName=SWEEPER, PolicyDocument=json.dumps(policy))


def sweeper(server: MotoServer, settings: Settings, policy: Mapping[str, Any]) -> Principal:
    """reaper's principal for a config: an IAM user holding only ``policy``, and in each
    account that names a ``role_arn``, that role holding only ``policy`` too."""
    user = iam_user(server, SWEEPER, policy)
    aws = settings.providers.aws
    for account in aws.accounts if aws is not None else ():
        if account.role_arn is not None:
            iam_role(server, account.role_arn, policy, user.arn)
    return user
