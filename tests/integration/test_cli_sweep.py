"""The command line as an operator runs it: a subprocess, a config file, the shared moto.

The subprocess finds moto the way it would find any AWS endpoint override, through
``AWS_ENDPOINT_URL``; only the ``ci`` account (ambient credentials, no role) is swept.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env

from reaper import __version__
from reaper.results import ExitCode
from reaper.sandbox.estate import SeededInstance, seed_estate
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

LAYOUT = {"ci": ("us-east-1", "eu-west-1")}
DECISION_FIELDS = {"provider", "kind", "id", "account", "region", "action", "reasons"}

ConfigFactory = Callable[..., dict[str, Any]]
AliveFactory = Callable[[Mapping[str, Sequence[str]]], set[str]]


class Cli:
    """Runs ``reaper`` against the sandbox with a config written to a temp dir."""

    def __init__(self, sandbox: MotoServer, tmp_path: Path, make_config: ConfigFactory) -> None:
        self._env = sandbox_env(sandbox.endpoint_url)
        self._tmp_path = tmp_path
        self._make_config = make_config

    def config(self, *, dry_run: bool = True, safety: Mapping[str, Any] | None = None) -> Path:
        data = self._make_config(
            accounts=("ci",), regions=LAYOUT["ci"], dry_run=dry_run, safety=safety
        )
        path = self._tmp_path / "reaper.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*reaper_command(), *map(str, args)],
            env=self._env,
            cwd=self._tmp_path,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )


@pytest.fixture
def cli(sandbox: MotoServer, tmp_path: Path, make_config: ConfigFactory) -> Cli:
    return Cli(sandbox, tmp_path, make_config)


@pytest.fixture
def seeded(sandbox: MotoServer) -> list[SeededInstance]:
    return seed_estate(sandbox, datetime.now(UTC), LAYOUT)


def _ids(seeded: list[SeededInstance], *, deleted: bool | None = None) -> set[str]:
    return {s.instance_id for s in seeded if deleted is None or s.expect_deleted is deleted}


def _without_clock(document: dict[str, Any]) -> dict[str, Any]:
    """A plan document minus what depends on when it was made."""
    volatile = ("generated_at", "deadline", "not_before")
    return {
        **{k: v for k, v in document.items() if k not in volatile},
        "decisions": [
            {k: v for k, v in d.items() if k not in volatile} for d in document["decisions"]
        ],
    }


def test_plan_json_lists_the_decisions_and_changes_nothing(
    cli: Cli, seeded: list[SeededInstance], alive: AliveFactory, tmp_path: Path
) -> None:
    config = cli.config()

    result = cli("plan", "--config", config, "--format", "json")

    assert result.returncode == ExitCode.OK, explain(result)
    document = json.loads(result.stdout)
    decisions = document["decisions"]
    assert isinstance(decisions, list)
    assert decisions
    assert all(set(d) >= DECISION_FIELDS for d in decisions)
    assert {d["id"] for d in decisions if d["action"] == "delete"} == _ids(seeded, deleted=True)
    assert {d["provider"] for d in decisions} == {"aws"}
    assert {d["kind"] for d in decisions} == {"ec2_instance"}
    assert {(d["account"], d["region"]) for d in decisions} == {
        ("ci", "us-east-1"),
        ("ci", "eu-west-1"),
    }
    assert all(d["reasons"] for d in decisions)
    assert f"reaper {__version__} command=plan" in result.stderr
    assert alive(LAYOUT) == _ids(seeded)

    # The same plan written to a file: nothing on standard output.
    report = tmp_path / "plan.json"
    written = cli("plan", "--config", config, "--format", "json", "--output", report)

    assert written.returncode == ExitCode.OK, explain(written)
    assert written.stdout == ""
    assert _without_clock(json.loads(report.read_text(encoding="utf-8"))) == _without_clock(
        document
    )
    assert alive(LAYOUT) == _ids(seeded)


def test_run_without_apply_is_a_dry_run(
    cli: Cli, seeded: list[SeededInstance], alive: AliveFactory
) -> None:
    result = cli("run", "--config", cli.config(dry_run=True))

    assert result.returncode == ExitCode.OK, explain(result)
    assert "effective_dry_run=true" in result.stderr
    assert alive(LAYOUT) == _ids(seeded)


def test_run_apply_terminates_exactly_the_expired_instances(
    cli: Cli, seeded: list[SeededInstance], alive: AliveFactory
) -> None:
    result = cli("run", "--config", cli.config(dry_run=True), "--apply")

    assert result.returncode == ExitCode.OK, explain(result)
    assert "effective_dry_run=false" in result.stderr
    assert alive(LAYOUT) == _ids(seeded, deleted=False)


def test_run_apply_stops_at_the_safety_brake(
    cli: Cli, seeded: list[SeededInstance], alive: AliveFactory
) -> None:
    acting = len(_ids(seeded, deleted=True))
    config = cli.config(dry_run=False, safety={"max_actions_per_sweep": 1})

    result = cli("run", "--config", config, "--apply")

    assert result.returncode == ExitCode.SAFETY_BRAKE, explain(result)
    assert f"{acting} actions planned, more than max_actions_per_sweep=1" in result.stderr
    assert alive(LAYOUT) == _ids(seeded)


def test_demo_runs_on_its_own_sandbox(tmp_path: Path) -> None:
    result = subprocess.run(
        [*reaper_command(), "demo", "--audit", str(tmp_path / "demo.jsonl")],
        env=sandbox_env(None),  # the demo starts a moto server of its own
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert result.returncode == ExitCode.OK, explain(result)
    assert "Dry run" in result.stdout


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        pytest.param(
            "aws:ec2_instance:not-an-instance-id",
            "'not-an-instance-id' is not an id of aws:ec2_instance "
            "(i- and 8 or 17 lowercase hex digits, e.g. i-0abc1234def567890)",
            id="ec2-word",
        ),
        pytest.param(
            "aws:ec2_instance:i-0ABC1234DEF567890",
            "'i-0ABC1234DEF567890' is not an id of aws:ec2_instance "
            "(i- and 8 or 17 lowercase hex digits, e.g. i-0abc1234def567890)",
            id="ec2-upper-case",
        ),
        pytest.param(
            "aws:eks_cluster:-starts-with-a-dash",
            "'-starts-with-a-dash' is not an id of aws:eks_cluster (a cluster name: 1-100 "
            "letters, digits, '-' and '_', starting with a letter or digit)",
            id="eks-leading-dash",
        ),
        pytest.param(
            "aws:eks_cluster:ci.with.dots",
            "'ci.with.dots' is not an id of aws:eks_cluster (a cluster name: 1-100 "
            "letters, digits, '-' and '_', starting with a letter or digit)",
            id="eks-dots",
        ),
    ],
)
def test_release_of_a_malformed_id_exits_2_before_any_api_call(
    proxy: CountingProxy, tmp_path: Path, make_config: ConfigFactory, target: str, problem: str
) -> None:
    data = make_config(
        accounts=("ci",), regions=LAYOUT["ci"], kinds=("ec2_instance", "eks_cluster")
    )
    config = tmp_path / "reaper.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    result = subprocess.run(
        [*reaper_command(), "release", target, "-c", str(config)],
        env=sandbox_env(proxy.endpoint_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert result.stderr.splitlines()[-1] == problem  # after the startup line
    assert "Traceback" not in result.stderr
    assert proxy.counts() == {}
