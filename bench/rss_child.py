"""Child of ``bench.sweep``: collect + plan one region and print the peak RSS as JSON.

Usage, from the repository root: ``python -m bench.rss_child --endpoint URL --region
REGION``. Prints one JSON line (KB figures): ``baseline_kb`` (after imports), ``peak_kb``
(after ``SweepService.plan``), and the number of ``resources`` planned.

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

from reaper.app import SweepService
from reaper.audit import AuditLog
from reaper.config import parse_settings
from reaper.providers.aws.clients import AwsConnection
from reaper.providers.catalog import build_kinds
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


def _no_audit() -> AuditLog:
    """The child only plans, and a plan writes no audit record."""
    raise RuntimeError("the RSS child plans only; it opens no audit log")


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
            "safety": {
                "max_actions_per_sweep": 10**9,
                "max_fraction": 1.0,
                "min_actions_for_fraction": 10**9,
            },
            "audit": {"path": None, "stdout": True},
        },
        "bench.rss_child",
    )
    session = sandbox_session()
    kinds = build_kinds(settings, {"aws": AwsConnection(session, args.endpoint)})
    service = SweepService(settings, kinds, _no_audit)
    started = time.perf_counter()
    plan, collection, _brake = service.plan(datetime.now(UTC))
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
