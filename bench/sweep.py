"""Benchmark of one sweep on the sandbox: requests, wall time, memory, policy throughput.

Usage::

    .venv/bin/python bench/sweep.py [--regions 4] [--instances 1000] [--clusters 20]
        [--latency 0.05] [--rss-sizes 1000,10000] [--policy-resources 100000] [--quick]

1. Seeds moto (a ``MotoServer``) with ``regions`` x ``instances`` pipeline-tagged EC2
   instances (60% fresh, 30% expired by TTL, 5% protected, 5% with a bad TTL tag) and,
   when reaper builds an EKS kind, ``clusters`` EKS clusters with node groups (dealt
   round-robin to the regions).
2. Plans (``plan_sweep``) and applies (``run_sweep``, grace 0s, brakes open) through a
   ``CountingProxy`` that adds ``latency`` seconds to every request.
3. Prints the requests of each phase against the fewest the estate needs, and each
   phase's wall time against its critical-path bound: the longest chain of requests that
   must follow one another, each costed as the injected latency plus its time measured
   directly against moto.
4. Peak RSS of collect + plan in a fresh child process per estate size, one region, no
   latency (moto's own answers for one page of instances, replayed for larger sizes:
   see ``bench_rss``), as KB per additional resource.
5. ``make_plan`` throughput over synthetic resources, on one core.

``--quick``: 2 regions x 200 instances, 2 clusters, RSS sizes 200,1000, 10,000 policy
resources. The default run takes about 4 minutes on 2 cores, most of it moto's.

A benchmark, not a test: exits 0 whatever the figures, 1 when something failed.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import bench_cpu
import bench_policy
import bench_rss
import boto3
from bench_estate import (
    Ec2Region,
    EksRegion,
    newest_kubernetes_version,
    seed_ec2_region,
    seed_eks,
)
from bench_inrun import in_run_bound
from bench_minimum import (
    CALLER_IDENTITY,
    EC2_PAGE,
    TERMINATE,
    Chain,
    OpKey,
    action_chains,
    action_minimum,
    collect_chains,
    collect_minimum,
    serial_seconds,
)
from bench_requests import OperationCounter, RequestCheck, attribute, by_operation
from bench_timing import OpTiming, make_client, time_ec2_reads, time_eks, time_sts, time_terminate

from reaper.app import plan_sweep, run_sweep
from reaper.audit import AuditLog
from reaper.config import KNOWN_KINDS, TagKeys, parse_settings
from reaper.model import Action, Result
from reaper.providers import catalog
from reaper.providers.aws.eks import EksClusters
from reaper.sandbox.environment import sandbox_environ
from reaper.sandbox.estate import sandbox_session
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

REGIONS = (
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "ap-southeast-1",
    "eu-central-1",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
)
# Never swept: scratch clusters for timing EKS calls, and the region the RSS replay copies.
EKS_TIMING_REGION = "eu-north-1"
RSS_REGION = "ap-south-1"
ACCOUNT = "ci"
SAMPLES = 3
"""Direct timings per operation (the median counts)."""

TARGET_REQUESTS = 1.05
TARGET_WALL = 1.3
TARGET_KB_PER_RESOURCE = 5.0
TARGET_PLAN_RATE = 50_000.0


@dataclass(frozen=True)
class Options:
    regions: int
    instances: int
    clusters: int
    latency: float
    rss_sizes: tuple[int, ...]
    policy_resources: int
    quick: bool


_DEFAULTS: dict[str, Any] = {
    "regions": 4,
    "instances": 1000,
    "clusters": 20,
    "latency": 0.05,
    "rss_sizes": (1000, 10000),
    "policy_resources": 100_000,
}
_QUICK: dict[str, Any] = {
    "regions": 2,
    "instances": 200,
    "clusters": 2,
    "latency": 0.05,
    "rss_sizes": (200, 1000),
    "policy_resources": 10_000,
}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers") from None
    if len(sizes) < 2 or sizes[0] < 1:
        raise argparse.ArgumentTypeError("give at least two distinct positive sizes")
    return sizes


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="Benchmark one reaper sweep on the moto sandbox.",
        epilog="--quick sets smaller defaults; options given explicitly still win.",
    )
    parser.add_argument("--regions", type=int, help=f"1-{len(REGIONS)} (default 4)")
    parser.add_argument("--instances", type=int, help="EC2 instances per region (default 1000)")
    parser.add_argument("--clusters", type=int, help="EKS clusters in all (default 20)")
    parser.add_argument("--latency", type=float, help="seconds added per request (default 0.05)")
    parser.add_argument("--rss-sizes", type=_sizes, help="instances, e.g. 1000,10000")
    parser.add_argument("--policy-resources", type=int, help="default 100000")
    parser.add_argument("--quick", action="store_true", help="a smoke run of well under a minute")
    args = parser.parse_args(argv)
    base = _QUICK if args.quick else _DEFAULTS
    values = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in base.items()}
    if not 1 <= values["regions"] <= len(REGIONS):
        parser.error(f"--regions must be 1-{len(REGIONS)}")
    if values["instances"] < 0 or values["clusters"] < 0 or values["latency"] < 0:
        parser.error("--instances, --clusters and --latency must not be negative")
    if values["policy_resources"] < 1:
        parser.error("--policy-resources must be positive")
    return Options(quick=args.quick, **values)


def say(text: str = "") -> None:
    print(text, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = [str(cells[0]).ljust(widths[0])]
        out += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  " + "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def sandbox_environment() -> None:
    """Placeholder credentials and no ambient AWS config, as the tests use."""
    wanted = sandbox_environ(os.environ)
    os.environ.clear()
    os.environ.update(wanted)


def bench_config(
    regions: Sequence[str], kinds: Sequence[str], audit_path: Path, grace: str = "0s"
) -> dict[str, Any]:
    return {
        "dry_run": False,
        "providers": {
            "aws": {"accounts": [{"name": ACCOUNT}], "regions": list(regions), "kinds": list(kinds)}
        },
        "policy": {
            "default_ttl": "24h",
            "grace_period": grace,
            "kinds": {"ec2_instance": {"ttl": "12h"}},
        },
        "safety": {"max_actions_per_sweep": 10**9, "max_fraction": 1.0},
        "audit": {"path": str(audit_path)},
    }


def eks_wiring(
    regions: Sequence[str], audit_path: Path, session: boto3.Session, endpoint: str
) -> tuple[bool, str, int]:
    """Whether reaper sweeps EKS clusters here; why not; the EKS kind's concurrency."""
    default_workers = int(inspect.signature(EksClusters.__init__).parameters["workers"].default)
    if "eks_cluster" not in KNOWN_KINDS.get("aws", ()):
        return False, "reaper.config.KNOWN_KINDS['aws'] has no 'eks_cluster'", default_workers
    settings = parse_settings(
        bench_config(regions, ["ec2_instance", "eks_cluster"], audit_path), "bench"
    )
    kinds = catalog.build_kinds(settings, catalog.Connections(session, endpoint))
    eks = [k for k in kinds if k.key() == "aws:eks_cluster"]
    if not eks:
        return (
            False,
            "reaper.config.KNOWN_KINDS lists 'eks_cluster', but "
            "reaper.providers.catalog.build_kinds() builds no aws:eks_cluster kind from a "
            "config that enables it (EksClusters is not wired into the catalog yet)",
            default_workers,
        )
    workers = int(getattr(eks[0], "_workers", default_workers))
    return True, "KNOWN_KINDS and build_kinds() both have aws:eks_cluster", workers


