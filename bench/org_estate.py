"""The organization-scale estate: accounts in a moto organization, most scopes empty, a few
busy ones, and the fewest requests a sweep of it (or of one shard of it) needs.

Pure apart from :func:`seed_organization`, which builds the estate in moto.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import boto3
from moto.ec2.models.amis import AMIS  # the image catalogue moto ships

from reaper.model import Scope
from reaper.sandbox.estate import SANDBOX_AMI
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.organization import SandboxOrganization, launch_aged
from reaper.shards import assign, scope_key

ORG_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
)
PIPELINE = {"reaper-pipeline": "bench-org", "reaper-owner": "team-bench"}
EC2_PAGE = 1000
"""Instances per DescribeInstances page (EC2's maximum, which reaper asks for)."""
ORG_PAGE = 100
"""Accounts per ListAccounts page as moto answers it without MaxResults (AWS: 20)."""
EXPIRED_SHARE = 0.4
"""Of a busy scope's instances: launched 2 days ago (the rest 1 hour ago); TTL is 12h."""


@dataclass(frozen=True)
class OrgEstate:
    """What was seeded: the accounts (by reaper's derived name) and the busy scopes."""

    accounts: dict[str, str]
    """Derived account name -> account id, of the member accounts (management left out)."""
    regions: tuple[str, ...]
    busy: dict[Scope, int]
    """Scopes holding pipeline instances, and how many."""
    expired: int

    @property
    def scopes(self) -> list[Scope]:
        return [Scope(a, r) for a in self.accounts for r in self.regions]

    @property
    def instances(self) -> int:
        return sum(self.busy.values())


def plan_busy(
    accounts: Sequence[str],
    regions: Sequence[str],
    share: float,
    low: int,
    high: int,
    seed: int,
) -> dict[Scope, int]:
    """Which scopes are busy and with how many instances: ``share`` of them, each with
    ``low``-``high`` instances, chosen by a seeded generator. Pure."""
    scopes = [Scope(a, r) for a in accounts for r in regions]
    rng = random.Random(seed)
    chosen = rng.sample(scopes, max(1, round(share * len(scopes))))
    return {scope: rng.randint(low, high) for scope in sorted(chosen)}


def seed_organization(
    server: MotoServer,
    session: boto3.Session,
    accounts: int,
    regions: Sequence[str],
    share: float,
    low: int,
    high: int,
    seed: int,
    now: datetime,
) -> OrgEstate:
    """Create the organization and its member accounts, and the busy scopes' instances."""
    org = SandboxOrganization(session, server.endpoint_url)
    ids: dict[str, str] = {}
    for n in range(accounts):
        display = f"CI Account {n:03d}"
        account_id = org.add_account(display)
        ids[account_id] = account_id  # reaper names a found account by its id
    busy = plan_busy(list(ids), regions, share, low, high, seed)
    expired = 0
    sessions: dict[str, boto3.Session] = {}
    for scope, count in busy.items():
        account_id = ids[scope.account]
        if account_id not in sessions:
            sessions[account_id] = org.session_in(account_id)
        old = math.floor(count * EXPIRED_SHARE)
        ages = [timedelta(days=2)] * old + [timedelta(hours=1)] * (count - old)
        launch_aged(server, sessions[account_id], account_id, scope.region, ages, PIPELINE, now)
        expired += old
    return OrgEstate(ids, tuple(regions), busy, expired)


def minimum(estate: OrgEstate, shards: int) -> Counter[tuple[str, str]]:
    """The fewest requests ``shards`` processes need to plan the whole estate. Pure.

    Each process lists the organization (DescribeOrganization, ListAccounts pages: the
    management account is listed too) and assumes a role once in every account it has a
    scope of; each scope is one DescribeInstances page (none holds over 1,000), and a busy
    one also one DescribeImages and one DescribeSecurityGroups batch.
    """
    need: Counter[tuple[str, str]] = Counter()
    owners = assign([scope_key("aws", s) for s in estate.scopes], shards)
    for shard in range(shards):
        mine = [s for s in estate.scopes if owners[scope_key("aws", s)] == shard]
        if not mine:
            continue
        need[("organizations", "DescribeOrganization")] += 1
        need[("organizations", "ListAccounts")] += math.ceil((len(estate.accounts) + 1) / ORG_PAGE)
        need[("sts", "AssumeRole")] += len({s.account for s in mine})
        for scope in mine:
            count = estate.busy.get(scope, 0)
            need[("ec2", "DescribeInstances")] += max(1, math.ceil(count / EC2_PAGE))
            if count:
                need[("ec2", "DescribeImages")] += 1
                need[("ec2", "DescribeSecurityGroups")] += 1
    return need


def one_ami_file(directory: Path) -> Path:
    """A moto AMI catalogue with just the sandbox's image (``MOTO_AMIS_PATH``).

    moto otherwise loads hundreds of images into every (account, region) it is asked
    about: about 4 MB and 90 ms each, 12 GB for 3,200 scopes. With one image, a scope
    costs moto a few milliseconds and next to no memory.
    """
    path = directory / "amis.json"
    path.write_text(json.dumps([a for a in AMIS if a["ami_id"] == SANDBOX_AMI]), encoding="utf-8")
    return path
