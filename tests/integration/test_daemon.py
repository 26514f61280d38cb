"""``reaper daemon``: a real subprocess sweeping the shared moto, probed over HTTP.

The daemon runs as ``python -m reaper.cli.daemon`` with a config written to a temp dir
and finds moto (or a ``CountingProxy`` in front of it) through ``AWS_ENDPOINT_URL``.
What it did is checked in moto, in the audit file and in its ``/metrics``, not in its
logs. The pure parts (schedules, readiness, the actuator's stop flag, the one-sweep
lock) are tested in process.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
import yaml
from cli_support import sandbox_env
from paths import REPO
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from signing import SIGNER

from reaper.actuator import Actuator, StopFlag
from reaper.audit import AuditLog, verify_lines
from reaper.config import Schedule, Settings, parse_settings
from reaper.daemon import (
    STOP_REASON,
    Daemon,
    Job,
    SweepStatus,
    make_trigger,
    plan_jobs,
    readiness,
    trigger_period,
)
from reaper.errors import ConfigError, ProviderError
from reaper.metrics import Metrics
from reaper.model import (
    Action,
    Collected,
    Decision,
    Outcome,
    Plan,
    Reason,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.providers.base import ResourceKind
from reaper.sandbox.estate import CI_ACCOUNT_ID, SANDBOX_AMI, SANDBOX_KEY_ID, SANDBOX_SECRET
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy
from reaper.schedules import crontab_weekdays
from reaper.workers import WorkerLimits

DEPLOY = REPO / "deploy" / "kubernetes" / "daemon"
EXPIRED_AGE = timedelta(days=2)
START_TIMEOUT = 30.0
HELD_SECONDS = 10.0
"""How long the proxy holds a call that must still be in flight when the daemon exits."""
# Requests to the daemon go straight to loopback, never through an HTTP(S)_PROXY.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Records = list[dict[str, Any]]


# -- the daemon as a subprocess ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class DaemonProcess:
    """``python -m reaper.cli.daemon -c CONFIG`` against an endpoint, in ``tmp_path``."""

    def __init__(
        self,
        tmp_path: Path,
        endpoint_url: str,
        regions: Sequence[str],
        *,
        max_workers: int = 8,
        shutdown_timeout: str = "20s",
    ) -> None:
        self.port = _free_port()
        self.audit = tmp_path / "audit.jsonl"
        self.config = tmp_path / "reaper.yaml"
        self._tmp_path = tmp_path
        self._env = sandbox_env(endpoint_url)
        config = {
            "dry_run": True,  # --apply overrides it, as for `reaper run`
            "providers": {
                "aws": {
                    "accounts": [{"name": "ci"}],
                    "regions": list(regions),
                    "kinds": ["ec2_instance"],
                    "max_workers": max_workers,
                }
            },
            "policy": {"default_ttl": "12h", "grace_period": "0s"},
            "safety": {"max_actions_per_sweep": 50, "max_fraction": 1},
            "audit": {"path": str(self.audit)},
            "daemon": {
                "schedule": {"interval": "1h"},  # the first sweep runs at start, then none
                "listen": f"127.0.0.1:{self.port}",
                "shutdown_timeout": shutdown_timeout,
            },
        }
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None
        self.stdout = tmp_path / "daemon.out"
        self.stderr = tmp_path / "daemon.err"

    def start(self, *, apply: bool) -> None:
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reaper.cli.daemon", "-c", str(self.config)]
                + (["--apply"] if apply else []),
                env=self._env,
                cwd=self._tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.process is not None, "not started"
        return self.process

    def get(self, path: str) -> tuple[int, str, str]:
        """Status, content type and body of a GET; (0, '', error) when it cannot connect."""
        try:
            with _OPENER.open(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return (
                    answer.status,
                    answer.headers.get("Content-Type", ""),
                    answer.read().decode(),
                )
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", ""), err.read().decode()
        except OSError as err:
            return 0, "", str(err)

    def wait_for(
        self, what: str, check: Callable[[], bool], timeout: float = START_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert self.proc.poll() is None, f"the daemon exited while waiting for {what}\n{self}"
            assert time.monotonic() < deadline, f"no {what} within {timeout:g}s\n{self}"
            time.sleep(0.02)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit within {timeout:g}s\n{self}")

    def records(self) -> Records:
        if not self.audit.exists():
            return []
        lines = self.audit.read_bytes().splitlines(keepends=True)
        return [json.loads(line) for line in lines if line.endswith(b"\n")]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __str__(self) -> str:
        return f"stderr:\n{self.stderr.read_text(errors='replace')[-4000:]}"


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def make(endpoint_url: str, regions: Sequence[str], **options: Any) -> DaemonProcess:
        folder = tmp_path / f"daemon-{len(started)}"
        folder.mkdir()
        daemon = DaemonProcess(folder, endpoint_url, regions, **options)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.kill()


# -- the sandbox and the audit trail ----------------------------------------------------


def _ec2(sandbox: MotoServer, region: str) -> Any:
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id=SANDBOX_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET,
    )


def _seed(sandbox: MotoServer, region: str, expired: int, fresh: int = 0) -> tuple[str, ...]:
    """Pipeline instances in a region: ``expired`` two days old, ``fresh`` just started.

    Returns the expired ones' ids.
    """
    ec2 = _ec2(sandbox, region)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "reaper-pipeline", "Value": "ci-7"}]}]
    answer = ec2.run_instances(
        ImageId=SANDBOX_AMI, MinCount=expired + fresh, MaxCount=expired + fresh,
        TagSpecifications=tags,
    )  # fmt: skip
    ids = [i["InstanceId"] for i in answer["Instances"]]
    old = datetime.now(UTC) - EXPIRED_AGE
    sandbox.age_instances(CI_ACCOUNT_ID, region, dict.fromkeys(ids[:expired], old))
    return tuple(ids[:expired])


def _states(sandbox: MotoServer, region: str) -> dict[str, str]:
    found = _ec2(sandbox, region).describe_instances()
    return {
        i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]
    }


def _key(record: Mapping[str, Any]) -> tuple[str, str, str]:
    return (record["sweep_id"], record["resource"]["id"], record["action"])


def _intents_without_outcome(records: Records) -> list[dict[str, Any]]:
    """Intents with no later outcome for the same sweep, resource and action."""
    open_intents: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        if record["event"] == "intent":
            open_intents[_key(record)] = record
        elif record["event"] == "outcome":
            open_intents.pop(_key(record), None)
    return list(open_intents.values())


def _assert_chain_intact(audit: Path) -> None:
    result = verify_lines(audit.read_bytes().splitlines(keepends=True))
    assert result.ok, result


def _sample(text: str, name: str, **labels: str) -> float | None:
    """A sample of an exposition, matched on name and the labels given."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


