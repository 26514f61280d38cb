"""Quarantine and release of Compute Engine instances.

Quarantine, for the instances of one zone together, each phase for all before the next:

1. read each instance afresh and, unless reaper's signed labels already hold them, record
   its network tags and status as labels (:mod:`.records`), before anything changes;
2. make sure each of their networks has the deny-all quarantine rules, each read afresh
   (once per network and sweep) and made again if gone (:mod:`.gce_isolation`): no
   instance is written ``quarantined`` on the strength of the sweep's earlier list;
3. replace the network tags by ``reaper-quarantine``, then stop the instances, waiting for
   each phase's operations together;
4. read each instance back and only if it is stopped and tagged write the ``quarantined``
   state (keeping a verified ``reaper-quarantined-at``).

A failure leaves the recorded originals in place, so the next attempt never records the
quarantine as the original, and its outcome carries the labels it left (``Outcome.tags``),
which the actuator writes the failure count on top of. Release puts the recorded tags
back, starts the instance if it was running, and removes every label reaper owns and the
signature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from google.cloud import compute_v1

from reaper.config import GcpProject
from reaper.errors import ProviderError
from reaper.lifecycle import SignedTags, StateSigner, quarantined_tags
from reaper.model import Action, Decision, Outcome, Resource, Result
from reaper.providers.gcp.gce_api import InstanceApi, not_ready
from reaper.providers.gcp.gce_facts import networks
from reaper.providers.gcp.labels import without_owned, write_owned
from reaper.providers.gcp.operations import Finished, Pending, wait_compute
from reaper.providers.gcp.records import (
    QUARANTINE_TAG,
    UNKNOWN_STATE,
    InstanceOriginals,
    RecordTooLong,
)

log = logging.getLogger(__name__)

STOPPED = "TERMINATED"


@dataclass
class _Job:
    decision: Decision
    tags: SignedTags | None = None
    """reaper's labels on the instance once read: what it may build on (verified at
    planning, or written by this job) and what a failure leaves."""
    raw: compute_v1.Instance | None = None
    outcome: Outcome | None = None

    def fail(self, result: Result, message: str) -> None:
        left = self.tags.vouched if self.tags is not None else None
        self.outcome = Outcome(self.decision.ref, Action.QUARANTINE, result, message, left)


def quarantine_instances(
    api: InstanceApi,
    signer: StateSigner,
    project: GcpProject,
    decisions: Sequence[Decision],
    now: datetime,
    ensure: Callable[[str], object],
) -> list[Outcome]:
    """Quarantine the instances of one zone; one Outcome each, never raising for one.

    ``ensure(network)`` makes sure a network has its quarantine rules (see
    :func:`.gce_isolation.ensure_rules`); raises ProviderError when it cannot.
    """
    clients = api.clients
    jobs = [_Job(d) for d in decisions]
    clients.parallel(project, partial(_record, api, signer, project), jobs)

    live = [j for j in jobs if j.outcome is None]
    for network in sorted({n for j in live if j.raw is not None for n in networks(j.raw)}):
        try:
            ensure(network)
        except ProviderError as err:
            for job in live:
                if job.raw is not None and network in networks(job.raw):
                    job.fail(Result.FAILED, str(err))

    _phase(api, project, jobs, _retag, "tagging")
    _phase(api, project, jobs, _stop, "stopping")
    clients.parallel(project, partial(_settle, api, project, now), jobs)
    return [
        j.outcome or Outcome(j.decision.ref, Action.QUARANTINE, Result.FAILED, "no outcome")
        for j in jobs
    ]


def _record(api: InstanceApi, signer: StateSigner, project: GcpProject, job: _Job) -> None:
    """Read the instance; record its originals unless reaper's labels hold them already."""
    ref = job.decision.ref
    try:
        raw = api.get(project, ref.scope.region, ref.id)
        if raw is None:
            job.fail(Result.ALREADY_GONE, "instance does not exist")
            return
        job.raw = raw
        # Only what reaper signed counts: originals someone else wrote are not kept.
        trusted = job.decision.resource.tags if job.decision.verified else {}
        job.tags = SignedTags(signer, ref, trusted, dict(raw.labels))
        if InstanceOriginals.read(job.tags.trusted) is not None:
            return
        tags = tuple(raw.tags.items)
        # Tagged for quarantine without a trusted record: a quarantine whose record was
        # lost or forged. What it was is not known, so release will not start it.
        state = UNKNOWN_STATE if QUARANTINE_TAG in tags else raw.status.lower()
        try:
            updates = InstanceOriginals(tags, state).labels()
        except RecordTooLong as err:
            job.fail(
                Result.FAILED,
                f"its network tags do not fit in reaper's labels ({err}); not quarantined",
            )
            return
        known = (dict(raw.labels), raw.label_fingerprint)
        relabel = partial(api.relabel, project, ref, known=known)
        labels = write_owned(relabel, job.tags, updates)
    except ProviderError as err:
        job.fail(Result.FAILED, f"recording its originals failed: {err}")
        return
    if labels is None:
        job.fail(Result.ALREADY_GONE, "instance does not exist")


