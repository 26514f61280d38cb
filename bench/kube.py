"""Benchmark of a Kubernetes sweep: requests and wall time over several fake clusters.

Usage, from the repository root::

    .venv/bin/python -m bench.kube [--clusters 3] [--namespaces 2000] [--latency 0.05]
        [--quick]

1. A child process (``bench.kube_host``) serves ``clusters`` fake API servers, each with
   ``namespaces`` namespaces (60% fresh, 25% expired, 5% protected, 5% exposed by a
   LoadBalancer, 5% without the pipeline label; a Service in each), and adds ``latency``
   seconds to every request. A tiny in-process cluster is swept first, untimed, so the
   client's lazily built request validators do not count.
2. Plans (``SweepService.plan``), then applies (``SweepService.run``: grace 0s, brakes
   open): the expired namespaces are deleted, the exposed ones quarantined.
3. Prints the requests of each phase by verb and resource against the fewest the estate
   needs, and each phase's wall time against the bound the latency alone sets on its
   longest chain of requests that must follow one another (clusters in parallel).

``--quick``: 3 clusters x 200 namespaces. A benchmark, not a test: exits 0 whatever the
figures, 1 when the sweep did not do what the estate asks for.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.kube_host import ClusterHost, Estate, seed
from bench.output import Figures, exit_code, load_average, say, table
from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import Settings, parse_settings
from reaper.lifecycle import StateSigner
from reaper.model import Action, Result
from reaper.providers.catalog import build_kinds
from reaper.providers.kubernetes import KubeConnection
from reaper.providers.kubernetes.api import PAGE_SIZE
from reaper.sandbox.environment import SANDBOX_STATE_KEY, sandbox_environ
from reaper.sandbox.kube import KubeFake

TARGET_REQUESTS = 1.1
QUARANTINE_REQUESTS = 11
"""One quarantine of a namespace without workloads, as reaper makes it: read the namespace,
record the quarantine id, create the policy, list Deployments, StatefulSets and CronJobs,
read back (the policy and the three lists), write the quarantined state."""
QUARANTINE_MINIMUM = 10
"""The same without the fresh read of the namespace (the plan's read could stand for it)."""


@dataclass(frozen=True)
class Options:
    clusters: int
    namespaces: int
    """Per cluster."""
    latency: float
    workers: int
    quick: bool


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kube", description="Benchmark a Kubernetes sweep."
    )
    parser.add_argument("--clusters", type=int, help="fake clusters (default 3)")
    parser.add_argument("--namespaces", type=int, help="per cluster (default 2000)")
    parser.add_argument("--latency", type=float, help="seconds added per request (default 0.05)")
    parser.add_argument("--workers", type=int, default=8, help="providers.kubernetes.max_workers")
    parser.add_argument("--quick", action="store_true", help="3 clusters x 200 namespaces")
    args = parser.parse_args(argv)
    opts = Options(
        clusters=args.clusters or 3,
        namespaces=args.namespaces or (200 if args.quick else 2000),
        latency=0.05 if args.latency is None else args.latency,
        workers=args.workers,
        quick=args.quick,
    )
    if opts.clusters < 1 or opts.namespaces < 20 or opts.latency < 0 or opts.workers < 1:
        parser.error("need clusters >= 1, namespaces >= 20, latency >= 0, workers >= 1")
    return opts


def bench_settings(clusters: Sequence[str], workers: int, audit: Path) -> Settings:
    """Applied, grace 0s, every brake out of reach."""
    data: dict[str, Any] = {
        "dry_run": False,
        "providers": {
            "kubernetes": {
                "clusters": [{"name": name} for name in clusters],
                "max_workers": workers,
            }
        },
        "policy": {"default_ttl": "24h", "grace_period": "0s"},
        "safety": {
            "max_actions_per_sweep": 10**9,
            "max_fraction": 1.0,
            "min_actions_for_fraction": 10**9,
        },
        "audit": {"path": str(audit)},
    }
    return parse_settings(data, "bench/kube")


def service_for(
    settings: Settings, kubeconfigs: Mapping[str, Mapping[str, Any]], audit: Path
) -> SweepService:
    signer = StateSigner(SANDBOX_STATE_KEY.encode(), settings.tags.model_dump().values())
    kinds = build_kinds(settings, {"kubernetes": KubeConnection(kubeconfigs)}, signer=signer)
    return SweepService(settings, kinds, lambda: AuditLog(audit), signer=signer)


def warm_up(tmp: Path, workers: int) -> None:
    """Sweep a tiny cluster once, so every API method the sweep uses has built its
    validators (the client builds them on first call) before anything is timed."""
    now = datetime.now(UTC)
    with KubeFake(context="warm-up") as fake:
        seed(fake, Estate(20), now)
        settings = bench_settings(["warm-up"], workers, tmp / "warm-up.jsonl")
        service = service_for(settings, {"warm-up": fake.kubeconfig()}, tmp / "warm-up.jsonl")
        service.run(now, dry_run=False)


def minimum(estate: Estate, clusters: int, apply: bool) -> dict[str, int]:
    """The fewest requests each phase needs, by operation, over all clusters."""
    pages = {
        "list namespaces": math.ceil(estate.pipeline / PAGE_SIZE) * clusters,
        "list services": math.ceil(estate.services / PAGE_SIZE) * clusters,
    }
    if not apply:
        return pages
    exposed = estate.count("exposed") * clusters
    return {
        **pages,
        "delete namespaces": estate.count("expired") * clusters,
        "quarantine (all its requests)": exposed * QUARANTINE_MINIMUM,
    }


