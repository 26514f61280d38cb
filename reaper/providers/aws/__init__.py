"""AWS: EC2 instances and EKS clusters, through boto3."""

from __future__ import annotations

from reaper.config import AwsSettings
from reaper.providers.aws.calendar import EKS_END_OF_STANDARD_SUPPORT
from reaper.providers.aws.clients import AwsClients, AwsConnection
from reaper.providers.aws.ec2 import Ec2Instances
from reaper.providers.aws.eks import EksClusters
from reaper.providers.base import BuildContext, ResourceKind
from reaper.versions import merged_calendar


def build(section: AwsSettings, context: BuildContext) -> list[ResourceKind]:
    """The kinds ``providers.aws.kinds`` names, sharing one set of clients."""
    connection = context.connection or AwsConnection()
    clients = AwsClients(section, connection.session, connection.endpoint_url, context.on_request)
    calendar = merged_calendar(
        EKS_END_OF_STANDARD_SUPPORT,
        context.policy.kubernetes_end_of_support,
        section.kubernetes_end_of_support,
    )
    kinds: list[ResourceKind] = []
    if "ec2_instance" in section.kinds:
        kinds.append(Ec2Instances(clients, context.tags, context.signer))
    if "eks_cluster" in section.kinds:
        kinds.append(
            EksClusters(
                clients,
                context.tags,
                restrict_public_endpoint=section.restrict_public_endpoint,
                calendar=calendar,
                signer=context.signer,
            )
        )
    return kinds
