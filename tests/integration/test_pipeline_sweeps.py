"""Pipeline-aware sweeps end to end: EC2 on moto, runs in the GitHub and GitLab fakes.

Every CI question goes over real HTTP through reaper's own client; every AWS call through
boto3 to moto. The estate is the demo's (``reaper.sandbox.estate``) plus the CI specimens
of ``reaper.sandbox.ci_estate``: a finished run, an active pipeline, a deleted run, and an
active run whose instance is past its TTL, in each region.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from prometheus_client import CollectorRegistry, generate_latest
from sweep_support import run_sweep

from reaper.config import Settings, parse_settings
from reaper.daemon import Daemon, plan_jobs
from reaper.metrics import Metrics
from reaper.model import Action, Reason
from reaper.pipelines.facts import PipelineFacts
from reaper.report import plan_to_json
from reaper.results import ExitCode
from reaper.sandbox.ci import GET_ATTEMPT, GET_PIPELINE, GET_RUN, FakeGithub, FakeGitlab
from reaper.sandbox.ci_estate import (
    GITHUB_TOKEN_ENV,
    RUN_FINISHED,
    RUN_IN_PROGRESS,
    SANDBOX_TOKENS,
    ci_specimens,
    pipelines_section,
    seed_runs,
)
from reaper.sandbox.estate import SeededInstance, seed_estate
from reaper.sandbox.moto_server import MotoServer

LAYOUT = {"ci": ("us-east-1", "eu-west-1")}
ConfigFactory = Callable[..., dict[str, Any]]
AliveFactory = Callable[[Mapping[str, Sequence[str]]], set[str]]
ReadAudit = Callable[[Path | str], list[dict[str, Any]]]


@dataclass
class Estate:
    seeded: list[SeededInstance]
    github: FakeGithub
    gitlab: FakeGitlab
    config: dict[str, Any]
    """The sandbox config with the fakes as pipeline sources (grace 0s: act at once)."""

    def ids(self, *labels: str) -> set[str]:
        return {s.instance_id for s in self.seeded if s.label in labels}

    def all_ids(self) -> set[str]:
        return {s.instance_id for s in self.seeded}

    def expected_left(self) -> set[str]:
        return {s.instance_id for s in self.seeded if not s.expect_deleted}

    def settings(self, **changes: Any) -> Settings:
        return parse_settings({**self.config, **changes}, "tests/pipelines.yaml")


@pytest.fixture
def estate(sandbox: MotoServer, make_config: ConfigFactory) -> Iterator[Estate]:
    with FakeGithub() as github, FakeGitlab() as gitlab:
        now = datetime.now(UTC)
        seed_runs(github, gitlab, now)
        seeded = seed_estate(sandbox, now, LAYOUT, extra=ci_specimens())
        config = make_config(accounts=("ci",), regions=LAYOUT["ci"], dry_run=False)
        config["pipelines"] = pipelines_section(github.url, gitlab.url)
        yield Estate(seeded, github, gitlab, config)


def test_a_sweep_reaps_finished_runs_keeps_active_ones_and_ignores_unknown_ones(
    estate: Estate, make_kinds: Any, audit_path: Path, alive: AliveFactory
) -> None:
    settings = estate.settings()
    step = PipelineFacts.from_settings(settings, SANDBOX_TOKENS)

    report = run_sweep(
        settings, make_kinds(settings), audit_path, datetime.now(UTC), False, pipelines=step
    )

    assert report.exit_code == ExitCode.OK
    assert alive(LAYOUT) == estate.expected_left()
    reasons = {d.ref.id: d.reasons for d in report.plan.decisions}
    assert {reasons[i] for i in estate.ids("run-finished")} == {(Reason.RUN_FINISHED,)}
    assert {reasons[i] for i in estate.ids("run-active")} == {(Reason.RUN_ACTIVE,)}
    assert {reasons[i] for i in estate.ids("run-unknown")} == {(Reason.WITHIN_TTL,)}
    assert {reasons[i] for i in estate.ids("run-active-ttl-expired")} == {(Reason.TTL_EXPIRED,)}
    # 8 instances name 4 runs: one request per run, whatever the number of instances.
    assert estate.github.stats().requests == {GET_RUN: 2, GET_ATTEMPT: 1}  # 5101-1: attempt 1
    assert estate.gitlab.stats().requests == {GET_PIPELINE: 1}


def test_without_pipeline_sources_the_ttl_rules_alone_decide(
    estate: Estate, make_kinds: Any, audit_path: Path, alive: AliveFactory
) -> None:
    settings = estate.settings(pipelines={})

    report = run_sweep(settings, make_kinds(settings), audit_path, datetime.now(UTC), False)

    assert report.exit_code == ExitCode.OK
    assert alive(LAYOUT) == estate.expected_left() | estate.ids("run-finished")
    assert estate.github.stats().total == estate.gitlab.stats().total == 0


def test_kept_lookups_send_etags_and_count_their_requests(
    estate: Estate, make_kinds: Any, audit_path: Path
) -> None:
    """The daemon's case: one step for every sweep, so the second asks conditionally."""
    settings = estate.settings(dry_run=True)
    step = PipelineFacts.from_settings(settings, SANDBOX_TOKENS)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    kinds = make_kinds(settings)
    now = datetime.now(UTC)

    run_sweep(settings, kinds, audit_path, now, True, pipelines=step, metrics=metrics)
    estate.github.reset_stats()
    run_sweep(settings, kinds, audit_path, now + timedelta(minutes=30), True,
              pipelines=step, metrics=metrics)  # fmt: skip

    second = estate.github.stats()
    assert second.total == 3
    assert second.not_modified == 2  # the finished and the in-progress run; the 404 is asked
    value = registry.get_sample_value
    assert value("reaper_pipeline_api_requests_total") == 8
    assert value("reaper_pipeline_api_not_modified_total") == 2
    assert value("reaper_pipeline_runs_total", {"state": "finished"}) == 2
    assert value("reaper_pipeline_runs_total", {"state": "active"}) == 4
    assert value("reaper_pipeline_runs_unknown_total", {"reason": "not-found"}) == 2
    assert value("reaper_pipeline_rate_limit_wait_seconds_total") == 0


