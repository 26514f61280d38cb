"""Pure: what the CI run that created a resource says about it. Consumed by ``policy.decide``.

The facts (:class:`reaper.model.RunFacts`) are looked up and attached by
``reaper.pipelines`` before planning; here they are only read. Two rules, and no others:

* a finished run's resources are litter from ``litter_at`` on (reason ``run-finished``),
  even when their TTL has not passed: the finished run can only bring an action forward;
* an active run's resources are kept with reason ``run-active`` instead of ``within-ttl``:
  the TTL and the expiry stay hard upper bounds, so an active run never keeps anything
  longer than it would be kept without the facts.

A run whose state is unknown has no facts, so it changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from reaper.model import Reason, Resource, RunPhase


def litter_at(resource: Resource) -> datetime | None:
    """When the resource became (or becomes) litter because its run finished. Pure.

    None unless the CI system said the run finished.
    """
    run = resource.run
    if run is None or run.phase is not RunPhase.FINISHED:
        return None
    return run.litter_at


def kept_reason(resource: Resource, reason: Reason) -> Reason:
    """The reason to show for keeping a resource that is not due: ``run-active`` while its
    run is known to be going, else ``reason`` (``within-ttl``, ``unknown-age``). Pure."""
    run = resource.run
    return Reason.RUN_ACTIVE if run is not None and run.phase is RunPhase.ACTIVE else reason


def earliest(*moments: datetime | None) -> datetime | None:
    """The earliest of the given times that are set, or None. Pure."""
    known = [m for m in moments if m is not None]
    return min(known) if known else None
