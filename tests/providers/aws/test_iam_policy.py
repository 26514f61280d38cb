"""The IAM policy generator on its own: what it grants, on which resources, under which
conditions, for a config. ``test_least_privilege.py`` runs sweeps as a principal holding
its output on moto with IAM enforced; ``test_deploy.py`` keeps deploy/aws in step."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from click.testing import CliRunner
from paths import REPO

from reaper.cli import cli
from reaper.config import AwsSettings, Settings, load_settings, parse_settings
from reaper.lifecycle import ALL_KEYS, RESERVED_KEYS
from reaper.providers.aws import iam_policy
from reaper.providers.aws.iam_policy import (
    KIND_STATEMENTS,
    MANAGED_POLICY_LIMIT,
    PolicyContext,
    policy_document,
    policy_statements,
    size,
)
from reaper.providers.base import REGISTRY
from reaper.sandbox.demo import demo_settings

AWS_KINDS = sorted(key for key in REGISTRY if key.startswith("aws:"))
STAGING_ROLE = "arn:aws:iam::210987654321:role/reaper-sandbox"
S3_AUDIT = {
    "bucket": "reaper-audit-trail",
    "prefix": "reaper-audit",
    "region": "us-east-1",
    "object_lock_mode": "GOVERNANCE",
    "retain_days": 1,
}


def _config(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": {
            "aws": {
                "accounts": [{"name": "ci"}, {"name": "staging", "role_arn": STAGING_ROLE}],
                "regions": ["us-east-1", "eu-west-1"],
                "kinds": ["ec2_instance", "eks_cluster"],
            }
        },
        "audit": {"path": "audit.jsonl", "s3": S3_AUDIT},
    }
    for key, value in changes.items():
        data[key] = value
    return data


def _settings(data: Mapping[str, Any] | None = None) -> Settings:
    return parse_settings(copy.deepcopy(dict(data or _config())), "test.yaml")


def _statements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from document["Statement"]


def _granting(document: Mapping[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in _statements(document) if s["Effect"] == "Allow" and action in s["Action"]]


def _actions(document: Mapping[str, Any]) -> set[str]:
    return {a for s in _statements(document) if s["Effect"] == "Allow" for a in s["Action"]}


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# -- each kind's declared permissions and its statements agree ---------------------------


def test_every_aws_kind_has_a_statement_builder() -> None:
    assert sorted(f"aws:{k}" for k in KIND_STATEMENTS) == AWS_KINDS
    assert sorted(KIND_STATEMENTS) == sorted(AwsSettings.KINDS)


@pytest.mark.parametrize("key", AWS_KINDS)
def test_a_kinds_statements_grant_exactly_the_permissions_it_declares(key: str) -> None:
    kind = REGISTRY[key]
    statements = KIND_STATEMENTS[kind.kind](PolicyContext(_settings().tags, ("us-east-1",)))

    granted = {a for s in statements if s.effect == "Allow" for a in s.actions}

    assert granted == set(kind.permissions)


def test_the_policy_grants_every_kinds_permissions_and_only_what_the_config_adds() -> None:
    document = policy_document(_settings())

    declared = {p for key in AWS_KINDS for p in REGISTRY[key].permissions}
    added = {"sts:AssumeRole", "s3:PutObject", "s3:GetObject", "s3:ListBucket"}
    assert _actions(document) == declared | added | {"s3:PutObjectRetention"}


# -- conditions -----------------------------------------------------------------------


def test_instances_are_acted_on_only_with_the_configured_pipeline_tag() -> None:
    data = _config(tags={"pipeline": "ci-run", "protect": "keep-me"})
    document = policy_document(_settings(data))

    for action in ("ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances"):
        (statement,) = _granting(document, action)
        assert statement["Resource"] == ["arn:aws:ec2:*:*:instance/*"]
        assert statement["Condition"]["Null"] == {"ec2:ResourceTag/ci-run": "false"}
    for action in ("eks:DeleteCluster", "eks:DeleteNodegroup", "eks:DeleteFargateProfile"):
        (statement,) = _granting(document, action)
        assert statement["Condition"]["Null"] == {"aws:ResourceTag/ci-run": "false"}
    everything = list(_strings(document))
    assert not [s for s in everything if "reaper-pipeline" in s or "reaper-protect" in s]


def test_protected_instances_and_clusters_are_never_stopped_terminated_or_deleted() -> None:
    document = policy_document(_settings(_config(tags={"protect": "keep-me"})))

    denies = [s for s in _statements(document) if s["Effect"] == "Deny"]
    by_action = {a: s for s in denies for a in s["Action"] if "RequestedRegion" not in str(s)}
    for action, prefix in (
        ("ec2:TerminateInstances", "ec2:ResourceTag"),
        ("ec2:StopInstances", "ec2:ResourceTag"),
        ("eks:DeleteCluster", "aws:ResourceTag"),
        ("eks:DeleteNodegroup", "aws:ResourceTag"),
        ("eks:DeleteFargateProfile", "aws:ResourceTag"),
    ):
        condition = by_action[action]["Condition"]
        assert condition["Null"] == {f"{prefix}/keep-me": "false"}
        assert condition["StringNotEqualsIgnoreCase"] == {
            f"{prefix}/keep-me": ["false", "no", "0", "off"]
        }


@pytest.mark.parametrize(
    ("actions", "keys"),
    [
        pytest.param(
            ("ec2:CreateTags", "ec2:DeleteTags"),
            (*ALL_KEYS, *RESERVED_KEYS, *REGISTRY["aws:ec2_instance"].state_tags),
            id="ec2-instance",
        ),
        pytest.param(
            ("eks:TagResource", "eks:UntagResource"),
            (*ALL_KEYS, *RESERVED_KEYS, *REGISTRY["aws:eks_cluster"].state_tags),
            id="eks-cluster",
        ),
    ],
)
def test_reaper_writes_and_removes_only_its_own_tag_keys(
    actions: tuple[str, ...], keys: tuple[str, ...]
) -> None:
    settings = _settings()
    document = policy_document(settings)
    user_keys = set(settings.tags.model_dump().values())

    for action in actions:
        on_own_resource = [
            s
            for s in _granting(document, action)
            if s["Resource"][0].endswith(("instance/*", "cluster/*"))
        ]
        (statement,) = on_own_resource
        assert statement["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": list(keys)}
        # Naming no key would remove every tag.
        assert statement["Condition"]["Null"]["aws:TagKeys"] == "false"
    allowed_keys = {
        k
        for s in _statements(document)
        for k in s.get("Condition", {}).get("ForAllValues:StringEquals", {}).get("aws:TagKeys", [])
    }
    assert "reaper-signature" in allowed_keys
    assert not allowed_keys & user_keys, "reaper may never write or strip a user's tag"


def test_the_quarantine_group_is_the_only_group_reaper_creates_closes_or_tags() -> None:
    document = policy_document(_settings())

    (create,) = [
        s
        for s in _granting(document, "ec2:CreateSecurityGroup")
        if "security-group" in s["Resource"][0]
    ]
    assert create["Condition"] == {
        "StringEquals": {"aws:RequestTag/reaper-managed": "true"},
        "ForAllValues:StringEquals": {"aws:TagKeys": ["reaper-managed"]},
    }
    (revoke,) = _granting(document, "ec2:RevokeSecurityGroupEgress")
    assert revoke["Condition"] == {"StringEquals": {"ec2:ResourceTag/reaper-managed": "true"}}
    (tag_group,) = [
        s for s in _granting(document, "ec2:CreateTags") if "security-group" in s["Resource"][0]
    ]
    assert tag_group["Condition"]["StringEquals"]["ec2:CreateAction"] == "CreateSecurityGroup"


def test_a_sweep_only_policy_attaches_only_the_quarantine_group_and_starts_nothing() -> None:
    full = policy_document(_settings())
    sweep_only = policy_document(_settings(), release=False)

    assert _actions(full) - _actions(sweep_only) == {"ec2:StartInstances"}
    onto_groups = [
        s
        for s in _granting(sweep_only, "ec2:ModifyNetworkInterfaceAttribute")
        if "security-group" in s["Resource"][0]
    ]
    assert [s["Condition"] for s in onto_groups] == [
        {"StringEquals": {"ec2:ResourceTag/reaper-managed": "true"}}
    ]


def test_ec2_and_eks_are_denied_outside_the_configured_regions() -> None:
    document = policy_document(_settings())

    region_denies = {
        s["Action"][0]: s["Condition"]
        for s in _statements(document)
        if s["Effect"] == "Deny" and s["Resource"] == ["*"]
    }
    assert region_denies == {
        service: {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}
        for service in ("ec2:*", "eks:*")
    }


def test_roles_and_the_audit_bucket_come_from_the_config() -> None:
    document = policy_document(_settings())

    (assume,) = _granting(document, "sts:AssumeRole")
    assert assume["Resource"] == [STAGING_ROLE]
    objects = "arn:aws:s3:::reaper-audit-trail/reaper-audit/*"
    (put,) = _granting(document, "s3:PutObject")
    assert put["Resource"] == [objects]
    assert put["Condition"] == {"StringEquals": {"s3:object-lock-mode": "GOVERNANCE"}}
    (get,) = _granting(document, "s3:GetObject")
    assert get["Resource"] == [objects]
    (listing,) = _granting(document, "s3:ListBucket")
    assert listing["Resource"] == ["arn:aws:s3:::reaper-audit-trail"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "reaper-audit/*"}}
    (retention,) = _granting(document, "s3:PutObjectRetention")
    assert retention["Resource"] == [objects]


def test_without_roles_or_an_s3_sink_there_is_nothing_to_assume_or_upload() -> None:
    data = _config(audit={"path": "audit.jsonl"})
    data["providers"]["aws"]["accounts"] = [{"name": "ci"}]
    data["providers"]["aws"]["kinds"] = ["ec2_instance"]

    actions = _actions(policy_document(_settings(data)))

    assert not {a for a in actions if a.startswith(("sts:AssumeRole", "s3:", "eks:"))}


ORGANIZATION_ACTIONS = {
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListOrganizationalUnitsForParent",
}


@pytest.mark.parametrize(
    ("organization", "reads"),
    [
        ({}, {"organizations:DescribeOrganization", "organizations:ListAccounts"}),
        (
            {"role_name": "ops/reaper", "exclude_ous": ["ou-ab12-cd34ef56"]},
            ORGANIZATION_ACTIONS,
        ),
        (
            {"include_ous": ["r-ab12"]},
            ORGANIZATION_ACTIONS - {"organizations:ListAccounts"},
        ),
    ],
    ids=["whole-organization", "excluded-ou-and-role-path", "included-ous"],
)
def test_an_organization_grants_its_reads_and_its_role_in_any_account(
    organization: dict[str, Any], reads: set[str]
) -> None:
    data = _config()
    data["providers"]["aws"]["organization"] = organization
    role = organization.get("role_name", "reaper")

    document = policy_document(_settings(data))

    assume = _granting(document, "sts:AssumeRole")
    assert sorted(r for s in assume for r in s["Resource"]) == sorted(
        [f"arn:aws:iam::*:role/{role}", STAGING_ROLE]
    )
    (read,) = [s for s in _statements(document) if s["Sid"] == "OrganizationRead"]
    assert (set(read["Action"]), read["Resource"]) == (reads, ["*"])
    assert {a for a in _actions(document) if a.startswith("organizations:")} == reads


def test_without_an_organization_nothing_of_organizations_is_granted() -> None:
    actions = _actions(policy_document(_settings()))
    assert not {a for a in actions if a.startswith("organizations:")}


def test_an_organization_role_is_assumed_in_its_partition() -> None:
    data = _config()
    data["providers"]["aws"]["organization"] = {}
    data["providers"]["aws"]["regions"] = ["cn-north-1"]
    data["audit"] = {"path": "audit.jsonl"}

    document = policy_document(_settings(data))

    (assume,) = [s for s in _statements(document) if s["Sid"] == "AssumeOrganizationRole"]
    assert assume["Resource"] == ["arn:aws-cn:iam::*:role/reaper"]


def test_the_global_brakes_bucket_is_written_and_read_under_its_prefix_only() -> None:
    brake = {"s3_bucket": "reaper-brake-bucket", "s3_prefix": "brake"}
    document = policy_document(_settings(_config(safety={"global_brake": brake})))

    (write,) = [s for s in _statements(document) if s["Sid"] == "GlobalBrakeWriteRead"]
    assert write["Action"] == ["s3:PutObject", "s3:GetObject"]
    assert write["Resource"] == ["arn:aws:s3:::reaper-brake-bucket/brake/*"]
    (listing,) = [s for s in _statements(document) if s["Sid"] == "GlobalBrakeList"]
    assert listing["Resource"] == ["arn:aws:s3:::reaper-brake-bucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "brake/*"}}
    # A brake on a shared volume needs nothing of S3.
    on_volume = _settings(_config(safety={"global_brake": {"directory": "/brake"}}))
    assert [s.sid for s in policy_statements(on_volume) if "GlobalBrake" in s.sid] == []


def test_every_statement_is_named_once() -> None:
    sids = [s.sid for s in policy_statements(_settings())]
    assert len(sids) == len(set(sids))
    assert all(sid.isalnum() for sid in sids)


def test_the_demo_policy_with_an_s3_sink_fits_in_a_managed_policy() -> None:
    settings = demo_settings("audit.jsonl")
    data = settings.model_dump(mode="json")
    data["audit"]["s3"] = S3_AUDIT

    assert size(policy_document(_settings(data))) <= MANAGED_POLICY_LIMIT


# -- the command --------------------------------------------------------------------------


def test_the_command_prints_the_generated_policy() -> None:
    example = REPO / "config.example.yaml"
    settings, _ = load_settings(example)

    result = CliRunner().invoke(cli, ["iam-policy", "-c", str(example)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == policy_document(settings)
    assert result.output == iam_policy.render(policy_document(settings))


def test_the_command_leaves_release_out_when_asked(tmp_path: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(_config()), encoding="utf-8")

    result = CliRunner().invoke(cli, ["iam-policy", "-c", str(config), "--sweep-only"])

    assert result.exit_code == 0, result.output
    assert "ec2:StartInstances" not in _actions(json.loads(result.output))


def test_the_command_refuses_a_bad_config_with_exit_2(tmp_path: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("providers: {aws: {regions: [moon-1]}}\n", encoding="utf-8")

    result = CliRunner().invoke(cli, ["iam-policy", "-c", str(config)])

    assert result.exit_code == 2
    assert "moon-1" in result.output
    assert "Traceback" not in result.output
