"""AwsClients at organization scale: bounded clients, one class per service, one EC2 throttle
bucket per account and region in the proxy (real HTTP to moto)."""

from __future__ import annotations

import boto3
from botocore.config import Config

from reaper.config import AwsSettings
from reaper.errors import ProviderError
from reaper.model import Scope
from reaper.providers.aws.clients import AwsClients, translate_errors
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.organization import assumed_session
from reaper.sandbox.principals import iam_user
from reaper.sandbox.proxy import CountingProxy

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1", "ap-south-1")


def test_clients_are_bounded_and_share_one_class_per_service(aws_session: boto3.Session) -> None:
    settings = AwsSettings(regions=REGIONS, accounts=({"name": "ci"}, {"name": "ops"}))
    clients = AwsClients(settings, aws_session, "http://127.0.0.1:9", client_cache_size=4)
    made = [clients.client(scope, "ec2") for scope in clients.scopes()]
    assert len(made) == 10
    assert len({id(c) for c in made}) == 10
    assert len({type(c) for c in made}) == 1, "one client class for every EC2 client"
    assert len(clients._clients) == 4
    # The most recently used are kept: asking again gives the same client.
    assert clients.client(Scope("ops", REGIONS[-1]), "ec2") is made[-1]
    # Clients made elsewhere in the process are botocore's own, with a class of their own.
    other = aws_session.client("ec2", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    assert type(other) is not type(made[0])


def test_the_proxy_throttles_per_account_and_region_as_ec2_does(
    sandbox: MotoServer, aws_session: boto3.Session
) -> None:
    no_retries = Config(retries={"mode": "standard", "total_max_attempts": 1})
    with CountingProxy(sandbox.endpoint_url) as proxy:
        proxy.throttle(rate=0.01, burst=2)
        sessions = [aws_session, assumed_session(aws_session, sandbox.endpoint_url, "333344445555")]
        answers: list[str] = []
        for session in sessions:
            for region in ("us-east-1", "eu-west-1"):
                ec2 = session.client(
                    "ec2", region_name=region, endpoint_url=proxy.endpoint_url, config=no_retries
                )
                for _ in range(3):
                    try:
                        ec2.describe_instances()
                        answers.append("ok")
                    except ec2.exceptions.ClientError as err:
                        answers.append(err.response["Error"]["Code"])
        # Each (account, region) bucket holds two tokens: the third call of each is refused.
        assert answers == ["ok", "ok", "RequestLimitExceeded"] * 4
        assert sum(proxy.throttled().values()) == 4
        assert proxy.count("ec2") == 12
        # STS is not throttled.
        assert proxy.count("sts") == 0


def test_clients_of_one_shared_class_keep_their_own_principal_and_reply_guard(
    sandbox: MotoServer,
) -> None:
    # One class serves every EC2 client, but credentials, signing and the parser that
    # turns an unparseable reply into a ProviderError are each client's own: checked on
    # the IAM-enforcing sandbox with two principals, through a proxy that garbles a region.
    def describe_only(action: str) -> dict[str, object]:
        statement = {"Effect": "Allow", "Action": [action], "Resource": "*"}
        return {"Version": "2012-10-17", "Statement": [statement]}

    may = iam_user(sandbox, "may-describe", describe_only("ec2:DescribeInstances"))
    may_not = iam_user(sandbox, "may-not-describe", describe_only("ec2:DescribeImages"))
    settings = AwsSettings(regions=("us-east-1", "eu-west-1"), accounts=({"name": "ci"},))
    with CountingProxy(sandbox.endpoint_url) as proxy:
        proxy.add_unparseable("eu-west-1", "DescribeInstances")
        allowed, denied = (
            AwsClients(settings, principal.session, proxy.endpoint_url)
            for principal in (may, may_not)
        )
        east, west = Scope("ci", "us-east-1"), Scope("ci", "eu-west-1")
        ec2 = {
            (who, scope): clients.client(scope, "ec2")
            for who, clients in (("may", allowed), ("may-not", denied))
            for scope in (east, west)
        }
        outcomes: dict[str, str] = {}
        with sandbox.iam_enforced():
            for name, client in (
                ("allowed", ec2["may", east]),
                ("denied", ec2["may-not", east]),
                ("garbled", ec2["may", west]),
            ):
                try:
                    with translate_errors("DescribeInstances"):
                        client.describe_instances()
                    outcomes[name] = "ok"
                except ProviderError as err:
                    outcomes[name] = str(err)

    assert len({type(client) for client in ec2.values()}) == 1
    assert outcomes["allowed"] == "ok"
    assert "UnauthorizedOperation" in outcomes["denied"]
    assert "may-not-describe" in outcomes["denied"]
    assert "unparseable response" in outcomes["garbled"]
