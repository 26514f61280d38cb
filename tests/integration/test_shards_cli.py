"""Sharded sweeps as Kubernetes runs them: N real ``reaper run --shard i/N`` processes side by
side over one moto estate, no coordinator.

Checked against moto and the shards' own audit trails, not the shards' reports: every
expired pipeline instance is deleted by exactly one shard, the trails are disjoint and
together cover the estate, each trail verifies on its own, and a shard more moves the
scopes rendezvous hashing predicts (about 1/(N+1) of them), only to the new shard.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from click.testing import CliRunner
from gcs_support import free_port

from reaper.cli import cli
from reaper.model import Scope
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.organization import assumed_session, launch_aged, live_ids
from reaper.shards import assign, scope_key

ACCOUNTS = {f"acct-{n:02d}": f"{100000000000 + n}" for n in range(8)}
REGIONS = ("us-east-1", "eu-west-1", "us-west-2")
PIPELINE = {"reaper-pipeline": "gitlab-ci-7", "reaper-owner": "team-ci"}
KEYS = [scope_key("aws", Scope(a, r)) for a in ACCOUNTS for r in REGIONS]


@pytest.fixture
def estate(sandbox: MotoServer, aws_session: boto3.Session) -> dict[str, set[str]]:
    """Per scope key: the ids of its two expired instances (each scope also has a fresh one)."""
    now = datetime.now(UTC)
    expired: dict[str, set[str]] = {}
    for name, account_id in ACCOUNTS.items():
        session = assumed_session(aws_session, sandbox.endpoint_url, account_id)
        for region in REGIONS:
            ages = [timedelta(days=2), timedelta(days=3), timedelta(hours=1)]
            ids = launch_aged(sandbox, session, account_id, region, ages, PIPELINE, now)
            expired[scope_key("aws", Scope(name, region))] = set(ids[:2])
    return expired


def write_config(tmp_path: Path) -> Path:
    config = {
        "dry_run": True,
        "providers": {
            "aws": {
                "accounts": [
                    {"name": name, "role_arn": f"arn:aws:iam::{account_id}:role/reaper"}
                    for name, account_id in ACCOUNTS.items()
                ],
                "regions": list(REGIONS),
                "max_workers": 4,
            }
        },
        "policy": {"grace_period": "0s", "kinds": {"ec2_instance": {"ttl": "12h"}}},
        # Per shard (no shard of these has more than 20 scopes, 40 deletes).
        "safety": {"max_actions_per_sweep": 40, "max_fraction": 0.7},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_shards(
    endpoint: str,
    command: str,
    config: Path,
    count: int,
    extra: Sequence[str],
    out: Path,
    exit_code: int = 0,
) -> list[Path]:
    """``reaper COMMAND --shard i/count`` for every i at once, each exiting ``exit_code``;
    the JSON each wrote."""
    outputs = [out / f"{command}-{i}-of-{count}.json" for i in range(count)]
    processes = [
        subprocess.Popen(
            [
                *reaper_command(),
                command,
                "-c",
                str(config),
                "--shard",
                f"{i}/{count}",
                "--format",
                "json",
                "-o",
                str(outputs[i]),
                *extra,
            ],
            env=sandbox_env(endpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for process in processes:
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
        result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        assert process.returncode == exit_code, explain(result)
    return outputs


def scopes_of(plan: Path) -> set[str]:
    document = json.loads(plan.read_text(encoding="utf-8"))
    return {
        scope_key(d["provider"], Scope(d["account"], d["region"])) for d in document["decisions"]
    }


def acted_on(trail: Path) -> list[str]:
    """Ids of the resources a trail records a done delete for."""
    records = [json.loads(line) for line in trail.read_text(encoding="utf-8").splitlines()]
    return [
        r["resource"]["id"]
        for r in records
        if r["event"] == "outcome" and r["action"] == "delete" and r["result"] == "done"
    ]


def test_shards_split_the_estate_and_a_new_shard_takes_only_its_share(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    estate: dict[str, set[str]],
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path)
    # Two shards plan; then three shards act.
    plans = run_shards(sandbox.endpoint_url, "plan", config, 2, [], tmp_path)
    runs = run_shards(sandbox.endpoint_url, "run", config, 3, ["--apply"], tmp_path)

    before = {key: i for i, plan in enumerate(plans) for key in scopes_of(plan)}
    after = {key: i for i, run in enumerate(runs) for key in scopes_of(run)}
    assert sorted(before) == sorted(after) == sorted(KEYS), "every scope swept exactly once"
    assert sum(len(scopes_of(p)) for p in plans) == len(KEYS)
    assert before == assign(KEYS, 2)
    assert after == assign(KEYS, 3)
    moved = {key for key in KEYS if before[key] != after[key]}
    assert {after[key] for key in moved} == {2}, "scopes moved only to the new shard"
    fraction, expected = len(moved) / len(KEYS), 1 / 3
    assert abs(fraction - expected) <= 3 * (expected * (1 - expected) / len(KEYS)) ** 0.5

    # Each shard kept its own chain; the chains are disjoint and cover the estate.
    trails = [tmp_path / f"audit.shard-{i}.jsonl" for i in range(3)]
    assert not (tmp_path / "audit.jsonl").exists()
    deleted = [acted_on(trail) for trail in trails]
    everything = [i for ids in deleted for i in ids]
    assert len(everything) == len(set(everything)), "a resource was acted on by two shards"
    assert set(everything) == set().union(*estate.values())
    for i, ids in enumerate(deleted):
        owned = {key for key, shard in after.items() if shard == i}
        assert set(ids) == set().union(*(estate[key] for key in owned))
    for trail in trails:
        verify = CliRunner().invoke(cli, ["audit", "verify", str(trail)])
        assert verify.exit_code == 0, verify.output
        assert verify.output.startswith("ok: ")
        start = json.loads(trail.read_text(encoding="utf-8").splitlines()[0])
        assert start["event"] == "sweep-start"
        assert start["shard"] == f"{trails.index(trail)}/3"

    # And moto agrees: no expired instance is left anywhere, every fresh one is.
    for name, account_id in ACCOUNTS.items():
        session = assumed_session(aws_session, sandbox.endpoint_url, account_id)
        for region in REGIONS:
            alive = live_ids(session, sandbox.endpoint_url, region)
            assert len(alive) == 1
            assert alive.isdisjoint(estate[scope_key("aws", Scope(name, region))])

    # One report of the three runs, in every format; the JSON one is a plan of the whole.
    merged = tmp_path / "merged.json"
    report = subprocess.run(
        [*reaper_command(), "report", *map(str, runs), "-o", str(merged)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=sandbox_env(None),
        check=False,
    )
    assert report.returncode == 0, explain(report)
    document: dict[str, Any] = json.loads(merged.read_text(encoding="utf-8"))
    assert document["summary"]["resources"] == 3 * len(KEYS)
    assert document["summary"]["actions"]["delete"] == 2 * len(KEYS)
    assert document["summary"]["population"] == {"aws:ec2_instance": 3 * len(KEYS)}
    assert {d["result"] for d in document["decisions"] if d["action"] == "delete"} == {"done"}
    for fmt, marker in (("markdown", "48 delete"), ("html", "<!doctype html>")):
        rendered = CliRunner().invoke(cli, ["report", *map(str, runs), "--format", fmt])
        assert rendered.exit_code == 0, rendered.output
        assert marker in rendered.stdout
        assert "Brake" not in rendered.stdout

    # Plans of one shard layout and another overlap: merging them is refused.
    overlap = CliRunner().invoke(cli, ["report", str(plans[0]), *map(str, runs)])
    assert overlap.exit_code == 2
    assert "the plans overlap" in overlap.stderr


def test_every_shard_whose_organization_listing_fails_reports_it(
    sandbox: MotoServer, estate: dict[str, set[str]], tmp_path: Path
) -> None:
    # No organization in moto: DescribeOrganization answers AWSOrganizationsNotInUseException
    # to every shard. The error scope is no shard's share: each reports its own failure.
    config = write_config(tmp_path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["providers"]["aws"]["organization"] = {}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")

    plans = run_shards(sandbox.endpoint_url, "plan", config, 2, [], tmp_path, exit_code=1)

    for plan in plans:
        document = json.loads(plan.read_text(encoding="utf-8"))
        errors = [(e["kind"], e["scope"]) for e in document["collect_errors"]]
        assert errors == [("aws:ec2_instance", "aws-organization")]
        assert (
            "organizations DescribeOrganization failed"
            in (document["collect_errors"][0]["message"])
        )
    # The accounts named by hand are swept all the same, split between the shards.
    owners = assign(KEYS, 2)
    for index, plan in enumerate(plans):
        assert scopes_of(plan) == {key for key, shard in owners.items() if shard == index}


SMALL = {f"brake-{n}": f"{200000000000 + n}" for n in range(4)}
SMALL_REGIONS = ("us-east-1", "eu-west-1")


def brake_config(tmp_path: Path, max_actions: int, store: dict[str, str] | None = None) -> Path:
    config = {
        "dry_run": False,
        "providers": {
            "aws": {
                "accounts": [
                    {"name": name, "role_arn": f"arn:aws:iam::{account_id}:role/reaper"}
                    for name, account_id in SMALL.items()
                ],
                "regions": list(SMALL_REGIONS),
            }
        },
        "policy": {"grace_period": "0s", "kinds": {"ec2_instance": {"ttl": "12h"}}},
        "safety": {
            "max_actions_per_sweep": max_actions,
            "max_fraction": 1.0,
            "global_brake": {**(store or {"directory": str(tmp_path / "brake")}), "wait": "60s"},
        },
        "audit": {"path": str(tmp_path / "audit.jsonl")},
    }
    path = tmp_path / f"config-{max_actions}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_group(
    endpoint: str, config: Path, group: str, count: int, env: dict[str, str] | None = None
) -> list[int]:
    env = {
        **sandbox_env(endpoint),
        "REAPER_SWEEP_GROUP": group,
        "REAPER_SHARDS": str(count),
        **(env or {}),
    }
    processes = [
        subprocess.Popen(
            [*reaper_command(), "run", "-c", str(config)],
            env={**env, "JOB_COMPLETION_INDEX": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    codes = []
    for process in processes:
        process.communicate(timeout=CLI_TIMEOUT)
        codes.append(process.returncode)
    return codes


def test_the_global_brake_stops_every_shard_when_their_sum_is_over_the_limit(
    sandbox: MotoServer, aws_session: boto3.Session, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    expired: set[str] = set()
    sessions = {}
    for account_id in SMALL.values():
        sessions[account_id] = assumed_session(aws_session, sandbox.endpoint_url, account_id)
        for region in SMALL_REGIONS:
            ids = launch_aged(
                sandbox,
                sessions[account_id],
                account_id,
                region,
                [timedelta(days=2)],
                PIPELINE,
                now,
            )
            expired.update(ids)
    owners = assign([scope_key("aws", Scope(a, r)) for a in SMALL for r in SMALL_REGIONS], 2)
    biggest = max(list(owners.values()).count(i) for i in range(2))

    def alive() -> set[str]:
        return set().union(
            *(
                live_ids(sessions[a], sandbox.endpoint_url, r)
                for a in SMALL.values()
                for r in SMALL_REGIONS
            )
        )

    # Each shard's own share (at most `biggest`) is within the limit; all 8 together are not.
    assert biggest < len(expired)
    codes = run_group(sandbox.endpoint_url, brake_config(tmp_path, biggest), "job-a", 2)
    assert codes == [3, 3]
    assert alive() == expired, "a shard acted although the sum was over the limit"
    # Within the limit together: both act.
    codes = run_group(sandbox.endpoint_url, brake_config(tmp_path, len(expired)), "job-b", 2)
    assert codes == [0, 0]
    assert alive() == set()


def test_a_brake_store_that_cannot_be_reached_stops_every_shard(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    tmp_path: Path,
    read_audit: Callable[[Path], list[dict[str, Any]]],
) -> None:
    # S3 alone is unreachable (a botocore EndpointConnectionError): the project's audit
    # error, chained, and the brake fails closed: exit 3, nothing deleted.
    account_id = SMALL["brake-0"]
    session = assumed_session(aws_session, sandbox.endpoint_url, account_id)
    now = datetime.now(UTC)
    region = SMALL_REGIONS[0]
    expired = launch_aged(sandbox, session, account_id, region, [timedelta(days=2)], PIPELINE, now)
    config = brake_config(tmp_path, 100, {"s3_bucket": "brake-bucket"})
    down = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}"}
    assert run_group(sandbox.endpoint_url, config, "job-c", 2, down) == [3, 3]
    assert set(expired) <= live_ids(session, sandbox.endpoint_url, region)
    for shard in range(2):
        trail = read_audit(tmp_path / f"audit.shard-{shard}.jsonl")
        (brake,) = [r for r in trail if r["event"] == "safety-brake"]
        (reason,) = brake["reasons"]
        assert reason.startswith(
            "global brake: cannot publish to s3://brake-bucket/reaper-brake (tried 4 times): "
            "Could not connect to the endpoint URL"
        )


@pytest.mark.parametrize(
    ("options", "env"),
    [
        (["--shard", "1/2"], {}),
        ([], {"JOB_COMPLETION_INDEX": "1", "REAPER_SHARDS": "2"}),
    ],
    ids=["option", "indexed-job"],
)
def test_a_runs_cleanup_step_is_never_sharded(
    tmp_path: Path, options: list[str], env: dict[str, str]
) -> None:
    # A run's resources may be in any scope: one shard would reap only its share of them
    # (and, with a global brake, wait for shards that never come).
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        cli, ["run", "-c", str(config), "--pipeline", "web/4711", "--apply", *options], env=env
    )
    assert result.exit_code == 2, result.output
    assert "--pipeline reaps one run's resources in every scope; not as shard 1/2" in (
        result.stderr
    )
    assert not list(tmp_path.glob("audit*"))
