"""Child of bench/sweep.py: collect + plan one region and print the peak RSS as JSON.

Usage: ``python bench/rss_child.py --endpoint URL --region REGION``. Prints one JSON line
(KB figures): ``baseline_kb`` (after imports), ``peak_kb`` (after plan_sweep), and the
number of ``resources`` planned.

The peak is read from ``VmHWM`` in /proc/self/status where there is one: on Linux,
``getrusage(RUSAGE_SELF).ru_maxrss`` carries the parent's peak into a child across
fork/exec, so a child of a large benchmark process would start with the parent's peak as
its own. ``ru_maxrss`` is the fallback; its value after imports is reported, to show it.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

from reaper.app import plan_sweep
from reaper.config import parse_settings
from reaper.providers.catalog import Connections, build_kinds
from reaper.sandbox.estate import sandbox_session

_STATUS = Path("/proc/self/status")


def _status_kb(field: str) -> int | None:
    """A ``VmXXX`` figure of /proc/self/status in KB, or None where there is none."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _peak_kb() -> tuple[int, str]:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm, "VmHWM"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    baseline, source = _peak_kb()
    ru_baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    settings = parse_settings(
        {
            "providers": {"aws": {"accounts": [{"name": "ci"}], "regions": [args.region]}},
            "policy": {"grace_period": "0s", "kinds": {"ec2_instance": {"ttl": "12h"}}},
            "safety": {"max_actions_per_sweep": 10**9, "max_fraction": 1.0},
            "audit": {"path": None, "stdout": True},
        },
        "bench/rss_child",
    )
    session = sandbox_session()
    kinds = build_kinds(settings, Connections(session, args.endpoint))
    started = time.perf_counter()
    plan, collection, _brake = plan_sweep(settings, kinds, datetime.now(UTC))
    seconds = time.perf_counter() - started
    peak, _ = _peak_kb()
    if collection.errors:
        raise SystemExit(f"collect failed: {collection.errors}")
    print(
        json.dumps(
            {
                "resources": len(plan.decisions),
                "baseline_kb": baseline,
                "peak_kb": peak,
                "source": source,
                "ru_maxrss_baseline_kb": ru_baseline,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
