"""Shared fixtures: one moto server per session, a clean sandbox per test, no real AWS.

Every AWS call in the tests goes over real HTTP to the moto server (``MotoServer``),
directly or through a ``CountingProxy``. The environment is scrubbed so that a call that
escapes the sandbox carries placeholder credentials and fails loudly instead of reaching
an account.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from gcs_support import running_gcs_emulator

from reaper.config import Settings, parse_settings
from reaper.providers.aws.clients import AwsConnection
from reaper.providers.base import ResourceKind
from reaper.providers.catalog import build_kinds
from reaper.sandbox.environment import sandbox_environ
from reaper.sandbox.estate import (
    STAGING_ROLE,
    sandbox_session,
)
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy


@pytest.fixture(scope="session", autouse=True)
def _no_real_aws() -> Iterator[None]:
    """Placeholder credentials, no profile, no instance metadata, no ambient config files.

    No default region either: every client in reaper and in the tests names its region.
    """
    wanted = sandbox_environ(os.environ)
    with pytest.MonkeyPatch.context() as env:
        for name in set(os.environ) - set(wanted):
            env.delenv(name)
        for name, value in wanted.items():
            env.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def moto_server(_no_real_aws: None) -> Iterator[MotoServer]:
    """The one moto server of the test session."""
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def aws_session(_no_real_aws: None) -> boto3.Session:
    """One boto3 session for the whole run, so each service model is loaded only once.

    Its clients carry the sandbox's placeholder credentials (moto's default account,
    ``ci``); pass other credentials to ``client()`` to act in another account.
    """
    return sandbox_session()


@pytest.fixture(scope="session")
def gcs_emulator(_no_real_aws: None) -> Iterator[str]:
    """The session's gcp-storage-emulator (in memory, on loopback): its URL."""
    with running_gcs_emulator() as url:
        yield url


@pytest.fixture
def sandbox(moto_server: MotoServer) -> MotoServer:
    """The session's moto server, wiped clean for this test."""
    moto_server.reset()
    return moto_server


@pytest.fixture
def proxy(sandbox: MotoServer) -> Iterator[CountingProxy]:
    """A CountingProxy in front of this test's sandbox."""
    with CountingProxy(sandbox.endpoint_url) as counting:
        yield counting


@pytest.fixture
def audit_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "audit.jsonl"


# -- config ------------------------------------------------------------------------------

ConfigFactory = Callable[..., dict[str, Any]]
SettingsFactory = Callable[..., Settings]
KindsFactory = Callable[..., list[ResourceKind]]


def demo_config() -> dict[str, Any]:
    """The packaged demo config (reaper/sandbox/demo.yaml) as parsed YAML."""
    text = resources.files("reaper.sandbox").joinpath("demo.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def sandbox_config(
    audit_path: Path | str,
    *,
    accounts: Sequence[str] = ("ci", "staging"),
    regions: Sequence[str] = ("us-east-1", "eu-west-1", "us-west-2"),
    safety: Mapping[str, Any] | None = None,
    dry_run: bool = True,
    grace_period: str | None = "0s",
    kinds: Sequence[str] = ("ec2_instance",),
) -> dict[str, Any]:
    """The demo config narrowed to some accounts and regions, auditing to ``audit_path``.

    ``accounts`` are names from demo.yaml: ``ci`` (ambient credentials) and ``staging``
    (reached by assuming a role). ``grace_period`` defaults to ``0s``, acting on first
    sight, which is what the seeded estate's ``expect_deleted`` describes; None keeps
    demo.yaml's own setting.
    """
    data = copy.deepcopy(demo_config())
    aws = data["providers"]["aws"]
    known = {a["name"]: a for a in aws["accounts"]}
    aws["accounts"] = [known[name] for name in accounts]
    aws["regions"] = list(regions)
    aws["kinds"] = list(kinds)  # demo.yaml also sweeps EKS; these tests seed instances
    data["providers"] = {"aws": aws}  # and other providers' sandboxes, which these do not start
    data["dry_run"] = dry_run
    data["safety"] = {**data["safety"], **(safety or {})}
    if grace_period is not None:
        data["policy"] = {**data.get("policy", {}), "grace_period": grace_period}
    data["audit"] = {"path": str(audit_path)}
    return data