# -- end to end ---------------------------------------------------------------------------


def test_daemon_sweeps_at_start_serves_probes_and_metrics_and_stops_on_sigterm(
    sandbox: MotoServer, make_daemon: Callable[..., DaemonProcess]
) -> None:
    regions = ("us-east-1", "eu-west-1")
    expired = {r: _seed(sandbox, r, expired=3, fresh=1) for r in regions}
    daemon = make_daemon(sandbox.endpoint_url, regions)
    daemon.start(apply=True)

    daemon.wait_for("/healthz 200", lambda: daemon.get("/healthz")[0] == 200)
    daemon.wait_for("/readyz 200", lambda: daemon.get("/readyz")[0] == 200)

    status, content_type, metrics = daemon.get("/metrics")
    assert status == 200
    assert content_type == CONTENT_TYPE_LATEST
    deleted = _sample(
        metrics,
        "reaper_actions_total",
        provider="aws",
        kind="ec2_instance",
        action="delete",
        outcome="done",
    )
    assert deleted == sum(len(ids) for ids in expired.values())
    assert _sample(metrics, "reaper_sweeps_total", result="ok") == 1
    last_success = _sample(metrics, "reaper_last_successful_sweep_timestamp_seconds")
    assert last_success is not None
    assert 0 < time.time() - last_success < 60
    assert daemon.get("/nothing-here")[0] == 404
    for region, ids in expired.items():
        states = _states(sandbox, region)
        assert {states[i] for i in ids} <= {"shutting-down", "terminated"}
        assert sorted(s for i, s in states.items() if i not in ids) == ["running"]

    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0, daemon

    records = daemon.records()
    assert records[-1]["event"] == "sweep-end"
    assert records[-1]["exit_code"] == 0
    assert len([r for r in records if r["event"] == "intent"]) == 6
    assert _intents_without_outcome(records) == []
    assert records[0]["event"] == "sweep-start"
    assert records[0]["dry_run"] is False
    _assert_chain_intact(daemon.audit)
    log = daemon.stderr.read_text()
    assert "command=daemon" in log
    assert "effective_dry_run=false" in log
    assert "job=default sweep=" in log
    assert "GET /" not in log  # no request logging
    assert daemon.stdout.read_text() == ""