@dataclass
class Figures:
    """Everything the summary shows; None where a phase did not run."""

    rows: list[tuple[str, str, str, bool | None]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str, ok: bool | None) -> None:
        self.rows.append((name, value, target, ok))

    def render(self) -> str:
        return table(
            ["figure", "measured", "target", "result"],
            [
                [n, v, t, "n/a" if ok is None else ("PASS" if ok else "MISS")]
                for n, v, t, ok in self.rows
            ],
        )


def deleted(report_outcomes: Sequence[Any], kind: str, region: str | None = None) -> list[str]:
    return [
        o.ref.id
        for o in report_outcomes
        if o.action is Action.DELETE
        and o.result is Result.DONE
        and o.ref.kind == kind
        and (region is None or o.ref.scope.region == region)
    ]


def render_timings(timings: Mapping[OpKey, OpTiming], latency: float) -> str:
    rows = []
    for op in sorted(timings):
        t = timings[op]
        rows.append(
            [
                f"{op[0]} {op[1]}",
                f"{t.server * 1000:.1f}",
                f"{t.client * 1000:.1f}",
                f"{t.total * 1000:.1f}",
                f"{(latency + t.total) * 1000:.1f}",
                t.note,
            ]
        )
    return table(["operation", "server ms", "client ms", "direct ms", "+latency ms", "asked"], rows)


