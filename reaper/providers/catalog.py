"""Builds the configured resource kinds from settings and connections."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from reaper.config import Settings
from reaper.metrics import Metrics
from reaper.providers.aws.clients import AwsClients
from reaper.providers.aws.ec2 import Ec2Instances
from reaper.providers.aws.eks import EksClusters
from reaper.providers.base import REGISTRY, ResourceKind


@dataclass(frozen=True)
class Connections:
    """How to reach the clouds. Defaults use the standard environment of each SDK."""

    aws_session: boto3.Session | None = None
    aws_endpoint_url: str | None = None
    """Only for the sandbox and tests; in production boto3 reads AWS_ENDPOINT_URL itself."""


def build_kinds(
    settings: Settings, connections: Connections | None = None, metrics: Metrics | None = None
) -> list[ResourceKind]:
    """One ResourceKind per configured provider kind, sharing each provider's clients.

    With ``metrics``, every request the clients send is counted in
    ``reaper_cloud_api_requests_total`` by provider and operation.
    """
    connections = connections or Connections()
    on_request = metrics.count_api_request if metrics is not None else None
    kinds: list[ResourceKind] = []
    aws = settings.providers.aws
    if aws is not None:
        clients = AwsClients(aws, connections.aws_session, connections.aws_endpoint_url, on_request)
        for name in aws.kinds:
            kind = REGISTRY[f"aws:{name}"]
            if kind is Ec2Instances:
                kinds.append(Ec2Instances(clients, settings.tags))
            elif kind is EksClusters:
                kinds.append(
                    EksClusters(
                        clients,
                        settings.tags,
                        restrict_public_endpoint=aws.restrict_public_endpoint,
                    )
                )
    return kinds