def test_sigterm_mid_sweep_finishes_the_current_group_and_skips_the_rest(
    sandbox: MotoServer, make_daemon: Callable[..., DaemonProcess]
) -> None:
    regions = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1")
    expired = {r: _seed(sandbox, r, expired=2) for r in regions}
    # One worker: the four (kind, region) groups act one after the other. The principal
    # is looked up just before the first group's intents; from then on every call takes
    # a second, so the stop lands while the first group's TerminateInstances is held.
    with CountingProxy(sandbox.endpoint_url, latency=0.05) as proxy:
        daemon = make_daemon(proxy.endpoint_url, regions, max_workers=1)
        daemon.start(apply=True)
        daemon.wait_for("GetCallerIdentity", lambda: proxy.count("sts") > 0)
        proxy.latency = 1.0
        daemon.wait_for(
            "an intent record",
            lambda: any(r["event"] == "intent" for r in daemon.records()),
            timeout=60,
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0, daemon
        terminations = proxy.count("ec2", "TerminateInstances")

    records = daemon.records()
    intents = [r for r in records if r["event"] == "intent"]
    acted = {r["resource"]["region"] for r in intents}
    assert len(acted) == 1, acted
    assert terminations == 1
    assert _intents_without_outcome(records) == []
    outcomes = [r for r in records if r["event"] == "outcome"]
    assert {r["result"] for r in outcomes} <= {"done", "skipped"}
    skipped = [r for r in records if r["event"] == "skipped"]
    assert {r["resource"]["region"] for r in skipped} == set(regions) - acted
    assert {r["message"] for r in skipped} == {STOP_REASON}
    assert {r["resource"]["id"] for r in skipped} == {
        i for region in set(regions) - acted for i in expired[region]
    }
    assert records[-1]["event"] == "sweep-end"
    _assert_chain_intact(daemon.audit)
    for region in regions:
        states = {s for i, s in _states(sandbox, region).items() if i in expired[region]}
        assert states <= ({"shutting-down", "terminated"} if region in acted else {"running"})


def test_sigterm_during_collection_starts_no_further_collector_and_exits_promptly(
    sandbox: MotoServer, make_daemon: Callable[..., DaemonProcess]
) -> None:
    regions = ("us-east-1", "eu-west-1", "us-west-2", "eu-central-1")
    expired = {r: _seed(sandbox, r, expired=1) for r in regions}
    # One worker and a second per request: collecting the four regions one after the
    # other would take twelve seconds; the stop lands during the first region's.
    with CountingProxy(sandbox.endpoint_url, latency=1.0) as proxy:
        daemon = make_daemon(proxy.endpoint_url, regions, max_workers=1)
        daemon.start(apply=True)
        daemon.wait_for("DescribeInstances", lambda: proxy.count("ec2", "DescribeInstances") > 0)
        daemon.signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert daemon.wait(timeout=20) == 0, daemon
        took = time.monotonic() - stopping
        described = proxy.count("ec2", "DescribeInstances")

    assert described == 1, f"a collector started after the signal\n{daemon}"
    assert took < 8, f"took {took:.1f} s to stop"
    records = daemon.records()
    assert [r for r in records if r["event"] == "intent"] == []
    end = records[-1]
    assert end["event"] == "sweep-end"
    not_collected = [e for e in end["collect_errors"] if "not collected" in e]
    assert len(not_collected) == len(regions) - 1, end["collect_errors"]
    assert all(STOP_REASON in e for e in not_collected)
    _assert_chain_intact(daemon.audit)
    for region in regions:
        assert set(_states(sandbox, region).values()) == {"running"}, region
        assert set(expired[region]) <= set(_states(sandbox, region))


def test_second_sigterm_abandons_a_hanging_call_and_names_the_dangling_intents(
    sandbox: MotoServer, make_daemon: Callable[..., DaemonProcess]
) -> None:
    region = "us-east-1"
    ids = _seed(sandbox, region, expired=2)
    with CountingProxy(sandbox.endpoint_url) as proxy:
        # TerminateInstances hangs (held by the proxy from the start, so however slow the
        # machine, the call is in flight when the signals come).
        proxy.delay("TerminateInstances", HELD_SECONDS)
        daemon = make_daemon(proxy.endpoint_url, [region])
        daemon.start(apply=True)
        daemon.wait_for(
            "the held TerminateInstances", lambda: proxy.count("ec2", "TerminateInstances") > 0
        )
        daemon.signal(signal.SIGTERM)
        time.sleep(0.3)
        daemon.signal(signal.SIGTERM)
        second = time.monotonic()
        code = daemon.wait(timeout=HELD_SECONDS)
        elapsed = time.monotonic() - second

        assert code == 1, daemon
        # It did not wait for the held call: the instances still run.
        assert set(_states(sandbox, region).values()) == {"running"}
        assert elapsed < HELD_SECONDS / 2, f"took {elapsed:.1f}s to exit"
        records = daemon.records()
        abandoned = records[-1]
        assert abandoned["event"] == "shutdown-abandoned"
        assert "second signal" in abandoned["reason"]
        dangling = _intents_without_outcome(records)
        assert {r["resource"]["id"] for r in dangling} == set(ids)
        assert {(d["resource"]["id"], d["action"]) for d in abandoned["dangling"]} == {
            (i, "delete") for i in ids
        }
        assert abandoned["sweep_id"] == dangling[0]["sweep_id"]
        _assert_chain_intact(daemon.audit)

        # The held call still goes through; the next daemon's recovery records it.
        deadline = time.monotonic() + HELD_SECONDS + 15
        while "running" in _states(sandbox, region).values():
            assert time.monotonic() < deadline, "the held TerminateInstances never arrived"
            time.sleep(0.1)
        proxy.reset_counts()
        again = make_daemon(proxy.endpoint_url, [region])
        again.audit.write_bytes(daemon.audit.read_bytes())
        again.start(apply=True)
        again.wait_for("/readyz 200", lambda: again.get("/readyz")[0] == 200)
        again.signal(signal.SIGTERM)
        assert again.wait(timeout=20) == 0, again
        assert proxy.count("ec2", "TerminateInstances") == 0, "an action was repeated"

    after = again.records()
    recovered = [r for r in after if r.get("recovered_by")]
    assert {(r["resource"]["id"], r["result"]) for r in recovered} == {
        (i, "already-gone") for i in ids
    }
    assert _intents_without_outcome(after) == []
    _assert_chain_intact(again.audit)


def test_readyz_fails_while_the_last_sweep_failed(
    sandbox: MotoServer, make_daemon: Callable[..., DaemonProcess]
) -> None:
    region = "us-east-1"
    ids = _seed(sandbox, region, expired=1)
    # Not a dead port: botocore would retry a refused connection for ~40 s. A refusal
    # it does not retry fails the collection at once, the same way (exit code 1).
    with CountingProxy(sandbox.endpoint_url) as proxy:
        proxy.add_fault(None, "DescribeInstances", 403, "UnauthorizedOperation")
        daemon = make_daemon(proxy.endpoint_url, [region])
        daemon.start(apply=False)
        daemon.wait_for("/healthz 200", lambda: daemon.get("/healthz")[0] == 200)
        daemon.wait_for("a finished sweep", lambda: "exit code" in daemon.get("/readyz")[2])

        status, _, reason = daemon.get("/readyz")
        assert status == 503
        assert "exit code 1" in reason
        assert daemon.get("/healthz")[0] == 200
        metrics = daemon.get("/metrics")[2]
        assert _sample(metrics, "reaper_sweeps_total", result="partial_failure") == 1
        assert _sample(metrics, "reaper_sweeps_total", result="ok") is None
        assert _sample(metrics, "reaper_errors_total", operation="collect") == 1
        assert _sample(metrics, "reaper_last_successful_sweep_timestamp_seconds") == 0
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0, daemon

    records = daemon.records()
    assert records[0]["dry_run"] is True  # no --apply, and the config says dry_run: true
    assert records[-1]["event"] == "sweep-end"
    assert records[-1]["exit_code"] == 1
    assert _states(sandbox, region)[ids[0]] == "running"


# -- schedules ----------------------------------------------------------------------------

FRIDAY_NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("*", "*", id="any"),
        pytest.param("1-5", "mon,tue,wed,thu,fri", id="weekdays-by-number"),
        pytest.param("0", "sun", id="zero-is-sunday"),
        pytest.param("7", "sun", id="seven-is-sunday"),
        pytest.param("5-7", "sun,fri,sat", id="range-to-seven"),
        pytest.param("*/2", "sun,tue,thu,sat", id="step-from-sunday"),
        pytest.param("MON-fri", "mon,tue,wed,thu,fri", id="names"),
        pytest.param("sat,sun", "sun,sat", id="list"),
    ],
)
def test_crontab_weekdays_count_from_sunday(field: str, expected: str) -> None:
    assert crontab_weekdays(field) == expected


