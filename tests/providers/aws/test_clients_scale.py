"""AwsClients at organization scale: bounded clients, one class per service, one EC2 throttle
bucket per account and region in the proxy (real HTTP to moto)."""

from __future__ import annotations

import boto3
from botocore.config import Config

from reaper.config import AwsSettings
from reaper.model import Scope
from reaper.providers.aws.clients import AwsClients
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.organization import assumed_session
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