@pytest.fixture(name="sandbox_config", scope="session")
def sandbox_config_fixture() -> Callable[..., dict[str, Any]]:
    """``sandbox_config(audit_path, **options)``, for fixtures wider than one test."""
    return sandbox_config


@pytest.fixture
def make_config(audit_path: Path) -> ConfigFactory:
    """``make_config(accounts=..., regions=..., safety=..., dry_run=...)`` -> config dict."""

    def make(**options: Any) -> dict[str, Any]:
        return sandbox_config(audit_path, **options)

    return make


@pytest.fixture
def make_settings(make_config: ConfigFactory) -> SettingsFactory:
    """Like ``make_config`` but validated into Settings by ``parse_settings``."""

    def make(**options: Any) -> Settings:
        return parse_settings(make_config(**options), "tests/sandbox.yaml")

    return make


@pytest.fixture(scope="session")
def make_kinds(moto_server: MotoServer, aws_session: boto3.Session) -> KindsFactory:
    """``make_kinds(settings, endpoint_url=None)``: kinds talking to moto (or to a proxy).

    Session-scoped so scenario fixtures of wider scope can use it; ask for ``sandbox``
    too to start from a clean moto.
    """

    def make(settings: Settings, endpoint_url: str | None = None) -> list[ResourceKind]:
        connection = AwsConnection(aws_session, endpoint_url or moto_server.endpoint_url)
        return build_kinds(settings, {"aws": connection})

    return make


# -- what is left in the sandbox ---------------------------------------------------------

LIVE_STATES = ("pending", "running", "stopping", "stopped")
AliveFactory = Callable[[Mapping[str, Sequence[str]]], set[str]]


@pytest.fixture(scope="session")
def alive(moto_server: MotoServer, aws_session: boto3.Session) -> AliveFactory:
    """``alive(layout)``: ids of every instance not terminated, tagged or not, in a layout.

    Asks moto directly (never through a proxy), like ``reaper.sandbox.estate.
    live_instances`` but on the shared session: ``staging`` is reached through its role.
    """

    def live(layout: Mapping[str, Sequence[str]]) -> set[str]:
        found: set[str] = set()
        for account, regions in layout.items():
            key_id = secret = token = None  # None: the session's own (the ci account)
            if account == "staging":
                sts = aws_session.client(
                    "sts", region_name="us-east-1", endpoint_url=moto_server.endpoint_url
                )
                role = sts.assume_role(RoleArn=STAGING_ROLE, RoleSessionName="tests")
                c = role["Credentials"]
                key_id, secret, token = c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
            for region in regions:
                ec2 = aws_session.client(
                    "ec2",
                    region_name=region,
                    endpoint_url=moto_server.endpoint_url,
                    aws_access_key_id=key_id,
                    aws_secret_access_key=secret,
                    aws_session_token=token,
                )
                pages = ec2.get_paginator("describe_instances").paginate(
                    Filters=[{"Name": "instance-state-name", "Values": list(LIVE_STATES)}]
                )
                for page in pages:
                    for reservation in page["Reservations"]:
                        found.update(i["InstanceId"] for i in reservation["Instances"])
        return found

    return live


# -- audit -------------------------------------------------------------------------------


def read_audit_lines(path: Path | str) -> list[bytes]:
    """The raw lines of an audit file, without their newlines."""
    return Path(path).read_bytes().splitlines()


def read_audit(path: Path | str) -> list[dict[str, Any]]:
    """An audit JSON Lines file as a list of records, in file order."""
    return [json.loads(line) for line in read_audit_lines(path)]


@pytest.fixture(name="read_audit")
def read_audit_fixture() -> Callable[[Path | str], list[dict[str, Any]]]:
    return read_audit
