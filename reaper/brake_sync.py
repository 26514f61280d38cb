"""The shell of the global brake: publish this shard's counts, wait for every shard's,
store one verdict, follow the stored one.

See :mod:`reaper.global_brake` for the rule (pure). The first shard to reach a decision
stores it create-only as the group's verdict (``{group}/verdict.json``): when it has read
all N records, or when its wait (``safety.global_brake.wait``, counted from its own
publishing) is over, or when it cannot publish or read. A shard whose write finds a
verdict there follows that one instead of its own, and a shard that reads a verdict while
waiting follows it at once; so every shard acts only on the stored verdict. A shard that
cannot store a verdict or read the stored one does not act (fail closed), nor does one
that could not publish or read its own record back.

Records are create-only, as the audit sinks' objects are: a shard's first record for a
sweep group stands. A shard that finds its own index's record holding other counts than
its plan (a retried pod of the same Job index) does not act, whatever the verdict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from reaper.audit.brake_store import BrakeStore, DirectoryBrakeStore, check_group
from reaper.config import GlobalBrakeSettings, SafetySettings
from reaper.errors import AuditError, ConfigError, SafetyLimitExceeded
from reaper.global_brake import ShardCounts, Verdict, VerdictReason, decide, shard_counts
from reaper.model import Plan
from reaper.shards import Shard

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)

GROUP_ENV = "REAPER_SWEEP_GROUP"
"""The name every shard of one sweep shares: in an Indexed Job, the Job's name (from the
pod's ``batch.kubernetes.io/job-name`` label through the downward API)."""
POLL_SECONDS = 1.0


