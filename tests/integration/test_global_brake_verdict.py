"""The global brake's stored verdict, through every kind of store: the first shard to
decide stores the group's verdict create-only, and every shard follows the stored one, so
all act or none does, even when one shard's wait ends before another shard publishes.

The stores: a directory; S3 on the session's moto server (real HTTP, ``If-None-Match``);
GCS on a bucket that honours ``if_generation_match`` (gcp-storage-emulator ignores it, see
``test_audit_sinks.py``), and on the emulator for the split, which needs no precondition.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError
from click.testing import CliRunner
from gcs_support import CreateOnlyBucket, free_port, storage_client

from reaper.audit.brake_store import BrakeStore, DirectoryBrakeStore, GroupObjects
from reaper.audit.gcs_brake_store import GcsBrakeStore
from reaper.audit.s3_brake_store import S3BrakeStore
from reaper.brake_sync import BrakeSync, build_store
from reaper.cli import cli
from reaper.config import GlobalBrakeSettings, SafetySettings
from reaper.errors import AuditError, SafetyLimitExceeded
from reaper.global_brake import (
    Decision,
    ShardCounts,
    Verdict,
    VerdictReason,
    decide,
)
from reaper.model import Action, Plan
from reaper.sandbox.moto_server import MotoServer
from reaper.shards import Shard

EC2 = "aws:ec2_instance"
SAFETY = SafetySettings(max_actions_per_sweep=50, max_fraction=1.0)
GROUP = "job-1"

Stores = Callable[[], BrakeStore]
"""A new store on the shared backend: each shard (pod) has its own client and cache."""


def plan(acting: int, population: int) -> Plan:
    """A plan that deletes ``acting`` of ``population`` EC2 instances (as the records
    count it: only the kind and whether the action is destructive matter)."""
    doomed = SimpleNamespace(ref=SimpleNamespace(kind_key=EC2), action=Action.DELETE)
    return Plan(created_at=None, decisions=(doomed,) * acting, population={EC2: population})  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["directory", "s3", "gcs"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    if request.param == "directory":
        return lambda: DirectoryBrakeStore(tmp_path / "brake")
    if request.param == "s3":
        sandbox: MotoServer = request.getfixturevalue("sandbox")
        session: boto3.Session = request.getfixturevalue("aws_session")
        bucket = f"brake-{uuid.uuid4().hex[:8]}"
        session.client("s3", endpoint_url=sandbox.endpoint_url).create_bucket(Bucket=bucket)
        return lambda: S3BrakeStore(
            session.client("s3", endpoint_url=sandbox.endpoint_url), bucket, "reaper-brake"
        )
    fake = CreateOnlyBucket()
    return lambda: GcsBrakeStore(fake, "brake-bucket", "reaper-brake")


def stored_verdict(store: BrakeStore, group: str = GROUP) -> Verdict:
    body = store.read(group).verdict
    assert body is not None
    return Verdict.from_json(body)


def reasons(brake: SafetyLimitExceeded | None) -> list[str]:
    return [] if brake is None else list(brake.reasons)


def split(stores: Stores, caplog: pytest.LogCaptureFixture) -> None:
    """Shard 0 waits in vain for shard 1 and stops; shard 1 publishes late and, where it
    used to read two records and act alone, follows the stored verdict and stops too."""
    clock = Clock()
    early = BrakeSync(stores(), GROUP, Shard(0, 2), SAFETY, 30.0, sleep=clock.sleep, clock=clock)
    first = early.agree(plan(1, 10), None)
    assert clock.now >= 30.0
    assert reasons(first) == [
        "global brake: shard(s) 1 of 2 did not publish their plan in time; no shard acts",
        "global brake: the verdict of sweep group job-1 is stop (timed-out; decided by "
        "shard 0/2 on 1 of 2 records)",
    ]

    late = BrakeSync(stores(), GROUP, Shard(1, 2), SAFETY, 30.0, sleep=clock.sleep, clock=clock)
    started = clock.now
    with caplog.at_level(logging.INFO, logger="reaper.brake_sync"):
        second = late.agree(plan(1, 10), None)
    assert clock.now == started  # it found the verdict on its first read: no waiting
    assert second is not None
    assert reasons(second) == reasons(first)  # the stored verdict, word for word
    assert (
        "global brake group=job-1 shard=1/2 verdict=stop reason=timed-out decided_by=0 "
        "records=1/2" in caplog.text
    )
    store = stores()
    assert sorted(store.read(GROUP).records) == [0, 1]  # both published; the verdict stands
    assert stored_verdict(store) == Verdict(
        group=GROUP,
        shards=2,
        decided_by=0,
        reason=VerdictReason.TIMED_OUT,
        decision=Decision.STOP,
        published=(0,),
        actions={EC2: 1},
        population={EC2: 10},
        brake=(first.reasons[0],) if first else (),
    )


def test_a_shard_that_timed_out_stops_a_late_shard_too(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    split(stores, caplog)


def test_the_split_through_the_gcs_emulator(
    gcs_emulator: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The late shard reads the verdict before it would write one: no precondition needed.
    gcs = storage_client(gcs_emulator)
    bucket = f"brake-{uuid.uuid4().hex[:8]}"
    gcs.create_bucket(bucket)
    split(lambda: GcsBrakeStore(gcs, bucket, "reaper-brake"), caplog)


class Racing:
    """A shard's store, through which another shard's verdict lands just before this
    shard's own: between its last read and its write."""

    def __init__(self, store: BrakeStore, first: Callable[[], None]) -> None:
        self.store = store
        self.name = store.name
        self._first = first

    def publish(self, group: str, shard: int, body: bytes) -> None:
        self.store.publish(group, shard, body)

    def read(self, group: str) -> GroupObjects:
        return self.store.read(group)

    def decide(self, group: str, body: bytes) -> bytes:
        self._first()
        return self.store.decide(group, body)


