"""The benchmark's fake clusters, served from a child process of their own.

The fake API servers are Python too: in the benchmark's process they would share its
interpreter lock and its CPU time with the sweep being measured. The child seeds the
estate, serves it, and answers a few commands over a pipe: request counts, latency, its
own CPU time. Children import this module, not the whole ``bench`` package.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

HOUR = timedelta(hours=1)
PIPELINE = "reaper-pipeline"


@dataclass(frozen=True)
class Estate:
    """What one cluster holds, per 20 namespaces: 12 fresh, 5 expired, 1 protected, 1
    exposed (a LoadBalancer without source ranges), 1 without the pipeline label. Every
    namespace has a ClusterIP Service."""

    namespaces: int

    def kind_of(self, n: int) -> str:
        slot = n % 20
        if slot < 12:
            return "fresh"
        if slot < 17:
            return "expired"
        return ("protected", "exposed", "unlabelled")[slot - 17]

    def count(self, kind: str) -> int:
        return sum(1 for n in range(self.namespaces) if self.kind_of(n) == kind)

    @property
    def pipeline(self) -> int:
        return self.namespaces - self.count("unlabelled")

    @property
    def services(self) -> int:
        """Every namespace's own, the exposed ones' second, and ``default/kubernetes``."""
        return self.namespaces + self.count("exposed") + 1


def seed(fake: Any, estate: Estate, now: datetime) -> None:
    for n in range(estate.namespaces):
        kind = estate.kind_of(n)
        name = f"ci-{n:05d}-{kind}"
        labels = {} if kind == "unlabelled" else {PIPELINE: f"gitlab-ci-{n}"}
        annotations = {"reaper-protect": "true"} if kind == "protected" else {}
        age = {"expired": 48 * HOUR, "protected": 120 * HOUR}.get(kind, 2 * HOUR)
        fake.seed_namespace(name, labels=labels, annotations=annotations, created=now - age)
        fake.seed_service(name, "web", type="ClusterIP")
        if kind == "exposed":
            fake.seed_service(name, "public", type="LoadBalancer")


def _serve(conn: Connection, clusters: list[str], estate: Estate, now: datetime) -> None:
    from reaper.sandbox.kube import KubeFake

    fakes = {name: KubeFake(context=name).start() for name in clusters}
    for fake in fakes.values():
        seed(fake, estate, now)
    conn.send({name: fake.kubeconfig() for name, fake in fakes.items()})
    while True:
        command, *args = conn.recv()
        if command == "stop":
            for fake in fakes.values():
                fake.stop()
            conn.send("stopped")
            return
        if command == "latency":
            for fake in fakes.values():
                fake.clear_faults()
                if args[0] > 0:
                    fake.slow_down(args[0])
            conn.send("ok")
        elif command == "reset":
            for fake in fakes.values():
                fake.reset_requests()
            conn.send("ok")
        elif command == "counts":
            counts: Counter[str] = Counter()
            for fake in fakes.values():
                for key, n in fake.request_counts().items():
                    sub = f"/{key.subresource}" if key.subresource else ""
                    counts[f"{key.verb} {key.resource}{sub}"] += n
            conn.send(dict(counts))
        elif command == "phases":
            conn.send(
                {
                    name: Counter(str(fake.namespace_phase(n)) for n in fake.names("namespaces"))
                    for name, fake in fakes.items()
                }
            )
        elif command == "cpu":
            conn.send(time.process_time())
        else:
            conn.send(f"unknown command {command!r}")


class ClusterHost:
    """The child process with ``clusters`` fake API servers, each holding ``estate``."""

    def __init__(self, clusters: list[str], estate: Estate, now: datetime) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, clusters, estate, now), name="kube-fakes", daemon=True
        )
        self.kubeconfigs: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Self:
        self._process.start()
        self.kubeconfigs = self._conn.recv()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process.is_alive():
            self.ask("stop")
        self._process.join(10)

    def ask(self, *command: Any) -> Any:
        self._conn.send(command)
        return self._conn.recv()
