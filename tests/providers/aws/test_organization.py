"""Organization discovery: which accounts, under which names, reached how (moto, real HTTP).

The organization below is built in moto through its API; reaper lists it through a
``CountingProxy`` whose request counts and fault rules make the checks.

    root ── management (123456789012, never swept unless named)
     ├─ ci ─────── "CI Sandbox #1", "Excluded By Id"
     │   └─ nested ── "Nested Runner"
     └─ prod ───── "Prod Payments"
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sweep_support import run_sweep

from reaper.config import AwsAccount, AwsOrganization, parse_settings
from reaper.errors import ConfigError
from reaper.metrics import Metrics
from reaper.model import Action, Result
from reaper.providers.aws.clients import ORGANIZATION_SCOPE, AwsClients, AwsConnection
from reaper.providers.aws.organization import OrgAccount, discover, merge_accounts, select
from reaper.providers.catalog import build_kinds
from reaper.results import ExitCode
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.organization import SandboxOrganization, launch_aged, live_ids
from reaper.sandbox.proxy import CountingProxy

ORGANIZATION_LOGGER = "reaper.providers.aws.organization"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
REGIONS = ("us-east-1", "eu-west-1")
PIPELINE = {"reaper-pipeline": "gitlab-ci-1", "reaper-owner": "team-ci"}


class Org:
    def __init__(self, sandbox: MotoServer, session: boto3.Session) -> None:
        self.org = SandboxOrganization(session, sandbox.endpoint_url)
        org = self.org
        self.ci = org.add_ou("ci")
        self.nested = org.add_ou("nested", self.ci)
        self.prod = org.add_ou("prod")
        self.sandbox = org.add_account("CI Sandbox #1", self.ci)
        self.excluded = org.add_account("Excluded By Id", self.ci)
        self.runner = org.add_account("Nested Runner", self.nested)
        self.payments = org.add_account("Prod Payments", self.prod)

    def names(self, *ids: str) -> set[str]:
        """Accounts found are named by their id, whatever their display names."""
        return set(ids)


@pytest.fixture
def org(sandbox: MotoServer, aws_session: boto3.Session) -> Org:
    return Org(sandbox, aws_session)


def clients(
    organization: dict[str, Any],
    endpoint: str,
    session: boto3.Session,
    accounts: list[dict[str, Any]] | None = None,
) -> AwsClients:
    aws: dict[str, Any] = {"regions": list(REGIONS), "organization": organization}
    if accounts is not None:
        aws["accounts"] = accounts
    settings = parse_settings({"providers": {"aws": aws}}, "org.yaml")
    assert settings.providers.aws is not None
    return AwsClients(settings.providers.aws, session, endpoint)


# -- pure ---------------------------------------------------------------------------------


@given(name=st.text(max_size=80), number=st.integers(1, 10**12 - 1))
def test_accounts_found_are_named_by_their_id_whatever_their_display_name(
    name: str, number: int
) -> None:
    account_id = f"{number:012d}"
    (found,) = select([OrgAccount(account_id, name, True)], AwsOrganization(), "0" * 12, set())
    assert found.name == account_id
    assert NAME.fullmatch(found.name)


def test_only_active_accounts_but_not_the_management_or_excluded_ones() -> None:
    listed = [
        OrgAccount("111111111111", "Management", True),
        OrgAccount("222222222222", "Live", True),
        OrgAccount("333333333333", "Suspended", False),
        OrgAccount("444444444444", "By Id", True),
        OrgAccount("555555555555", "By OU", True),
    ]
    settings = AwsOrganization(role_name="ops/reaper", exclude_accounts=("444444444444",))
    chosen = select(listed, settings, "111111111111", {"555555555555"})
    assert chosen == [
        AwsAccount(name="222222222222", role_arn="arn:aws:iam::222222222222:role/ops/reaper")
    ]


def test_roles_are_assumed_in_the_organizations_partition() -> None:
    listed = [OrgAccount("222222222222", "Live", True)]
    (chosen,) = select(listed, AwsOrganization(), "111111111111", set(), "aws-cn")
    assert chosen.role_arn == "arn:aws-cn:iam::222222222222:role/reaper"


def test_accounts_named_by_hand_win_and_are_not_swept_twice() -> None:
    named = [
        AwsAccount(name="ci"),
        AwsAccount(name="sandbox", role_arn="arn:aws:iam::222222222222:role/custom"),
        AwsAccount(name="444444444444"),  # that account, with the ambient credentials
    ]
    found = [
        AwsAccount(name="222222222222", role_arn="arn:aws:iam::222222222222:role/reaper"),
        AwsAccount(name="333333333333", role_arn="arn:aws:iam::333333333333:role/reaper"),
        AwsAccount(name="444444444444", role_arn="arn:aws:iam::444444444444:role/reaper"),
    ]
    merged = merge_accounts(named, found)
    assert [a.name for a in merged] == ["ci", "sandbox", "444444444444", "333333333333"]
    assert merged[1].role_arn == "arn:aws:iam::222222222222:role/custom"
    assert merged[2].role_arn is None


@pytest.mark.parametrize(
    ("aws", "problem"),
    [
        (
            {"accounts": [{"name": ORGANIZATION_SCOPE}]},
            f"org.yaml: providers.aws.accounts: {ORGANIZATION_SCOPE!r} is reserved "
            "(the scope of a failed organization listing)",
        ),
        (
            {"accounts": [{"name": ORGANIZATION_SCOPE}], "organization": {}},
            f"org.yaml: providers.aws.accounts: {ORGANIZATION_SCOPE!r} is reserved "
            "(the scope of a failed organization listing)",
        ),
    ],
    ids=["without-organization", "with-organization"],
)
def test_the_error_scopes_name_is_reserved(aws: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings({"providers": {"aws": {"regions": ["us-east-1"], **aws}}}, "org.yaml")
    assert excinfo.value.problems == (problem,)


# -- discovery against moto ---------------------------------------------------------------


def test_an_ou_includes_the_ous_below_it(org: Org, aws_session: boto3.Session) -> None:
    found = clients(
        {"include_ous": [org.ci], "exclude_accounts": [org.excluded]},
        org.org.endpoint_url,
        aws_session,
    ).accounts()
    assert {a.name for a in found} == org.names(org.sandbox, org.runner)
    assert {a.role_arn for a in found} == {
        f"arn:aws:iam::{i}:role/reaper" for i in (org.sandbox, org.runner)
    }


def test_the_whole_organization_minus_excluded_subtrees_and_the_management_account(
    org: Org, aws_session: boto3.Session
) -> None:
    found = clients({"exclude_ous": [org.nested]}, org.org.endpoint_url, aws_session).accounts()
    assert {a.name for a in found} == org.names(org.sandbox, org.excluded, org.payments)
    assert all(org.org.management_id not in str(a.role_arn) for a in found)


def test_named_accounts_are_merged_with_the_organization(
    org: Org, aws_session: boto3.Session
) -> None:
    named = [
        {"name": "ci"},  # the ambient credentials: the management account, named on purpose
        {"name": "payments", "role_arn": f"arn:aws:iam::{org.payments}:role/reaper"},
    ]
    found = clients({"include_ous": [org.prod, org.ci]}, org.org.endpoint_url, aws_session, named)
    names = [a.name for a in found.accounts()]
    assert names[:2] == ["ci", "payments"]
    assert set(names[2:]) == org.names(org.sandbox, org.excluded, org.runner)
    assert len(found.scopes()) == len(names) * len(REGIONS)


def test_each_ou_is_listed_once_and_excluded_subtrees_are_never_listed_for_accounts(
    org: Org, proxy: CountingProxy, aws_session: boto3.Session
) -> None:
    # nested is named next to its parent, and excluded as well; prod is named twice.
    found = clients(
        {"include_ous": [org.ci, org.nested, org.prod, org.prod], "exclude_ous": [org.nested]},
        proxy.endpoint_url,
        aws_session,
    ).accounts()

    assert {a.name for a in found} == org.names(org.sandbox, org.excluded, org.payments)
    # The OUs of nested (excluded, walked first), then of ci and prod; accounts of ci and prod.
    assert proxy.count("organizations", "ListOrganizationalUnitsForParent") == 3
    assert proxy.count("organizations", "ListAccountsForParent") == 2
    assert proxy.count("organizations", "ListAccounts") == 0


def test_without_include_ous_only_the_excluded_subtrees_accounts_are_listed_by_parent(
    org: Org, proxy: CountingProxy, aws_session: boto3.Session
) -> None:
    # ci is excluded and so is nested, below it: each walked and listed once.
    found = clients(
        {"exclude_ous": [org.ci, org.nested]}, proxy.endpoint_url, aws_session
    ).accounts()

    assert {a.name for a in found} == org.names(org.payments)
    assert proxy.count("organizations", "ListAccounts") == 1
    assert proxy.count("organizations", "ListOrganizationalUnitsForParent") == 2
    assert proxy.count("organizations", "ListAccountsForParent") == 2


def test_a_renamed_account_keeps_its_name_and_the_rename_is_logged(
    aws_session: boto3.Session, caplog: pytest.LogCaptureFixture
) -> None:
    client = aws_session.client("organizations", region_name="us-east-1")
    found: list[list[str]] = []
    known: dict[str, str] = {}
    with Stubber(client) as stub, caplog.at_level(logging.INFO, ORGANIZATION_LOGGER):
        for display in ("CI Sandbox #1", "CI Sandbox #2", "CI Sandbox #2"):
            stub.add_response(
                "describe_organization", {"Organization": {"MasterAccountId": "111111111111"}}
            )
            account = {"Id": "222222222222", "Name": display, "State": "ACTIVE"}
            stub.add_response("list_accounts", {"Accounts": [account]})
            found.append([a.name for a in discover(client, AwsOrganization(), known)])

    assert found == [["222222222222"]] * 3
    assert [r.getMessage() for r in caplog.records] == [
        "organization accounts found: 222222222222 'CI Sandbox #1'",
        "organization account 222222222222 is now named 'CI Sandbox #2' (was 'CI Sandbox #1'); "
        "its reaper name is unchanged",
    ]


def test_an_unreadable_organization_is_a_collect_error_and_named_accounts_still_run(
    sandbox: MotoServer, aws_session: boto3.Session, tmp_path: Path
) -> None:
    # No organization was created: Organizations answers AWSOrganizationsNotInUseException.
    data = {
        "providers": {
            "aws": {"regions": ["us-east-1"], "accounts": [{"name": "ci"}], "organization": {}}
        },
        "audit": {"path": str(tmp_path / "audit.jsonl")},
    }
    settings = parse_settings(data, "org.yaml")
    kinds = build_kinds(settings, {"aws": _connection(aws_session, sandbox.endpoint_url)})
    report = run_sweep(settings, kinds, tmp_path / "audit.jsonl", datetime.now(UTC), True)
    assert [(str(e.scope), e.message.split(":")[0]) for e in report.collection.errors] == [
        (ORGANIZATION_SCOPE, "organizations DescribeOrganization failed")
    ]
    assert report.exit_code is ExitCode.PARTIAL_FAILURE


# -- a sweep over the organization --------------------------------------------------------


def test_one_assume_role_per_account_and_a_refused_role_fails_only_its_account(
    org: Org, sandbox: MotoServer, aws_session: boto3.Session, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    members = [org.sandbox, org.excluded, org.runner, org.payments]
    expired: dict[str, set[str]] = {}
    for account_id in members:
        session = org.org.session_in(account_id)
        for region in REGIONS:
            ids = launch_aged(
                sandbox, session, account_id, region, [timedelta(days=2)] * 2, PIPELINE, now
            )
            expired.setdefault(account_id, set()).update(ids)
    audit = tmp_path / "audit.jsonl"
    data = {
        "dry_run": False,
        "providers": {
            "aws": {"regions": list(REGIONS), "organization": {}, "max_workers": 8},
        },
        "policy": {"grace_period": "0s"},
        "safety": {"max_actions_per_sweep": 100, "max_fraction": 1.0},
        "audit": {"path": str(audit)},
    }
    settings = parse_settings(data, "org.yaml")
    refused = f"RoleArn={quote(f'arn:aws:iam::{org.runner}:role/reaper', safe='')}".encode()
    with CountingProxy(sandbox.endpoint_url) as proxy:
        denied = proxy.add_fault(
            None, "AssumeRole", 403, "AccessDenied", service="sts", body_contains=refused
        )
        metrics = Metrics(CollectorRegistry())
        kinds = build_kinds(settings, {"aws": _connection(aws_session, proxy.endpoint_url)})
        report = run_sweep(settings, kinds, audit, now, False, metrics=metrics)
        assume_calls = proxy.count("sts", "AssumeRole")

    runner = next(iter(org.names(org.runner)))
    # Every account once; the refused one once too, though two regions needed it.
    assert assume_calls == len(members)
    assert denied.served == 1
    assert sorted((e.scope.account, e.scope.region) for e in report.collection.errors) == [
        (runner, r) for r in sorted(REGIONS)
    ]
    assert report.exit_code is ExitCode.PARTIAL_FAILURE
    sample = metrics.registry.get_sample_value
    assert sample("reaper_collect_errors_total", {"provider": "aws", "account": runner}) == 2
    assert all("AccessDenied" in e.message for e in report.collection.errors)
    # Everything else was swept and acted on, and the refused account left alone.
    deleted = {
        o.ref.id for o in report.outcomes if o.action is Action.DELETE and o.result is Result.DONE
    }
    for account_id in members:
        session = org.org.session_in(account_id)
        alive = set().union(*(live_ids(session, sandbox.endpoint_url, r) for r in REGIONS))
        if account_id == org.runner:
            assert alive == expired[account_id]
        else:
            assert alive.isdisjoint(expired[account_id])
            assert expired[account_id] <= deleted


def _connection(session: boto3.Session, endpoint: str) -> AwsConnection:
    return AwsConnection(session, endpoint)