def test_a_shard_whose_verdict_write_finds_one_follows_the_stored_one(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    # Shard 0 read the group before shard 1 published, and its wait ended; shard 1 reads
    # both records, within the limits, and would act: its create-only write loses.
    record = ShardCounts(0, 2, {EC2: 1}, {EC2: 10}, group=GROUP)
    other = stores()
    other.publish(GROUP, 0, record.to_json())
    timed_out = decide(GROUP, {0: record}, 2, SAFETY, decided_by=0, reason=VerdictReason.TIMED_OUT)

    def shard_0_stores_its_verdict() -> None:
        other.decide(GROUP, timed_out.to_json())

    store = Racing(stores(), shard_0_stores_its_verdict)
    late = BrakeSync(store, GROUP, Shard(1, 2), SAFETY, 30.0, poll=0.01)
    with caplog.at_level(logging.INFO, logger="reaper.brake_sync"):
        brake = late.agree(plan(1, 10), None)
    assert brake is not None
    assert reasons(brake) == reasons(timed_out.as_brake())
    assert (
        "shard 0 stored the verdict first; following it (stop (timed-out; decided by shard "
        "0/2 on 1 of 2 records)) instead of this shard's (act (all-published; decided by "
        "shard 1/2 on 2 of 2 records))" in caplog.text
    )
    assert stored_verdict(stores()) == timed_out


def run_shards(stores: Stores, plans: list[Plan]) -> list[SafetyLimitExceeded | None]:
    """Every shard's agree at once, each in its own thread with its own store."""
    results: dict[int, SafetyLimitExceeded | None] = {}
    start = threading.Barrier(len(plans))

    def shard(index: int) -> None:
        sync = BrakeSync(stores(), GROUP, Shard(index, len(plans)), SAFETY, 30.0, poll=0.01)
        start.wait()
        results[index] = sync.agree(plans[index], None)

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return [results[i] for i in range(len(plans))]


def test_within_the_limits_together_every_shard_acts_on_one_stored_verdict(
    stores: Stores,
) -> None:
    assert run_shards(stores, [plan(10, 100)] * 3) == [None, None, None]
    stored = stored_verdict(stores())
    assert (stored.decision, stored.reason, stored.published) == (
        Decision.ACT,
        VerdictReason.ALL_PUBLISHED,
        (0, 1, 2),
    )
    assert (stored.actions, stored.population, stored.brake) == ({EC2: 30}, {EC2: 300}, ())


def test_over_the_limit_together_every_shard_stops(stores: Stores) -> None:
    results = run_shards(stores, [plan(20, 100)] * 3)  # 60 > 50, each 20 <= 50
    assert all(r is not None for r in results)
    assert reasons(results[0]) == reasons(results[1]) == reasons(results[2])
    stored = stored_verdict(stores())
    assert stored.decision is Decision.STOP
    assert stored.brake == (
        "global brake, all 3 shards: 60 actions planned, more than max_actions_per_sweep=50",
    )
    assert [(c.group, c.actions, c.population) for c in stored.exceeded] == [(EC2, 60, 300)]
    assert results[0] is not None
    assert results[0].counts == stored.exceeded


def test_each_poll_lists_once_and_reads_only_the_objects_it_has_not_seen() -> None:
    # Records and the verdict are create-only: a body once read never changes.
    fake = CreateOnlyBucket()
    others = GcsBrakeStore(fake, "brake-bucket", "reaper-brake")
    clock = Clock()
    polls = 0

    def sleep(seconds: float) -> None:
        nonlocal polls
        polls += 1
        clock.sleep(seconds)
        if polls in (3, 6):  # shards 1 and 2 publish while shard 0 waits
            index = polls // 3
            others.publish(GROUP, index, plan_record(index).to_json())

    sync = BrakeSync(
        GcsBrakeStore(fake, "brake-bucket", "reaper-brake"),
        GROUP,
        Shard(0, 3),
        SAFETY,
        30.0,
        sleep=sleep,
        clock=clock,
    )
    assert sync.agree(plan(1, 10), None) is None
    prefix = f"reaper-brake/{GROUP}/"
    assert fake.listings == [prefix] * (polls + 1)  # one listing per poll
    # One download per record, the first time it is listed; its own verdict is not read.
    assert fake.downloads == [f"{prefix}shard-{i}.json" for i in range(3)]


def plan_record(index: int) -> ShardCounts:
    return ShardCounts(index, 3, {EC2: 1}, {EC2: 10}, group=GROUP)


# -- errors: the project's, chained, never the SDK's ------------------------------------------


def test_a_botocore_error_from_the_s3_store_is_an_audit_error_and_stops_every_shard(
    aws_session: boto3.Session,
) -> None:
    client = aws_session.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    store = S3BrakeStore(client, "brake", "reaper-brake", retries=1, backoff=0.01)
    with pytest.raises(
        AuditError, match=r"cannot read s3://brake/reaper-brake \(tried 2 times\)"
    ) as excinfo:
        store.read(GROUP)
    assert isinstance(excinfo.value.__cause__, BotoCoreError)  # chained, not leaked
    with pytest.raises(AuditError, match="cannot publish to s3://brake/reaper-brake") as excinfo:
        store.publish(GROUP, 0, b"{}")
    assert isinstance(excinfo.value.__cause__, BotoCoreError)

    sync = BrakeSync(store, GROUP, Shard(0, 2), SAFETY, 30.0)
    (reason,) = reasons(sync.agree(plan(1, 10), None))  # fail closed: exit 3
    assert reason.startswith("global brake: cannot publish to s3://brake/reaper-brake")
    assert reason.endswith("; no shard acts")


def test_an_s3_store_whose_client_cannot_be_set_up_is_an_audit_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(AuditError, match=r"the S3 brake store: .*no-such-profile") as excinfo:
        build_store(GlobalBrakeSettings(s3_bucket="brake-bucket"))
    assert isinstance(excinfo.value.__cause__, BotoCoreError)


def test_a_run_whose_s3_brake_store_cannot_be_set_up_exits_1_with_one_line(
    tmp_path: Path,
) -> None:
    # As an audit trail that cannot be opened: exit 1 before anything is collected, with
    # the project's message, not a botocore traceback.
    config = tmp_path / "config.yaml"
    config.write_text(
        "providers: {aws: {regions: [us-east-1]}}\n"
        "safety: {global_brake: {s3_bucket: brake-bucket}}\n"
        f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["run", "-c", str(config), "--shard", "0/2"],
        env={"AWS_PROFILE": "no-such-profile", "REAPER_SWEEP_GROUP": GROUP},
    )
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error == (
        "error: cannot set up an S3 client for safety.global_brake.s3_bucket: the S3 brake "
        "store: The config profile (no-such-profile) could not be found"
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "audit.jsonl").exists() or not (tmp_path / "audit.jsonl").read_bytes()