@pytest.mark.parametrize("field", ["8", "5-1", "*/0", "someday"])
def test_crontab_weekdays_refuses_what_crontab_refuses(field: str) -> None:
    with pytest.raises(ValueError, match="day"):
        crontab_weekdays(field)


def test_a_weekday_cron_runs_on_weekdays_and_its_period_comes_from_its_next_fire_times() -> None:
    trigger = make_trigger(Schedule(cron="0 9 * * 1-5"))

    first = trigger.get_next_fire_time(None, FRIDAY_NOON)
    assert first == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday
    assert trigger_period(trigger, FRIDAY_NOON) == timedelta(days=1)
    every_half_hour = make_trigger(Schedule(cron="*/30 * * * *"))
    assert trigger_period(every_half_hour, FRIDAY_NOON) == timedelta(minutes=30)
    interval = make_trigger(Schedule(interval=timedelta(minutes=15)))
    assert trigger_period(interval, FRIDAY_NOON) == timedelta(minutes=15)


def _settings(tmp_path: Path, **daemon: Any) -> Settings:
    data = {
        "providers": {"aws": {"regions": ["us-east-1"]}},
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "daemon": daemon,
    }
    return parse_settings(data, "test.yaml")


def test_jobs_one_shared_schedule_or_one_per_provider(tmp_path: Path) -> None:
    shared = plan_jobs(_settings(tmp_path, schedule={"cron": "*/10 * * * *"}), FRIDAY_NOON)
    assert [(j.name, j.providers, j.period) for j in shared] == [
        ("default", ("aws",), timedelta(minutes=10))
    ]
    own = plan_jobs(_settings(tmp_path, providers={"aws": {"interval": "15m"}}), FRIDAY_NOON)
    assert [(j.name, j.providers, j.period) for j in own] == [
        ("aws", ("aws",), timedelta(minutes=15))
    ]


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        pytest.param("0 0 1 * 1", "not both", id="day-and-weekday"),
        pytest.param("61 * * * *", "minute '61'", id="bad-minute"),
    ],
)
def test_a_cron_the_scheduler_cannot_honour_is_a_config_error(cron: str, problem: str) -> None:
    # A loaded config cannot hold one (see test_config); one built in code is checked too.
    with pytest.raises(ConfigError) as err:
        make_trigger(Schedule.model_construct(cron=cron), "daemon.providers.aws")
    assert err.value.problems[0].startswith(f"daemon.providers.aws.cron: '{cron}': ")
    assert problem in err.value.problems[0]


