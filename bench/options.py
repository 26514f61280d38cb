"""The benchmark's command line, the names of its estate, and the reaper config it sweeps with."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

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
    """EC2 instances per region."""
    clusters: int
    """EKS clusters in all, dealt round-robin to the regions."""
    latency: float
    """Seconds the proxy adds to every request."""
    rss_sizes: tuple[int, ...]
    """Estate sizes (instances) whose peak RSS is measured; at least two."""
    policy_resources: int
    quick: bool


_DEFAULTS = Options(
    regions=4,
    instances=1000,
    clusters=20,
    latency=0.05,
    rss_sizes=(1000, 10000),
    policy_resources=100_000,
    quick=False,
)
_QUICK = Options(
    regions=2,
    instances=200,
    clusters=2,
    latency=0.05,
    rss_sizes=(200, 1000),
    policy_resources=10_000,
    quick=True,
)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers") from None
    if len(sizes) < 2 or sizes[0] < 1:
        raise argparse.ArgumentTypeError("give at least two distinct positive sizes")
    return sizes


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweep",
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
    opts = Options(
        regions=_given(args.regions, base.regions),
        instances=_given(args.instances, base.instances),
        clusters=_given(args.clusters, base.clusters),
        latency=_given(args.latency, base.latency),
        rss_sizes=_given(args.rss_sizes, base.rss_sizes),
        policy_resources=_given(args.policy_resources, base.policy_resources),
        quick=base.quick,
    )
    if not 1 <= opts.regions <= len(REGIONS):
        parser.error(f"--regions must be 1-{len(REGIONS)}")
    if opts.instances < 0 or opts.clusters < 0 or opts.latency < 0:
        parser.error("--instances, --clusters and --latency must not be negative")
    if opts.policy_resources < 1:
        parser.error("--policy-resources must be positive")
    return opts


def bench_config(
    regions: Sequence[str], kinds: Sequence[str], audit_path: Path, grace: str = "0s"
) -> dict[str, object]:
    """The reaper config of the benchmark: applied (not dry run), brakes wide open.

    Every safety limit is out of reach, so the brake never trips however many resources
    the estate has due: ``max_fraction`` is 1, and ``min_actions_for_fraction`` keeps the
    fraction from being checked at all.
    """
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
        "safety": {
            "max_actions_per_sweep": 10**9,
            "max_fraction": 1.0,
            "min_actions_for_fraction": 10**9,
        },
        "audit": {"path": str(audit_path)},
    }
