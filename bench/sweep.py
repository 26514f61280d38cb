"""Benchmark of one sweep on the sandbox: requests, wall time, memory, policy throughput.

Usage, from the repository root::

    .venv/bin/python -m bench.sweep [--regions 4] [--instances 1000] [--clusters 20]
        [--latency 0.05] [--rss-sizes 1000,10000] [--policy-resources 100000] [--quick]

1. Seeds moto (a ``MotoServer``) with ``regions`` x ``instances`` pipeline-tagged EC2
   instances (60% fresh, 30% expired by TTL, 5% protected, 5% with a bad TTL tag) and,
   when reaper builds an EKS kind, ``clusters`` EKS clusters with node groups (dealt
   round-robin to the regions).
2. Plans (``SweepService.plan``) and applies (``SweepService.run``, grace 0s, brakes
   open) through a ``CountingProxy`` that adds ``latency`` seconds to every request.
3. Prints the requests of each phase against the fewest the estate needs, and each
   phase's wall time against its critical-path bound: the longest chain of requests that
   must follow one another, each costed as the injected latency plus its time measured
   directly against moto. Steps 1-3 are ``bench.sweep_phase``.
4. Peak RSS of collect + plan in a fresh child process per estate size, one region, no
   latency (moto's own answers for one page of instances, replayed for larger sizes:
   see ``bench.rss``), as KB per additional resource.
5. ``make_plan`` throughput over synthetic resources, on one core.

``--quick``: 2 regions x 200 instances, 2 clusters, RSS sizes 200,1000, 10,000 policy
resources. The default run takes about 4 minutes on 2 cores, most of it moto's.

A benchmark, not a test: exits 0 whatever the figures, 1 when something failed.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import boto3

from bench import policy, rss
from bench.estate import seed_ec2_region
from bench.minimum import EC2_PAGE
from bench.options import (
    REGIONS,
    RSS_REGION,
    TARGET_KB_PER_RESOURCE,
    TARGET_PLAN_RATE,
    Options,
    bench_config,
    parse_options,
)
from bench.output import Figures, exit_code, load_average, say, table
from bench.request_counts import OperationCounter
from bench.sweep_phase import sweep_phase
from reaper.config import TagKeys
from reaper.sandbox.environment import sandbox_environ
from reaper.sandbox.estate import sandbox_session
from reaper.sandbox.moto_server import MotoServer


def sandbox_environment() -> None:
    """Placeholder credentials and no ambient AWS config, as the tests use."""
    wanted = sandbox_environ(os.environ)
    os.environ.clear()
    os.environ.update(wanted)


def rss_phase(opts: Options, figures: Figures, problems: list[str], session: boto3.Session) -> None:
    """Peak RSS of collect + plan per estate size, each in a fresh child process."""
    tags = TagKeys()
    page = min(EC2_PAGE, opts.rss_sizes[0])
    with MotoServer() as server:
        now = datetime.now(UTC)
        seed_ec2_region(server, session, RSS_REGION, page, now, tags, label_prefix="rss")
        captured = rss.capture(session, server.endpoint_url, RSS_REGION, tags)
    say(
        f"Peak RSS of collect + plan, one region, no latency, a fresh child per size: a "
        f"moto page of {captured.page_size} instances ({len(captured.instances) // 1024} KB "
        f"of XML) replayed with new ids, as many pages as the size needs."
    )
    samples: list[rss.RssSample] = []
    for size in opts.rss_sizes:
        pages = math.ceil(size / captured.page_size)
        with rss.ReplayServer(captured, pages) as replay:
            sample = rss.measure(replay.endpoint_url, RSS_REGION, replay.instances)
        if sample.resources != replay.instances:
            problems.append(f"RSS child saw {sample.resources} resources, not {replay.instances}")
        samples.append(sample)
    say(
        table(
            ["instances", "resources", "baseline KB", "peak KB", "peak-baseline KB", "plan s"],
            [
                [
                    str(s.instances),
                    str(s.resources),
                    str(s.baseline_kb),
                    str(s.peak_kb),
                    str(s.growth_kb),
                    f"{s.seconds:.2f}",
                ]
                for s in samples
            ],
        )
    )
    small, large = samples[0], samples[-1]
    added = large.resources - small.resources
    per = (large.growth_kb - small.growth_kb) / added
    say(
        f"  peak read as {small.source}; getrusage ru_maxrss in the children after imports was "
        f"{small.ru_maxrss_baseline_kb} and {large.ru_maxrss_baseline_kb} KB (inherited "
        f"from this process through fork/exec on Linux, so not used)"
    )
    say(
        f"  KB per additional resource: ({large.growth_kb} - {small.growth_kb}) / {added} = "
        f"{per:.2f}"
    )
    figures.add(
        f"peak RSS per added resource, {small.resources}->{large.resources} (KB)",
        f"{per:.2f}",
        f"<= {TARGET_KB_PER_RESOURCE:g}",
        per <= TARGET_KB_PER_RESOURCE,
    )


def policy_phase(opts: Options, figures: Figures, tmp: Path) -> None:
    # Production-like policy: a grace period of 1h, so marked resources are exercised.
    config = bench_config(REGIONS[:1], ["ec2_instance"], tmp / "policy-audit.jsonl", grace="1h")
    result = policy.measure_in_child(opts.policy_resources, config, datetime.now(UTC))
    runs = ", ".join(f"{s:.3f}" for s in result.seconds)
    say(
        f"make_plan over {result.resources} synthetic resources (a fresh process, "
        f"{result.pinning}): runs "
        f"{runs} s; median {result.median:.3f} s = {result.per_second:,.0f} resources/s "
        f"(best run {result.resources / min(result.seconds):,.0f}/s)"
    )
    say(f"  decisions: {', '.join(f'{k} {v}' for k, v in result.actions.items())}")
    figures.add(
        f"make_plan throughput, {result.resources} resources (/s)",
        f"{result.per_second:,.0f}",
        f">= {TARGET_PLAN_RATE:,.0f}",
        result.per_second >= TARGET_PLAN_RATE,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    sandbox_environment()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    figures = Figures()
    problems: list[str] = []
    say(
        f"reaper sweep benchmark{' (quick)' if opts.quick else ''}: {opts.regions} region(s) x "
        f"{opts.instances} instances, {opts.clusters} clusters, {opts.latency:g} s latency, "
        f"RSS sizes {','.join(map(str, opts.rss_sizes))}, {opts.policy_resources} policy "
        f"resources; {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
        f"load average {load_average()}"
    )
    # The session of every client: the sandbox's placeholder credentials, as in the tests.
    session = sandbox_session()
    sent = OperationCounter(session)  # before the session makes its first client
    timings: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="reaper-bench-") as name:
            tmp = Path(name)
            phases: list[tuple[str, Callable[[], None]]] = [
                ("sweep", partial(sweep_phase, opts, figures, problems, tmp, session, sent)),
                ("memory", partial(rss_phase, opts, figures, problems, session)),
                ("policy", partial(policy_phase, opts, figures, tmp)),
            ]
            for title, phase in phases:
                say(f"\n== {title} ==")
                phase_started = time.perf_counter()
                phase()
                timings[title] = time.perf_counter() - phase_started
    except Exception:
        traceback.print_exc()
        say("\nThe benchmark failed; the figures above are incomplete.")
        if figures.rows:
            say(figures.render())
        return 1
    total = time.perf_counter() - started
    say("\n== summary ==")
    say(figures.render())
    say(
        "  run time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        + f"; total {total:.1f} s; load average at the end {load_average()}"
    )
    return exit_code(problems)


if __name__ == "__main__":
    sys.exit(main())