# -- readiness ----------------------------------------------------------------------------

HOUR_JOB = Job("default", ("aws",), Schedule(interval=timedelta(hours=1)), None, timedelta(hours=1))


@pytest.mark.parametrize(
    ("last", "ready", "reason"),
    [
        pytest.param(None, False, "no sweep has finished yet", id="before-the-first"),
        pytest.param(SweepStatus("s1", FRIDAY_NOON, 0), True, "ok", id="just-succeeded"),
        pytest.param(
            SweepStatus("s1", FRIDAY_NOON - timedelta(hours=2, minutes=59), 0),
            True,
            "ok",
            id="within-three-periods",
        ),
        pytest.param(
            SweepStatus("s1", FRIDAY_NOON - timedelta(hours=3, minutes=1), 0),
            False,
            "more than 3 periods of 1h ago",
            id="three-periods-missed",
        ),
        pytest.param(SweepStatus("s2", FRIDAY_NOON, 1), False, "exit code 1", id="failed"),
        pytest.param(SweepStatus("s3", FRIDAY_NOON, 3), False, "exit code 3", id="brake"),
    ],
)
def test_readiness(last: SweepStatus | None, ready: bool, reason: str) -> None:
    statuses = {} if last is None else {"default": last}
    verdict, why = readiness([HOUR_JOB], statuses, 3, FRIDAY_NOON)
    assert verdict is ready
    assert reason in why


