"""Policy throughput: ``make_plan`` over many synthetic resources, on one core.

Marks and quarantines carry reaper's signature, as the actuator writes them, and the plan
verifies them: the HMAC of each resource with lifecycle tags is part of the cost.

``measure_in_child`` runs the measurement in a fresh interpreter (``python -m
bench.policy``), so the heap a benchmark has built up before does not weigh on it.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.children import run_module
from reaper import lifecycle
from reaper.config import PolicySettings, TagKeys, parse_settings
from reaper.lifecycle import StateSigner
from reaper.model import ImageFacts, PortRange, Resource, ResourceRef, Scope
from reaper.policy import make_plan

BENCH_KEY = b"bench-state-key-not-a-secret"

_REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1")
# Out of every 20 resources.
_PATTERN = (
    *["fresh"] * 9,
    *["expired"] * 5,
    "expiry-tag",
    "marked",
    "protected",
    "bad-tags",
    "untagged",
    "quarantined",
)


def signer_for(tags: TagKeys) -> StateSigner:
    """The signer of the synthetic resources' lifecycle tags."""
    return StateSigner(BENCH_KEY, tags.model_dump().values())


def synthetic_resources(n: int, now: datetime, tags: TagKeys, seed: int = 7) -> list[Resource]:
    """``n`` EC2 instances of varied tags and ages, some on old images or exposed, their
    lifecycle tags signed (:func:`signer_for`). Pure."""
    rng = random.Random(seed)
    signer = signer_for(tags)
    hour = timedelta(hours=1)
    fresh_image = ImageFacts("ami-fresh", created_at=now - 10 * 24 * hour)
    old_image = ImageFacts("ami-old", created_at=now - 200 * 24 * hour)
    ssh = (PortRange("tcp", 22, 22),)
    resources = []
    for i in range(n):
        kind = _PATTERN[i % len(_PATTERN)]
        run = {tags.pipeline: f"gitlab-ci-{i // 7}", tags.owner: f"team-{i % 13}", "Name": f"r{i}"}
        age = rng.uniform(0.1, 11.0) * hour
        if kind == "expired":
            age = rng.uniform(13.0, 240.0) * hour
        elif kind == "expiry-tag":
            shift = rng.uniform(-48.0, 48.0) * hour
            run[tags.expires_at] = str(int((now + shift).timestamp()))
        elif kind == "marked":
            age = rng.uniform(13.0, 48.0) * hour
            run.update(
                lifecycle.mark_tags(now - rng.uniform(0.1, 3.0) * hour, "delete", "ttl-expired")
            )
        elif kind == "protected":
            run[tags.protect] = "true"
        elif kind == "bad-tags":
            run[tags.ttl] = "3 dayz"
        elif kind == "untagged":
            run = {"Name": f"r{i}", "team": "platform"}
        elif kind == "quarantined":
            run.update(lifecycle.quarantine_tags(now - rng.uniform(1.0, 100.0) * hour, "exposed"))
        scope = Scope("ci", _REGIONS[i % len(_REGIONS)])
        ref = ResourceRef("aws", "ec2_instance", scope, f"i-{i:017x}")
        owned = signer.owned(run)
        if owned:
            run.update(signer.signed(ref, owned))
        resources.append(
            Resource(
                ref=ref,
                name=run.get("Name", f"r{i}"),
                created_at=now - age,
                tags=run,
                state="running",
                pipeline_run=run.get(tags.pipeline),
                owner=run.get(tags.owner),
                image=old_image if i % 50 == 3 else fresh_image,
                public=i % 10 == 0,
                open_to_world=ssh if i % 100 == 7 else (),
                isolated=True if kind == "quarantined" else None,
            )
        )
    return resources


@contextmanager
def one_core() -> Iterator[str]:
    """Pin this process to one CPU for the block, where the OS allows it."""
    if not hasattr(os, "sched_getaffinity"):
        yield "not pinned (no sched_setaffinity here)"
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, before)


@dataclass(frozen=True)
class Throughput:
    resources: int
    seconds: tuple[float, ...]
    actions: dict[str, int]
    pinning: str

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_second(self) -> float:
        return self.resources / self.median


def measure(
    n: int, policy: PolicySettings, tags: TagKeys, now: datetime, runs: int = 3
) -> Throughput:
    """Time ``make_plan`` over ``n`` resources ``runs`` times (perf_counter, one core)."""
    resources = synthetic_resources(n, now, tags)
    signer = signer_for(tags)
    seconds = []
    plan = None
    with one_core() as pinning:
        for _ in range(runs):
            start = time.perf_counter()
            plan = make_plan(resources, policy, tags, now, signer)
            seconds.append(time.perf_counter() - start)
    assert plan is not None
    actions: dict[str, int] = {}
    for decision in plan.decisions:
        actions[str(decision.action)] = actions.get(str(decision.action), 0) + 1
    return Throughput(n, tuple(seconds), dict(sorted(actions.items())), pinning)


def measure_in_child(n: int, config: dict[str, object], now: datetime) -> Throughput:
    """``measure`` in a fresh Python process, with the settings of ``config``."""
    answer = run_module(
        "bench.policy", [str(n), json.dumps(config, default=str), now.isoformat()], check=True
    )
    data = json.loads(answer.stdout)
    return Throughput(data["resources"], tuple(data["seconds"]), data["actions"], data["pinning"])


def _child(argv: list[str]) -> None:
    n, config, now = int(argv[0]), json.loads(argv[1]), datetime.fromisoformat(argv[2])
    settings = parse_settings(config, "bench")
    result = measure(n, settings.policy, settings.tags, now)
    print(
        json.dumps(
            {
                "resources": result.resources,
                "seconds": result.seconds,
                "actions": result.actions,
                "pinning": result.pinning,
            }
        )
    )


if __name__ == "__main__":
    _child(sys.argv[1:])
