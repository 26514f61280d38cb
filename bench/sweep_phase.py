"""The sweep phase: seed moto, plan and apply through the counting proxy, check, report.

1. :func:`eks_wiring`: whether reaper builds an EKS kind here, and its concurrency.
2. :func:`seed_estate`: the EC2 instances of every region and the EKS clusters.
3. :func:`plan_phase`: ``SweepService.plan`` through the proxy, measured and checked.
4. :func:`time_reads`: each collect operation timed directly against moto.
5. :func:`apply_phase`: ``SweepService.run`` (applied, grace 0s) through the proxy, measured;
   :func:`check_apply`; then :func:`time_actions` on what it deleted.
6. :mod:`bench.sweep_report` prints requests, timings, critical paths and wall times.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import boto3

from bench.estate import Ec2Region, Estate, newest_kubernetes_version, seed_ec2_region, seed_eks
from bench.meter import Meter, PhaseRun
from bench.minimum import CALLER_IDENTITY, TERMINATE, Minimum, OpKey
from bench.options import EKS_TIMING_REGION, REGIONS, SAMPLES, Options, bench_config
from bench.output import Figures, say
from bench.request_counts import OperationCounter
from bench.sweep_report import (
    report_critical_paths,
    report_requests,
    report_timings,
    report_walls,
)
from bench.timing import (
    OpTiming,
    ec2_client,
    eks_client,
    sts_client,
    time_ec2_reads,
    time_eks,
    time_sts,
    time_terminate,
)
from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import Settings, TagKeys, known_kinds, parse_settings
from reaper.errors import ConfigError, SafetyLimitExceeded
from reaper.model import Action, Outcome, Plan, Result
from reaper.providers.aws.clients import AwsConnection
from reaper.providers.aws.eks import EksClusters
from reaper.providers.catalog import build_kinds
from reaper.results import Collection, SweepReport
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

ProviderConnections = Mapping[str, AwsConnection]
"""``build_kinds``' connections: how to reach each provider (here only ``aws``)."""


@dataclass(frozen=True)
class EksWiring:
    """Whether reaper sweeps EKS clusters here."""

    swept: bool
    why: str
    """Why (not), for the first line of the phase."""
    workers: int
    """The EKS kind's concurrent calls within one scope (``EksClusters(workers=...)``)."""


def eks_wiring(
    regions: Sequence[str], audit_path: Path, session: boto3.Session, endpoint: str
) -> EksWiring:
    """Whether reaper builds an EKS kind from a config that enables it, and its workers."""
    default_workers = int(inspect.signature(EksClusters.__init__).parameters["workers"].default)
    if "eks_cluster" not in known_kinds().get("aws", ()):
        return EksWiring(
            False, "reaper.config.known_kinds()['aws'] has no 'eks_cluster'", default_workers
        )
    settings = parse_settings(
        bench_config(regions, ["ec2_instance", "eks_cluster"], audit_path), "bench"
    )
    try:
        kinds = build_kinds(settings, {"aws": AwsConnection(session, endpoint)})
    except ConfigError as err:
        return EksWiring(
            False,
            "reaper.config.known_kinds() lists 'eks_cluster', but "
            f"reaper.providers.catalog.build_kinds() does not build it: {err}",
            default_workers,
        )
    eks = [k for k in kinds if isinstance(k, EksClusters)]
    if not eks:
        return EksWiring(
            False,
            "reaper.config.known_kinds() lists 'eks_cluster', but "
            "reaper.providers.catalog.build_kinds() builds no aws:eks_cluster kind from a "
            "config that enables it",
            default_workers,
        )
    # The pool the kind describes and deletes clusters with, as the provider built it.
    workers = eks[0]._api.workers
    return EksWiring(True, "known_kinds() and build_kinds() both have aws:eks_cluster", workers)


def seed_estate(
    server: MotoServer,
    session: boto3.Session,
    regions: Sequence[str],
    opts: Options,
    tags: TagKeys,
    now: datetime,
    *,
    with_eks: bool,
) -> Estate:
    """Seed every region's instances (and the clusters), saying how far it got."""
    started = time.perf_counter()
    ec2_regions: list[Ec2Region] = []
    for region in regions:
        ec2_regions.append(seed_ec2_region(server, session, region, opts.instances, now, tags))
        say(
            f"  seeded {region}: {opts.instances} instances in "
            f"{ec2_regions[-1].reservations} reservations "
            f"({time.perf_counter() - started:.1f} s so far)"
        )
    eks_regions = seed_eks(server, session, opts.clusters, regions, tags, now) if with_eks else None
    seed_seconds = time.perf_counter() - started
    mix = ", ".join(f"{k} {v}" for k, v in ec2_regions[0].by_label.items())
    say(
        f"Seeded in {seed_seconds:.1f} s: {len(regions)} region(s) x {opts.instances} "
        f"instances ({mix} per region)"
        + (f", {opts.clusters} EKS clusters" if eks_regions is not None else "")
    )
    return Estate(tuple(ec2_regions), tuple(eks_regions) if eks_regions is not None else None)


def load_service_models(
    session: boto3.Session, region: str, endpoint: str, *, with_eks: bool
) -> None:
    """Load the service models once, as a running process would have them."""
    ec2_client(session, region, endpoint)
    sts_client(session, region, endpoint)
    if with_eks:
        eks_client(session, region, endpoint)


