"""Pure: the IAM policy reaper needs, generated from the config.

``reaper iam-policy -c config.yaml`` prints :func:`policy_document`'s result, and
``deploy/aws/iam-policy.json`` is its output for ``config.example.yaml`` (a test keeps
them equal). Each kind declares the actions it calls (``ResourceKind.permissions``); this
module says on which resources and under which conditions, one statement builder per kind
(a test checks that the two agree). The config adds the rest: the configured tag keys,
regions, the accounts' roles (``sts:AssumeRole``), with ``organization`` the reads that
list it and its member accounts' role (``sts:AssumeRole`` on
``arn:aws:iam::*:role/<role_name>``), the S3 audit sink and the global brake's bucket.

What the conditions hold, besides the actions and resource types:

* every EC2 and EKS call outside the configured regions is denied (``aws:RequestedRegion``);
* instances and clusters are stopped, terminated, deleted, reconfigured and tagged only
  when they carry the pipeline tag (``ec2:ResourceTag`` / ``aws:ResourceTag``), and never
  stopped, terminated or deleted while their protect tag says so (an explicit Deny);
* reaper writes and removes only its own lifecycle keys (``aws:TagKeys``), so it can never
  strip the protect tag or any tag the pipeline set, and never removes tags without
  naming them;
* the quarantine security group is created only tagged ``reaper-managed=true`` and only
  groups so tagged have their egress revoked or are swapped onto interfaces (the sweep);
* node groups and Fargate profiles are deleted, resized and tagged only when they carry
  the pipeline tag themselves;
* the audit trail is written and read under its bucket prefix only, locked in the
  configured Object Lock mode; the global brake's records under theirs;
* with ``organization``, the role assumed is the configured role name in any account: IAM
  cannot name "the accounts of my organization" in a role ARN, so the member accounts'
  roles must trust only reaper's principal (and an SCP may keep others from creating
  roles of that name).

What IAM cannot express is left as narrow as its resource types allow and listed in the
README ("Least privilege"): an interface's groups can be changed on any interface, since
an ENI does not carry its instance's tags; ``reaper release`` puts back whatever groups
an interface had, so its statement (left out with ``release=False``) allows attaching any
group; describe and list calls cannot be narrowed beyond region.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reaper.config import (
    AwsOrganization,
    AwsSettings,
    GlobalBrakeSettings,
    S3AuditSettings,
    Settings,
    TagKeys,
)
from reaper.lifecycle import ALL_KEYS, RESERVED_KEYS
from reaper.providers.aws.ec2 import Ec2Instances
from reaper.providers.aws.ec2_facts import MANAGED_TAG
from reaper.providers.aws.eks import EksClusters
from reaper.providers.aws.eks_records import ORIGINAL_SCALING

POLICY_VERSION = "2012-10-17"
MANAGED_POLICY_LIMIT = 6144
"""The most characters (white space aside) a customer managed policy may have; an inline
role policy may have 10,240."""
NOT_PROTECTED = ("false", "no", "0", "off")
"""The protect tag's values that do not protect (``reaper.policy``'s rule, compared without
case by IAM; any other value, or an empty one, protects)."""

Condition = Mapping[str, Mapping[str, str | Sequence[str]]]


@dataclass(frozen=True)
class Statement:
    """One IAM policy statement."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Condition = field(default_factory=dict)
    effect: str = "Allow"
    release_only: bool = False
    """Needed only by ``reaper release`` (left out of a sweep-only policy)."""

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": self.effect,
            "Action": list(self.actions),
            "Resource": list(self.resources),
        }
        if self.condition:
            body["Condition"] = {
                operator: {k: v if isinstance(v, str) else list(v) for k, v in keys.items()}
                for operator, keys in self.condition.items()
            }
        return body


@dataclass(frozen=True)
class PolicyContext:
    """What the statements of every kind are made from."""

    tags: TagKeys
    regions: tuple[str, ...]
    partition: str = "aws"

    def arn(self, service: str, resource: str) -> str:
        """An ARN pattern in any region and account (regions are limited by one Deny)."""
        return f"arn:{self.partition}:{service}:*:*:{resource}"