# -- the actuator's stop flag --------------------------------------------------------------


class FakeKind(ResourceKind):
    """Records calls; ``on_call`` runs inside each provider call."""

    provider: ClassVar[str] = "aws"
    kind: ClassVar[str] = "ec2_instance"
    permissions: ClassVar[tuple[str, ...]] = ()
    delete_order: ClassVar[int] = 0

    def __init__(self, scopes: Sequence[Scope], on_call: Callable[[str], None]) -> None:
        self._scopes = list(scopes)
        self._on_call = on_call
        self.calls: list[tuple[str, Scope]] = []

    def scopes(self) -> Sequence[Scope]:
        return self._scopes

    def collect(self, scope: Scope) -> Collected:
        self._on_call("collect")
        return Collected(())

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        self.calls.append(("delete", scope))
        self._on_call("delete")
        return [Outcome(r.ref, Action.DELETE, Result.DONE) for r in resources]

    def tag(
        self, scope: Scope, resources: Sequence[Resource], tags: Mapping[str, str], action: Action
    ) -> list[Outcome]:
        self.calls.append(("tag", scope))
        self._on_call("tag")
        return [Outcome(r.ref, action, Result.DONE) for r in resources]


def _decision(scope: Scope, resource_id: str, action: Action) -> Decision:
    ref = ResourceRef("aws", "ec2_instance", scope, resource_id)
    resource = Resource(ref, resource_id, FRIDAY_NOON - EXPIRED_AGE)
    intended = Action.DELETE if action is Action.MARK else None
    return Decision(resource, action, (Reason.TTL_EXPIRED,), intended=intended)


def _read(path: Path) -> Records:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_a_stop_during_a_group_skips_its_later_calls_with_an_outcome(tmp_path: Path) -> None:
    scope = Scope("ci", "us-east-1")
    flag = StopFlag()
    seen_in_flight: list[str] = []

    def stop_during(call: str) -> None:
        seen_in_flight.extend(r["resource"]["id"] for r in flag.in_flight())
        flag.request(STOP_REASON)

    kind = FakeKind([scope], stop_during)
    plan = Plan(
        FRIDAY_NOON,
        (_decision(scope, "i-mark", Action.MARK), _decision(scope, "i-delete", Action.DELETE)),
        {"aws:ec2_instance": 2},
    )
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        actuator = Actuator([kind], audit, "sweep1", (), stop=flag, signer=SIGNER)
        outcomes = actuator.execute(plan, dry_run=False)

    assert kind.calls == [("tag", scope)]  # the mark ran, the delete never started
    assert sorted(seen_in_flight) == ["i-delete", "i-mark"]
    assert flag.in_flight() == []
    assert {(o.ref.id, o.result, o.message) for o in outcomes} == {
        ("i-mark", Result.DONE, ""),
        ("i-delete", Result.SKIPPED, STOP_REASON),
    }
    records = _read(tmp_path / "audit.jsonl")
    assert [(r["event"], r["resource"]["id"]) for r in records] == [
        ("intent", "i-mark"),
        ("intent", "i-delete"),
        ("outcome", "i-mark"),
        ("outcome", "i-delete"),
    ]
    assert (records[-1]["result"], records[-1]["message"]) == ("skipped", STOP_REASON)


