"""Benchmark at organization scale: one reaper process against N shard processes.

Usage, from the repository root::

    .venv/bin/python -m bench.org [--accounts 200] [--regions 16] [--busy-share 0.05]
        [--min-instances 50] [--max-instances 500] [--latency 0.1]
        [--throttle-rate 1] [--throttle-burst 1] [--shards 1,2,4] [--workers 8,32,64]
        [--seed 7] [--quick]

1. Builds an AWS organization in moto (one server; ``MOTO_AMIS_PATH`` keeps moto's
   per-scope cost low, see :func:`bench.org_estate.one_ami_file`): ``accounts`` member
   accounts x ``regions`` regions, of which ``busy-share`` of the scopes hold
   ``min-instances``-``max-instances`` pipeline instances (40% expired), the rest none.
2. Puts a ``CountingProxy`` in front of it: ``latency`` seconds per request, and per
   access key (= account: reaper assumes one role per account) and region a token bucket
   on EC2 (``throttle-rate`` a second, ``throttle-burst`` deep) answering
   ``RequestLimitExceeded`` past it, as EC2 does.
3. Runs ``reaper plan`` once to warm moto (not measured), then, each as real processes
   side by side (``reaper plan --shard i/N``, organization discovery included): N = each
   of ``shards`` with 32 workers, and one process with each of ``workers``.
4. Prints per run: wall time, requests against the minimum (``bench.org_estate.minimum``)
   and the throttled ones, failed scopes, peak RSS of the largest process, and the CPU
   seconds of moto, of the reaper processes and of this process (the proxy), with the
   floor they set on 2 cores.

A benchmark, not a test: exits 0 whatever the figures, 1 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench import cpu
from bench.children import REPO_ROOT
from bench.org_estate import ORG_REGIONS, OrgEstate, minimum, one_ami_file, seed_organization
from bench.output import Figures, load_average, say, table
from reaper.sandbox.environment import sandbox_environ
from reaper.sandbox.estate import sandbox_session
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

RUN_TIMEOUT = 1800.0
TARGET_REQUESTS = 1.05
TARGET_WALL = 1.3
TARGET_RSS_MB = 300.0
WALL_WORKERS = 32
"""The workers the wall-time target is set for."""


@dataclass(frozen=True)
class Options:
    accounts: int
    regions: int
    busy_share: float
    min_instances: int
    max_instances: int
    latency: float
    throttle_rate: float
    throttle_burst: int
    shards: tuple[int, ...]
    workers: tuple[int, ...]
    seed: int
    quick: bool


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give positive integers")
    return values


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.org", description=__doc__)
    parser.add_argument("--accounts", type=int, default=None, help="member accounts (200)")
    parser.add_argument("--regions", type=int, default=None, help=f"1-{len(ORG_REGIONS)} (16)")
    parser.add_argument("--busy-share", type=float, default=0.05)
    parser.add_argument("--min-instances", type=int, default=None, help="per busy scope (50)")
    parser.add_argument("--max-instances", type=int, default=None, help="per busy scope (500)")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--throttle-rate", type=float, default=1.0, help="0: no throttle")
    parser.add_argument("--throttle-burst", type=int, default=1)
    parser.add_argument("--shards", type=_ints, default=(1, 2, 4))
    parser.add_argument("--workers", type=_ints, default=(8, 32, 64))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20 accounts x 4 regions")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    opts = Options(
        accounts=args.accounts or (20 if quick else 200),
        regions=args.regions or (4 if quick else len(ORG_REGIONS)),
        busy_share=args.busy_share,
        min_instances=args.min_instances or (20 if quick else 50),
        max_instances=args.max_instances or (50 if quick else 500),
        latency=args.latency,
        throttle_rate=args.throttle_rate,
        throttle_burst=args.throttle_burst,
        shards=args.shards,
        workers=args.workers,
        seed=args.seed,
        quick=quick,
    )
    if not 1 <= opts.regions <= len(ORG_REGIONS):
        parser.error(f"--regions must be 1-{len(ORG_REGIONS)}")
    if not 0 < opts.busy_share <= 1 or opts.min_instances > opts.max_instances:
        parser.error("--busy-share must be in (0, 1] and --min-instances <= --max-instances")
    return opts


@dataclass(frozen=True)
class Run:
    """One measured configuration: ``shards`` processes of ``workers`` workers each."""

    shards: int
    workers: int
    wall: float
    requests: int
    minimum: int
    throttled: int
    failed_scopes: int
    resources: int
    deletes: int
    exit_codes: tuple[int, ...]
    peak_rss_mb: float
    reaper_cpu: float
    reaper_cpu_max: float
    """Of the busiest process: one interpreter, so a floor on its own wall time."""
    moto_cpu: float
    proxy_cpu: float

    def floor(self, cores: int) -> float:
        """The least wall time this CPU allows here: moto's (one interpreter), the busiest
        reaper process's, or everything's over the cores."""
        total = self.moto_cpu + self.reaper_cpu + self.proxy_cpu
        return max(self.moto_cpu, self.reaper_cpu_max, total / cores)


def write_config(path: Path, regions: Sequence[str], workers: int) -> None:
    config: dict[str, Any] = {
        "dry_run": True,
        "providers": {
            "aws": {"regions": list(regions), "organization": {}, "max_workers": workers}
        },
        "policy": {"grace_period": "0s", "kinds": {"ec2_instance": {"ttl": "12h"}}},
        "safety": {
            "max_actions_per_sweep": 10**9,
            "max_fraction": 1.0,
            "min_actions_for_fraction": 10**9,
        },
        "audit": {"path": str(path.parent / "audit.jsonl")},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def measure(
    proxy: CountingProxy,
    moto_pid: int | None,
    estate: OrgEstate,
    tmp: Path,
    shards: int,
    workers: int,
) -> Run:
    """Run ``shards`` ``reaper plan`` processes at once and measure them."""
    config = tmp / f"config-{shards}x{workers}.yaml"
    write_config(config, estate.regions, workers)
    env = sandbox_environ(os.environ)
    env["AWS_ENDPOINT_URL"] = proxy.endpoint_url
    env["PYTHONPATH"] = str(REPO_ROOT)
    outputs = [tmp / f"plan-{shards}x{workers}-{i}.json" for i in range(shards)]
    peaks = [tmp / f"hwm-{shards}x{workers}-{i}.txt" for i in range(shards)]
    proxy.reset_counts()
    before = cpu.read(moto_pid)
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.org_child", str(peaks[i])),
                *("--log-level", "ERROR", "plan", "-c", str(config), "--shard", f"{i}/{shards}"),
                *("--format", "json", "-o", str(outputs[i])),
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(shards)
    ]
    usage: list[Any] = []
    codes: list[int] = []
    for child in children:
        _, status, rusage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        codes.append(child.returncode)
        usage.append(rusage)
        if child.returncode not in (0, 1) and child.stderr is not None:
            say(child.stderr.read().decode(errors="replace")[-2000:])
    wall = time.perf_counter() - started
    after = cpu.read(moto_pid)
    for child in children:
        if child.stderr is not None:
            child.stderr.close()
    documents = [json.loads(p.read_text(encoding="utf-8")) for p in outputs if p.exists()]
    counts = proxy.counts()
    need = minimum(estate, shards)
    per_process = [u.ru_utime + u.ru_stime for u in usage]
    return Run(
        shards=shards,
        workers=workers,
        wall=wall,
        requests=sum(counts.values()),
        minimum=sum(need.values()),
        throttled=sum(proxy.throttled().values()),
        failed_scopes=sum(len(d["collect_errors"]) for d in documents)
        + (shards - len(documents)) * len(estate.scopes),
        resources=sum(d["summary"]["resources"] for d in documents),
        deletes=sum(d["summary"]["actions"]["delete"] for d in documents),
        exit_codes=tuple(codes),
        peak_rss_mb=max(int(p.read_text(encoding="ascii")) for p in peaks) / 1024,
        reaper_cpu=sum(per_process),
        reaper_cpu_max=max(per_process),
        moto_cpu=after.moto - before.moto,
        proxy_cpu=after.here - before.here,
    )


def bound_of(run: Run, latency: float) -> float:
    """(requests / all workers) x latency. Pure."""
    return run.requests / (run.shards * run.workers) * latency


def report(runs: Sequence[Run], estate: OrgEstate, opts: Options, figures: Figures) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    rows = []
    for r in runs:
        bound = bound_of(r, opts.latency)
        rows.append(
            [
                f"{r.shards} x {r.workers}",
                f"{r.wall:.1f}",
                f"{bound:.1f}",
                f"{r.floor(cores):.1f}",
                f"{r.requests}",
                f"{r.minimum}",
                f"{r.throttled}",
                f"{r.requests / (r.minimum + r.throttled):.3f}",
                f"{r.failed_scopes}",
                f"{r.peak_rss_mb:.0f}",
                f"{r.moto_cpu:.1f}",
                f"{r.reaper_cpu:.1f} ({r.reaper_cpu_max:.1f})",
                f"{r.proxy_cpu:.1f}",
            ]
        )
    say(
        table(
            [
                "shards x workers",
                "wall s",
                "bound s",
                "CPU floor s",
                "requests",
                "minimum",
                "throttled",
                "req/(min+thr)",
                "failed scopes",
                "peak RSS MB",
                "moto CPU s",
                "reaper CPU s (busiest)",
                "proxy CPU s",
            ],
            rows,
        )
    )
    say(
        "  bound = requests / (shards x workers) x latency; CPU floor = max(moto CPU, the "
        f"busiest reaper process's CPU, all CPU / {cores} cores)"
    )
    for r in runs:
        ok = r.failed_scopes == 0 and r.resources == estate.instances
        figures.add(
            f"{r.shards} x {r.workers}: failed scopes; resources planned",
            f"{r.failed_scopes}; {r.resources} of {estate.instances}",
            "0; all",
            ok,
        )
        ratio = r.requests / (r.minimum + r.throttled)
        figures.add(
            f"{r.shards} x {r.workers}: requests / (minimum + throttled)",
            f"{ratio:.3f}",
            f"<= {TARGET_REQUESTS}",
            ratio <= TARGET_REQUESTS,
        )
    for r in runs:
        if r.workers == WALL_WORKERS:
            bound = bound_of(r, opts.latency)
            figures.add(
                f"{r.shards} x {r.workers}: wall / bound; wall / max(bound, CPU floor)",
                f"{r.wall / bound:.2f}; {r.wall / max(bound, r.floor(cores)):.2f}",
                f"<= {TARGET_WALL}",
                r.wall <= TARGET_WALL * bound,
            )
    for r in runs:
        if r.shards == 1:
            figures.add(
                f"1 x {r.workers}: peak RSS of the one process (MB)",
                f"{r.peak_rss_mb:.0f}",
                f"< {TARGET_RSS_MB:.0f}",
                r.peak_rss_mb < TARGET_RSS_MB,
            )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    os.environ.update(sandbox_environ(os.environ))
    regions = ORG_REGIONS[: opts.regions]
    say(
        f"reaper organization benchmark{' (quick)' if opts.quick else ''}: {opts.accounts} "
        f"accounts x {len(regions)} regions = {opts.accounts * len(regions)} scopes, "
        f"{opts.busy_share:.0%} busy with {opts.min_instances}-{opts.max_instances} "
        f"instances; {opts.latency:g} s latency; EC2 throttle {opts.throttle_rate:g}/s, "
        f"burst {opts.throttle_burst}, per account and region; {os.cpu_count()} CPU(s), "
        f"load average {load_average()}"
    )
    figures = Figures()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="reaper-bench-org-") as name:
        tmp = Path(name)
        os.environ["MOTO_AMIS_PATH"] = str(one_ami_file(tmp))
        with MotoServer(startup_timeout=60) as server:
            started = time.perf_counter()
            estate = seed_organization(
                server,
                sandbox_session(),
                opts.accounts,
                regions,
                opts.busy_share,
                opts.min_instances,
                opts.max_instances,
                opts.seed,
                datetime.now(UTC),
            )
            say(
                f"Seeded in {time.perf_counter() - started:.1f} s: {len(estate.busy)} busy "
                f"scopes, {estate.instances} instances ({estate.expired} expired)"
            )
            with CountingProxy(server.endpoint_url, latency=opts.latency) as proxy:
                proxy.throttle(opts.throttle_rate, opts.throttle_burst)
                warm = measure(proxy, server.pid, estate, tmp, 1, 64)
                say(
                    f"Warm-up (not counted): {warm.wall:.1f} s, {warm.resources} resources, "
                    f"{warm.failed_scopes} failed scopes"
                )
                plan = [(n, WALL_WORKERS) for n in opts.shards]
                plan += [(1, w) for w in opts.workers if (1, w) not in plan]
                for shards, workers in plan:
                    run = measure(proxy, server.pid, estate, tmp, shards, workers)
                    say(
                        f"  {shards} shard(s) x {workers} workers: {run.wall:.1f} s, "
                        f"{run.requests} requests, exits {list(run.exit_codes)}; "
                        f"load average {load_average()}"
                    )
                    runs.append(run)
    report(runs, estate, opts, figures)
    say(f"  load average at the end {load_average()}: other work on the machine skews wall times")
    say("\n== summary ==")
    say(figures.render())
    failed = [r for r in runs if r.failed_scopes or any(c != 0 for c in r.exit_codes)]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