def timeline(sends: Sequence[tuple[float, OpKey]], started: float, wall: float) -> str:
    """When the requests of a phase went out, relative to its start (seconds).

    The actuator asks who reaper acts as (GetCallerIdentity) before its first action, so
    requests before that are the collect's and requests from it on are the actions'.
    """
    if not sends:
        return f"no requests; returned at {wall:.2f} s"
    times = [t - started for t, _ in sends]
    acting = [t - started for t, op in sends if op == CALLER_IDENTITY]
    if not acting:
        return (
            f"first request at {times[0]:.2f} s, last sent at {times[-1]:.2f} s, "
            f"returned at {wall:.2f} s"
        )
    collect = [t for t in times if t < acting[0]]
    last_collect = f"{collect[-1]:.2f}" if collect else "-"
    return (
        f"collect requests sent from {times[0]:.2f} to {last_collect} s, action requests "
        f"from {acting[0]:.2f} to {times[-1]:.2f} s, returned at {wall:.2f} s"
    )


def render_chains(chains: Sequence[Chain]) -> str:
    return "\n".join(f"    {c.describe()}" for c in chains)


def sweep_phases(
    opts: Options,
    figures: Figures,
    problems: list[str],
    tmp: Path,
    session: boto3.Session,
    sent: OperationCounter,
) -> None:
    """Seed, plan, apply, and report requests and wall times."""
    regions = REGIONS[: opts.regions]
    tags = TagKeys()
    with MotoServer() as server:
        eks_on, eks_why, eks_workers = eks_wiring(
            regions, tmp / "probe-audit.jsonl", session, server.endpoint_url
        )
        say(f"EKS: {'swept' if eks_on else 'SKIPPED'}: {eks_why}")
        say()
        now = datetime.now(UTC)
        started = time.perf_counter()
        ec2_regions: list[Ec2Region] = []
        for region in regions:
            ec2_regions.append(seed_ec2_region(server, session, region, opts.instances, now, tags))
            say(
                f"  seeded {region}: {opts.instances} instances in "
                f"{ec2_regions[-1].reservations} reservations "
                f"({time.perf_counter() - started:.1f} s so far)"
            )
        eks_regions: list[EksRegion] | None = None
        if eks_on:
            eks_regions = seed_eks(server, session, opts.clusters, regions, tags, now)
        seed_seconds = time.perf_counter() - started
        mix = ", ".join(f"{k} {v}" for k, v in ec2_regions[0].by_label.items())
        say(
            f"Seeded in {seed_seconds:.1f} s: {len(regions)} region(s) x {opts.instances} "
            f"instances ({mix} per region)"
            + (f", {opts.clusters} EKS clusters" if eks_regions is not None else "")
        )
        kinds_enabled = ["ec2_instance", "eks_cluster"] if eks_on else ["ec2_instance"]
        settings = parse_settings(
            bench_config(regions, kinds_enabled, tmp / "audit.jsonl"), "bench"
        )
        # Load the service models once, as a running process would have them.
        for service in ("ec2", "sts", *(["eks"] if eks_on else [])):
            make_client(session, service, regions[0], server.endpoint_url)

        expected_ec2 = sum(r.expired for r in ec2_regions)
        expected_eks = sum(len(r.expired) for r in eks_regions or ())
        expected_total = sum(r.total for r in ec2_regions) + sum(
            len(r.clusters) for r in eks_regions or ()
        )

        with CountingProxy(server.endpoint_url, latency=opts.latency) as proxy:
            connections = catalog.Connections(session, proxy.endpoint_url)
            kinds = catalog.build_kinds(settings, connections)
            proxy.reset_counts()
            sent.start()
            cpu_before = bench_cpu.read(server.pid)
            started = time.perf_counter()
            plan, collection, brake = plan_sweep(settings, kinds, datetime.now(UTC))
            plan_wall = time.perf_counter() - started
            plan_cpu = bench_cpu.CpuUse.between(cpu_before, bench_cpu.read(server.pid))
            plan_counts, disagree = attribute(by_operation(proxy.counts()), sent.stop(), session)
            plan_times = proxy.server_times()
            problems.extend(f"plan requests: {d}" for d in disagree)
            plan_timeline = timeline(sent.sends(), started, plan_wall)
            say(
                f"\nPlan: {len(plan.decisions)} resources, {plan.count(Action.DELETE)} to "
                f"delete, {plan.count(Action.QUARANTINE)} to quarantine, in {plan_wall:.2f} s"
            )
            problems.extend(
                _check_plan(plan, collection, brake, expected_total, expected_ec2 + expected_eks)
            )

            say("Timing each operation directly against moto ...")
            timings = time_ec2_reads(session, server.endpoint_url, regions[0], tags, SAMPLES)
            if eks_on:
                timings.update(
                    time_eks(
                        server,
                        session,
                        EKS_TIMING_REGION,
                        SAMPLES,
                        newest_kubernetes_version(),
                        now,
                    )
                )

            kinds = catalog.build_kinds(settings, connections)
            audit = AuditLog(tmp / "audit.jsonl")
            proxy.reset_counts()
            sent.start()
            cpu_before = bench_cpu.read(server.pid)
            started = time.perf_counter()
            try:
                report = run_sweep(settings, kinds, audit, datetime.now(UTC), dry_run=False)
            finally:
                audit.close()
            apply_wall = time.perf_counter() - started
            apply_cpu = bench_cpu.CpuUse.between(cpu_before, bench_cpu.read(server.pid))
            apply_counts, disagree = attribute(by_operation(proxy.counts()), sent.stop(), session)
            apply_times = proxy.server_times()
            problems.extend(f"apply requests: {d}" for d in disagree)
            apply_timeline = timeline(sent.sends(), started, apply_wall)
        gone_ec2 = deleted(report.outcomes, "ec2_instance")
        gone_eks = deleted(report.outcomes, "eks_cluster")
        say(
            f"Apply: {len(gone_ec2)} instances and {len(gone_eks)} clusters deleted in "
            f"{apply_wall:.2f} s; exit code {report.exit_code}"
        )
        if report.exit_code != 0:
            problems.append(f"the applied sweep exited {report.exit_code}: {report.summary()}")
        if len(gone_ec2) != expected_ec2 or len(gone_eks) != expected_eks:
            problems.append(
                f"deleted {len(gone_ec2)} instances and {len(gone_eks)} clusters, expected "
                f"{expected_ec2} and {expected_eks}"
            )

        first_gone = deleted(report.outcomes, "ec2_instance", regions[0])
        if first_gone:
            timings[TERMINATE] = time_terminate(
                session, server.endpoint_url, regions[0], first_gone, SAMPLES
            )
        timings[CALLER_IDENTITY] = time_sts(session, server.endpoint_url, regions[0], SAMPLES)

    need_collect = collect_minimum(ec2_regions, eks_regions)
    need_actions = action_minimum(ec2_regions, eks_regions, accounts=1)
    checks = [
        RequestCheck("plan", plan_counts, need_collect),
        RequestCheck("apply", apply_counts, need_collect + need_actions),
    ]
    say()
    for check in checks:
        say(f"Requests, {check.phase} phase (counted by the proxy) against the minimum:")
        say(table(["service", "operation", "actual", "minimum", "ratio"], check.rows()))
        say()
        figures.add(
            f"{check.phase} requests / minimum",
            f"{check.ratio:.2f}",
            f"<= {TARGET_REQUESTS}",
            check.ratio <= TARGET_REQUESTS,
        )
    if eks_on:
        say(
            "EKS is a REST API: the proxy sees only the HTTP method of its requests; they "
            "are attributed to operations from botocore's before-send events on the same "
            "session, checked against the proxy's per-method totals."
        )
    say(
        "Minimum: ceil(instances/1000) DescribeInstances pages, one DescribeImages and one "
        "DescribeSecurityGroups per region; ceil(expired/1000) TerminateInstances per region; "
        "one GetCallerIdentity per account; EKS: ceil(clusters/100) ListClusters pages and "
        "a DescribeCluster per cluster per region; per deleted cluster one ListNodegroups, "
        "one ListFargateProfiles, a delete per node group and Fargate profile, one "
        "DeleteCluster."
    )
    if any(r.total > EC2_PAGE for r in ec2_regions):
        say(
            "Note: moto pages DescribeInstances by reservation (up to 1000 reservations a "
            f"page), and the seeding puts up to 500 instances in each, so regions of more "
            f"than {EC2_PAGE} instances need fewer pages in moto than in EC2."
        )
    say()
    say(
        f"Per-request cost, directly against moto without the proxy, one at a time, median "
        f"of {SAMPLES}:"
    )
    say(render_timings(timings, opts.latency))
    say()

    cost = {op: opts.latency + t.total for op, t in timings.items()}
    server_time = {op: t.server for op, t in timings.items()}
    collect = collect_chains(ec2_regions, eks_regions, cost, eks_workers)
    plan_bound = max(c.seconds for c in collect)
    actions = action_chains(ec2_regions, eks_regions, cost, eks_workers)
    apply_bound = plan_bound + sum(c.seconds for c in actions)
    walls = [
        ("plan", plan_wall, plan_bound, serial_seconds(need_collect, server_time)),
        (
            "apply",
            apply_wall,
            apply_bound,
            serial_seconds(need_collect + need_actions, server_time),
        ),
    ]
    longest = max(collect, key=lambda c: c.seconds)
    say("Critical path (each request = latency + its direct time):")
    say(f"  collect, longest region chain:\n{render_chains([longest])}")
    if actions:
        say(f"  actions, level by level (clusters before instances):\n{render_chains(actions)}")
    say()
    in_run = {
        "plan": in_run_bound(
            ec2_regions,
            eks_regions,
            plan_times,
            opts.latency,
            cost,
            eks_workers,
            with_actions=False,
        ),
        "apply": in_run_bound(
            ec2_regions,
            eks_regions,
            apply_times,
            opts.latency,
            cost,
            eks_workers,
            with_actions=True,
        ),
    }
    say("Critical path costed with the server times the proxy measured in the run:")
    for phase, (_, chains) in in_run.items():
        say(f"  {phase}:\n{render_chains(chains)}")
    say()
    cpu = {"plan": plan_cpu, "apply": apply_cpu}
    rows = []
    for phase, wall, bound, serial in walls:
        measured = in_run[phase][0]
        use = cpu[phase]
        floor = max(bound, use.floor)
        rows.append(
            [
                phase,
                f"{wall:.2f}",
                f"{bound:.2f}",
                f"{wall / bound:.2f}",
                f"{measured:.2f}",
                f"{serial:.2f}",
                f"{use.moto:.2f}",
                f"{use.here:.2f}",
                f"{floor:.2f}",
                f"{wall / floor:.2f}",
            ]
        )
        figures.add(
            f"{phase} wall / critical-path bound",
            f"{wall / bound:.2f}",
            f"<= {TARGET_WALL}",
            wall / bound <= TARGET_WALL,
        )
        figures.add(
            f"{phase} wall / max(bound, CPU floor on {use.cores} cores) (info)",
            f"{wall / floor:.2f}",
            "",
            None,
        )
    say("Wall time against the bounds (seconds):")
    say(
        table(
            [
                "phase",
                "wall",
                "bound",
                "ratio",
                "in-run bound",
                "moto serial",
                "moto CPU",
                "reaper CPU",
                "max(bound, CPU floor)",
                "ratio",
            ],
            rows,
        )
    )
    say(
        "  bound = the longest chains, each request costed as the latency plus its time "
        "measured alone against moto. in-run bound = the same chains costed with the mean "
        "server time the proxy measured for each operation and region during the phase "
        "(info: under load it counts moto's queueing, so it can exceed the wall time). "
        "CPU floor = moto's CPU seconds in the phase (one process, one interpreter lock), "
        "or moto's and this process's CPU seconds spread over the cores, whichever is more."
    )
    say(f"  plan timeline: {plan_timeline}")
    say(f"  apply timeline: {apply_timeline}")
    say(
        "  moto serial = the server time of every minimum request back to back: moto "
        "answers in one Python process, so concurrent requests share one interpreter "
        "lock (info only)."
    )