def instance_tag_keys() -> tuple[str, ...]:
    """Every tag key reaper writes or removes on an EC2 instance."""
    return (*ALL_KEYS, *RESERVED_KEYS, *Ec2Instances.state_tags)


def cluster_tag_keys() -> tuple[str, ...]:
    """Every tag key reaper writes or removes on an EKS cluster."""
    return (*ALL_KEYS, *RESERVED_KEYS, *EksClusters.state_tags)


def _who_am_i() -> Statement:
    # Needs no permission in AWS; listed so the policy names every call reaper makes.
    return Statement("WhoAmI", ("sts:GetCallerIdentity",), ("*",))


def _only_in_regions(service: str, context: PolicyContext) -> Statement:
    return Statement(
        f"{service.capitalize()}OnlyInConfiguredRegions",
        (f"{service}:*",),
        ("*",),
        {"StringNotEquals": {"aws:RequestedRegion": context.regions}},
        effect="Deny",
    )


def _own_tags(keys: Sequence[str], context: PolicyContext, tag_prefix: str) -> Condition:
    """Only reaper's own keys, named (never an untag-everything request), on a resource
    that carries the pipeline tag."""
    return {
        "Null": {f"{tag_prefix}/{context.tags.pipeline}": "false", "aws:TagKeys": "false"},
        "ForAllValues:StringEquals": {"aws:TagKeys": tuple(keys)},
    }


def _protected(tag_prefix: str, tags: TagKeys) -> Condition:
    """The protect tag is present with a value that protects."""
    key = f"{tag_prefix}/{tags.protect}"
    return {"Null": {key: "false"}, "StringNotEqualsIgnoreCase": {key: NOT_PROTECTED}}


def ec2_instance_statements(context: PolicyContext) -> list[Statement]:
    """What ``Ec2Instances`` calls, on which resources, under which conditions."""
    pipeline: Condition = {"Null": {f"ec2:ResourceTag/{context.tags.pipeline}": "false"}}
    instance = (context.arn("ec2", "instance/*"),)
    group = (context.arn("ec2", "security-group/*"),)
    managed_group = {"StringEquals": {f"ec2:ResourceTag/{MANAGED_TAG}": "true"}}
    new_managed_group: Condition = {
        "StringEquals": {f"aws:RequestTag/{MANAGED_TAG}": "true"},
        "ForAllValues:StringEquals": {"aws:TagKeys": (MANAGED_TAG,)},
    }
    return [
        _who_am_i(),
        _only_in_regions("ec2", context),
        Statement(
            "Ec2Read",
            ("ec2:DescribeInstances", "ec2:DescribeImages", "ec2:DescribeSecurityGroups"),
            ("*",),
        ),
        Statement(
            "Ec2StopTerminatePipeline",
            ("ec2:StopInstances", "ec2:TerminateInstances"),
            instance,
            pipeline,
        ),
        Statement(
            "Ec2NeverStopTerminateProtected",
            ("ec2:StopInstances", "ec2:TerminateInstances"),
            instance,
            _protected("ec2:ResourceTag", context.tags),
            effect="Deny",
        ),
        Statement(
            "Ec2OwnTagsOnPipeline",
            ("ec2:CreateTags", "ec2:DeleteTags"),
            instance,
            _own_tags(instance_tag_keys(), context, "ec2:ResourceTag"),
        ),
        Statement(
            "Ec2CreateQuarantineGroup",
            ("ec2:CreateSecurityGroup",),
            group,
            new_managed_group,
        ),
        Statement(
            "Ec2QuarantineGroupInVpc",
            ("ec2:CreateSecurityGroup",),
            (context.arn("ec2", "vpc/*"),),
        ),
        Statement(
            "Ec2TagQuarantineGroupOnCreate",
            ("ec2:CreateTags",),
            group,
            {
                "StringEquals": {
                    **new_managed_group["StringEquals"],
                    "ec2:CreateAction": "CreateSecurityGroup",
                },
                "ForAllValues:StringEquals": new_managed_group["ForAllValues:StringEquals"],
            },
        ),
        Statement(
            "Ec2CloseQuarantineGroup",
            ("ec2:RevokeSecurityGroupEgress",),
            group,
            managed_group,
        ),
        Statement(
            # An ENI does not carry its instance's tags: any interface.
            "Ec2SwapInterfaceGroups",
            ("ec2:ModifyNetworkInterfaceAttribute",),
            (context.arn("ec2", "network-interface/*"),),
        ),
        Statement(
            "Ec2IntoQuarantineGroup",
            ("ec2:ModifyNetworkInterfaceAttribute",),
            group,
            managed_group,
        ),
        Statement(
            "ReleaseStartPipeline",
            ("ec2:StartInstances",),
            instance,
            pipeline,
            release_only=True,
        ),
        Statement(
            # Release puts back the groups an interface had before: any group.
            "ReleaseRestoreGroups",
            ("ec2:ModifyNetworkInterfaceAttribute",),
            group,
            release_only=True,
        ),
    ]