class BrakeSync:
    """Agrees on one brake verdict with the other shards of the same sweep group."""

    def __init__(
        self,
        store: BrakeStore,
        group: str,
        shard: Shard,
        safety: SafetySettings,
        wait: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.group = check_group(group)
        self.shard = shard
        self.safety = safety
        self.wait = wait
        self._sleep = sleep
        self._clock = clock
        self._poll = poll
        self._unreadable_logged: set[int] = set()

    def agree(self, plan: Plan, local: SafetyLimitExceeded | None) -> SafetyLimitExceeded | None:
        """Publish, wait for the stored verdict or decide it, and return the brake: None to
        act, else why this shard does not act."""
        mine = shard_counts(plan, self.group, self.shard.index, self.shard.count, local)
        try:
            self.store.publish(self.group, self.shard.index, mine.to_json())
        except AuditError as err:
            return self._store_failed(err, mine)
        deadline = self._clock() + self.wait
        while True:
            try:
                seen = self.store.read(self.group)
            except AuditError as err:
                return self._store_failed(err, mine)
            own = seen.records.get(self.shard.index)
            if seen.verdict is not None:
                return self._follow(self._parse(seen.verdict), own, mine)
            records, unreadable = self._records(seen.records)
            if all(i in records or i in unreadable for i in range(self.shard.count)):
                reason = VerdictReason.ALL_PUBLISHED
            elif self._clock() >= deadline:
                reason = VerdictReason.TIMED_OUT
            else:
                self._sleep(self._poll)
                continue
            candidate = decide(
                self.group,
                records,
                self.shard.count,
                self.safety,
                decided_by=self.shard.index,
                reason=reason,
                unreadable=unreadable,
            )
            return self._follow(self._store(candidate), own, mine)

    def _records(self, raw: Mapping[int, bytes]) -> tuple[dict[int, ShardCounts], dict[int, str]]:
        records: dict[int, ShardCounts] = {}
        unreadable: dict[int, str] = {}
        for index, body in raw.items():
            try:
                records[index] = ShardCounts.from_json(body)
            except ValueError as err:
                unreadable[index] = str(err)
                if index not in self._unreadable_logged:
                    self._unreadable_logged.add(index)
                    log.error("global brake: shard %d's record is unreadable: %s", index, err)
        return records, unreadable

    def _store_failed(self, err: AuditError, mine: ShardCounts) -> SafetyLimitExceeded:
        """This shard could not publish or read: it stops, and tries to store STOP for
        every shard (the stored verdict is followed if one was there first)."""
        problem = f"global brake: {err}; no shard acts"
        log.error("global brake group=%s shard %s: %s", self.group, self.shard, err)
        candidate = decide(
            self.group,
            {},
            self.shard.count,
            self.safety,
            decided_by=self.shard.index,
            reason=VerdictReason.STORE_FAILED,
            problems=[problem],
        )
        stored = self._store(candidate)
        if isinstance(stored, SafetyLimitExceeded):
            return SafetyLimitExceeded([problem], ())
        # Without its own record read back, a shard never acts.
        return self._follow(stored, None, mine) or SafetyLimitExceeded([problem], ())

    def _store(self, candidate: Verdict) -> Verdict | SafetyLimitExceeded:
        """The verdict that stands once ``candidate`` is offered: it, or the one stored
        before. A local stop when neither can be stored or read."""
        try:
            body = self.store.decide(self.group, candidate.to_json())
        except AuditError as err:
            log.error("global brake group=%s: the verdict cannot be stored: %s", self.group, err)
            return SafetyLimitExceeded([f"global brake: {err}; this shard does not act"], ())
        stored = self._parse(body)
        if isinstance(stored, Verdict) and stored != candidate:
            log.warning(
                "global brake group=%s shard %s: shard %d stored the verdict first; "
                "following it (%s) instead of this shard's (%s)",
                self.group,
                self.shard,
                stored.decided_by,
                stored.describe(),
                candidate.describe(),
            )
        return stored

    def _parse(self, body: bytes) -> Verdict | SafetyLimitExceeded:
        """The stored verdict, or a local stop when it is unreadable or not this group's."""
        try:
            stored = Verdict.from_json(body)
        except ValueError as err:
            problem = f"the stored verdict is unreadable: {err}"
        else:
            if stored.group == self.group and stored.shards == self.shard.count:
                return stored
            problem = (
                f"the stored verdict is of sweep group {stored.group!r} with {stored.shards} "
                f"shards, not {self.group!r} with {self.shard.count}"
            )
        log.error("global brake group=%s: %s", self.group, problem)
        return SafetyLimitExceeded(
            [f"global brake: sweep group {self.group}: {problem}; this shard does not act"], ()
        )

    def _follow(
        self, stored: Verdict | SafetyLimitExceeded, own: bytes | None, mine: ShardCounts
    ) -> SafetyLimitExceeded | None:
        """What this shard does under the stored verdict, given its own index's record as
        read (None if it was not read) and the record of its plan."""
        if isinstance(stored, SafetyLimitExceeded):
            return stored
        brake = stored.as_brake()
        log.info(
            "global brake group=%s shard=%s verdict=%s reason=%s decided_by=%d records=%d/%d",
            self.group,
            self.shard,
            stored.decision,
            stored.reason,
            stored.decided_by,
            len(stored.published),
            stored.shards,
        )
        if own is None:
            # It could not publish or read (STORE_FAILED): never acts, whatever was stored.
            if brake is not None:
                return brake
            return SafetyLimitExceeded([_unchecked(self.shard)], ())
        if _record(own) == mine:
            return brake
        # Create-only, like the audit sinks' objects: the first record stands, and the
        # verdict was decided on it, not on this plan (a retried pod of this Job's index,
        # after acting on part of it or seeing other resources). Only this shard stops;
        # the others follow the stored verdict.
        log.error(
            "global brake group=%s: shard %d's record holds other counts than this "
            "plan; this shard does not act",
            self.group,
            self.shard.index,
        )
        if brake is None:
            return SafetyLimitExceeded([_republished(self.shard)], ())
        return SafetyLimitExceeded([*brake.reasons, _republished(self.shard)], brake.counts)


def _record(body: bytes) -> ShardCounts | None:
    try:
        return ShardCounts.from_json(body)
    except ValueError:
        return None


def _unchecked(shard: Shard) -> str:
    return (
        f"global brake: shard {shard} could not publish or read back its own record; the "
        "sweep was agreed without it, so this shard does not act"
    )


def _republished(shard: Shard) -> str:
    return (
        f"global brake: shard {shard}'s record was published before with other counts (a "
        "retried pod of this sweep?); the sweep was agreed on that record, not on this "
        "plan, so this shard does not act"
    )


def build_brake_sync(
    settings: GlobalBrakeSettings | None,
    safety: SafetySettings,
    shard: Shard | None,
    group: str | None,
) -> BrakeSync | None:
    """The brake sync of a sharded run, or None when there is no global brake or no shard.

    Raises ConfigError when the sweep group is missing or malformed.
    """
    if settings is None or shard is None:
        return None
    if not group:
        raise ConfigError(
            [
                f"safety.global_brake needs the sweep group in {GROUP_ENV} (the Job's name, "
                "from the batch.kubernetes.io/job-name label)"
            ]
        )
    try:
        check_group(group)
    except ValueError as err:
        raise ConfigError([f"{GROUP_ENV}: {err}"]) from None
    return BrakeSync(build_store(settings), group, shard, safety, settings.wait.total_seconds())


def build_store(
    settings: GlobalBrakeSettings,
    *,
    aws_session: boto3.Session | None = None,
    s3_endpoint_url: str | None = None,
) -> BrakeStore:
    """The store ``settings`` names. An S3 store's client comes from the standard AWS
    environment (``aws_session`` and ``s3_endpoint_url`` override), as the audit sink's
    does. Raises ConfigError when a bucket store's SDK is not installed, AuditError when
    its client cannot be set up."""
    if settings.directory is not None:
        return DirectoryBrakeStore(settings.directory)
    if settings.gcs_bucket is not None:
        from reaper.audit.gcs_brake_store import gcs_brake_store  # imports google-cloud-storage

        return gcs_brake_store(settings.gcs_bucket, settings.gcs_prefix)
    from reaper.audit.s3_brake_store import s3_brake_store  # imports boto3

    return s3_brake_store(
        str(settings.s3_bucket),
        settings.s3_prefix,
        aws_session=aws_session,
        endpoint_url=s3_endpoint_url,
    )


__all__ = ["GROUP_ENV", "BrakeSync", "build_brake_sync", "build_store"]