def _check_plan(
    plan: Any, collection: Any, brake: Any, expected_total: int, expected_delete: int
) -> list[str]:
    problems = []
    if collection.errors:
        problems.append(f"collect errors: {[e.message for e in collection.errors]}")
    if brake is not None:
        problems.append(f"the brake tripped: {brake}")
    if len(plan.decisions) != expected_total:
        problems.append(f"planned {len(plan.decisions)} resources, expected {expected_total}")
    if plan.count(Action.DELETE) != expected_delete:
        problems.append(f"planned {plan.count(Action.DELETE)} deletes, expected {expected_delete}")
    if plan.count(Action.QUARANTINE):
        problems.append(f"planned {plan.count(Action.QUARANTINE)} quarantines, expected none")
    return problems


def rss_phase(opts: Options, figures: Figures, problems: list[str], session: boto3.Session) -> None:
    """Peak RSS of collect + plan per estate size, each in a fresh child process."""
    tags = TagKeys()
    page = min(EC2_PAGE, opts.rss_sizes[0])
    with MotoServer() as server:
        now = datetime.now(UTC)
        seed_ec2_region(server, session, RSS_REGION, page, now, tags, label_prefix="rss")
        captured = bench_rss.capture(session, server.endpoint_url, RSS_REGION, tags)
    say(
        f"Peak RSS of collect + plan, one region, no latency, a fresh child per size: a "
        f"moto page of {captured.page_size} instances ({len(captured.instances) // 1024} KB "
        f"of XML) replayed with new ids, as many pages as the size needs."
    )
    samples: list[bench_rss.RssSample] = []
    for size in opts.rss_sizes:
        pages = math.ceil(size / captured.page_size)
        with bench_rss.ReplayServer(captured, pages) as replay:
            sample = bench_rss.measure(replay.endpoint_url, RSS_REGION, replay.instances)
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
    result = bench_policy.measure_in_child(opts.policy_resources, config, datetime.now(UTC))
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


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews wall times."""
    if not hasattr(os, "getloadavg"):
        return "unknown"
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
        f"load average {_load()}"
    )
    # The Connections' session: the sandbox's placeholder credentials, as in the tests.
    session = sandbox_session()
    sent = OperationCounter(session)  # before the session makes its first client
    timings: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="reaper-bench-") as name:
            tmp = Path(name)
            phases: list[tuple[str, Callable[[], None]]] = [
                ("sweep", partial(sweep_phases, opts, figures, problems, tmp, session, sent)),
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
        + f"; total {total:.1f} s; load average at the end {_load()}"
    )
    if problems:
        say("\nPROBLEMS (the figures may not mean what they say):")
        for problem in problems:
            say(f"  - {problem}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
