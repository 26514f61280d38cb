"""What the sweep phase prints once moto is gone: requests, timings, bounds, wall times.

Every function here prints (and adds to the summary's figures) what the sweep phase
measured; none of them talks to moto or reaper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.estate import Estate
from bench.inrun import in_run_bound
from bench.meter import PhaseRun
from bench.minimum import (
    EC2_PAGE,
    Chain,
    Minimum,
    OpKey,
    action_chains,
    collect_chains,
    serial_seconds,
)
from bench.options import SAMPLES, TARGET_REQUESTS, TARGET_WALL
from bench.output import Figures, say, table
from bench.request_counts import RequestCheck
from bench.timing import OpTiming


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


def render_chains(chains: Sequence[Chain]) -> str:
    return "\n".join(f"    {c.describe()}" for c in chains)


def report_requests(
    estate: Estate, need: Minimum, plan: PhaseRun, apply: PhaseRun, figures: Figures
) -> None:
    """Each phase's requests by operation against the minimum, and how both are counted."""
    checks = [
        RequestCheck("plan", plan.counts, need.plan),
        RequestCheck("apply", apply.counts, need.apply),
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
    if estate.eks is not None:
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
        "one ListFargateProfiles, a describe (its protect tag) and a delete per node group "
        "and Fargate profile, one DeleteCluster."
    )
    if any(r.total > EC2_PAGE for r in estate.ec2):
        say(
            "Note: moto pages DescribeInstances by reservation (up to 1000 reservations a "
            f"page), and the seeding puts up to 500 instances in each, so regions of more "
            f"than {EC2_PAGE} instances need fewer pages in moto than in EC2."
        )


def report_timings(timings: Mapping[OpKey, OpTiming], latency: float) -> None:
    say()
    say(
        f"Per-request cost, directly against moto without the proxy, one at a time, median "
        f"of {SAMPLES}:"
    )
    say(render_timings(timings, latency))
    say()


@dataclass(frozen=True)
class Bound:
    """One phase's wall time and what bounds it, in seconds."""

    phase: str
    run: PhaseRun
    bound: float
    """The critical path, each request costed as the latency plus its direct time."""
    in_run: float
    """The same chains costed with the server times the proxy measured in the phase."""
    serial: float
    """moto's server time for every minimum request back to back."""


def report_critical_paths(
    estate: Estate,
    need: Minimum,
    timings: Mapping[OpKey, OpTiming],
    latency: float,
    eks_workers: int,
    plan: PhaseRun,
    apply: PhaseRun,
) -> tuple[Bound, Bound]:
    """Print the chains that bound each phase, from direct and from in-run timings."""
    cost = {op: latency + t.total for op, t in timings.items()}
    server_time = {op: t.server for op, t in timings.items()}
    collect = collect_chains(estate.ec2, estate.eks, cost, eks_workers)
    plan_bound = max(c.seconds for c in collect)
    actions = action_chains(estate.ec2, estate.eks, cost, eks_workers)
    apply_bound = plan_bound + sum(c.seconds for c in actions)
    longest = max(collect, key=lambda c: c.seconds)
    say("Critical path (each request = latency + its direct time):")
    say(f"  collect, longest region chain:\n{render_chains([longest])}")
    if actions:
        say(f"  actions, level by level (clusters before instances):\n{render_chains(actions)}")
    say()
    in_run = {
        "plan": in_run_bound(
            estate.ec2,
            estate.eks,
            plan.server_times,
            latency,
            cost,
            eks_workers,
            with_actions=False,
        ),
        "apply": in_run_bound(
            estate.ec2,
            estate.eks,
            apply.server_times,
            latency,
            cost,
            eks_workers,
            with_actions=True,
        ),
    }
    say("Critical path costed with the server times the proxy measured in the run:")
    for phase, (_, chains) in in_run.items():
        say(f"  {phase}:\n{render_chains(chains)}")
    say()
    return (
        Bound("plan", plan, plan_bound, in_run["plan"][0], serial_seconds(need.plan, server_time)),
        Bound(
            "apply", apply, apply_bound, in_run["apply"][0], serial_seconds(need.apply, server_time)
        ),
    )


def report_walls(bounds: Sequence[Bound], figures: Figures) -> None:
    """Each phase's wall time against its bounds and its CPU floor."""
    rows = []
    for b in bounds:
        wall, use = b.run.wall, b.run.cpu_use
        floor = max(b.bound, use.floor)
        rows.append(
            [
                b.phase,
                f"{wall:.2f}",
                f"{b.bound:.2f}",
                f"{wall / b.bound:.2f}",
                f"{b.in_run:.2f}",
                f"{b.serial:.2f}",
                f"{use.moto:.2f}",
                f"{use.here:.2f}",
                f"{floor:.2f}",
                f"{wall / floor:.2f}",
            ]
        )
        figures.add(
            f"{b.phase} wall / critical-path bound",
            f"{wall / b.bound:.2f}",
            f"<= {TARGET_WALL}",
            wall / b.bound <= TARGET_WALL,
        )
        figures.add(
            f"{b.phase} wall / max(bound, CPU floor on {use.cores} cores) (info)",
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
    for b in bounds:
        say(f"  {b.phase} timeline: {b.run.timeline}")
    say(
        "  moto serial = the server time of every minimum request back to back: moto "
        "answers in one Python process, so concurrent requests share one interpreter "
        "lock (info only)."
    )
