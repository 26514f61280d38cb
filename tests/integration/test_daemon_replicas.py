"""Daemon replicas (``python -m reaper.cli.daemon``) against one fake API server: one
leads and sweeps, the other stands by; kill the leader mid-sweep and the other takes over
within ``lease_duration + retry_period`` of the last renewal it saw, and no namespace is
acted on twice. A leader that cannot renew while it drains after SIGTERM stops acting
before its lease can expire.

What happened is read from the fake (every request it answered, and when), the replicas'
``/metrics`` and their audit trails, not from their logs.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import sandbox_env
from prometheus_client.parser import text_string_to_metric_families

from reaper.sandbox.kube import KubeFake

LEASE = {"lease_duration": "6s", "renew_deadline": "3s", "retry_period": "1s"}
LEASE_SECONDS, RETRY_SECONDS = 6.0, 1.0
NAMESPACES = [f"ci-{n}-review" for n in range(4700, 4712)]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Replica:
    """One ``reaper daemon --apply`` process sweeping the fake cluster, electing by Lease."""

    def __init__(self, folder: Path, kubeconfig: Path, lease: dict[str, str] | None = None) -> None:
        folder.mkdir()
        self.folder = folder
        self.port = _free_port()
        self.audit = folder / "audit.jsonl"
        self.stderr = folder / "daemon.err"
        config = {
            "providers": {
                "kubernetes": {
                    "clusters": [{"name": "ci", "kubeconfig": str(kubeconfig)}],
                    "max_workers": 1,  # one DELETE at a time: the sweep takes a while
                }
            },
            "policy": {"default_ttl": "24h", "grace_period": "0s"},
            "safety": {"max_actions_per_sweep": 50, "max_fraction": 1},
            "audit": {"path": str(self.audit)},
            "daemon": {
                "schedule": {"interval": "1h"},
                "listen": f"127.0.0.1:{self.port}",
                "leader_election": {"namespace": "reaper", **(lease or LEASE)},
            },
        }
        (folder / "reaper.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        env = sandbox_env(None)
        env["KUBECONFIG"] = str(kubeconfig)  # where the Lease is
        with (folder / "daemon.out").open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "reaper.cli.daemon", "-c", "reaper.yaml", "--apply"],
                env=env,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with _OPENER.open(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return 0, ""

    def leads(self) -> bool | None:
        """``reaper_leader`` of its /metrics; None while it does not answer."""
        status, text = self.get("/metrics")
        if status != 200:
            return None
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "reaper_leader":
                    return sample.value == 1
        return None

    def records(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        lines = self.audit.read_bytes().splitlines(keepends=True)
        return [json.loads(line) for line in lines if line.endswith(b"\n")]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()

    def __str__(self) -> str:
        return f"{self.folder.name} stderr:\n{self.stderr.read_text(errors='replace')[-3000:]}"


def wait_for(what: str, check: Callable[[], bool], replicas: list[Replica], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:g}s\n" + "\n".join(map(str, replicas)))
        time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeFake, Path]]:
    with KubeFake(context="ci") as fake:
        fake.seed_namespace("reaper")
        created = datetime.now().astimezone() - timedelta(days=2)
        for name in NAMESPACES:
            fake.seed_namespace(name, labels={"reaper-pipeline": "gitlab-ci-1"}, created=created)
        yield fake, fake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.stop()


def _deletes(fake: KubeFake) -> Counter[str]:
    """The namespaces the fake deleted (answered 200 to a DELETE), with how many times."""
    return Counter(
        r.info.name
        for r in fake.requests()
        if (r.info.verb, r.info.resource, r.status) == ("delete", "namespaces", 200)
    )


def _lease_writes(fake: KubeFake) -> list[float]:
    """When the fake stored a write of the Lease (renewals, takeovers), in order."""
    return sorted(
        r.answered
        for r in fake.requests()
        if (r.info.verb, r.info.resource, r.status) in {("update", "leases", 200)}
    )


def _last_renewal_and_takeover(fake: KubeFake, killed: float) -> tuple[float, float]:
    """The killed leader's last renewal and the new leader's takeover, as the fake stored
    them (when it answered each write). The leader renews every retry period; a takeover
    needs the Lease unrenewed for LEASE_SECONDS: the first gap of more than half of that
    which ends after the kill lies between the two, however late the kill was noticed."""
    writes = _lease_writes(fake)
    (renewal, takeover) = next(
        (a, b) for a, b in pairwise(writes) if b > killed and b - a > LEASE_SECONDS / 2
    )
    return renewal, takeover


def test_killing_the_leader_hands_the_sweep_to_the_other_replica_without_acting_twice(
    cluster: tuple[KubeFake, Path], replicas: list[Replica], tmp_path: Path
) -> None:
    fake, kubeconfig = cluster
    fake.slow_down(0.4, verb="delete", resource="namespaces")
    replicas += [Replica(tmp_path / name, kubeconfig) for name in ("replica-a", "replica-b")]

    wait_for(
        "leader",
        lambda: sorted(map(str, (r.leads() for r in replicas))) == ["False", "True"],
        replicas,
        60,
    )
    leader, follower = sorted(replicas, key=lambda r: not r.leads())
    # The follower serves its probes and metrics, and is ready while it stands by.
    assert follower.get("/healthz")[0] == 200
    status, why = follower.get("/readyz")
    assert (status, why.split(":")[0]) == (200, "standby")
    wait_for("the leader mid-sweep", lambda: len(_deletes(fake)) >= 2, replicas, 60)

    leader.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    leader.process.wait()
    wait_for("a new leader", lambda: follower.leads() is True, replicas, 30)
    wait_for(
        "every namespace deleted", lambda: len(_deletes(fake)) == len(NAMESPACES), replicas, 60
    )
    wait_for(
        "the new leader's sweep to end",
        lambda: any(r["event"] == "sweep-end" for r in follower.records()),
        replicas,
        30,
    )
    fake.clear_faults()

    # The takeover, as the fake saw the Lease's writes: the follower counts lease_duration
    # from when it observed the last renewal, which it reads within a retry period. So no
    # sooner than lease_duration after that renewal, and within lease_duration +
    # retry_period of it (as the README says), plus one more retry_period for its requests
    # and thread wake-ups on a loaded machine: still well short of a second lease_duration.
    renewal, takeover = _last_renewal_and_takeover(fake, killed)
    assert takeover - renewal >= LEASE_SECONDS - 0.1, takeover - renewal
    assert takeover - renewal <= LEASE_SECONDS + 2 * RETRY_SECONDS, takeover - renewal
    deletes = _deletes(fake)
    assert sorted(deletes) == NAMESPACES
    assert set(deletes.values()) == {1}, f"deleted twice: {deletes}"
    assert {fake.namespace_phase(n) for n in NAMESPACES} == {"Terminating"}

    # The audit trails show it: the killed leader's intents for the whole group, without
    # outcomes; the new leader acted only on what was still Active when it took over.
    before = leader.records()
    dead_intents = {r["resource"]["id"] for r in before if r["event"] == "intent"}
    assert dead_intents == {f"ci/{n}" for n in NAMESPACES}
    assert not any(r["event"] == "outcome" for r in before)
    after = follower.records()
    done = {
        r["resource"]["id"]
        for r in after
        if r["event"] == "outcome" and r["action"] == "delete" and r["result"] == "done"
    }
    intents = [r["resource"]["id"] for r in after if r["event"] == "intent"]
    assert sorted(intents) == sorted(done)
    assert 0 < len(done) < len(NAMESPACES)
    assert len(intents) == len(set(intents))
    assert follower.alive()


DRAIN_LEASE = {"lease_duration": "6s", "renew_deadline": "3s", "retry_period": "1s"}
DRAIN_LEASE_SECONDS = 6.0
DELETE_SECONDS = 0.3


def test_a_draining_leader_that_cannot_renew_stops_acting_before_its_lease_can_expire(
    cluster: tuple[KubeFake, Path], replicas: list[Replica], tmp_path: Path
) -> None:
    """SIGTERM drains the running group (here 30 DELETEs of 0.3 s each, one at a time,
    beyond the lease); the Lease's renewals fail from then on. The leader stops acting,
    abandoning the group, before its lease can expire: no DELETE reaches the fake after
    the last renewal it stored + lease_duration."""
    fake, kubeconfig = cluster
    for n in range(4712, 4730):  # 30 namespaces: 9 s of DELETEs, longer than the lease
        fake.seed_namespace(
            f"ci-{n}-review",
            labels={"reaper-pipeline": "gitlab-ci-1"},
            created=datetime.now().astimezone() - timedelta(days=2),
        )
    fake.slow_down(DELETE_SECONDS, verb="delete", resource="namespaces")
    leader = Replica(tmp_path / "replica-a", kubeconfig, DRAIN_LEASE)
    replicas.append(leader)
    wait_for("the leader mid-sweep", lambda: len(_deletes(fake)) >= 2, replicas, 60)

    leader.process.send_signal(signal.SIGTERM)
    fake.fail(503, times=None, verb="update", resource="leases")
    code = leader.process.wait(timeout=60)

    assert code == 1, str(leader)
    expires = max(_lease_writes(fake)) + DRAIN_LEASE_SECONDS
    deletes = [
        r for r in fake.requests() if (r.info.verb, r.info.resource) == ("delete", "namespaces")
    ]
    # Each DELETE was answered DELETE_SECONDS after it arrived: none arrived after expiry.
    assert all(r.answered - DELETE_SECONDS <= expires for r in deletes), (
        max(r.answered for r in deletes) - expires
    )
    phases = Counter(fake.namespace_phase(f"ci-{n}-review") for n in range(4700, 4730))
    assert phases["Active"] > 0, "the drain finished the whole group: it never stopped"
    # The audit trail shows it: abandoned, for the lost lease, before the lease (as the
    # Lease object says: its last renewTime + leaseDurationSeconds) could expire.
    records = leader.records()
    (abandoned,) = [r for r in records if r["event"] == "shutdown-abandoned"]
    assert abandoned["reason"] == "leadership lost, and the lease is about to expire"
    lease = fake.get("leases", "reaper", "reaper")
    assert lease is not None
    spec = lease["spec"]
    renewed = datetime.fromisoformat(spec["renewTime"])
    deadline = renewed + timedelta(seconds=spec["leaseDurationSeconds"])
    assert datetime.fromisoformat(abandoned["ts"]) < deadline
    assert {d["resource"]["id"] for d in abandoned["dangling"]} <= {
        r["resource"]["id"] for r in records if r["event"] == "intent"
    }
