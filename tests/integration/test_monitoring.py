"""deploy/monitoring/ agrees with promtool and with the metrics reaper really exports.

The alert rules must pass ``promtool check rules`` and their own unit tests
(``alerts_test.yaml``); the exposition of a ``Metrics`` registry after real sweeps must
pass ``promtool check metrics``; every metric the alert rules and the Grafana dashboard
name must be one such a registry exports. Without promtool those checks are skipped,
except in CI (``CI`` set), where a missing promtool is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from paths import REPO
from prometheus_client import CollectorRegistry, generate_latest
from sweep_support import run_sweep

from reaper.audit import AuditLog
from reaper.config import Settings, parse_settings
from reaper.errors import AuditError
from reaper.metrics import Metrics
from reaper.notify import WebhookNotifier
from reaper.pipelines.facts import PipelineFacts
from reaper.providers.aws.clients import AwsConnection
from reaper.providers.catalog import build_kinds
from reaper.results import ExitCode
from reaper.sandbox.ci import FakeGithub, FakeGitlab
from reaper.sandbox.ci_estate import SANDBOX_TOKENS, ci_specimens, pipelines_section, seed_runs
from reaper.sandbox.estate import seed_estate
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

MONITORING = REPO / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
ALERTS_TEST = MONITORING / "alerts_test.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
METRIC_NAME = re.compile(r"\breaper_[a-z_]+")
REGIONS = ("us-east-1", "eu-west-1")

ConfigFactory = Callable[..., dict[str, Any]]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary; skips the test without it, fails it in CI."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (apt-get install prometheus; .ci/run does)"
        if _in_ci():
            pytest.fail(f"{message}, and CI is set: the CI image must have it")
        pytest.skip(message)
    return found


def _promtool(promtool: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [promtool, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


# -- a Metrics registry after real sweeps ------------------------------------------------------


class _BrokenSink:
    """A non-required audit sink that takes nothing, so the sink-failure metric has a value."""

    name = "broken"
    required = False

    def write(self, lines: Any) -> None:
        raise AuditError("broken: the bucket does not exist")

    def last_line(self) -> bytes | None:
        return None

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Swept:
    """What a Metrics registry exported after each of two sweeps."""

    expositions: tuple[str, ...]
    """``generate_latest`` after the first sweep (marks) and after the second (acts)."""
    sample_names: frozenset[str]
    """Every sample name seen in either."""
    family_names: frozenset[str]
    """Every metric family the registry describes (counters without ``_total``)."""


@pytest.fixture(scope="module")
def swept(
    moto_server: MotoServer,
    aws_session: boto3.Session,
    sandbox_config: ConfigFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Swept:
    """Two sweeps: the first marks (1h grace), the second, an hour later, acts.

    One region fails to answer the second sweep, one audit sink takes nothing and the
    webhook is down, and some instances name CI runs in the GitHub and GitLab fakes (one of
    them deleted), so every metric reaper exports has samples in one of the two.
    """
    moto_server.reset()
    now = datetime.now(UTC)
    with FakeGithub() as github, FakeGitlab() as gitlab:
        seed_runs(github, gitlab, now)
        seed_estate(moto_server, now, {"ci": REGIONS}, extra=ci_specimens())
        tmp = tmp_path_factory.mktemp("monitoring")
        data = sandbox_config(
            tmp / "audit.jsonl", accounts=("ci",), regions=REGIONS, dry_run=False, grace_period=None
        )
        data["pipelines"] = pipelines_section(github.url, gitlab.url)
        settings: Settings = parse_settings(data, "tests/monitoring.yaml")
        return _sweep_twice(moto_server, aws_session, settings, tmp, now)


def _sweep_twice(
    moto_server: MotoServer,
    aws_session: boto3.Session,
    settings: Settings,
    tmp: Path,
    now: datetime,
) -> Swept:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    notifier = WebhookNotifier(
        f"http://127.0.0.1:{dead_port}/hook", timeout=2, retries=0, sleep=lambda _: None
    )
    expositions: list[str] = []
    names: set[str] = set()

    def audit() -> AuditLog:
        return AuditLog(tmp / "audit.jsonl", sinks=[_BrokenSink()])

    with CountingProxy(moto_server.endpoint_url) as proxy:
        connection = AwsConnection(aws_session, proxy.endpoint_url)
        kinds = build_kinds(settings, {"aws": connection}, metrics=metrics)
        pipelines = PipelineFacts.from_settings(settings, SANDBOX_TOKENS)
        first = run_sweep(
            settings,
            kinds,
            audit,
            now,
            False,
            notifier=notifier,
            metrics=metrics,
            pipelines=pipelines,
        )
        assert first.exit_code == ExitCode.OK
        expositions.append(generate_latest(registry).decode())
        names |= {s.name for f in registry.collect() for s in f.samples}

        proxy.add_fault("eu-west-1", "DescribeInstances", 403, "UnauthorizedOperation")
        later = now + settings.policy.grace_period + timedelta(minutes=1)
        second = run_sweep(
            settings,
            kinds,
            audit,
            later,
            False,
            notifier=notifier,
            metrics=metrics,
            pipelines=pipelines,
        )
        assert second.exit_code == ExitCode.PARTIAL_FAILURE
        expositions.append(generate_latest(registry).decode())
        names |= {s.name for f in registry.collect() for s in f.samples}
    families = frozenset(f.name for f in registry.collect())
    return Swept(tuple(expositions), frozenset(names), families)


def _exported(swept: Swept, name: str) -> bool:
    """A name a query may use: a sample name seen, histogram series included."""
    return name in swept.sample_names


def test_every_metric_had_samples_after_the_sweeps(swept: Swept) -> None:
    expected = {
        "reaper_resources_seen",
        "reaper_candidates",
        "reaper_actions_total",
        "reaper_errors_total",
        "reaper_cloud_api_requests_total",
        "reaper_sweep_duration_seconds_bucket",
        "reaper_sweep_duration_seconds_sum",
        "reaper_sweep_duration_seconds_count",
        "reaper_sweeps_total",
        "reaper_last_successful_sweep_timestamp_seconds",
        "reaper_marked_resources",
        "reaper_marked_next_action_seconds",
        "reaper_safety_brake_trips_total",
        "reaper_audit_sink_failures_total",
        "reaper_notification_failures_total",
        "reaper_unresolved_intents",
        "reaper_audit_trail_refusals_total",
        "reaper_pipeline_api_requests_total",
        "reaper_pipeline_api_not_modified_total",
        "reaper_pipeline_api_throttled_total",
        "reaper_pipeline_rate_limit_wait_seconds_total",
        "reaper_pipeline_runs_total",
        "reaper_pipeline_runs_unknown_total",
    }
    assert expected <= swept.sample_names


@pytest.mark.parametrize("sweep", [0, 1], ids=["after-marking", "after-acting"])
def test_promtool_accepts_the_exposition(promtool: str, swept: Swept, sweep: int) -> None:
    text = swept.expositions[sweep]
    assert "reaper_sweeps_total" in text
    output = _promtool(promtool, "check", "metrics", stdin=text)
    # promtool prints lint problems (names, units, help) even when it exits 0.
    assert output.strip() == "", output


# -- alert rules ---------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    output = _promtool(promtool, "check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(_rules())} rules found" in output


def test_alert_rules_pass_their_unit_tests(promtool: str) -> None:
    output = _promtool(promtool, "test", "rules", str(ALERTS_TEST))
    assert "SUCCESS" in output


def test_the_alerts_cover_what_operators_need() -> None:
    rules = {rule["alert"]: rule for rule in _rules()}
    assert set(rules) == {
        "ReaperSweepFailing",
        "ReaperNoRecentSuccessfulSweep",
        "ReaperMetricsAbsent",
        "ReaperSafetyBrakeTripped",
        "ReaperDeletionsFailing",
        "ReaperAuditSinkFailing",
        "ReaperNotificationsFailing",
        "ReaperUnresolvedIntents",
        "ReaperAuditTrailRefused",
    }
    assert 'reaper_sweeps_total{result!="ok"}' in rules["ReaperSweepFailing"]["expr"]
    no_success = rules["ReaperNoRecentSuccessfulSweep"]["expr"]
    assert "time() -" in no_success
    assert "reaper_last_successful_sweep_timestamp_seconds" in no_success
    assert "> 3 * 3600" in no_success
    absent = rules["ReaperMetricsAbsent"]["expr"]
    assert absent == "absent(reaper_last_successful_sweep_timestamp_seconds)"
    assert 'action="delete", outcome="failed"' in rules["ReaperDeletionsFailing"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_alert_rules_name_only_exported_metrics(swept: Swept) -> None:
    used = {name for rule in _rules() for name in METRIC_NAME.findall(rule["expr"])}
    assert used
    assert {n for n in used if not _exported(swept, n)} == set()


# -- the Grafana dashboard ---------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


def test_dashboard_parses_and_names_only_exported_metrics(swept: Swept) -> None:
    dashboard = _dashboard()
    assert dashboard["title"]
    assert dashboard["uid"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used = {name for expr in _expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    assert {n for n in used if not _exported(swept, n)} == set()
    # Every metric reaper exports has a place on the dashboard.
    families = {f.removesuffix("_total") for f in swept.family_names}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}
    assert families - shown == set()


def test_dashboard_has_the_panels_the_issue_asks_for() -> None:
    titles = {panel["title"] for panel in _dashboard()["panels"]}
    assert {
        "Sweeps by result",
        "Sweep duration",
        "Actions by outcome",
        "Candidates by reason",
        "Marked resources",
        "Seconds until the next action on a marked resource",
        "Cloud API requests by operation",
        "Errors",
    } <= titles
    duration = next(p for p in _dashboard()["panels"] if p["title"] == "Sweep duration")
    quantiles = [t["expr"] for t in duration["targets"] if "histogram_quantile" in t["expr"]]
    assert len(quantiles) == 3


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each query, with Grafana's variables filled in, as a recording rule for promtool."""
    grafana = {
        "$__rate_interval": "5m",
        "$__range": "1h",
        "$job": ".*",
        "$shard": ".*",
    }
    rules = []
    for number, expr in enumerate(_expressions(_dashboard())):
        if expr.startswith("label_values("):
            continue
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = _promtool(promtool, "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in output