def _retag(api: InstanceApi, project: GcpProject, job: _Job) -> compute_v1.Operation | None:
    assert job.raw is not None
    ref = job.decision.ref
    return api.retag(project, ref.scope.region, ref.id, [QUARANTINE_TAG], job.raw)


def _stop(api: InstanceApi, project: GcpProject, job: _Job) -> compute_v1.Operation | None:
    assert job.raw is not None
    if job.raw.status == STOPPED:
        return None
    ref = job.decision.ref
    return api.stop(project, ref.scope.region, ref.id)


def _phase(
    api: InstanceApi,
    project: GcpProject,
    jobs: Sequence[_Job],
    start: object,
    doing: str,
) -> None:
    """Start one step on every live job, then wait for all its operations together."""
    assert callable(start)
    live = [j for j in jobs if j.outcome is None]

    def one(job: _Job) -> Pending | None:
        try:
            op = start(api, project, job)
        except ProviderError as err:
            reason = "another operation is still running on it" if not_ready(err) else str(err)
            job.fail(Result.FAILED, f"{doing} failed: {reason}")
            return None
        if op is None:
            return None
        return Pending(job.decision.ref, op.name, job.decision.ref.scope.region)

    pending = [p for p in api.clients.parallel(project, one, live) if p is not None]
    if not pending:
        return
    finished = wait_compute(api.clients, project, pending, f"{project.name}")
    for job in live:
        result: Finished | None = finished.get(job.decision.ref)
        if result is not None and result.error:
            job.fail(Result.FAILED, f"{doing} failed: {result.error}")


def _settle(api: InstanceApi, project: GcpProject, now: datetime, job: _Job) -> None:
    """Read the instance back; write the quarantined state only if it is isolated."""
    if job.outcome is not None:
        return
    assert job.tags is not None  # read by _record
    decision = job.decision
    ref = decision.ref
    try:
        raw = api.get(project, ref.scope.region, ref.id)
        if raw is None:
            job.fail(Result.ALREADY_GONE, "instance does not exist")
            return
        missing = []
        if raw.status != STOPPED:
            missing.append(f"status {raw.status}, not {STOPPED}")
        if QUARANTINE_TAG not in raw.tags.items:
            missing.append(f"no network tag {QUARANTINE_TAG}")
        if missing:
            job.fail(Result.FAILED, f"isolation did not read back: {'; '.join(missing)}")
            return
        reason = decision.reasons[0] if decision.reasons else "policy"
        # A quarantine again keeps its quarantine time: its quarantine TTL runs on.
        state = quarantined_tags(job.tags.trusted, now, reason)
        known = (dict(raw.labels), raw.label_fingerprint)
        labels = write_owned(partial(api.relabel, project, ref, known=known), job.tags, state)
    except ProviderError as err:
        job.fail(Result.FAILED, f"writing the quarantined state failed: {err}")
        return
    if labels is None:
        job.fail(Result.ALREADY_GONE, "instance does not exist")
        return
    job.outcome = Outcome(
        ref,
        Action.QUARANTINE,
        Result.DONE,
        f"stopped and isolated (network tag {QUARANTINE_TAG}, deny-all rules)",
    )


def release_instance(
    api: InstanceApi, signer: StateSigner, project: GcpProject, resource: Resource
) -> Outcome:
    """Restore the recorded network tags and state; remove reaper's labels."""
    ref = resource.ref
    zone, name = ref.scope.region, ref.id

    def outcome(result: Result, message: str) -> Outcome:
        return Outcome(ref, Action.RELEASE, result, message)

    try:
        raw = api.get(project, zone, name)
        if raw is None:
            return outcome(Result.ALREADY_GONE, "instance does not exist")
        originals = InstanceOriginals.read(resource.tags)
        tags = (
            list(originals.tags)
            if originals is not None
            else [t for t in raw.tags.items if t != QUARANTINE_TAG]
        )
        done = [f"network tags {', '.join(tags) or '(none)'} restored"]
        op = api.retag(project, zone, name, tags, raw)
        if op is not None:
            _wait_one(api, project, ref, op, zone, "restoring the network tags")
        if originals is not None and originals.state == "running":
            if raw.status in ("STOPPING", "SUSPENDING"):
                return outcome(Result.FAILED, f"still {raw.status.lower()}: release it again later")
            if raw.status == STOPPED:
                _wait_one(api, project, ref, api.start(project, zone, name), zone, "starting")
                done.append("started")
        labels = api.relabel(project, ref, partial(without_owned, signer))
    except ProviderError as err:
        return outcome(Result.FAILED, str(err))
    if labels is None:
        return outcome(Result.ALREADY_GONE, "instance does not exist")
    return outcome(Result.DONE, f"released: {', '.join(done)}")


def _wait_one(
    api: InstanceApi,
    project: GcpProject,
    key: object,
    op: compute_v1.Operation,
    zone: str,
    doing: str,
) -> None:
    finished = wait_compute(api.clients, project, [Pending(key, op.name, zone)], project.name)
    result = next(iter(finished.values()))
    if not result.ok:
        raise ProviderError(f"{doing} failed: {result.error or 'still running'}")