def eks_cluster_statements(context: PolicyContext) -> list[Statement]:
    """What ``EksClusters`` calls, on which resources, under which conditions."""
    pipeline: Condition = {"Null": {f"aws:ResourceTag/{context.tags.pipeline}": "false"}}
    nodegroup = context.arn("eks", "nodegroup/*/*/*")
    profile = context.arn("eks", "fargateprofile/*/*/*")
    cluster = context.arn("eks", "cluster/*")
    return [
        _who_am_i(),
        _only_in_regions("eks", context),
        Statement(
            # Listing cannot be narrowed, and every cluster is described to read its tags.
            "EksRead",
            (
                "eks:ListClusters",
                "eks:DescribeCluster",
                "eks:ListNodegroups",
                "eks:DescribeNodegroup",
                "eks:ListFargateProfiles",
                "eks:DescribeFargateProfile",
            ),
            ("*",),
        ),
        Statement(
            "EksDeleteUpdatePipeline",
            ("eks:DeleteCluster", "eks:UpdateClusterConfig"),
            (cluster,),
            pipeline,
        ),
        Statement(
            "EksOwnTagsOnPipeline",
            ("eks:TagResource", "eks:UntagResource"),
            (cluster,),
            _own_tags(cluster_tag_keys(), context, "aws:ResourceTag"),
        ),
        Statement(
            "EksPipelineNodegroups",
            ("eks:DeleteNodegroup", "eks:UpdateNodegroupConfig"),
            (nodegroup,),
            pipeline,
        ),
        Statement(
            "EksNodegroupScalingTag",
            ("eks:TagResource", "eks:UntagResource"),
            (nodegroup,),
            _own_tags((ORIGINAL_SCALING,), context, "aws:ResourceTag"),
        ),
        Statement(
            "EksPipelineFargateProfiles",
            ("eks:DeleteFargateProfile",),
            (profile,),
            pipeline,
        ),
        Statement(
            # IAM sees a node group's and a profile's own tags, not their cluster's.
            "EksNeverDeleteProtected",
            ("eks:DeleteCluster", "eks:DeleteNodegroup", "eks:DeleteFargateProfile"),
            (cluster, nodegroup, profile),
            _protected("aws:ResourceTag", context.tags),
            effect="Deny",
        ),
    ]


KIND_STATEMENTS: Mapping[str, Callable[[PolicyContext], list[Statement]]] = {
    "ec2_instance": ec2_instance_statements,
    "eks_cluster": eks_cluster_statements,
}
"""One statement builder per AWS kind, by ``AwsSettings.KINDS`` name."""


def assume_role_statements(aws: AwsSettings) -> list[Statement]:
    """``sts:AssumeRole`` on exactly the roles the accounts name; none if they name none."""
    roles = tuple(dict.fromkeys(a.role_arn for a in aws.accounts if a.role_arn is not None))
    if not roles:
        return []
    return [Statement("AssumeAccountRoles", ("sts:AssumeRole",), roles)]


ORGANIZATION_ACTIONS = (
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
)
"""Every call :func:`reaper.providers.aws.organization.discover` may make: the first two
list a whole organization, the last two walk OU subtrees (``include_ous``, ``exclude_ous``)."""


