"""The shell of the global brake: publish this shard's counts, wait for every shard's, agree.

See :mod:`reaper.global_brake` for the rule (pure). A store that cannot be written or read
trips the brake (fail closed), as does a shard that has not published within
``safety.global_brake.wait``.

Records are create-only, as the audit sinks' objects are: a shard's first record for a
sweep group stands. A shard that finds its own index's record holding other counts than
its plan (a retried pod of the same Job index) does not act, whatever the verdict.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from reaper.audit.brake_store import BrakeStore, DirectoryBrakeStore, check_group
from reaper.config import GlobalBrakeSettings, SafetySettings
from reaper.errors import AuditError, ConfigError, SafetyLimitExceeded
from reaper.global_brake import ShardCounts, shard_counts, verdict
from reaper.model import Plan
from reaper.shards import Shard

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

    def agree(self, plan: Plan, local: SafetyLimitExceeded | None) -> SafetyLimitExceeded | None:
        """Publish, wait for all N records (or the wait to end), and return the verdict."""
        mine = shard_counts(plan, self.shard.index, self.shard.count, local)
        try:
            self.store.publish(self.group, self.shard.index, mine.to_json())
        except AuditError as err:
            return SafetyLimitExceeded([f"global brake: {err}; no shard acts"], ())
        deadline = self._clock() + self.wait
        while True:
            try:
                raw = self.store.read_all(self.group)
            except AuditError as err:
                return SafetyLimitExceeded([f"global brake: {err}; no shard acts"], ())
            records: dict[int, ShardCounts] = {}
            for index, body in raw.items():
                try:
                    records[index] = ShardCounts.from_json(body)
                except ValueError as err:
                    log.error("global brake: shard %d's record is unreadable: %s", index, err)
            if len(records) >= self.shard.count or self._clock() >= deadline:
                break
            self._sleep(self._poll)
        result = verdict(records, self.shard.count, self.safety)
        published = records.get(self.shard.index)
        if published is not None and published != mine:
            # Create-only, like the audit sinks' objects: the first record stands, and the
            # other shards agreed on it, not on this plan (a retried pod of this Job's
            # index, after acting on part of it or seeing other resources). Only this
            # shard stops; what the others do was agreed on the record they read.
            log.error(
                "global brake group=%s: shard %d's record holds other counts than this "
                "plan; this shard does not act",
                self.group,
                self.shard.index,
            )
            reasons = (*(result.reasons if result else ()), _republished(self.shard))
            return SafetyLimitExceeded(list(reasons), result.counts if result else ())
        log.info(
            "global brake group=%s shards=%d/%d published verdict=%s",
            self.group,
            len(records),
            self.shard.count,
            "tripped" if result else "ok",
        )
        return result


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


def build_store(settings: GlobalBrakeSettings) -> BrakeStore:
    """The store ``settings`` names. Raises ConfigError when a bucket store's SDK is not
    installed, AuditError when its client cannot be set up."""
    if settings.directory is not None:
        return DirectoryBrakeStore(settings.directory)
    if settings.gcs_bucket is not None:
        from reaper.audit.gcs_brake_store import gcs_brake_store  # imports google-cloud-storage

        return gcs_brake_store(settings.gcs_bucket, settings.gcs_prefix)
    from reaper.audit.s3_brake_store import s3_brake_store  # imports boto3

    return s3_brake_store(str(settings.s3_bucket), settings.s3_prefix)


__all__ = ["GROUP_ENV", "BrakeSync", "build_brake_sync", "build_store"]
