"""The global brake: N shards agree on one verdict from their published counts, and when
they act, the whole sweep stays within the limits; a missing shard stops everyone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reaper.audit.brake_store import DirectoryBrakeStore
from reaper.brake_sync import BrakeSync, build_brake_sync
from reaper.config import GlobalBrakeSettings, SafetySettings, parse_settings
from reaper.errors import ConfigError
from reaper.global_brake import (
    Decision,
    ShardCounts,
    Verdict,
    VerdictReason,
    decide,
    verdict,
)
from reaper.model import Plan
from reaper.shards import Shard

EC2 = "aws:ec2_instance"
SAFETY = SafetySettings(max_actions_per_sweep=50, max_fraction=0.5, min_actions_for_fraction=10)


def counts(shard: int, count: int, acting: int, population: int, group: str = "job") -> ShardCounts:
    return ShardCounts(shard, count, {EC2: acting}, {EC2: population}, group=group)


def test_within_the_limits_together_every_shard_acts() -> None:
    records = {i: counts(i, 3, 10, 100) for i in range(3)}
    assert verdict(records, 3, SAFETY) is None


def test_shards_each_within_but_together_over_the_limit_all_stop() -> None:
    records = {i: counts(i, 3, 20, 100) for i in range(3)}  # 60 > 50, each 20 <= 50
    brake = verdict(records, 3, SAFETY)
    assert brake is not None
    assert brake.reasons == (
        "global brake, all 3 shards: 60 actions planned, more than max_actions_per_sweep=50",
    )
    assert [(c.group, c.actions, c.population) for c in brake.counts] == [(EC2, 60, 300)]


def test_the_fraction_is_of_the_whole_population() -> None:
    # One shard acts on 30 of its 40 (75%), but of the sweep's 240 that is 12.5%.
    records = {0: counts(0, 2, 30, 40), 1: counts(1, 2, 0, 200)}
    assert verdict(records, 2, SAFETY) is None


def test_a_missing_or_tripped_or_foreign_shard_stops_everyone() -> None:
    missing = verdict({0: counts(0, 3, 1, 10), 2: counts(2, 3, 1, 10)}, 3, SAFETY)
    assert missing is not None
    assert "shard(s) 1 of 3 did not publish" in missing.reasons[0]
    tripped = ShardCounts(1, 2, {EC2: 1}, {EC2: 10}, ("too many",), group="job")
    stopped = verdict({0: counts(0, 2, 1, 10), 1: tripped}, 2, SAFETY)
    assert stopped is not None
    assert stopped.reasons == ("global brake: shard 1 tripped: too many",)
    foreign = verdict({0: counts(0, 4, 1, 10), 1: counts(1, 2, 1, 10)}, 2, SAFETY)
    assert foreign is not None
    assert "not of 2" in foreign.reasons[0]


@given(
    acting=st.lists(st.integers(0, 40), min_size=1, max_size=8),
    limit=st.integers(0, 100),
)
def test_when_shards_act_the_sum_never_exceeds_the_limit(acting: list[int], limit: int) -> None:
    safety = SafetySettings(max_actions_per_sweep=limit, max_fraction=1.0)
    n = len(acting)
    records = {i: counts(i, n, a, 1000) for i, a in enumerate(acting)}
    brake = verdict(records, n, safety)
    assert (brake is None) == (sum(acting) <= limit)


def test_records_round_trip_and_strangers_are_refused() -> None:
    record = ShardCounts(2, 5, {EC2: 3}, {EC2: 9}, ("x",), group="job-1")
    assert ShardCounts.from_json(record.to_json()) == record
    with pytest.raises(ValueError, match="not a shard's brake record"):
        ShardCounts.from_json(b'{"format": 1}')


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_shard_waits_for_the_others_then_fails_closed(tmp_path: Path) -> None:
    store = DirectoryBrakeStore(tmp_path / "brake")
    clock = Clock()
    plan = Plan(created_at=None, decisions=(), population={EC2: 5})  # type: ignore[arg-type]
    sync = BrakeSync(store, "job-1", Shard(0, 2), SAFETY, 30.0, sleep=clock.sleep, clock=clock)
    brake = sync.agree(plan, None)
    assert brake is not None
    assert "shard(s) 1 of 2 did not publish" in brake.reasons[0]
    assert clock.now >= 30.0
    # Once the other shard has published, both agree at once.
    store.publish("job-2", 1, counts(1, 2, 0, 5, "job-2").to_json())
    again = BrakeSync(store, "job-2", Shard(0, 2), SAFETY, 30.0, sleep=clock.sleep, clock=clock)
    started = clock.now
    assert again.agree(plan, None) is None
    assert clock.now == started
    # Records are create-only: a second publish keeps the first.
    store.publish("job-2", 1, counts(1, 2, 40, 5, "job-2").to_json())
    assert ShardCounts.from_json(store.read_all("job-2")[1]).actions == {EC2: 0}


def test_a_retried_shard_whose_plan_differs_from_its_published_record_does_not_act(
    tmp_path: Path,
) -> None:
    store = DirectoryBrakeStore(tmp_path / "brake")
    clock = Clock()
    store.publish("job-3", 1, counts(1, 2, 0, 5, "job-3").to_json())

    def agree(population: int) -> list[str]:
        plan = Plan(created_at=None, decisions=(), population={EC2: population})  # type: ignore[arg-type]
        sync = BrakeSync(store, "job-3", Shard(0, 2), SAFETY, 30.0, sleep=clock.sleep, clock=clock)
        brake = sync.agree(plan, None)
        return [] if brake is None else list(brake.reasons)

    # The first pod of index 0 publishes and both records are within the limits.
    assert agree(population=5) == []
    # Its retry plans the same: the record it published is its own, it acts.
    assert agree(population=5) == []
    # A retry that sees something else was not what shard 1 agreed on: it stops alone.
    (reason,) = agree(population=7)
    assert "shard 0/2's record was published before with other counts" in reason
    assert ShardCounts.from_json(store.read_all("job-3")[0]).population == {EC2: 5}


@pytest.mark.parametrize(
    "stores",
    [
        {"directory": "/x", "s3_bucket": "abc"},
        {"s3_bucket": "abc", "gcs_bucket": "abc"},
        {"directory": "/x", "gcs_bucket": "abc"},
        {},
    ],
    ids=["directory-and-s3", "s3-and-gcs", "directory-and-gcs", "none"],
)
def test_global_brake_settings_take_exactly_one_store(stores: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings(
            {
                "providers": {"aws": {"regions": ["us-east-1"]}},
                "safety": {"global_brake": stores},
            },
            "t.yaml",
        )
    assert excinfo.value.problems == (
        "t.yaml: safety.global_brake: give exactly one of directory, s3_bucket or gcs_bucket",
    )


def test_a_gcs_brake_store_is_checked_like_the_gcs_audit_bucket() -> None:
    brake = GlobalBrakeSettings(gcs_bucket="my-audit-bucket", gcs_prefix="brake")
    assert (brake.gcs_bucket, brake.gcs_prefix, brake.s3_prefix) == (
        "my-audit-bucket",
        "brake",
        "reaper-brake",
    )
    for bad, message in (
        ({"gcs_bucket": "Not_A_Bucket"}, "'Not_A_Bucket' is not a GCS bucket name"),
        ({"gcs_bucket": "b-1", "gcs_prefix": "/brake"}, "without a leading or trailing '/'"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_settings(
                {
                    "providers": {"aws": {"regions": ["us-east-1"]}},
                    "safety": {"global_brake": bad},
                },
                "t.yaml",
            )


def test_global_brake_settings_need_a_sweep_group(tmp_path: Path) -> None:
    settings = GlobalBrakeSettings(directory=str(tmp_path))
    assert build_brake_sync(settings, SAFETY, None, None) is None  # not sharded: no sync
    assert build_brake_sync(None, SAFETY, Shard(0, 2), "g") is None
    with pytest.raises(ConfigError, match="REAPER_SWEEP_GROUP"):
        build_brake_sync(settings, SAFETY, Shard(0, 2), None)
    with pytest.raises(ConfigError, match="not a sweep group name"):
        build_brake_sync(settings, SAFETY, Shard(0, 2), "../escape")


def test_a_verdict_round_trips_and_strangers_are_refused() -> None:
    records = {i: counts(i, 2, 20, 30, "job-4") for i in range(2)}  # 40 of 60 > 50%
    safety = SafetySettings(max_actions_per_sweep=100, max_fraction=0.5)
    stop = decide("job-4", records, 2, safety, decided_by=1, reason=VerdictReason.ALL_PUBLISHED)
    assert (stop.decision, stop.published, stop.actions) == (Decision.STOP, (0, 1), {EC2: 40})
    assert [(c.group, c.actions, c.population) for c in stop.exceeded] == [(EC2, 40, 60)]
    assert Verdict.from_json(stop.to_json()) == stop
    brake = stop.as_brake()
    assert brake is not None
    assert brake.counts == stop.exceeded
    assert brake.reasons[-1] == (
        "global brake: the verdict of sweep group job-4 is stop (all-published; decided by "
        "shard 1/2 on 2 of 2 records)"
    )
    for stranger in (b'{"format": 1}', b"[]", b"not json", counts(0, 2, 0, 0).to_json()):
        with pytest.raises(ValueError, match="not a brake verdict"):
            Verdict.from_json(stranger)


def test_only_every_record_of_the_group_within_the_limits_acts() -> None:
    mine = {0: counts(0, 2, 1, 10, "job-5"), 1: counts(1, 2, 1, 10, "job-5")}

    def decided(
        records: dict[int, ShardCounts], reason: VerdictReason, **options: Any
    ) -> tuple[Decision, tuple[str, ...]]:
        found = decide("job-5", records, 2, SAFETY, decided_by=0, reason=reason, **options)
        return found.decision, found.brake

    assert decided(mine, VerdictReason.ALL_PUBLISHED) == (Decision.ACT, ())
    assert decided({0: mine[0]}, VerdictReason.TIMED_OUT) == (
        Decision.STOP,
        ("global brake: shard(s) 1 of 2 did not publish their plan in time; no shard acts",),
    )
    assert decided({0: mine[0]}, VerdictReason.ALL_PUBLISHED, unreadable={1: "format 1"}) == (
        Decision.STOP,
        ("global brake: shard 1's record is unreadable: format 1",),
    )
    foreign = {0: mine[0], 1: counts(1, 2, 1, 10, "job-6")}
    assert decided(foreign, VerdictReason.ALL_PUBLISHED) == (
        Decision.STOP,
        ("global brake: shard 1's record is of sweep group 'job-6', not 'job-5'",),
    )
    # A store that failed: the problem alone, not "did not publish".
    problem = "global brake: cannot read s3://b/p: AccessDenied; no shard acts"
    assert decided({}, VerdictReason.STORE_FAILED, problems=[problem]) == (
        Decision.STOP,
        (problem,),
    )