def test_a_stop_leaves_groups_not_started_without_intents(tmp_path: Path) -> None:
    first, second = Scope("ci", "eu-west-1"), Scope("ci", "us-east-1")
    flag = StopFlag()
    kind = FakeKind([first, second], lambda call: flag.request(STOP_REASON))
    plan = Plan(
        FRIDAY_NOON,
        (_decision(first, "i-1", Action.DELETE), _decision(second, "i-2", Action.DELETE)),
        {"aws:ec2_instance": 2},
    )
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        # One worker: the groups run in order, eu-west-1 first.
        actuator = Actuator([kind], audit, "sweep1", (), WorkerLimits.uniform(1), stop=flag)
        outcomes = actuator.execute(plan, dry_run=False)

    assert kind.calls == [("delete", first)]
    assert {(o.ref.id, o.result) for o in outcomes} == {
        ("i-1", Result.DONE),
        ("i-2", Result.SKIPPED),
    }
    records = _read(tmp_path / "audit.jsonl")
    assert [(r["event"], r["resource"]["id"]) for r in records] == [
        ("intent", "i-1"),
        ("outcome", "i-1"),
        ("skipped", "i-2"),
    ]
    assert records[-1]["message"] == STOP_REASON


# -- one sweep at a time ------------------------------------------------------------------


def test_a_job_that_fires_while_a_sweep_runs_is_skipped(tmp_path: Path) -> None:
    settings = _settings(tmp_path, schedule={"interval": "1h"})
    collecting, release = threading.Event(), threading.Event()

    def block_in_collect(call: str) -> None:
        collecting.set()
        assert release.wait(10)

    kind = FakeKind([Scope("default", "us-east-1")], block_in_collect)
    metrics = Metrics(CollectorRegistry())
    jobs = plan_jobs(settings, FRIDAY_NOON)
    daemon = Daemon(settings, [kind], metrics, jobs, dry_run=True)
    reports: list[object] = []
    first = threading.Thread(target=lambda: reports.append(daemon.sweep(jobs[0])))
    first.start()
    try:
        assert collecting.wait(10)
        assert daemon.sweep(jobs[0]) is None
        assert daemon.readiness() == (False, "job default: no sweep has finished yet")
    finally:
        release.set()
        first.join(10)

    assert len(reports) == 1
    assert reports[0] is not None
    registry = metrics.registry
    assert registry.get_sample_value("reaper_daemon_skipped_runs_total", {"job": "default"}) == 1
    assert registry.get_sample_value("reaper_sweeps_total", {"result": "ok"}) == 1
    assert daemon.readiness() == (True, "ok")
    assert daemon.health() == (False, "the scheduler is not running")  # never started


class _Rereadable(FakeKind):
    """A FakeKind whose resources are all gone; while ``down``, re-reading them fails."""

    def __init__(self, scopes: Sequence[Scope]) -> None:
        super().__init__(scopes, lambda call: None)
        self.down = True

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        if self.down:
            raise ProviderError("DescribeInstances: ServiceUnavailable")
        return Collected(())


