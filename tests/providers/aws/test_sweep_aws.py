"""End-to-end sweeps of EC2 instances: real boto3 over HTTP to a moto server.

Each test seeds an estate whose every instance says whether the demo policy should
delete it (``SeededInstance.expect_deleted``), runs a sweep through the service and then
checks what is left in moto and what the audit trail says, not what the sweep reported.
Failures at the network edge are injected by a ``CountingProxy`` between boto3 and moto.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sweep_support import run_sweep

from reaper.actuator import Actuator
from reaper.app import SweepService
from reaper.audit import GENESIS, AuditLog
from reaper.config import Settings, parse_settings
from reaper.errors import AuditError
from reaper.model import Action, Resource, ResourceRef, Result, Scope
from reaper.providers.aws.ec2 import Ec2Instances
from reaper.providers.base import ResourceKind
from reaper.results import ExitCode, SweepReport
from reaper.sandbox.estate import (
    CI_ACCOUNT_ID,
    SANDBOX_AMI,
    STAGING_ACCOUNT_ID,
    SeededInstance,
    seed_estate,
)
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import UNPARSEABLE_XML, CountingProxy, CountKey, parse_request

DEMO_LAYOUT = {"ci": ("us-east-1", "eu-west-1", "us-west-2"), "staging": ("eu-west-1",)}
ONE_REGION = {"ci": ("us-east-1",)}
TWO_REGIONS = {"ci": ("us-east-1", "eu-west-1")}
ACCOUNT_IDS = {"ci": CI_ACCOUNT_ID, "staging": STAGING_ACCOUNT_ID}
# Per seeded region: 13 instances, 11 of them pipeline-tagged, 4 expired.
PER_REGION_POPULATION = 11
PER_REGION_EXPIRED = 4

ReadAudit = Callable[[Path | str], list[dict[str, Any]]]
ConfigFactory = Callable[..., dict[str, Any]]
SettingsFactory = Callable[..., Settings]
KindsFactory = Callable[..., list[ResourceKind]]
AliveFactory = Callable[[Mapping[str, tuple[str, ...]]], set[str]]


def _ids(seeded: list[SeededInstance], *, deleted: bool | None = None) -> set[str]:
    return {s.instance_id for s in seeded if deleted is None or s.expect_deleted is deleted}


def _regions(layout: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for regions in layout.values() for r in regions))


def _sweep(
    settings: Settings,
    kinds: list[ResourceKind],
    audit_path: Path,
    now: datetime,
    *,
    dry_run: bool,
) -> SweepReport:
    return run_sweep(settings, kinds, audit_path, now, dry_run)


def _assert_chained(path: Path) -> None:
    """Sequence numbers count up from 1 and each record hashes the line before it."""
    previous = GENESIS
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        record = json.loads(line)
        assert record["seq"] == number
        assert record["prev_sha256"] == previous, f"chain broken at seq {number}"
        previous = hashlib.sha256(line).hexdigest()


def _events(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


def _ec2(session: boto3.Session, sandbox: MotoServer, region: str) -> Any:
    """An EC2 client of the ``ci`` account straight to moto (no proxy)."""
    return session.client("ec2", region_name=region, endpoint_url=sandbox.endpoint_url)


# -- one demo estate, swept three times -------------------------------------------------------


@dataclass(frozen=True)
class DemoSweeps:
    """The demo estate (both accounts, three regions) after three sweeps in a row.

    A dry run, then an applied sweep through a CountingProxy, then a second applied sweep:
    what an operator does on the first day. Seeding the estate is the slow part, so the
    tests of this section share one; each looks at the step it is about.
    """

    seeded: list[SeededInstance]
    settings: Settings
    dry_run: SweepReport
    dry_run_audit: Path
    alive_after_dry_run: set[str]
    applied: SweepReport
    applied_calls: dict[CountKey, int]
    """Requests the applied sweep made, by (service, region, operation)."""
    alive_after_apply: set[str]
    audit: Path
    """The trail of both applied sweeps."""
    records_after_apply: int
    again: SweepReport
    alive_after_again: set[str]


@pytest.fixture(scope="module")
def demo(
    moto_server: MotoServer,
    make_kinds: KindsFactory,
    alive: AliveFactory,
    sandbox_config: ConfigFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> DemoSweeps:
    moto_server.reset()
    now = datetime.now(UTC)
    seeded = seed_estate(moto_server, now, DEMO_LAYOUT)
    tmp = tmp_path_factory.mktemp("demo")
    audit, dry_run_audit = tmp / "applied.jsonl", tmp / "dry-run.jsonl"
    settings = parse_settings(sandbox_config(audit, dry_run=False), "tests/demo.yaml")

    dry_run = _sweep(settings, make_kinds(settings), dry_run_audit, now, dry_run=True)
    alive_after_dry_run = alive(DEMO_LAYOUT)
    with CountingProxy(moto_server.endpoint_url) as proxy:
        kinds = make_kinds(settings, proxy.endpoint_url)
        applied = _sweep(settings, kinds, audit, now, dry_run=False)
        applied_calls = proxy.counts()
    alive_after_apply = alive(DEMO_LAYOUT)
    records_after_apply = len(audit.read_bytes().splitlines())
    again = _sweep(settings, make_kinds(settings), audit, now, dry_run=False)

    return DemoSweeps(
        seeded=seeded,
        settings=settings,
        dry_run=dry_run,
        dry_run_audit=dry_run_audit,
        alive_after_dry_run=alive_after_dry_run,
        applied=applied,
        applied_calls=applied_calls,
        alive_after_apply=alive_after_apply,
        audit=audit,
        records_after_apply=records_after_apply,
        again=again,
        alive_after_again=alive(DEMO_LAYOUT),
    )


def test_dry_run_terminates_nothing_and_records_each_decision(
    demo: DemoSweeps, read_audit: ReadAudit
) -> None:
    assert demo.dry_run.exit_code == ExitCode.OK
    assert demo.alive_after_dry_run == _ids(demo.seeded)
    records = read_audit(demo.dry_run_audit)
    decisions = _events(records, "decision")
    assert sorted(r["resource"]["id"] for r in decisions) == sorted(_ids(demo.seeded, deleted=True))
    assert all(r["dry_run"] is True and r["result"] == "dry-run" for r in decisions)
    assert all(r["action"] == "delete" for r in decisions)
    assert not _events(records, "intent")
    assert not _events(records, "outcome")
    assert [records[0]["event"], records[-1]["event"]] == ["sweep-start", "sweep-end"]
    _assert_chained(demo.dry_run_audit)


def test_apply_terminates_exactly_the_expired_instances_in_both_accounts(
    demo: DemoSweeps, read_audit: ReadAudit
) -> None:
    expected = {s.instance_id: s for s in demo.seeded if s.expect_deleted}
    assert {s.account for s in expected.values()} == {"ci", "staging"}

    assert demo.applied.exit_code == ExitCode.OK
    left = demo.alive_after_apply
    assert left == _ids(demo.seeded, deleted=False)
    assert {s.label for s in demo.seeded if s.instance_id in left} == {
        "fresh",
        "expiry-extended",
        "protected",
        "untagged",
        "bad-ttl",
        "bad-expiry",
    }

    records = read_audit(demo.audit)[: demo.records_after_apply]
    intents = {r["resource"]["id"]: i for i, r in enumerate(records) if r["event"] == "intent"}
    outcomes = {r["resource"]["id"]: i for i, r in enumerate(records) if r["event"] == "outcome"}
    assert len(_events(records, "intent")) == len(intents) == len(expected)
    assert len(_events(records, "outcome")) == len(outcomes) == len(expected)
    assert set(intents) == set(outcomes) == set(expected)
    for instance_id, seed in expected.items():
        assert intents[instance_id] < outcomes[instance_id]
        for record in (records[intents[instance_id]], records[outcomes[instance_id]]):
            resource = record["resource"]
            assert (resource["account"], resource["region"]) == (seed.account, seed.region)
            assert resource["kind"] == "ec2_instance"
            assert resource["tags"]["Name"] == f"{seed.label}-{seed.account}-{seed.region}"
            assert resource["tags"]["reaper-pipeline"].startswith("gitlab-ci-")
            assert record["reasons"] in (["ttl-expired"], ["expiry-passed"])
            assert record["action"] == "delete"
            assert record["dry_run"] is False
            # The staging account is reached through its role: its principal says so.
            principal = record["actor"]["principal"]
            assert f":{ACCOUNT_IDS[seed.account]}:" in principal
            if seed.account == "staging":
                assert "assumed-role/reaper-sandbox" in principal
        assert records[outcomes[instance_id]]["result"] == "done"
    assert not _events(records, "decision")
    assert [records[0]["event"], records[-1]["event"]] == ["sweep-start", "sweep-end"]
    _assert_chained(demo.audit)


def test_second_applied_sweep_changes_nothing(demo: DemoSweeps, read_audit: ReadAudit) -> None:
    assert demo.again.exit_code == ExitCode.OK
    assert demo.again.plan.count(Action.DELETE) == 0
    assert demo.again.outcomes == ()
    assert demo.alive_after_again == demo.alive_after_apply
    later = read_audit(demo.audit)[demo.records_after_apply :]
    assert [r["event"] for r in later] == ["sweep-start", "sweep-end"]
    _assert_chained(demo.audit)  # the second sweep continued the first one's chain


def test_one_describe_and_one_terminate_call_per_account_and_region(demo: DemoSweeps) -> None:
    aws = demo.settings.providers.aws
    assert aws is not None
    accounts, regions = [a.name for a in aws.accounts], aws.regions
    assert (len(accounts), len(regions)) == (2, 3)
    with_expired = {(s.account, s.region) for s in demo.seeded if s.expect_deleted}
    assert len(with_expired) == 4
    # The proxy tells regions apart, not accounts: per region, one call per account.
    # Images and security groups are described once per scope, whatever the instances.
    seeded_scopes = {(s.account, s.region) for s in demo.seeded}
    per_region = {r: sum(1 for _, where in seeded_scopes if where == r) for r in regions}
    ec2_calls = {k: n for k, n in demo.applied_calls.items() if k[0] == "ec2"}
    assert ec2_calls == {
        **{("ec2", r, "DescribeInstances"): len(accounts) for r in regions},
        **{("ec2", r, "DescribeImages"): n for r, n in per_region.items() if n},
        **{("ec2", r, "DescribeSecurityGroups"): n for r, n in per_region.items() if n},
        **{
            ("ec2", r, "TerminateInstances"): sum(1 for _, where in with_expired if where == r)
            for r in regions
        },
    }
    assert sum(ec2_calls.values()) == (
        len(accounts) * len(regions) + len(with_expired) + 2 * len(seeded_scopes)
    )
    # Besides EC2, only identity calls: the role assumed once, the principals looked up.
    other = {k: n for k, n in demo.applied_calls.items() if k[0] != "ec2"}
    assert {k[2] for k in other} == {"AssumeRole", "GetCallerIdentity"}
    assert other[("sts", "us-east-1", "AssumeRole")] == 1


# -- the EC2 kind's delete -----------------------------------------------------------------


def test_delete_counts_terminated_and_unknown_instances_as_already_gone(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
) -> None:
    ec2 = _ec2(aws_session, sandbox, "us-east-1")
    launched = ec2.run_instances(ImageId=SANDBOX_AMI, MinCount=2, MaxCount=2)["Instances"]
    live, terminated = (i["InstanceId"] for i in launched)
    ec2.terminate_instances(InstanceIds=[terminated])
    unknown = "i-0123456789abcdef0"
    scope = Scope("ci", "us-east-1")
    resources = [
        Resource(ResourceRef("aws", "ec2_instance", scope, i), name=i, created_at=None)
        for i in (terminated, unknown, live)
    ]
    (kind,) = make_kinds(make_settings(accounts=("ci",), regions=("us-east-1",)))
    assert isinstance(kind, Ec2Instances)

    outcomes = kind.delete(scope, resources)

    results = {o.ref.id: o.result for o in outcomes}
    assert results == {
        live: Result.DONE,
        terminated: Result.ALREADY_GONE,
        unknown: Result.ALREADY_GONE,
    }
    assert all(o.action is Action.DELETE for o in outcomes)
    answer = ec2.describe_instances(InstanceIds=[live, terminated])
    states = {
        i["InstanceId"]: i["State"]["Name"] for r in answer["Reservations"] for i in r["Instances"]
    }
    assert states == {live: "terminated", terminated: "terminated"}


def test_termination_protection_fails_one_instance_and_not_the_batch(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    alive: AliveFactory,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    expired = sorted(_ids(seeded, deleted=True))
    assert len(expired) == PER_REGION_EXPIRED
    guarded = expired[0]
    _ec2(aws_session, sandbox, "us-east-1").modify_instance_attribute(
        InstanceId=guarded, DisableApiTermination={"Value": True}
    )
    settings = make_settings(accounts=("ci",), regions=("us-east-1",), dry_run=False)

    report = _sweep(settings, make_kinds(settings), audit_path, now, dry_run=False)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    assert alive(ONE_REGION) == _ids(seeded, deleted=False) | {guarded}
    (failed,) = report.failed
    assert failed.ref.id == guarded
    assert "OperationNotPermitted" in failed.message
    results = {r["resource"]["id"]: r for r in _events(read_audit(audit_path), "outcome")}
    assert {i: r["result"] for i, r in results.items()} == {
        i: ("failed" if i == guarded else "done") for i in expired
    }
    assert "OperationNotPermitted" in results[guarded]["message"]


# -- failures at the network edge ------------------------------------------------------------


def test_a_failing_region_does_not_stop_the_others(
    sandbox: MotoServer,
    alive: AliveFactory,
    proxy: CountingProxy,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, TWO_REGIONS)
    proxy.add_fault("eu-west-1", "DescribeInstances", 403, "UnauthorizedOperation")
    settings = make_settings(accounts=("ci",), regions=_regions(TWO_REGIONS), dry_run=False)

    report = _sweep(
        settings, make_kinds(settings, proxy.endpoint_url), audit_path, now, dry_run=False
    )

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    in_eu = {s.instance_id for s in seeded if s.region == "eu-west-1"}
    gone_in_us = {s.instance_id for s in seeded if s.region == "us-east-1" and s.expect_deleted}
    assert alive(TWO_REGIONS) == _ids(seeded) - gone_in_us
    assert in_eu <= alive(TWO_REGIONS)
    (error,) = report.collection.errors
    assert error.kind_key == "aws:ec2_instance"
    assert error.scope == Scope("ci", "eu-west-1")
    assert "UnauthorizedOperation" in error.message
    # A 403 is not retried, and nothing was attempted in the failing region.
    assert proxy.counts()[("ec2", "eu-west-1", "DescribeInstances")] == 1
    assert proxy.count("ec2", "TerminateInstances", "eu-west-1") == 0


# A reply botocore reads without complaint but cannot convert: a well-formed document
# whose launch time is no time at all.
BAD_VALUE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse><reservationSet>'
    b"<item><instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>"
    b"<launchTime>next-tuesday</launchTime></item></instancesSet></item></reservationSet>"
    b"</DescribeInstancesResponse>"
)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(UNPARSEABLE_XML, "Unable to parse response (no element found", id="cut-short"),
        pytest.param(BAD_VALUE, 'ValueError: Invalid timestamp "next-tuesday"', id="bad-value"),
    ],
)
def test_an_unparseable_reply_is_a_collect_error_of_its_region(
    sandbox: MotoServer,
    alive: AliveFactory,
    proxy: CountingProxy,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
    body: bytes,
    detail: str,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, TWO_REGIONS)
    garbled = proxy.add_unparseable("eu-west-1", "DescribeInstances", body=body)
    settings = make_settings(accounts=("ci",), regions=_regions(TWO_REGIONS), dry_run=False)

    report = _sweep(
        settings, make_kinds(settings, proxy.endpoint_url), audit_path, now, dry_run=False
    )

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    gone_in_us = {s.instance_id for s in seeded if s.region == "us-east-1" and s.expect_deleted}
    assert alive(TWO_REGIONS) == _ids(seeded) - gone_in_us
    (error,) = report.collection.errors
    assert (error.kind_key, error.scope) == ("aws:ec2_instance", Scope("ci", "eu-west-1"))
    prefix = "ec2 DescribeInstances in ci/eu-west-1 failed: unparseable response: "
    assert error.message.startswith(prefix + detail)
    assert "\n" not in error.message
    assert garbled.served == 1
    assert proxy.count("ec2", "TerminateInstances", "eu-west-1") == 0
    (end,) = _events(read_audit(audit_path), "sweep-end")
    assert end["exit_code"] == ExitCode.PARTIAL_FAILURE
    assert end["collect_errors"] == [f"aws:ec2_instance ci/eu-west-1: {error.message}"]


def test_throttled_describes_are_retried_until_the_sweep_succeeds(
    sandbox: MotoServer,
    alive: AliveFactory,
    proxy: CountingProxy,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    # Three regions collected at once, so the throttles land on concurrent requests.
    regions = ("us-east-1", "eu-west-1", "us-west-2")
    throttle = proxy.add_fault(None, "DescribeInstances", 503, "RequestLimitExceeded", times=3)
    settings = make_settings(accounts=("ci",), regions=regions, dry_run=False)

    report = _sweep(
        settings, make_kinds(settings, proxy.endpoint_url), audit_path, now, dry_run=False
    )

    assert report.exit_code == ExitCode.OK
    assert report.collection.errors == ()
    assert alive(ONE_REGION) == _ids(seeded, deleted=False)
    assert throttle.served == 3
    # Every region answered once; the three throttled attempts were retried.
    assert proxy.count("ec2", "DescribeInstances") == len(regions) + 3
    assert {r for (s, r, o) in proxy.counts() if o == "DescribeInstances"} == set(regions)


# -- safety ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("safety", "reason"),
    [
        pytest.param({"max_actions_per_sweep": 3}, "max_actions_per_sweep=3", id="max-actions"),
        pytest.param(
            {"max_fraction": 0.2, "min_actions_for_fraction": 0},
            "max_fraction=0.2",
            id="max-fraction",
        ),
    ],
)
def test_safety_brake_stops_the_whole_sweep(
    sandbox: MotoServer,
    alive: AliveFactory,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
    safety: dict[str, Any],
    reason: str,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    settings = make_settings(accounts=("ci",), regions=("us-east-1",), safety=safety, dry_run=False)

    report = _sweep(settings, make_kinds(settings), audit_path, now, dry_run=False)

    assert report.exit_code == ExitCode.SAFETY_BRAKE
    assert alive(ONE_REGION) == _ids(seeded)
    records = read_audit(audit_path)
    (brake,) = _events(records, "safety-brake")
    assert brake["counts"] == [
        {
            "group": "aws:ec2_instance",
            "actions": PER_REGION_EXPIRED,
            "population": PER_REGION_POPULATION,
        }
    ]
    assert any(reason in r for r in brake["reasons"])
    assert not _events(records, "intent")
    assert not _events(records, "outcome")
    assert records[-1]["event"] == "sweep-end"
    assert records[-1]["exit_code"] == ExitCode.SAFETY_BRAKE


class _NoIntents(AuditLog):
    """An audit trail that cannot take intent records, as when its disk is full."""

    def append(self, records: Any) -> None:
        if any(r.get("event") == "intent" for r in records):
            raise AuditError(f"cannot write audit log {self.path}: No space left on device")
        super().append(records)


def test_no_action_without_a_recorded_intent(
    sandbox: MotoServer,
    alive: AliveFactory,
    make_settings: SettingsFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    now = datetime.now(UTC)
    seeded = seed_estate(sandbox, now, ONE_REGION)
    settings = make_settings(accounts=("ci",), regions=("us-east-1",), dry_run=False)
    kinds = make_kinds(settings)
    plan, collection, brake = SweepService(settings, kinds, lambda: AuditLog(audit_path)).plan(now)
    assert brake is None
    assert collection.errors == ()
    assert plan.count(Action.DELETE) == PER_REGION_EXPIRED

    with _NoIntents(audit_path) as audit:
        actuator = Actuator(kinds, audit, "sweep-test", settings.tags.model_dump().values())
        outcomes = actuator.execute(plan, dry_run=False)

    assert alive(ONE_REGION) == _ids(seeded)
    assert {o.ref.id for o in outcomes} == _ids(seeded, deleted=True)
    assert all(o.result is Result.FAILED for o in outcomes)
    assert all("audit" in o.message for o in outcomes)
    records = read_audit(audit_path)
    assert not _events(records, "intent")
    assert not _events(records, "outcome")


# -- the CountingProxy itself ---------------------------------------------------------------


def _signed(service: str, region: str, **extra: str) -> Message:
    headers = Message()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0123"
    )
    for name, value in extra.items():
        headers[name.replace("_", "-")] = value
    return headers


@pytest.mark.parametrize(
    ("method", "target", "headers", "body", "key", "protocol"),
    [
        pytest.param(
            "POST",
            "/",
            _signed("ec2", "eu-west-1", Content_Type="application/x-www-form-urlencoded"),
            b"Action=DescribeInstances&Version=2016-11-15",
            ("ec2", "eu-west-1", "DescribeInstances"),
            "ec2",
            id="ec2-query-form",
        ),
        pytest.param(
            "GET",
            "/?Action=GetCallerIdentity&Version=2011-06-15",
            _signed("sts", "us-east-1"),
            b"",
            ("sts", "us-east-1", "GetCallerIdentity"),
            "query",
            id="sts-query-string",
        ),
        pytest.param(
            "POST",
            "/",
            _signed("ssm", "us-west-2", X_Amz_Target="AmazonSSM.GetParameter"),
            b"{}",
            ("ssm", "us-west-2", "GetParameter"),
            "json",
            id="json-target",
        ),
        pytest.param(
            "PUT",
            "/bucket/key",
            _signed("s3", "eu-central-1"),
            b"data",
            ("s3", "eu-central-1", "PUT"),
            "rest",
            id="rest-method",
        ),
        pytest.param(
            "POST", "/moto-api/reset", Message(), b"", ("", "", "POST"), "rest", id="unsigned"
        ),
    ],
)
def test_proxy_reads_service_region_and_operation(
    method: str,
    target: str,
    headers: Message,
    body: bytes,
    key: CountKey,
    protocol: str,
) -> None:
    info = parse_request(method, target, headers, body)
    assert (info.key, info.protocol) == (key, protocol)


def test_proxy_faults_latency_and_counters(
    sandbox: MotoServer, aws_session: boto3.Session, proxy: CountingProxy
) -> None:
    once = Config(retries={"max_attempts": 1})
    ec2 = aws_session.client(
        "ec2", region_name="eu-west-1", endpoint_url=proxy.endpoint_url, config=once
    )
    sts = aws_session.client(
        "sts", region_name="eu-west-1", endpoint_url=proxy.endpoint_url, config=once
    )
    proxy.add_fault("eu-west-1", None, 403, "UnauthorizedOperation", message="no, sorry")

    # The error documents are ones botocore reads like AWS's own, in each protocol.
    for call in (ec2.describe_instances, sts.get_caller_identity):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "UnauthorizedOperation"
        assert refused.value.response["Error"]["Message"] == "no, sorry"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    proxy.clear_faults()
    proxy.latency = 0.2
    started = time.monotonic()
    assert ec2.describe_instances()["Reservations"] == []
    took = time.monotonic() - started
    assert took >= 0.2
    assert proxy.counts() == {
        ("ec2", "eu-west-1", "DescribeInstances"): 2,
        ("sts", "eu-west-1", "GetCallerIdentity"): 1,
    }
    # Only the forwarded request is timed, and without the injected latency.
    ((key, (server,)),) = proxy.server_times().items()
    assert key == ("ec2", "eu-west-1", "DescribeInstances")
    assert 0 < server < took - 0.2
    proxy.reset_counts()
    assert proxy.counts() == {}
    assert proxy.server_times() == {}