def plan_phase(
    settings: Settings,
    connections: ProviderConnections,
    audit_path: Path,
    meter: Meter,
    estate: Estate,
    problems: list[str],
) -> PhaseRun:
    """Collect and plan once through the proxy; the plan must be the one the estate implies."""
    service = SweepService(
        settings, build_kinds(settings, connections), partial(AuditLog, audit_path)
    )
    (plan, collection, brake), run = meter.measure(
        "plan", lambda: service.plan(datetime.now(UTC)), problems
    )
    say(
        f"\nPlan: {len(plan.decisions)} resources, {plan.count(Action.DELETE)} to "
        f"delete, {plan.count(Action.QUARANTINE)} to quarantine, in {run.wall:.2f} s"
    )
    problems.extend(check_plan(plan, collection, brake, estate))
    return run


def check_plan(
    plan: Plan, collection: Collection, brake: SafetyLimitExceeded | None, estate: Estate
) -> list[str]:
    """What is wrong with the plan of the seeded estate. Pure."""
    expected_total = estate.resources
    expected_delete = estate.expired_instances + estate.expired_clusters
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


def time_reads(
    server: MotoServer,
    session: boto3.Session,
    region: str,
    tags: TagKeys,
    now: datetime,
    *,
    with_eks: bool,
) -> dict[OpKey, OpTiming]:
    """The collect's operations (and EKS's deletes, on scratch clusters) timed directly."""
    say("Timing each operation directly against moto ...")
    timings = time_ec2_reads(session, server.endpoint_url, region, tags, SAMPLES)
    if with_eks:
        timings.update(
            time_eks(server, session, EKS_TIMING_REGION, SAMPLES, newest_kubernetes_version(), now)
        )
    return timings


def apply_phase(
    settings: Settings,
    connections: ProviderConnections,
    audit_path: Path,
    meter: Meter,
    problems: list[str],
) -> tuple[SweepReport, PhaseRun]:
    """One applied sweep through the proxy, with fresh kinds (and so fresh clients)."""
    service = SweepService(
        settings, build_kinds(settings, connections), partial(AuditLog, audit_path)
    )
    return meter.measure("apply", lambda: service.run(datetime.now(UTC), dry_run=False), problems)


def deleted(outcomes: Sequence[Outcome], kind: str, region: str | None = None) -> list[str]:
    """The ids of the resources of ``kind`` (in ``region``) the sweep deleted. Pure."""
    return [
        o.ref.id
        for o in outcomes
        if o.action is Action.DELETE
        and o.result is Result.DONE
        and o.ref.kind == kind
        and (region is None or o.ref.scope.region == region)
    ]


def check_apply(report: SweepReport, run: PhaseRun, estate: Estate) -> list[str]:
    """Say what the sweep deleted; what is wrong with it."""
    gone_ec2 = deleted(report.outcomes, "ec2_instance")
    gone_eks = deleted(report.outcomes, "eks_cluster")
    say(
        f"Apply: {len(gone_ec2)} instances and {len(gone_eks)} clusters deleted in "
        f"{run.wall:.2f} s; exit code {report.exit_code}"
    )
    problems = []
    if report.exit_code != 0:
        problems.append(f"the applied sweep exited {report.exit_code}: {report.summary()}")
    expected_ec2, expected_eks = estate.expired_instances, estate.expired_clusters
    if len(gone_ec2) != expected_ec2 or len(gone_eks) != expected_eks:
        problems.append(
            f"deleted {len(gone_ec2)} instances and {len(gone_eks)} clusters, expected "
            f"{expected_ec2} and {expected_eks}"
        )
    return problems


def time_actions(
    server: MotoServer, session: boto3.Session, region: str, report: SweepReport
) -> dict[OpKey, OpTiming]:
    """TerminateInstances (on instances the sweep terminated) and GetCallerIdentity."""
    timings: dict[OpKey, OpTiming] = {}
    first_gone = deleted(report.outcomes, "ec2_instance", region)
    if first_gone:
        timings[TERMINATE] = time_terminate(
            session, server.endpoint_url, region, first_gone, SAMPLES
        )
    timings[CALLER_IDENTITY] = time_sts(session, server.endpoint_url, region, SAMPLES)
    return timings


def sweep_phase(
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
    audit_path = tmp / "audit.jsonl"
    with MotoServer() as server:
        eks = eks_wiring(regions, tmp / "probe-audit.jsonl", session, server.endpoint_url)
        say(f"EKS: {'swept' if eks.swept else 'SKIPPED'}: {eks.why}")
        say()
        now = datetime.now(UTC)
        estate = seed_estate(server, session, regions, opts, tags, now, with_eks=eks.swept)
        kinds = ["ec2_instance", "eks_cluster"] if eks.swept else ["ec2_instance"]
        settings = parse_settings(bench_config(regions, kinds, audit_path), "bench")
        load_service_models(session, regions[0], server.endpoint_url, with_eks=eks.swept)
        with CountingProxy(server.endpoint_url, latency=opts.latency) as proxy:
            connections = {"aws": AwsConnection(session, proxy.endpoint_url)}
            meter = Meter(proxy, sent, session, server.pid)
            plan = plan_phase(settings, connections, audit_path, meter, estate, problems)
            timings = time_reads(server, session, regions[0], tags, now, with_eks=eks.swept)
            report, apply = apply_phase(settings, connections, audit_path, meter, problems)
        problems.extend(check_apply(report, apply, estate))
        timings.update(time_actions(server, session, regions[0], report))

    need = Minimum.of(estate.ec2, estate.eks, accounts=1)
    report_requests(estate, need, plan, apply, figures)
    report_timings(timings, opts.latency)
    bounds = report_critical_paths(estate, need, timings, opts.latency, eks.workers, plan, apply)
    report_walls(bounds, figures)