def test_a_rate_limited_source_leaves_its_runs_to_the_ttl(
    estate: Estate, make_kinds: Any, audit_path: Path, alive: AliveFactory
) -> None:
    estate.github.set_rate_limit(remaining=0, reset_at=datetime.now(UTC).timestamp() + 3600)
    settings = estate.settings()
    step = PipelineFacts.from_settings(settings, SANDBOX_TOKENS)
    registry = CollectorRegistry()

    report = run_sweep(settings, make_kinds(settings), audit_path, datetime.now(UTC), False,
                       pipelines=step, metrics=Metrics(registry))  # fmt: skip

    assert report.exit_code == ExitCode.OK
    assert alive(LAYOUT) == estate.expected_left() | estate.ids("run-finished")
    unknown = registry.get_sample_value
    assert unknown("reaper_pipeline_runs_unknown_total", {"reason": "rate-limited"}) == 3
    assert estate.github.stats().total == 1  # the probe; nothing after it


def test_tokens_appear_in_no_log_audit_record_report_or_metric(
    estate: Estate,
    make_kinds: Any,
    audit_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = SANDBOX_TOKENS[GITHUB_TOKEN_ENV]
    # An API that echoes the credential back in its error message.
    estate.github.inject_error(500, f"backend refused Authorization: Bearer {token}", times=5)
    settings = estate.settings()
    step = PipelineFacts.from_settings(settings, SANDBOX_TOKENS)
    registry = CollectorRegistry()

    with caplog.at_level(logging.DEBUG):
        report = run_sweep(settings, make_kinds(settings), audit_path, datetime.now(UTC), True,
                           pipelines=step, metrics=Metrics(registry))  # fmt: skip

    texts = {
        "logs": "\n".join(r.getMessage() for r in caplog.records),
        "audit": audit_path.read_text(encoding="utf-8"),
        "report": plan_to_json(report.plan, dry_run=True),
        "metrics": generate_latest(registry).decode(),
        "lookup": repr(step.lookup) if step else "",
    }
    assert "api-error" in texts["logs"]  # the echoing answer was seen and logged
    for secret in SANDBOX_TOKENS.values():
        assert [name for name, text in texts.items() if secret in text] == []


def test_a_daemon_keeps_one_lookup_so_its_later_sweeps_ask_conditionally(
    estate: Estate, make_kinds: Any
) -> None:
    settings = estate.settings(dry_run=True)
    metrics = Metrics(CollectorRegistry())
    jobs = plan_jobs(settings, datetime.now(UTC))
    daemon = Daemon(
        settings,
        make_kinds(settings),
        metrics,
        jobs,
        dry_run=True,
        pipelines=PipelineFacts.from_settings(settings, SANDBOX_TOKENS),
    )

    first = daemon.sweep(jobs[0])
    calls_first = estate.github.stats()
    estate.github.reset_stats()
    second = daemon.sweep(jobs[0])

    assert first is not None
    assert second is not None
    assert (calls_first.total, calls_first.not_modified) == (3, 0)
    assert (estate.github.stats().total, estate.github.stats().not_modified) == (3, 2)
    assert metrics.registry.get_sample_value("reaper_pipeline_api_not_modified_total") == 2


# -- the command line ---------------------------------------------------------------------------


class Cli:
    def __init__(self, sandbox: MotoServer, tmp_path: Path, estate: Estate) -> None:
        self.env = {**sandbox_env(sandbox.endpoint_url), **SANDBOX_TOKENS}
        self.tmp_path = tmp_path
        self.estate = estate

    def config(self, **changes: Any) -> Path:
        path = self.tmp_path / "reaper.yaml"
        data = {**self.estate.config, **changes}
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*reaper_command(), *map(str, args)],
            env=self.env,
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )


@pytest.fixture
def cli(sandbox: MotoServer, tmp_path: Path, estate: Estate) -> Cli:
    return Cli(sandbox, tmp_path, estate)


