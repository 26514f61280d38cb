"""Metrics of real sweeps: boto3 over HTTP to moto, read back from a test-owned registry.

Every test builds its own ``CollectorRegistry`` and ``Metrics`` and reads values with
``registry.get_sample_value``; API request counts are checked against what a
``CountingProxy`` between boto3 and moto saw on the wire.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from prometheus_client import CollectorRegistry
from sweep_support import run_sweep

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import Settings
from reaper.errors import AuditError
from reaper.metrics import Metrics
from reaper.model import Action, Decision, Plan, Reason, Resource, ResourceRef, Scope
from reaper.notify import WebhookNotifier
from reaper.pinned import read_pinned
from reaper.providers.aws.clients import AwsClients, AwsConnection
from reaper.providers.base import ResourceKind
from reaper.providers.catalog import build_kinds
from reaper.report import plan_to_json
from reaper.results import Collection, ExitCode, SweepReport
from reaper.sandbox.estate import SANDBOX_AMI, SeededInstance, seed_estate
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

ONE_REGION = {"ci": ("us-east-1",)}
TWO_REGIONS = {"ci": ("us-east-1", "eu-west-1")}
EC2 = {"provider": "aws", "kind": "ec2_instance"}
# Why the policy deletes each kind of seeded instance, by the instance's label.
DELETE_REASONS = {
    "ttl-expired": Reason.TTL_EXPIRED,
    "short-ttl-expired": Reason.TTL_EXPIRED,
    "expiry-passed": Reason.EXPIRY_PASSED,
}
LIVE_STATES = ["pending", "running", "stopping", "stopped"]

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def _kinds(
    settings: Settings, aws_session: boto3.Session, endpoint_url: str, metrics: Metrics
) -> list[ResourceKind]:
    return build_kinds(settings, {"aws": AwsConnection(aws_session, endpoint_url)}, metrics=metrics)


def _sweep(
    settings: Settings,
    kinds: list[ResourceKind],
    audit: Callable[[], AuditLog] | Path,
    now: datetime,
    metrics: Metrics,
    notifier: WebhookNotifier | None = None,
) -> SweepReport:
    return run_sweep(settings, kinds, audit, now, False, notifier=notifier, metrics=metrics)


def _api(registry: CollectorRegistry, operation: str) -> float | None:
    return _value(registry, "reaper_cloud_api_requests_total", provider="aws", operation=operation)


def _by_label(registry: CollectorRegistry, name: str, label: str) -> dict[str, float]:
    return {
        s.labels[label]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    }


def _api_requests(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.labels["operation"]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "reaper_cloud_api_requests_total"
    }


def _proxy_requests(proxy: CountingProxy) -> dict[str, float]:
    by_operation: Counter[str] = Counter()
    for (_service, _region, operation), count in proxy.counts().items():
        by_operation[operation] += count
    return {operation: float(count) for operation, count in by_operation.items()}


def _label_values(registry: CollectorRegistry) -> list[str]:
    return [v for family in registry.collect() for s in family.samples for v in s.labels.values()]


def _pipeline_tagged(
    aws_session: boto3.Session, sandbox: MotoServer, regions: tuple[str, ...]
) -> int:
    """Live pipeline-tagged instances of the ci account, asked of moto directly."""
    count = 0
    for region in regions:
        ec2 = aws_session.client("ec2", region_name=region, endpoint_url=sandbox.endpoint_url)
        answer = ec2.describe_instances(
            Filters=[
                {"Name": "tag-key", "Values": ["reaper-pipeline"]},
                {"Name": "instance-state-name", "Values": LIVE_STATES},
            ]
        )
        count += sum(len(r["Instances"]) for r in answer["Reservations"])
    return count


def _deleted(seeded: list[SeededInstance], region: str | None = None) -> list[SeededInstance]:
    return [s for s in seeded if s.expect_deleted and region in (None, s.region)]


def _quarantined(seeded: list[SeededInstance], region: str | None = None) -> list[SeededInstance]:
    return [s for s in seeded if s.expect_quarantined and region in (None, s.region)]


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_applied_sweep_counts_what_it_saw_decided_and_did(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, TWO_REGIONS)
    population = _pipeline_tagged(aws_session, sandbox, TWO_REGIONS["ci"])
    # Two throttled attempts, retried by botocore: each attempt is a request.
    throttle = proxy.add_fault(None, "DescribeInstances", 503, "RequestLimitExceeded", times=2)
    settings = make_settings(accounts=("ci",), regions=TWO_REGIONS["ci"], dry_run=False)
    kinds = _kinds(settings, aws_session, proxy.endpoint_url, metrics)

    report = _sweep(settings, kinds, audit_path, now, metrics)

    assert report.exit_code == ExitCode.OK
    expired, quarantined = len(_deleted(seeded)), len(_quarantined(seeded))
    assert expired >= 2
    assert _value(registry, "reaper_resources_seen", **EC2) == population
    candidates = _by_label(registry, "reaper_candidates", "reason")
    assert sum(candidates.values()) == expired + quarantined
    for reason, count in Counter(str(DELETE_REASONS[s.label]) for s in _deleted(seeded)).items():
        assert candidates[reason] == count
    assert candidates["ttl-expired"] > 0
    assert candidates["expiry-passed"] > 0
    outcomes = {
        (s.labels["action"], s.labels["outcome"]): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "reaper_actions_total"
    }
    # Whether the estate holds risky instances (quarantined) or not.
    expected = {("delete", "done"): expired, ("quarantine", "done"): quarantined}
    assert outcomes == {k: v for k, v in expected.items() if v}
    # Every request the proxy saw, retries included, and nothing else: a describe per
    # region (plus one before each region's quarantines) and the two throttled attempts.
    assert throttle.served == 2
    quarantining = len({s.region for s in _quarantined(seeded)})
    assert proxy.count("ec2", "DescribeInstances") == 2 + quarantining + 2
    assert proxy.count("ec2", "TerminateInstances") == 2
    assert _api(registry, "DescribeInstances") == proxy.count("ec2", "DescribeInstances")
    assert _api(registry, "TerminateInstances") == proxy.count("ec2", "TerminateInstances")
    assert _api_requests(registry) == _proxy_requests(proxy)

    assert _value(registry, "reaper_sweeps_total", result="ok") == 1
    assert _value(registry, "reaper_sweep_duration_seconds_count") == 1
    duration = _value(registry, "reaper_sweep_duration_seconds_sum")
    assert duration is not None
    assert 0 < duration < 60
    last_success = _value(registry, "reaper_last_successful_sweep_timestamp_seconds")
    assert last_success == pytest.approx(now.timestamp() + duration, abs=0.01)
    assert _value(registry, "reaper_safety_brake_trips_total") == 0
    assert _by_label(registry, "reaper_errors_total", "operation") == {}
    # Nothing marked is waiting: grace period 0s acts on first sight.
    assert _value(registry, "reaper_marked_resources", **EC2) is None
    ids = {s.instance_id for s in seeded}
    assert all(i.startswith("i-") for i in ids)
    assert not [v for v in _label_values(registry) if v.startswith("i-") or v in ids]


def test_marked_resources_and_the_time_left_before_their_action(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    due = len(_deleted(seeded)) + len(_quarantined(seeded))
    # demo.yaml's own grace period (1h): the first sweep marks, it deletes nothing.
    settings = make_settings(
        accounts=("ci",), regions=ONE_REGION["ci"], dry_run=False, grace_period=None
    )
    grace = settings.policy.grace_period
    assert grace == timedelta(hours=1)
    kinds = _kinds(settings, aws_session, proxy.endpoint_url, metrics)

    report = _sweep(settings, kinds, audit_path, now, metrics)

    assert report.exit_code == ExitCode.OK
    assert report.plan.count(Action.MARK) == due
    assert _value(registry, "reaper_actions_total", **EC2, action="mark", outcome="done") == due
    assert _value(registry, "reaper_actions_total", **EC2, action="delete", outcome="done") is None
    assert sum(_by_label(registry, "reaper_candidates", "reason").values()) == due
    assert _value(registry, "reaper_marked_resources", **EC2) == due
    left = _value(registry, "reaper_marked_next_action_seconds", **EC2)
    duration = _value(registry, "reaper_sweep_duration_seconds_sum")
    assert left is not None
    assert duration is not None
    assert left == pytest.approx(grace.total_seconds() - duration, abs=0.01)
    assert proxy.count("ec2", "CreateTags") >= 1
    assert _api(registry, "CreateTags") == proxy.count("ec2", "CreateTags")
    assert proxy.count("ec2", "TerminateInstances") == 0


def test_collector_errors_count_by_provider_and_operation(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, TWO_REGIONS)
    in_us = _pipeline_tagged(aws_session, sandbox, ("us-east-1",))
    proxy.add_fault("eu-west-1", "DescribeInstances", 403, "UnauthorizedOperation")
    settings = make_settings(accounts=("ci",), regions=TWO_REGIONS["ci"], dry_run=False)
    kinds = _kinds(settings, aws_session, proxy.endpoint_url, metrics)

    report = _sweep(settings, kinds, audit_path, now, metrics)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    assert _by_label(registry, "reaper_errors_total", "operation") == {"collect": 1}
    assert _value(registry, "reaper_errors_total", provider="aws", operation="collect") == 1
    assert _value(registry, "reaper_sweeps_total", result="partial_failure") == 1
    assert _value(registry, "reaper_sweeps_total", result="ok") is None
    assert _value(registry, "reaper_last_successful_sweep_timestamp_seconds") == 0
    # The region that answered was still swept.
    assert _value(registry, "reaper_resources_seen", **EC2) == in_us
    assert _value(registry, "reaper_actions_total", **EC2, action="delete", outcome="done") == len(
        _deleted(seeded, "us-east-1")
    )
    # A 403 is not retried: the failing region saw one request.
    assert proxy.count("ec2", "DescribeInstances", "eu-west-1") == 1
    assert _api(registry, "DescribeInstances") == proxy.count("ec2", "DescribeInstances")
    assert _api_requests(registry) == _proxy_requests(proxy)


def test_failed_deletes_count_as_failed_actions_and_errors(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    guarded = sorted(s.instance_id for s in _deleted(seeded))[0]
    ec2 = aws_session.client("ec2", region_name="us-east-1", endpoint_url=sandbox.endpoint_url)
    ec2.modify_instance_attribute(InstanceId=guarded, DisableApiTermination={"Value": True})
    settings = make_settings(accounts=("ci",), regions=ONE_REGION["ci"], dry_run=False)
    kinds = _kinds(settings, aws_session, sandbox.endpoint_url, metrics)

    report = _sweep(settings, kinds, audit_path, now, metrics)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    assert _value(registry, "reaper_actions_total", **EC2, action="delete", outcome="failed") == 1
    assert _value(registry, "reaper_actions_total", **EC2, action="delete", outcome="done") == (
        len(_deleted(seeded)) - 1
    )
    assert _by_label(registry, "reaper_errors_total", "operation") == {"delete": 1}
    assert _value(registry, "reaper_sweeps_total", result="partial_failure") == 1
    assert guarded not in _label_values(registry)


def test_a_braked_sweep_trips_the_brake_counter_and_acts_on_nothing(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    settings = make_settings(
        accounts=("ci",),
        regions=ONE_REGION["ci"],
        dry_run=False,
        safety={"max_actions_per_sweep": 1},
    )
    kinds = _kinds(settings, aws_session, proxy.endpoint_url, metrics)

    report = _sweep(settings, kinds, audit_path, now, metrics)

    assert report.exit_code == ExitCode.SAFETY_BRAKE
    assert _value(registry, "reaper_safety_brake_trips_total") == 1
    assert _value(registry, "reaper_sweeps_total", result="safety_brake") == 1
    assert _value(registry, "reaper_last_successful_sweep_timestamp_seconds") == 0
    # What the plan wanted is still shown; nothing was done.
    candidates = _by_label(registry, "reaper_candidates", "reason")
    assert sum(candidates.values()) == len(_deleted(seeded)) + len(_quarantined(seeded))
    assert _by_label(registry, "reaper_actions_total", "action") == {}
    assert proxy.count("ec2", "TerminateInstances") == 0
    assert _api(registry, "TerminateInstances") is None

    _sweep(settings, kinds, audit_path, now, metrics)

    assert _value(registry, "reaper_safety_brake_trips_total") == 2
    assert _value(registry, "reaper_sweeps_total", result="safety_brake") == 2
    assert _value(registry, "reaper_sweep_duration_seconds_count") == 2


class _BrokenSink:
    """An audit sink that is not required and takes nothing (a bucket that went away)."""

    name = "broken"
    required = False

    def write(self, lines: Any) -> None:
        raise AuditError("broken: the bucket does not exist")

    def last_line(self) -> bytes | None:
        raise AuditError("broken: cannot list the bucket")

    def close(self) -> None:
        pass


def test_audit_sink_and_notification_failures_are_counted_once_each(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seed_estate(sandbox, now, ONE_REGION)
    settings = make_settings(accounts=("ci",), regions=ONE_REGION["ci"], dry_run=False)
    kinds = _kinds(settings, aws_session, sandbox.endpoint_url, metrics)
    dead = f"http://127.0.0.1:{_dead_port()}/hook"
    notifier = WebhookNotifier(dead, timeout=2, retries=0, sleep=lambda _: None)

    opened: list[AuditLog] = []
    with AuditLog(audit_path) as earlier:  # the local file holds the chain's head
        earlier.append([{"event": "sweep-start", "sweep_id": "earlier"}])

    def open_audit() -> AuditLog:
        opened.append(AuditLog(audit_path, sinks=[_BrokenSink()]))
        return opened[-1]

    first = _sweep(settings, kinds, open_audit, now, metrics, notifier)
    assert first.exit_code == ExitCode.OK
    # Opening read the chain from the file, then tried the broken sink (one failure);
    # then sweep-start, the intents, the outcomes, sweep-end: four batches missed.
    assert opened[0].failures == {f"file:{audit_path}": 0, "broken": 1 + 4}
    assert _value(registry, "reaper_audit_sink_failures_total", sink="broken") == 5
    assert notifier.failed == 1  # the summary; nothing was marked
    assert _value(registry, "reaper_notification_failures_total") == 1

    # A second sweep opens the trail afresh (as the daemon does): only new failures count.
    # Every sink's last record is read at opening (none may be ahead of the file).
    second = _sweep(settings, kinds, open_audit, now, metrics, notifier)
    assert second.outcomes == ()
    assert opened[1].failures["broken"] == 1 + 2
    assert _value(registry, "reaper_audit_sink_failures_total", sink="broken") == 8
    assert _value(registry, "reaper_notification_failures_total") == notifier.failed == 2

    assert _value(registry, "reaper_audit_sink_failures_total", sink=f"file:{audit_path}") is None
    assert dead not in _label_values(registry)


class _NoStart(AuditLog):
    """An audit trail whose required file cannot take the first record of a sweep."""

    def append(self, records: Any) -> None:
        if any(r.get("event") == "sweep-start" for r in records):
            self.failures[f"file:{self.path}"] += 1
            raise AuditError(f"cannot write audit log {self.path}: No space left on device")
        super().append(records)


def test_a_sweep_that_raises_counts_as_an_error(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    settings = make_settings(accounts=("ci",), regions=ONE_REGION["ci"], dry_run=False)
    kinds = _kinds(settings, aws_session, sandbox.endpoint_url, metrics)

    with pytest.raises(AuditError):
        _sweep(settings, kinds, lambda: _NoStart(audit_path), datetime.now(UTC), metrics)

    assert _value(registry, "reaper_sweeps_total", result="error") == 1
    assert _value(registry, "reaper_sweep_duration_seconds_count") == 1
    assert _value(registry, "reaper_audit_sink_failures_total", sink=f"file:{audit_path}") == 1
    assert _value(registry, "reaper_last_successful_sweep_timestamp_seconds") == 0
    assert _api_requests(registry) == {}


def test_a_pinned_apply_is_recorded_like_a_sweep(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    audit_path: Path,
    registry: CollectorRegistry,
    metrics: Metrics,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    settings = make_settings(accounts=("ci",), regions=ONE_REGION["ci"], dry_run=False)
    direct = build_kinds(settings, {"aws": AwsConnection(aws_session, sandbox.endpoint_url)})
    plan, _, _ = SweepService(settings, direct, lambda: AuditLog(audit_path)).plan(now)
    document = plan_to_json(plan, True, config_sha256="sha")
    pinned = read_pinned(document, "plan.json", "sha", settings.safety.plan_max_age, now)
    # One planned instance is gone before the apply: skipped, not failed.
    gone = sorted(s.instance_id for s in _deleted(seeded))[0]
    ec2 = aws_session.client("ec2", region_name="us-east-1", endpoint_url=sandbox.endpoint_url)
    ec2.terminate_instances(InstanceIds=[gone])
    kinds = _kinds(settings, aws_session, proxy.endpoint_url, metrics)

    service = SweepService(
        settings, kinds, lambda: AuditLog(audit_path), metrics=metrics, config_sha256="sha"
    )
    report = service.apply(pinned, now, False)

    assert report.exit_code == ExitCode.OK
    assert _value(registry, "reaper_actions_total", **EC2, action="delete", outcome="done") == (
        len(_deleted(seeded)) - 1
    )
    assert _value(registry, "reaper_actions_total", **EC2, action="delete", outcome="skipped") == 1
    assert _value(registry, "reaper_sweeps_total", result="ok") == 1
    assert _value(registry, "reaper_sweep_duration_seconds_count") == 1
    assert _api_requests(registry) == _proxy_requests(proxy)
    assert _api(registry, "TerminateInstances") == 1
    assert gone not in _label_values(registry)


def test_clients_report_every_attempt_without_disturbing_requests(
    sandbox: MotoServer,
    proxy: CountingProxy,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
) -> None:
    """The request hook sees each attempt; a callback that raises fails no request."""
    settings = make_settings(accounts=("ci",), regions=ONE_REGION["ci"])
    aws = settings.providers.aws
    assert aws is not None
    seen: list[tuple[str, str]] = []

    def on_request(provider: str, operation: str) -> None:
        seen.append((provider, operation))
        raise RuntimeError("a broken metrics backend")

    clients = AwsClients(aws, aws_session, proxy.endpoint_url, on_request)
    scope = clients.scopes()[0]
    proxy.add_fault(None, "RunInstances", 503, "RequestLimitExceeded", times=1)
    ec2 = clients.client(scope, "ec2")
    ec2.run_instances(ImageId=SANDBOX_AMI, MinCount=1, MaxCount=1)
    clients.principal(scope)

    assert Counter(seen) == {
        ("aws", "RunInstances"): 2,
        ("aws", "GetCallerIdentity"): 1,
    }
    assert _proxy_requests(proxy) == {"RunInstances": 2, "GetCallerIdentity": 1}


def _snapshot(provider: str, kind: str, now: datetime, marked: int) -> SweepReport:
    """A finished sweep of one provider: ``marked`` resources marked for deletion."""
    decisions = tuple(
        Decision(
            Resource(ResourceRef(provider, kind, Scope("ci", "r1"), f"id-{n}"), f"n{n}", now),
            Action.MARK,
            (Reason.TTL_EXPIRED,),
            now,
            now + timedelta(hours=1),
            intended=Action.DELETE,
        )
        for n in range(marked)
    )
    plan = Plan(now, decisions, {f"{provider}:{kind}": marked})
    return SweepReport("s", plan, Collection((), (), 0), dry_run=False)


def test_a_sweep_replaces_the_snapshot_of_its_own_providers_only(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    # Two providers on schedules of their own: each sweep refreshes its provider's gauges.
    now = datetime.now(UTC)
    metrics.observe_sweep(_snapshot("aws", "ec2_instance", now, 3), 1.0, now, {"aws"})
    metrics.observe_sweep(_snapshot("gcp", "compute_instance", now, 2), 1.0, now, {"gcp"})
    metrics.observe_sweep(_snapshot("aws", "ec2_instance", now, 1), 1.0, now, {"aws"})

    gcp = {"provider": "gcp", "kind": "compute_instance"}
    assert _value(registry, "reaper_resources_seen", **EC2) == 1
    assert _value(registry, "reaper_resources_seen", **gcp) == 2
    assert _value(registry, "reaper_marked_resources", **EC2) == 1
    assert _value(registry, "reaper_marked_resources", **gcp) == 2
    assert _value(registry, "reaper_candidates", **gcp, reason="ttl-expired") == 2

    # A sweep that covers every provider (providers=None) starts the snapshot afresh.
    metrics.observe_sweep(_snapshot("aws", "ec2_instance", now, 1), 1.0, now)
    assert _value(registry, "reaper_resources_seen", **gcp) is None
    assert _value(registry, "reaper_marked_next_action_seconds", **gcp) is None