def test_readyz_and_metrics_show_an_intent_recovery_could_not_check(tmp_path: Path) -> None:
    settings = _settings(tmp_path, schedule={"interval": "1h"})
    with AuditLog(tmp_path / "audit.jsonl") as audit:  # a sweep killed after its intent
        audit.append([{"event": "sweep-start", "sweep_id": "killed"}])
        resource = {"provider": "aws", "kind": "ec2_instance", "id": "i-1"}
        resource |= {"account": "default", "region": "us-east-1"}
        audit.append([{"event": "intent", "sweep_id": "killed", "resource": resource,
                       "action": "delete"}])  # fmt: skip
    kind = _Rereadable([Scope("default", "us-east-1")])
    metrics = Metrics(CollectorRegistry())
    jobs = plan_jobs(settings, FRIDAY_NOON)
    daemon = Daemon(settings, [kind], metrics, jobs, dry_run=False)

    for _ in range(2):  # however many sweeps it takes
        assert daemon.sweep(jobs[0]) is not None
        ready, reason = daemon.readiness()
        assert not ready
        assert reason.startswith("1 unresolved intent in the audit trail")
        assert (
            "seq 2: delete aws:ec2_instance:i-1 in default/us-east-1 (sweep killed): cannot "
            "re-read the resource: DescribeInstances: ServiceUnavailable"
        ) in reason
        assert metrics.registry.get_sample_value("reaper_unresolved_intents") == 1

    kind.down = False
    assert daemon.sweep(jobs[0]) is not None
    assert daemon.readiness() == (True, "ok")
    assert metrics.registry.get_sample_value("reaper_unresolved_intents") == 0
    records = _read(tmp_path / "audit.jsonl")
    assert [(r["resource"]["id"], r["result"]) for r in records if r.get("recovered_by")] == [
        ("i-1", "already-gone")
    ]


def test_a_trail_deleted_between_sweeps_is_refused_until_it_is_restored(tmp_path: Path) -> None:
    settings = _settings(tmp_path, schedule={"interval": "1h"})
    path = tmp_path / "audit.jsonl"
    metrics = Metrics(CollectorRegistry())
    jobs = plan_jobs(settings, FRIDAY_NOON)
    kind = FakeKind([Scope("default", "us-east-1")], lambda call: None)
    daemon = Daemon(settings, [kind], metrics, jobs, dry_run=False)
    assert daemon.sweep(jobs[0]) is not None
    kept = path.read_bytes()
    path.unlink()  # a local file on an emptyDir the pod lost, or a hand gone astray

    assert daemon.sweep(jobs[0]) is None
    assert path.read_bytes() == b""  # no new chain begun at seq 1
    ready, reason = daemon.readiness()
    assert not ready
    assert "ends at seq 0, but this process already wrote seq 2" in reason
    refusals = "reaper_audit_trail_refusals_total"
    assert metrics.registry.get_sample_value(refusals, {"reason": "went-back"}) == 1
    assert daemon.sweep(jobs[0]) is None  # and stays refused

    path.write_bytes(kept)  # restored
    assert daemon.sweep(jobs[0]) is not None
    assert daemon.readiness() == (True, "ok")
    assert [r["seq"] for r in _read(path)] == [1, 2, 3, 4]
    _assert_chain_intact(path)


# -- deploy/kubernetes/daemon ----------------------------------------------------------------


def _manifest(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / name).read_text())
    assert isinstance(data, dict)
    return data


def test_shipped_daemon_is_two_dry_run_replicas_electing_a_leader_probed_and_scraped() -> None:
    deployment = _manifest("deployment.yaml")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    # Never two sweepers, during a rollout or not: only the Lease holder sweeps.
    config = yaml.safe_load(
        yaml.safe_load((DEPLOY.parent / "configmap.yaml").read_text())["data"]["config.yaml"]
    )
    assert config["daemon"]["leader_election"]["lease"] == "reaper"
    pod = spec["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"][0] == "daemon"
    assert "--apply" not in container["args"]
    defaults = _settings(Path("/tmp")).daemon
    port = int(defaults.listen.rpartition(":")[2])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > defaults.shutdown_timeout.total_seconds()
    cronjob = yaml.safe_load((DEPLOY.parent / "cronjob.yaml").read_text())
    cron_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["spec"]["securityContext"] == cron_pod["securityContext"]
    assert container["securityContext"] == cron_pod["containers"][0]["securityContext"]

    service = _manifest("service.yaml")
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    listed = set(_manifest("kustomization.yaml")["resources"])
    assert listed == {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
