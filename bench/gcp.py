"""Benchmark of GCP sweeps on the embedded fake: requests, wall time, the label filter.

Usage, from the repository root::

    .venv/bin/python -m bench.gcp [--zones 3] [--instances 500] [--others 100]
        [--clusters 6] [--latency 0.05] [--quick]

1. Seeds a ``FakeGcp`` project with ``zones`` x ``instances`` pipeline-labelled instances
   (60% fresh, 30% expired, 5% protected, 5% with a bad TTL label; one fresh instance in
   50 has an external address and a debug rule open to SSH, so it is quarantined),
   ``others`` unlabelled instances per zone, four distinct boot images, and ``clusters``
   GKE clusters (half of them expired).
2. Filter: collects the project with the pipeline label filtered client-side (reaper's
   choice) and server-side (``filter=labels.reaper-pipeline:*``, billed against the
   "filtered list cost overhead" quota), here and in a project where pipeline instances are
   a tenth of the total; requests, filtered requests and wall time with the latency.
3. Sweep: ``SweepService.plan`` and an applied ``SweepService.run`` (grace 0s, brakes open)
   with ``latency`` seconds added to every request by the fake; requests by API method
   against the fewest reaper's protocol needs (below), and wall time against the latency
   floor: the requests that must follow one another, each costed at ``latency``.

The minimum: list pages of 500 (instances, and the disks their boot images are read from),
one ``images.get`` per distinct image, one unfiltered ``firewalls.list`` per project; a
delete and one ``zoneOperations.wait`` per instance (the fake's operations finish on the
first wait, as a real ``wait`` blocks until done); per quarantined instance a read, the
originals' label write, ``setTags`` and its wait, ``stop`` and its wait, a read back and
the state's label write; per network the four quarantine rules (ingress and egress, IPv4
and IPv6: a rule holds one family), each inserted, waited for and read back;
per expired cluster a delete and one operation poll.

A benchmark, not a test: exits 0 whatever the figures, 1 when something failed.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.output import Figures, exit_code, say, table
from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import Settings, parse_settings
from reaper.lifecycle import StateSigner
from reaper.model import Action, Result, Scope
from reaper.providers.catalog import build_kinds
from reaper.providers.gcp.clients import GcpClients, GcpConnection
from reaper.providers.gcp.gce import GceInstances
from reaper.providers.gcp.gce_facts import QUARANTINE_RULES
from reaper.sandbox.environment import SANDBOX_STATE_KEY, sandbox_environ
from reaper.sandbox.gcp import FakeGcp, NodePoolSpec

PROJECT = "bench-ci-123"
MIXED = "bench-mixed-456"
ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b", "us-east1-b", "asia-east1-a")
IMAGES = tuple(f"debian-12-bookworm-v2026110{i}" for i in range(1, 5))
PAGE = 500
WORKERS = 8
TARGET_REQUESTS = 1.0
TARGET_WALL = 1.3
RUNS = 3
CONNECTION = GcpConnection(retry_initial=0.05, poll_seconds=0.0, operation_timeout=120)
PIPELINE = {"reaper-pipeline": "gitlab-ci-1", "reaper-owner": "team-bench"}


@dataclass(frozen=True)
class Options:
    zones: int = 3
    instances: int = 500
    """Pipeline instances per zone."""
    others: int = 100
    """Unlabelled instances per zone."""
    clusters: int = 6
    latency: float = 0.05
    quick: bool = False


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.gcp", description=__doc__)
    defaults = Options()
    parser.add_argument("--zones", type=int, default=defaults.zones)
    parser.add_argument("--instances", type=int, default=defaults.instances)
    parser.add_argument("--others", type=int, default=defaults.others)
    parser.add_argument("--clusters", type=int, default=defaults.clusters)
    parser.add_argument("--latency", type=float, default=defaults.latency)
    parser.add_argument("--quick", action="store_true", help="2 zones x 100 instances")
    args = parser.parse_args(argv)
    opts = Options(args.zones, args.instances, args.others, args.clusters, args.latency, args.quick)
    if opts.quick:
        opts = replace(opts, zones=2, instances=100, others=20, clusters=2)
    if not 1 <= opts.zones <= len(ZONES):
        parser.error(f"--zones must be 1 to {len(ZONES)}")
    return opts


@dataclass(frozen=True)
class Estate:
    """What was seeded, in the counts the minimum is made of."""

    instances: int
    """Every instance of the project, pipeline or not (and as many boot disks)."""
    expired: dict[str, int]
    """Expired instances per zone."""
    quarantined: dict[str, int]
    """Exposed instances per zone."""
    expired_clusters: int


def seed(fake: FakeGcp, opts: Options, now: datetime) -> Estate:
    zones = ZONES[: opts.zones]
    fake.add_project(PROJECT, zones=zones)
    for image in IMAGES:
        fake.add_image("debian-cloud", image, created=now - timedelta(days=20))
    fake.add_firewall(PROJECT, "ci-debug-ssh", target_tags=["debug-ssh"])
    expired: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    for zone in zones:
        for i in range(opts.instances):
            slot, extra = i % 20, {}
            labels = dict(PIPELINE)
            age = timedelta(hours=1)
            if 12 <= slot < 18:
                age = timedelta(days=2)
                expired[zone] += 1
            elif slot == 18:
                labels["reaper-protect"] = "true"
            elif slot == 19:
                labels["reaper-ttl"] = "3dayz"
            elif i % 50 == 0:
                extra = {"external_ip": f"34.{i % 250}.0.1", "tags": ["debug-ssh"]}
                quarantined[zone] += 1
            fake.add_instance(
                PROJECT,
                zone,
                f"ci-{zone[-1]}-{i:05d}",
                created=now - age,
                labels=labels,
                boot_image=f"projects/debian-cloud/global/images/{IMAGES[i % len(IMAGES)]}",
                **extra,  # type: ignore[arg-type]
            )
        for i in range(opts.others):
            fake.add_instance(PROJECT, zone, f"pet-{zone[-1]}-{i:05d}", labels={"team": "x"})
    for n in range(opts.clusters):
        age = timedelta(days=3) if n % 2 else timedelta(hours=1)
        fake.add_cluster(
            PROJECT,
            "us-central1",
            f"ci-gke-{n}",
            created=now - age,
            labels=PIPELINE,
            master_version="1.35.1-gke.1396002",
            node_pools=(NodePoolSpec("default-pool", 1),),
        )
    return Estate(
        instances=opts.zones * (opts.instances + opts.others),
        expired=dict(expired),
        quarantined=dict(quarantined),
        expired_clusters=opts.clusters // 2,
    )


def config(fake: FakeGcp, audit: Path, project: str = PROJECT) -> Settings:
    data = {
        "dry_run": False,
        "providers": {
            "gcp": {
                "projects": [{"name": "bench", "project_id": project}],
                "kinds": ["gce_instance", "gke_cluster"],
                "endpoints": {"compute": fake.endpoint, "container": fake.endpoint},
                "max_workers": WORKERS,
            }
        },
        "policy": {"grace_period": "0s", "kinds": {"gce_instance": {"ttl": "12h"}}},
        "safety": {"max_fraction": 1.0, "max_actions_per_sweep": 100_000},
        "audit": {"path": str(audit)},
    }
    return parse_settings(data, "bench/gcp.py")


def pages(items: int) -> int:
    return max(1, math.ceil(items / PAGE))


def collect_minimum(estate: Estate) -> Counter[str]:
    return Counter(
        {
            "compute.instances.aggregatedList": pages(estate.instances),
            "compute.disks.aggregatedList": pages(estate.instances),
            "compute.images.get": len(IMAGES),
            "compute.firewalls.list": 1,
            "container.projects.locations.clusters.list": 1,
        }
    )


def action_minimum(estate: Estate) -> Counter[str]:
    expired = sum(estate.expired.values())
    quarantined = sum(estate.quarantined.values())
    need: Counter[str] = Counter(
        {
            "compute.instances.delete": expired,
            "compute.zoneOperations.wait": expired + 2 * quarantined,
            "compute.instances.get": 2 * quarantined,
            "compute.instances.setLabels": 2 * quarantined,
            "compute.instances.setTags": quarantined,
            "compute.instances.stop": quarantined,
            "container.projects.locations.clusters.delete": estate.expired_clusters,
            "container.projects.locations.operations.get": estate.expired_clusters,
        }
    )
    if quarantined:  # the four rules of the one network, missing from the sweep's list
        rules = len(QUARANTINE_RULES)
        need += Counter(
            {
                "compute.firewalls.insert": rules,
                "compute.globalOperations.wait": rules,
                "compute.firewalls.get": rules,
            }
        )
    return +need


def collect_floor(estate: Estate) -> int:
    """Requests one after another while collecting: the pages of instances, then of disks,
    then one round of image reads and the rules (in parallel), GKE alongside."""
    return pages(estate.instances) * 2 + 1


def action_floor(estate: Estate) -> int:
    """Rounds while acting: clusters first (delete, poll), then the zones side by side,
    each quarantining (8 rounds of its instances, plus insert, wait and read back of the
    rules, side by side) and then deleting (delete, wait), in rounds of the project's workers."""
    gke = 2 if estate.expired_clusters else 0
    zones = []
    for zone, expired in estate.expired.items():
        quarantined = estate.quarantined.get(zone, 0)
        rounds = 8 * math.ceil(quarantined / WORKERS) + 3 if quarantined else 0
        zones.append(rounds + 2 * math.ceil(expired / WORKERS))
    # The zones share the project's workers: no faster than all their requests in rounds.
    total = sum(action_minimum(estate).values()) - 2 * estate.expired_clusters
    return gke + max(max(zones, default=0), math.ceil(total / WORKERS))