@pytest.mark.parametrize(
    ("target", "reaped"),
    [
        pytest.param(f"web/{RUN_FINISHED}-1", "run-finished", id="its-attempt"),
        pytest.param(f"web/{RUN_FINISHED}", "run-finished", id="every-attempt"),
        # Its own cleanup step says the run is over, whatever the API says now.
        pytest.param(f"web/{RUN_IN_PROGRESS}", "run-active-ttl-expired", id="active-run"),
    ],
)
def test_a_cleanup_step_reaps_exactly_its_run_at_once(
    cli: Cli,
    estate: Estate,
    alive: AliveFactory,
    read_audit: ReadAudit,
    audit_path: Path,
    target: str,
    reaped: str,
) -> None:
    # A grace period in the config: the cleanup step still acts at once.
    policy = {**estate.config["policy"], "grace_period": "1h"}
    result = cli("run", "-c", cli.config(policy=policy), "--pipeline", target, "--apply")

    assert result.returncode == ExitCode.OK, explain(result)
    assert f"pipeline={target}" in result.stderr
    assert alive(LAYOUT) == estate.all_ids() - estate.ids(reaped)
    intents = [r for r in read_audit(audit_path) if r["event"] == "intent"]
    assert {r["resource"]["id"] for r in intents} == estate.ids(reaped)
    assert {r["action"] for r in intents} == {str(Action.DELETE)}
    assert {tuple(r["reasons"]) for r in intents} <= {
        ("run-finished",),
        ("ttl-expired", "run-finished"),
    }
    # Nothing to ask: the run is finished by definition.
    assert estate.github.stats().total == estate.gitlab.stats().total == 0


def test_a_cleanup_step_goes_through_the_brake(
    cli: Cli, estate: Estate, alive: AliveFactory
) -> None:
    config = cli.config(safety={**estate.config["safety"], "max_actions_per_sweep": 1})

    result = cli("run", "-c", config, "--pipeline", f"web/{RUN_FINISHED}", "--apply")

    assert result.returncode == ExitCode.SAFETY_BRAKE, explain(result)
    assert alive(LAYOUT) == estate.all_ids()


def test_a_cleanup_step_is_a_dry_run_without_apply(
    cli: Cli, estate: Estate, alive: AliveFactory
) -> None:
    result = cli("run", "-c", cli.config(dry_run=True), "--pipeline", f"web/{RUN_FINISHED}")

    assert result.returncode == ExitCode.OK, explain(result)
    assert alive(LAYOUT) == estate.all_ids()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param("nowhere/1", "unknown source alias 'nowhere' (valid: infra, web", id="alias"),
        pytest.param("web/latest", "is not a run id", id="run"),
        pytest.param("5101", "'5101' is not ALIAS/RUN", id="no-alias"),
    ],
)
def test_a_cleanup_step_naming_no_configured_run_exits_2(
    cli: Cli, estate: Estate, alive: AliveFactory, target: str, message: str
) -> None:
    result = cli("run", "-c", cli.config(), "--pipeline", target, "--apply")

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert message in result.stderr
    assert alive(LAYOUT) == estate.all_ids()


def test_a_pinned_plan_is_applied_with_fresh_run_facts(
    cli: Cli, estate: Estate, alive: AliveFactory, tmp_path: Path
) -> None:
    config = cli.config()
    planned = cli("plan", "-c", config, "-o", tmp_path / "plan.json")
    assert planned.returncode == ExitCode.OK, explain(planned)
    document = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    finished = [d for d in document["decisions"] if d["reasons"] == ["run-finished"]]
    assert {d["id"] for d in finished} == estate.ids("run-finished")

    applied = cli("apply", tmp_path / "plan.json", "-c", config)

    assert applied.returncode == ExitCode.OK, explain(applied)
    assert alive(LAYOUT) == estate.expected_left()
    assert " skipped: " not in applied.stderr  # no "no longer qualifies"


def test_the_demo_reaps_by_run_and_reports_its_ci_calls(tmp_path: Path) -> None:
    result = subprocess.run(
        [*reaper_command(), "demo", "--apply", "--audit", str(tmp_path / "demo.jsonl")],
        env=sandbox_env(None),  # the demo starts moto and the CI fakes of its own
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert result.returncode == ExitCode.OK, explain(result)
    after = next(line for line in result.stdout.splitlines() if line.startswith("After the"))
    terminated = after.split("terminated (", 1)[1].split(")", 1)[0].split(", ")
    assert "run-finished" in terminated
    assert "run-active-ttl-expired" in terminated
    assert "run-active" not in terminated
    assert "run-unknown" not in terminated
    # 16 instances (4 regions) name 4 runs: 4 requests a sweep; the second sweep's unchanged
    # GitHub runs answer 304 from the ETags the first kept.
    assert (
        "CI runs: 16 instances name 4 runs, asked once per run and sweep (sweep 1: GitHub 3 "
        "(no ETag yet), GitLab 1; sweep 2: GitHub 3 (2 answered 304 Not Modified), GitLab 1)"
    ) in result.stdout
    for token in SANDBOX_TOKENS.values():
        assert token not in result.stdout + result.stderr