def bound(opts: Options, estate: Estate, apply: bool) -> float:
    """The latency on the longest chain of requests of one cluster (clusters run in
    parallel): the list pages one after the other, then the quarantines and the deletes,
    ``workers`` at a time."""
    pages = math.ceil(estate.pipeline / PAGE_SIZE) + math.ceil(estate.services / PAGE_SIZE)
    chain = pages
    if apply:
        chain += math.ceil(estate.count("exposed") / opts.workers) * QUARANTINE_REQUESTS
        chain += math.ceil(estate.count("expired") / opts.workers)
    return chain * opts.latency


def _grouped(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts by operation, the quarantine's own requests folded into one line."""
    keep = ("list namespaces", "list services", "delete namespaces")
    grouped = {k: v for k, v in counts.items() if k in keep}
    rest = sum(v for k, v in counts.items() if k not in keep)
    if rest:
        grouped["quarantine (all its requests)"] = rest
    return grouped


def report(
    name: str,
    counts: Mapping[str, int],
    least: Mapping[str, int],
    wall: float,
    floor: float,
    cpu: tuple[float, float],
    figures: Figures,
) -> None:
    say(f"  requests by operation ({name}):")
    say(table(["operation", "requests"], [[k, str(v)] for k, v in sorted(counts.items())]))
    grouped = _grouped(counts)
    rows = [
        [op, str(grouped.get(op, 0)), str(n), f"{grouped.get(op, 0) / n:.2f}" if n else "-"]
        for op, n in least.items()
    ]
    say(table(["", "requests", "minimum", "ratio"], rows))
    total, least_total = sum(counts.values()), sum(least.values())
    ratio = total / least_total if least_total else 0.0
    say(
        f"  {name}: {total} requests ({ratio:.2f} x the minimum {least_total}); wall "
        f"{wall:.2f} s against a latency bound of {floor:.2f} s; CPU: reaper {cpu[0]:.2f} s, "
        f"the fake servers {cpu[1]:.2f} s"
    )
    figures.add(
        f"{name}: requests / minimum",
        f"{ratio:.2f} ({total})",
        f"<= {TARGET_REQUESTS}",
        ratio <= TARGET_REQUESTS,
    )
    figures.add(
        f"{name}: wall / latency bound",
        f"{wall / floor:.2f} ({wall:.1f} s)" if floor else f"{wall:.1f} s",
        "-",
        None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    os.environ.clear()
    os.environ.update(sandbox_environ(dict(os.environ)))
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    estate = Estate(opts.namespaces)
    names = [f"c{n}" for n in range(opts.clusters)]
    say(
        f"reaper kubernetes benchmark{' (quick)' if opts.quick else ''}: {opts.clusters} "
        f"cluster(s) x {opts.namespaces} namespaces, {opts.latency:g} s latency, "
        f"{opts.workers} workers; {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
        f"load average {load_average()}"
    )
    figures = Figures()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="reaper-bench-kube-") as folder:
        tmp = Path(folder)
        warm_up(tmp, opts.workers)
        now = datetime.now(UTC)
        seeding = time.perf_counter()
        with ClusterHost(names, estate, now) as host:
            say(f"  seeded in {time.perf_counter() - seeding:.1f} s (in the child process)")
            audit = tmp / "audit.jsonl"
            service = service_for(
                bench_settings(names, opts.workers, audit), host.kubeconfigs, audit
            )
            host.ask("latency", opts.latency)
            for apply in (False, True):
                phase = "apply" if apply else "plan"
                say(f"\n== {phase} ==")
                host.ask("reset")
                cpu = host.ask("cpu")
                own = time.process_time()
                started = time.perf_counter()
                if apply:
                    result = service.run(now + timedelta(seconds=1), dry_run=False)
                    decisions, outcomes = result.plan.decisions, result.outcomes
                else:
                    decisions, outcomes = service.plan(now)[0].decisions, ()
                wall = time.perf_counter() - started
                own = time.process_time() - own
                counts = host.ask("counts")
                cpu = host.ask("cpu") - cpu
                report(
                    phase,
                    counts,
                    minimum(estate, opts.clusters, apply),
                    wall,
                    bound(opts, estate, apply),
                    (own, cpu),
                    figures,
                )
                expected = {
                    Action.DELETE: estate.count("expired") * opts.clusters,
                    Action.QUARANTINE: estate.count("exposed") * opts.clusters,
                }
                planned = {a: sum(1 for d in decisions if d.action is a) for a in expected}
                if planned != expected:
                    problems.append(f"{phase}: planned {planned}, expected {expected}")
                failed = [o for o in outcomes if o.result is not Result.DONE]
                if failed:
                    problems.append(f"{phase}: {len(failed)} actions not done: {failed[:3]}")
            phases = host.ask("phases")
            say(f"\n  namespaces by phase after the apply: {phases}")
    say("\n== summary ==")
    say(figures.render())
    say(f"  load average at the end {load_average()} (other work on the machine skews wall times)")
    return exit_code(problems)


if __name__ == "__main__":
    sys.exit(main())