def organization_statements(organization: AwsOrganization, partition: str) -> list[Statement]:
    """Read the organization's accounts, with only the calls its settings make, and assume
    the role ``role_name`` in any account.

    Organizations' resources name the organization's id, which the config does not know,
    so the reads are on ``*`` (they only list).
    """
    describe, list_all, *walk = ORGANIZATION_ACTIONS
    reads = [describe]
    if not organization.include_ous:
        reads.append(list_all)
    if organization.include_ous or organization.exclude_ous:
        reads += walk
    return [
        Statement("OrganizationRead", tuple(reads), ("*",)),
        Statement(
            "AssumeOrganizationRole",
            ("sts:AssumeRole",),
            (f"arn:{partition}:iam::*:role/{organization.role_name}",),
        ),
    ]


def global_brake_statements(brake: GlobalBrakeSettings, partition: str) -> list[Statement]:
    """Publish and read the shards' brake records under their prefix; none without an S3
    store. Records are written create-only (``If-None-Match``), never deleted."""
    if brake.s3_bucket is None:
        return []
    objects = f"arn:{partition}:s3:::{brake.s3_bucket}/{brake.s3_prefix}/*"
    return [
        Statement("GlobalBrakeWriteRead", ("s3:PutObject", "s3:GetObject"), (objects,)),
        Statement(
            "GlobalBrakeList",
            ("s3:ListBucket",),
            (f"arn:{partition}:s3:::{brake.s3_bucket}",),
            {"StringLike": {"s3:prefix": f"{brake.s3_prefix}/*"}},
        ),
    ]


def s3_audit_statements(s3: S3AuditSettings, partition: str) -> list[Statement]:
    """Write, read and list the audit objects under the sink's prefix, and nothing else."""
    objects = f"arn:{partition}:s3:::{s3.bucket}/{s3.prefix}/*" if s3.prefix else None
    objects = objects or f"arn:{partition}:s3:::{s3.bucket}/*"
    locked: Condition = (
        {"StringEquals": {"s3:object-lock-mode": s3.object_lock_mode}}
        if s3.object_lock_mode is not None
        else {}
    )
    listing: Condition = {"StringLike": {"s3:prefix": f"{s3.prefix}/*"}} if s3.prefix else {}
    statements = [
        Statement("AuditWrite", ("s3:PutObject",), (objects,), locked),
        Statement("AuditRead", ("s3:GetObject",), (objects,)),
        Statement("AuditList", ("s3:ListBucket",), (f"arn:{partition}:s3:::{s3.bucket}",), listing),
    ]
    if s3.object_lock_mode is not None:
        statements.append(
            Statement("AuditRetention", ("s3:PutObjectRetention",), (objects,), locked)
        )
    return statements


def partition_of(regions: Sequence[str]) -> str:
    """The AWS partition of the configured regions: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
    first = regions[0] if regions else ""
    if first.startswith("cn-"):
        return "aws-cn"
    if first.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def policy_statements(settings: Settings, *, release: bool = True) -> list[Statement]:
    """Every statement the config needs, each once. Pure.

    ``release=False`` leaves out what only ``reaper release`` needs (starting instances,
    attaching any security group), for a principal that only sweeps.
    """
    aws = settings.providers.aws
    if aws is None:
        raise ValueError("the config has no providers.aws section")
    context = PolicyContext(settings.tags, aws.regions, partition_of(aws.regions))
    statements = [s for kind in aws.kinds for s in KIND_STATEMENTS[kind](context)]
    statements += assume_role_statements(aws)
    if aws.organization is not None:
        statements += organization_statements(aws.organization, context.partition)
    if settings.audit.s3 is not None:
        statements += s3_audit_statements(settings.audit.s3, context.partition)
    if settings.safety.global_brake is not None:
        statements += global_brake_statements(settings.safety.global_brake, context.partition)
    unique = {s.sid: s for s in statements if release or not s.release_only}
    return list(unique.values())


def policy_document(settings: Settings, *, release: bool = True) -> dict[str, Any]:
    """The IAM policy document for a config. Pure; consumed by ``reaper iam-policy``."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [s.document() for s in policy_statements(settings, release=release)],
    }


def size(document: Mapping[str, Any]) -> int:
    """The policy's length as IAM counts it against its quotas (white space aside)."""
    return len(json.dumps(document, separators=(",", ":")))


def render(document: Mapping[str, Any]) -> str:
    """The policy as ``deploy/aws/iam-policy.json`` holds it."""
    return json.dumps(document, indent=2) + "\n"