def ratio_rows(sent: Mapping[str, int], need: Mapping[str, int]) -> list[list[str]]:
    return [
        [method, str(sent.get(method, 0)), str(need.get(method, 0))]
        for method in sorted(set(sent) | set(need))
    ]


def filter_phase(opts: Options, fake: FakeGcp, figures: Figures, tmp: Path, now: datetime) -> None:
    """The pipeline label filtered client-side and server-side, in two mixes of projects."""
    per_zone_pipeline = max(1, opts.instances // 10)
    fake.add_project(MIXED, zones=ZONES[: opts.zones])
    for zone in ZONES[: opts.zones]:
        for i in range(per_zone_pipeline):
            fake.add_instance(MIXED, zone, f"ci-{i:05d}", labels=PIPELINE, created=now)
        for i in range(opts.instances - per_zone_pipeline):
            fake.add_instance(MIXED, zone, f"pet-{i:05d}", labels={"team": "x"})
    rows = []
    for project, mix in ((PROJECT, "the benchmark project"), (MIXED, "a tenth pipeline")):
        settings = config(fake, tmp / "filter.jsonl", project)
        assert settings.providers.gcp is not None
        clients = GcpClients(settings.providers.gcp, CONNECTION)
        for server_side in (False, True):
            kind = GceInstances(clients, settings.tags, server_side_filter=server_side)
            kind.collect(Scope("bench", ""))  # warm up: clients, connections
            seconds = []
            for _ in range(RUNS):
                kind.begin_collection()
                fake.stats.reset()
                started = time.perf_counter()
                found = kind.collect(Scope("bench", ""))
                seconds.append(time.perf_counter() - started)
            rows.append(
                [
                    mix,
                    "server-side" if server_side else "client-side",
                    str(len(found.resources)),
                    str(fake.stats.count("compute.instances.aggregatedList")),
                    str(fake.stats.filtered("compute.instances.aggregatedList")),
                    str(fake.stats.total()),
                    f"{statistics.median(seconds):.2f}",
                ]
            )
    say(
        table(
            ["project", "filter", "resources", "list pages", "filtered", "requests", "median s"],
            rows,
        )
    )
    for first, mix in ((0, "benchmark project"), (2, "a tenth pipeline")):
        client, server = rows[first], rows[first + 1]
        figures.add(
            f"collect, client- vs server-side filter, {mix}: pages, s",
            f"{client[3]} vs {server[3]} (+{server[4]} filtered); {client[6]} vs {server[6]}",
            "(information)",
            None,
        )


@dataclass(frozen=True)
class SweepRun:
    plan_wall: float
    run_wall: float
    plan_sent: dict[str, int]
    run_sent: dict[str, int]


def sweep_once(
    opts: Options, latency: float, problems: list[str], tmp: Path
) -> tuple[SweepRun, Estate]:
    """Seed a fresh fake, plan, then apply, ``latency`` seconds added to every request."""
    audit = tmp / f"sweep-{latency:g}.jsonl"
    with FakeGcp(operation_polls=1, wait_seconds=0.5) as fake:
        now = datetime.now(UTC)
        estate = seed(fake, opts, now)
        settings = config(fake, audit)
        user_keys = settings.tags.model_dump().values()
        signer = StateSigner(SANDBOX_STATE_KEY.encode(), user_keys)
        kinds = build_kinds(settings, {"gcp": CONNECTION}, signer=signer)
        service = SweepService(settings, kinds, lambda: AuditLog(audit), signer=signer)
        fake.set_latency(latency)

        fake.stats.reset()
        started = time.perf_counter()
        plan, collection, brake = service.plan(now)
        plan_wall = time.perf_counter() - started
        plan_sent = fake.stats.counts()
        if collection.errors or brake is not None:
            problems.append(f"plan: {collection.errors} {brake}")

        fake.stats.reset()
        started = time.perf_counter()
        report = service.run(now, dry_run=False)
        run_wall = time.perf_counter() - started
        run_sent = fake.stats.counts()
        failed = [o for o in report.outcomes if o.result is not Result.DONE]
        if failed:
            problems.append(f"{len(failed)} actions did not end done, e.g. {failed[0]}")
        if fake.failures:
            problems.append(f"the fake failed: {fake.failures[0]}")
        say(
            f"latency {latency:g} s: {len(plan.decisions)} pipeline resources, "
            f"{report.plan.count(Action.DELETE)} deleted, "
            f"{report.plan.count(Action.QUARANTINE)} quarantined, {len(failed)} not done; "
            f"plan {plan_wall:.2f} s, apply {run_wall:.2f} s"
        )
    return SweepRun(plan_wall, run_wall, plan_sent, run_sent), estate


def sweep_phase(opts: Options, figures: Figures, problems: list[str], tmp: Path) -> None:
    """The same sweep without latency (the time reaper and the fake take themselves) and
    with it; the bound is the latency floor plus that time."""
    base, _ = sweep_once(opts, 0.0, problems, tmp)
    timed, estate = sweep_once(opts, opts.latency, problems, tmp)
    collect_need = collect_minimum(estate)
    run_need = collect_need + action_minimum(estate)
    say(table(["plan: method", "sent", "minimum"], ratio_rows(timed.plan_sent, collect_need)))
    say(table(["apply: method", "sent", "minimum"], ratio_rows(timed.run_sent, run_need)))
    plan_ratio = sum(timed.plan_sent.values()) / sum(collect_need.values())
    run_ratio = sum(timed.run_sent.values()) / sum(run_need.values())
    plan_bound = collect_floor(estate) * opts.latency + base.plan_wall
    run_bound = (collect_floor(estate) + action_floor(estate)) * opts.latency + base.run_wall
    say(
        f"bound = latency floor (requests that must follow one another x {opts.latency:g} s) "
        f"+ the same sweep without latency: plan {collect_floor(estate)} x "
        f"{opts.latency:g} + {base.plan_wall:.2f} = {plan_bound:.2f} s, apply "
        f"{collect_floor(estate) + action_floor(estate)} x {opts.latency:g} + "
        f"{base.run_wall:.2f} = {run_bound:.2f} s"
    )
    figures.add(
        "requests / minimum, plan and apply",
        f"{plan_ratio:.2f} and {run_ratio:.2f} ({sum(timed.plan_sent.values())} and "
        f"{sum(timed.run_sent.values())})",
        f"<= {TARGET_REQUESTS:g}",
        max(plan_ratio, run_ratio) <= TARGET_REQUESTS,
    )
    figures.add(
        f"wall / bound, plan and apply ({opts.latency:g} s a request)",
        f"{timed.plan_wall / plan_bound:.2f} and {timed.run_wall / run_bound:.2f} "
        f"({timed.plan_wall:.1f} s and {timed.run_wall:.1f} s)",
        f"<= {TARGET_WALL:g}",
        max(timed.plan_wall / plan_bound, timed.run_wall / run_bound) <= TARGET_WALL,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_options(argv)
    wanted = sandbox_environ(os.environ)
    os.environ.clear()
    os.environ.update(wanted)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    say(
        f"reaper GCP benchmark{' (quick)' if opts.quick else ''}: {opts.zones} zone(s) x "
        f"{opts.instances} pipeline instances (+{opts.others} others a zone), "
        f"{opts.clusters} GKE clusters, {opts.latency:g} s latency; {os.cpu_count()} CPU(s), "
        f"Python {sys.version.split()[0]}"
    )
    figures = Figures()
    problems: list[str] = []
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="reaper-bench-gcp-") as name:
            tmp = Path(name)
            say("\n== filter ==")
            with FakeGcp(operation_polls=1, wait_seconds=0.5) as fake:
                now = datetime.now(UTC)
                seed(fake, opts, now)
                fake.set_latency(opts.latency)
                filter_phase(opts, fake, figures, tmp, now)
            say("\n== sweep ==")
            sweep_phase(opts, figures, problems, tmp)
    except Exception:
        traceback.print_exc()
        say("\nThe benchmark failed; the figures above are incomplete.")
        return 1
    say("\n== summary ==")
    say(figures.render())
    say(f"  run time {time.perf_counter() - started:.1f} s")
    return exit_code(problems)


if __name__ == "__main__":
    sys.exit(main())
