"""The critical-path bound costed with the server times the proxy measured during the run.

``bench.minimum`` builds the chains of requests that must follow one another; here each
request of a chain costs the injected latency plus the mean time the proxy measured for
that operation in that region during the phase itself (from forwarding the request to
reading the whole answer). Under load that time includes moto's own queueing, so this
bound is what the emulator allowed in this run; the bound from direct timings, taken one
request at a time, is the stricter one.

Pure: arithmetic on what was seeded and on the proxy's measurements.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from bench.estate import Ec2Region, EksRegion
from bench.minimum import (
    DELETE_CLUSTER,
    DELETE_NODEGROUP,
    DELETE_PROFILE,
    DESCRIBE_CLUSTER,
    DESCRIBE_NODEGROUP,
    DESCRIBE_PROFILE,
    LIST_CLUSTERS,
    LIST_NODEGROUPS,
    LIST_PROFILES,
    Chain,
    OpKey,
    action_chains,
    collect_chains,
)
from reaper.sandbox.proxy import CountKey

# The proxy sees a REST API's requests only by HTTP method.
_REST_METHOD: dict[OpKey, str] = {
    LIST_CLUSTERS: "GET",
    DESCRIBE_CLUSTER: "GET",
    LIST_NODEGROUPS: "GET",
    LIST_PROFILES: "GET",
    DESCRIBE_NODEGROUP: "GET",
    DESCRIBE_PROFILE: "GET",
    DELETE_NODEGROUP: "DELETE",
    DELETE_PROFILE: "DELETE",
    DELETE_CLUSTER: "DELETE",
}


def _proxy_op(op: OpKey) -> str:
    return _REST_METHOD.get(op, op[1])


def region_costs(
    times: Mapping[CountKey, Sequence[float]],
    latency: float,
    fallback: Mapping[OpKey, float],
    region: str,
) -> dict[OpKey, float]:
    """Seconds per request of each operation in ``region``: latency + mean measured time.

    An operation the proxy did not see in that region takes its mean over all regions
    (STS answers in one region for all), else its ``fallback`` (direct) cost.
    """
    costs = dict(fallback)
    for op in fallback:
        service, operation = op[0], _proxy_op(op)
        here = times.get((service, region, operation))
        anywhere = [
            t for (s, _, o), ts in times.items() if (s, o) == (service, operation) for t in ts
        ]
        samples = here or anywhere
        if samples:
            costs[op] = latency + statistics.fmean(samples)
    return costs


def in_run_bound(
    ec2: Sequence[Ec2Region],
    eks: Sequence[EksRegion] | None,
    times: Mapping[CountKey, Sequence[float]],
    latency: float,
    fallback: Mapping[OpKey, float],
    eks_workers: int,
    *,
    with_actions: bool,
) -> tuple[float, list[Chain]]:
    """The phase's bound and the chains that make it, each region costed on its own."""
    eks_by_region = {r.region: r for r in eks or ()}
    collect: list[Chain] = []
    levels: dict[str, Chain] = {}
    for region in ec2:
        costs = region_costs(times, latency, fallback, region.region)
        clusters = [eks_by_region[region.region]] if region.region in eks_by_region else []
        collect.extend(collect_chains([region], clusters if eks else None, costs, eks_workers))
        if with_actions:
            for chain in action_chains([region], clusters if eks else None, costs, eks_workers):
                level = chain.where.split(" ", 1)[-1]
                if level not in levels or chain.seconds > levels[level].seconds:
                    levels[level] = chain
    longest = max(collect, key=lambda c: c.seconds)
    actions = sorted(levels.values(), key=lambda c: _LEVEL_ORDER.get(c.where.split(" ", 1)[-1], 9))
    return longest.seconds + sum(c.seconds for c in actions), [longest, *actions]


_LEVEL_ORDER = {"once": 0, "eks delete": 1, "ec2 delete": 2}
