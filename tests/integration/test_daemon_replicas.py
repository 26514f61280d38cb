"""Two daemon replicas (``python -m reaper.cli.daemon``) against one fake API server: one
leads and sweeps, the other stands by; kill the leader mid-sweep and the other takes over
within a lease duration, and no namespace is acted on twice.

What happened is read from the fake (every DELETE it answered), the replicas' ``/metrics``
and their audit trails, not from their logs.
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
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import sandbox_env
from prometheus_client.parser import text_string_to_metric_families

from reaper.sandbox.kube import KubeFake

LEASE = {"lease_duration": "4s", "renew_deadline": "3s", "retry_period": "1s"}
LEASE_SECONDS, RETRY_SECONDS = 4.0, 1.0
NAMESPACES = [f"ci-{n}-review" for n in range(4700, 4712)]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Replica:
    """One ``reaper daemon --apply`` process sweeping the fake cluster, electing by Lease."""

    def __init__(self, folder: Path, kubeconfig: Path) -> None:
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
                "leader_election": {"namespace": "reaper", **LEASE},
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
    took_over = time.monotonic() - killed
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

    # Within one lease duration of the last renewal it saw (the follower notices within a
    # retry period, and the kill may come just after a renewal).
    assert took_over <= LEASE_SECONDS + 2 * RETRY_SECONDS + 1.0, took_over
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
