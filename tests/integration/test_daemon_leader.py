"""The daemon under leader election, in process: only the leader sweeps, and a leader that
loses its lease stops its sweep, or abandons it before the lease can expire.

The election itself is tested against the fake API server in
tests/providers/kubernetes/test_kube_election.py, and two daemon processes in
test_daemon_replicas.py; here a scripted :class:`Leadership` says who leads.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, sandbox_env
from kubernetes import client, config
from prometheus_client import CollectorRegistry

from reaper.audit import AuditLog
from reaper.audit.lock import TrailLock
from reaper.audit.verify import verify_lines
from reaper.config import Settings, parse_settings
from reaper.daemon import _ABANDON_MARGIN_SECONDS, LEADERSHIP_LOST, Daemon, plan_jobs
from reaper.metrics import Metrics
from reaper.model import Action, Collected, Outcome, Resource, ResourceRef, Result, Scope
from reaper.providers.base import ResourceKind
from reaper.providers.kubernetes.clients import SERVICE_ACCOUNT
from reaper.providers.kubernetes.lease import KubeLeases, LeaderElector, LeaseRecord, Timings
from reaper.sandbox.kube import KubeFake, ManualClock

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FIRST, SECOND = Scope("ci", "eu-west-1"), Scope("ci", "us-east-1")


class ScriptedLeadership:
    """Leads while ``leading`` says so; ``left`` seconds of lease remain."""

    identity = "pod-a"

    def __init__(self, leading: bool) -> None:
        self.leading = leading
        self.left = 30.0
        self.released = False

    def run(self, stop: threading.Event) -> None:
        stop.wait()

    def is_leader(self) -> bool:
        return self.leading

    def lease_left(self) -> float:
        return self.left

    def status(self) -> tuple[bool, str]:
        return True, "standby: the Lease reaper/reaper is held by pod-b"

    def release(self) -> None:
        self.released = True


class BlockingKind(ResourceKind):
    """One expired pipeline resource per scope; ``delete`` in the first scope blocks."""

    provider: ClassVar[str] = "aws"
    kind: ClassVar[str] = "ec2_instance"
    permissions: ClassVar[tuple[str, ...]] = ()
    delete_order: ClassVar[int] = 0

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.collected: list[Scope] = []
        self.deleted: list[Scope] = []

    def scopes(self) -> Sequence[Scope]:
        return [FIRST, SECOND]

    def collect(self, scope: Scope) -> Collected:
        self.collected.append(scope)
        ref = ResourceRef("aws", "ec2_instance", scope, f"i-{scope.region}")
        tags = {"reaper-pipeline": "gitlab-ci-1"}
        return Collected((Resource(ref, ref.id, NOW - timedelta(days=2), tags),))

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        self.deleted.append(scope)
        if scope == FIRST:
            self.entered.set()
            assert self.proceed.wait(10)
        return [Outcome(r.ref, Action.DELETE, Result.DONE) for r in resources]


class _Proceeding(BlockingKind):
    """A BlockingKind whose deletes never block."""

    def __init__(self) -> None:
        super().__init__()
        self.proceed.set()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settings(tmp_path: Path, **audit: str) -> Settings:
    data: dict[str, Any] = {
        "dry_run": False,
        "providers": {"aws": {"regions": ["us-east-1"], "max_workers": 1}},
        "policy": {"grace_period": "0s"},
        "safety": {"max_fraction": 1},
        "audit": {"path": str(tmp_path / "audit.jsonl"), **audit},
        "daemon": {
            "leader_election": {"namespace": "reaper"},
            "listen": f"127.0.0.1:{_free_port()}",
        },
    }
    return parse_settings(data, "test.yaml")


def _daemon(
    tmp_path: Path, leadership: ScriptedLeadership, kind: ResourceKind, **audit: str
) -> tuple[Daemon, Metrics]:
    settings = _settings(tmp_path, **audit)
    metrics = Metrics(CollectorRegistry())
    daemon = Daemon(
        settings, [kind], metrics, plan_jobs(settings, NOW), dry_run=False, leadership=leadership
    )
    return daemon, metrics


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _leader(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("reaper_leader")


def test_a_follower_never_sweeps_and_is_ready_while_its_election_works(tmp_path: Path) -> None:
    kind = BlockingKind()
    daemon, metrics = _daemon(tmp_path, ScriptedLeadership(leading=False), kind)

    assert daemon.follow_leadership() is None
    assert daemon.sweep(daemon.jobs[0]) is None

    assert kind.collected == []
    assert not (tmp_path / "audit.jsonl").exists()
    assert _leader(metrics) == 0
    assert daemon.readiness() == (True, "standby: the Lease reaper/reaper is held by pod-b")


def test_a_leader_that_loses_its_lease_stops_after_the_group_it_is_in(tmp_path: Path) -> None:
    leadership = ScriptedLeadership(leading=True)
    kind = BlockingKind()
    daemon, metrics = _daemon(tmp_path, leadership, kind)
    assert daemon.follow_leadership() is None
    assert _leader(metrics) == 1
    reports: list[Any] = []
    sweeping = threading.Thread(target=lambda: reports.append(daemon.sweep(daemon.jobs[0])))
    sweeping.start()
    try:
        assert kind.entered.wait(10)
        leadership.leading = False  # could not renew within renew_deadline
        assert daemon.follow_leadership() is None  # 30 s of lease left: stop, don't abandon
        assert _leader(metrics) == 0
    finally:
        kind.proceed.set()
        sweeping.join(10)

    (report,) = reports
    assert kind.deleted == [FIRST]
    assert {(o.ref.scope, o.result, o.message) for o in report.outcomes} == {
        (FIRST, Result.DONE, ""),
        (SECOND, Result.SKIPPED, LEADERSHIP_LOST),
    }
    events = [(r["event"], r.get("message")) for r in _records(tmp_path)]
    assert ("skipped", LEADERSHIP_LOST) in events
    assert daemon.abandoned is False


def test_a_sweep_still_running_when_the_lease_is_about_to_expire_is_abandoned(
    tmp_path: Path,
) -> None:
    leadership = ScriptedLeadership(leading=True)
    kind = BlockingKind()
    daemon, _ = _daemon(tmp_path, leadership, kind)
    daemon.follow_leadership()
    sweeping = threading.Thread(target=daemon.sweep, args=(daemon.jobs[0],))
    sweeping.start()
    try:
        assert kind.entered.wait(10)
        leadership.leading, leadership.left = False, _ABANDON_MARGIN_SECONDS

        code = daemon.follow_leadership()
    finally:
        kind.proceed.set()
        sweeping.join(10)

    assert code == 1
    assert daemon.abandoned is True
    abandoned = next(r for r in _records(tmp_path) if r["event"] == "shutdown-abandoned")
    assert abandoned["reason"] == "leadership lost, and the lease is about to expire"
    assert [d["resource"]["id"] for d in abandoned["dangling"]] == ["i-eu-west-1"]
    assert leadership.released is False


def test_a_draining_leader_that_loses_its_lease_abandons_before_it_expires(
    tmp_path: Path,
) -> None:
    """SIGTERM lets the running group finish; a lease about to expire meanwhile does not
    (the drain follows the election too, whatever daemon.shutdown_timeout allows)."""
    leadership = ScriptedLeadership(leading=True)
    kind = BlockingKind()
    daemon, _ = _daemon(tmp_path, leadership, kind)
    daemon.start()
    try:
        assert kind.entered.wait(10)
        daemon._signals.append(15)  # as the SIGTERM handler does: the drain begins
        leadership.leading, leadership.left = False, _ABANDON_MARGIN_SECONDS

        code = daemon.wait()
    finally:
        kind.proceed.set()
        daemon.close()

    assert code == 1
    assert daemon.abandoned is True
    abandoned = next(r for r in _records(tmp_path) if r["event"] == "shutdown-abandoned")
    assert abandoned["reason"] == "leadership lost, and the lease is about to expire"
    assert [d["resource"]["id"] for d in abandoned["dangling"]] == ["i-eu-west-1"]
    assert leadership.released is False


def test_a_replica_that_leads_again_continues_the_trail_another_leader_extended(
    tmp_path: Path,
) -> None:
    """The replicas share one trail: what another leader wrote meanwhile is no trail going
    back, but a trail that ends before this replica's own records still is."""
    path = tmp_path / "audit.jsonl"
    mine, other = ScriptedLeadership(leading=True), ScriptedLeadership(leading=False)
    daemon, _ = _daemon(tmp_path, mine, _Proceeding())
    replica, _ = _daemon(tmp_path, other, _Proceeding())
    daemon.follow_leadership()
    assert daemon.sweep(daemon.jobs[0]) is not None
    mine.leading, other.leading = False, True
    daemon.follow_leadership()
    replica.follow_leadership()
    assert replica.sweep(replica.jobs[0]) is not None
    before = path.read_bytes()
    mine.leading, other.leading = True, False
    replica.follow_leadership()
    daemon.follow_leadership()

    assert daemon.sweep(daemon.jobs[0]) is not None

    assert daemon.readiness() == (True, "ok")
    records = _records(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert len({r["sweep_id"] for r in records if r["event"] == "sweep-start"}) == 3
    assert verify_lines(path.read_bytes().splitlines(keepends=True)).ok

    path.write_bytes(before)  # back to before this replica's last sweep
    assert daemon.sweep(daemon.jobs[0]) is None
    ready, reason = daemon.readiness()
    assert not ready
    assert "this process already wrote seq" in reason


def test_a_follower_takes_no_trail_lock_and_a_leader_finding_it_locked_exits_4(
    tmp_path: Path,
) -> None:
    leadership = ScriptedLeadership(leading=False)
    kind = _Proceeding()
    daemon, metrics = _daemon(tmp_path, leadership, kind, lock_timeout="0s")
    lock = TrailLock(tmp_path / "audit.jsonl", timeout=0)
    lock.acquire()  # another reaper, a `reaper release` by hand
    try:
        assert daemon.sweep(daemon.jobs[0]) is None
        assert daemon.readiness() == (True, "standby: the Lease reaper/reaper is held by pod-b")
        refusals = "reaper_audit_trail_refusals_total"
        assert not metrics.registry.get_sample_value(refusals, {"reason": "locked"})

        leadership.leading = True
        daemon.follow_leadership()
        assert daemon.sweep(daemon.jobs[0]) is None

        ready, reason = daemon.readiness()
        assert not ready
        assert "ended with exit code 4" in reason
        assert "locked by another reaper" in reason
        assert metrics.registry.get_sample_value(refusals, {"reason": "locked"}) == 1
        assert kind.collected == []
    finally:
        lock.release()

    assert daemon.sweep(daemon.jobs[0]) is not None
    assert daemon.readiness() == (True, "ok")


def test_unresolved_intents_make_the_leader_unready_and_a_follower_leaves_them_to_the_leader(
    tmp_path: Path,
) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as audit:  # a leader killed after its intent
        audit.append([{"event": "sweep-start", "sweep_id": "killed"}])
        resource = {"provider": "aws", "kind": "ec2_instance", "id": "i-0abc1234"}
        resource |= {"account": "ci", "region": "eu-west-1"}
        audit.append([{"event": "intent", "sweep_id": "killed", "resource": resource,
                       "action": "delete"}])  # fmt: skip
    leadership = ScriptedLeadership(leading=True)
    daemon, metrics = _daemon(tmp_path, leadership, _Proceeding())  # it cannot re-read
    daemon.follow_leadership()

    assert daemon.sweep(daemon.jobs[0]) is not None

    ready, reason = daemon.readiness()
    assert not ready
    assert reason.startswith("1 unresolved intent in the audit trail")
    assert metrics.registry.get_sample_value("reaper_unresolved_intents") == 1
    assert metrics.registry.get_sample_value("reaper_marked_resources") is None

    leadership.leading = False
    assert daemon.follow_leadership() is None

    assert daemon.readiness() == (True, "standby: the Lease reaper/reaper is held by pod-b")
    assert metrics.registry.get_sample_value("reaper_unresolved_intents") == 0
    seen = metrics.registry.get_sample_value(
        "reaper_resources_seen", {"provider": "aws", "kind": "ec2_instance"}
    )
    assert seen is None


class GatedLeases:
    """A Lease store on the fake API server whose next renewal, once :meth:`hold` is
    called, waits inside the request until :attr:`gate` opens: a renewal in flight."""

    def __init__(self, store: KubeLeases) -> None:
        self._store = store
        self._holding = False
        self.inside = threading.Event()
        self.gate = threading.Event()

    def hold(self) -> None:
        self._holding = True

    def read(self) -> LeaseRecord | None:
        return self._store.read()

    def create(self, record: LeaseRecord) -> LeaseRecord:
        return self._store.create(record)

    def replace(self, record: LeaseRecord) -> LeaseRecord:
        if self._holding and record.holder:
            self._holding = False
            self.inside.set()
            assert self.gate.wait(10)
        return self._store.replace(record)


QUICK = Timings(lease_duration=30, renew_deadline=20, retry_period=0.2)


@pytest.fixture
def lease_client() -> Iterator[tuple[KubeFake, client.ApiClient]]:
    with KubeFake(clock=ManualClock(NOW)) as fake:
        fake.seed_namespace("reaper")
        built = config.new_client_from_config_dict(fake.kubeconfig(), context=fake.context)
        yield fake, built
        built.close()


def _holder(fake: KubeFake) -> object:
    lease = fake.get("leases", "reaper", "reaper")
    assert lease is not None
    return lease["spec"].get("holderIdentity")


def _elector(api_client: client.ApiClient, identity: str) -> tuple[LeaderElector, GatedLeases]:
    store = GatedLeases(KubeLeases(api_client, "reaper", "reaper", timeout=2))
    elector = LeaderElector(store, identity, QUICK, lease_name="reaper/reaper")
    return elector, store


@pytest.mark.parametrize("in_flight", [False, True], ids=["idle", "renewal-in-flight"])
def test_a_clean_stop_hands_the_lease_back(
    tmp_path: Path, lease_client: tuple[KubeFake, client.ApiClient], in_flight: bool
) -> None:
    """After a clean stop the stored Lease has no holder, even when a renewal was in flight
    as the stop began, and the other replica takes it at once (not after lease_duration)."""
    fake, api_client = lease_client
    elector, store = _elector(api_client, "pod-a")
    daemon, metrics = _daemon(tmp_path, elector, _Proceeding())  # type: ignore[arg-type]
    daemon.start()
    try:
        for _ in range(100):
            if daemon.follow_leadership() is None and _leader(metrics) == 1:
                break
            time.sleep(0.05)
        assert _holder(fake) == "pod-a"
        if in_flight:
            store.hold()
            assert store.inside.wait(10)  # the election thread is inside a renewal
            threading.Timer(0.5, store.gate.set).start()
        daemon._signals.append(15)  # as the SIGTERM handler does

        assert daemon.wait() == 0
    finally:
        store.gate.set()
        daemon.close()
    for thread in threading.enumerate():
        if thread.name == "reaper-election":
            thread.join(10)  # whatever the election had in flight is done now

    assert _holder(fake) is None
    assert _leader(metrics) == 0
    other, _ = _elector(api_client, "pod-b")
    assert other.step() is True  # at once: nobody holds it
    assert _holder(fake) == "pod-b"


def test_a_replica_that_leads_again_while_draining_is_not_told_it_lost_the_lead(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    leadership = ScriptedLeadership(leading=True)
    kind = BlockingKind()
    daemon, metrics = _daemon(tmp_path, leadership, kind)
    caplog.set_level(logging.INFO, logger="reaper.daemon")
    daemon.start()
    codes: list[int] = []
    waiting = threading.Thread(target=lambda: codes.append(daemon.wait()))
    try:
        daemon.follow_leadership()
        assert kind.entered.wait(10)
        leadership.leading = False
        assert daemon.follow_leadership() is None
        daemon._signals.append(15)  # as the SIGTERM handler does: the drain begins
        waiting.start()
        for _ in range(100):
            if daemon._stop.reason is not None:
                break
            time.sleep(0.02)
        assert daemon._stop.reason is not None

        leadership.leading = True  # renewed after all, while the sweep drains
        for _ in range(100):
            if _leader(metrics) == 1:
                break
            time.sleep(0.02)
        assert _leader(metrics) == 1
    finally:
        kind.proceed.set()
        waiting.join(10)
        daemon.close()

    assert codes == [0]
    messages = [r.getMessage() for r in caplog.records if r.name == "reaper.daemon"]
    leads = [m for m in messages if m.startswith("pod-a ")]
    assert leads == [
        "pod-a leads: sweeping now",
        "pod-a no longer leads: the running sweep stops",
        "pod-a leads again, but the daemon is stopping: no sweep starts",
    ]
    assert kind.collected == [FIRST, SECOND]  # the one sweep; none started after


@pytest.mark.parametrize(
    ("election", "message"),
    [
        pytest.param(
            {"lease_duration": "12s", "renew_deadline": "10s", "retry_period": "2s"},
            "daemon.leader_election: lease_duration (12s) must be at least 2.6s longer than "
            "renew_deadline (10s): a leader that could not renew needs that long to stop (or "
            "abandon) its sweep before another replica can take over",
            id="no-margin-to-abandon",
        ),
        pytest.param(
            {"renew_deadline": "9s", "retry_period": "4s"},
            "daemon.leader_election: renew_deadline (9s) must be at least 2 x retry_period + "
            "the Lease request timeout (10s: retry_period 4s, each request times out after 2s), "
            "so a leader gets two attempts to renew before it stops",
            id="too-few-renewals",
        ),
        pytest.param(
            {},
            "daemon.leader_election.namespace: null means the pod's own namespace, and reaper "
            "does not run in a pod (no service account namespace file): name it",
            id="no-namespace-outside-a-pod",
            marks=pytest.mark.skipif(
                (SERVICE_ACCOUNT / "namespace").exists(), reason="the tests run in a pod"
            ),
        ),
        pytest.param(
            {"namespace": "reaper"},
            "daemon.leader_election: cannot reach the Kubernetes API for the Lease",
            id="no-kubeconfig",
        ),
    ],
)
def test_a_leader_election_that_cannot_work_stops_the_daemon_with_exit_2(
    tmp_path: Path, election: dict[str, str], message: str
) -> None:
    config = tmp_path / "reaper.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": {"aws": {"regions": ["us-east-1"]}},
                "audit": {"path": str(tmp_path / "audit.jsonl")},
                "daemon": {"leader_election": election, "listen": f"127.0.0.1:{_free_port()}"},
            }
        )
    )

    result = subprocess.run(
        [sys.executable, "-m", "reaper.cli.daemon", "-c", str(config)],
        env=sandbox_env(None),  # KUBECONFIG is empty, and this is no pod
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )

    assert result.returncode == 2, explain(result)
    assert message in result.stderr
    if "must be at least" in message:  # the timings: the file, the key, the problem
        assert f"{config}: {message}" in result.stderr
