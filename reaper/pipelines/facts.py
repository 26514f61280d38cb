"""The sweep's step between collect and plan: what the CI systems say about the runs.

Collect first, then look up the distinct runs of the collected pipeline resources (one
request per run, however many resources it left), then attach what is known to each
resource as :class:`reaper.model.RunFacts` for the pure policy (``reaper.run_policy``).
A run whose state is unknown gets no facts: the TTL rules apply to it unchanged.

Two steps fill the :class:`PipelineStep` contract the sweep service calls:

* :class:`PipelineFacts`, every sweep's: asks the CI systems. Keep one for the life of a
  process (the daemon does) so its :class:`RunLookup` keeps ETags across sweeps;
* :class:`RunCleanup`, ``reaper run --pipeline ALIAS/RUN``'s: the run's own cleanup step
  says the run is over, so exactly that run's resources are litter now, with no grace and
  no request to the CI system; every other resource is left out of the plan.

Everything but :meth:`PipelineFacts.prepare` (which calls the lookup) is pure.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from reaper.config import PipelineSettings, PolicySettings, Settings, TagKeys
from reaper.model import Resource, ResourceRef, RunFacts, RunPhase
from reaper.pipelines.errors import InvalidRunTag
from reaper.pipelines.lookup import RunLookup
from reaper.pipelines.model import RunRef, RunState, RunStatus, run_ref_from_tags
from reaper.pipelines.results import LookupStats
from reaper.pipelines.sources import GithubSource, GitlabSource, Source

log = logging.getLogger("reaper.pipelines")

INVALID_TAG = "invalid-tag"
"""The unknown reason counted for resources whose run tags name no run."""


@dataclass(frozen=True)
class Prepared:
    """What a pipeline step hands the planner."""

    resources: tuple[Resource, ...]
    """The resources to decide on, with the facts known about their runs."""
    policy: PolicySettings
    population: Mapping[str, int] | None = None
    """The brake's population when it is not the decided resources' (a cleanup decides on
    one run's resources but is measured against every pipeline resource seen)."""
    stats: LookupStats = field(default_factory=LookupStats)
    """This sweep's lookups, for metrics (all zero when nothing was asked)."""
    invalid: int = 0
    """Resources whose run tags named no run (``4711x``), left to the TTL rules."""


class PipelineStep(Protocol):
    """Called by the sweep service with the collected resources, before planning."""

    def prepare(
        self, resources: Sequence[Resource], policy: PolicySettings, now: datetime
    ) -> Prepared: ...


# -- pure parts ---------------------------------------------------------------------------


def sources_of(settings: PipelineSettings) -> dict[str, Source]:
    """The lookup's sources from the config's ``pipelines.sources``. Pure."""
    found: dict[str, Source] = {}
    for alias, source in settings.sources.items():
        if source.github is not None:
            gh = source.github
            found[alias] = GithubSource(gh.repository, gh.token_env, gh.api_url)
        elif source.gitlab is not None:
            gl = source.gitlab
            found[alias] = GitlabSource(gl.project, gl.url, gl.token_env)
    return found


@dataclass(frozen=True)
class NamedRuns:
    """Which run each resource names (only those that name one)."""

    runs: Mapping[ResourceRef, RunRef]
    invalid: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """``(source alias, run tag value)`` that could not be read, with how many resources."""


def named_runs(resources: Iterable[Resource], tags: TagKeys) -> NamedRuns:
    """The run each pipeline resource names through its pipeline and ci_source tags. Pure.

    A resource without the ci_source tag names no run (the TTL rules apply, as before);
    one whose tags cannot be read is counted in ``invalid`` and names no run either.
    """
    runs: dict[ResourceRef, RunRef] = {}
    invalid: Counter[tuple[str, str]] = Counter()
    for resource in resources:
        try:
            run = run_ref_from_tags(resource.tags, run_key=tags.pipeline, source_key=tags.ci_source)
        except InvalidRunTag:
            alias = resource.tags.get(tags.ci_source, "")
            invalid[(alias, resource.tags.get(tags.pipeline, ""))] += 1
            continue
        if run is not None:
            runs[resource.ref] = run
    return NamedRuns(runs, dict(invalid))


def facts_of(run: RunRef, status: RunStatus, after_finish: timedelta) -> RunFacts | None:
    """What the policy may use of a run's status: None when the state is unknown. Pure."""
    if status.state is RunState.ACTIVE:
        return RunFacts(str(run), RunPhase.ACTIVE)
    if status.state is RunState.FINISHED and status.finished_at is not None:
        ended = status.finished_at
        return RunFacts(str(run), RunPhase.FINISHED, ended, ended + after_finish)
    return None


def attach(
    resources: Iterable[Resource],
    runs: Mapping[ResourceRef, RunRef],
    facts: Mapping[RunRef, RunFacts | None],
) -> tuple[Resource, ...]:
    """Each resource with the facts of its run, where there are any. Pure."""
    out = []
    for resource in resources:
        run = runs.get(resource.ref)
        known = facts.get(run) if run is not None else None
        out.append(resource if known is None else replace(resource, run=known))
    return tuple(out)


def in_run(run: RunRef, target: RunRef) -> bool:
    """True when ``run`` is ``target``: the same source and run id, and, when the target
    names an attempt, the same attempt (``web/4711`` takes every attempt of run 4711,
    ``web/4711-2`` only the resources tagged ``4711-2``). Pure."""
    if (run.source_alias, run.run_id) != (target.source_alias, target.run_id):
        return False
    return target.attempt is None or run.attempt == target.attempt


def pipeline_population(resources: Iterable[Resource], tags: TagKeys) -> dict[str, int]:
    """Pipeline-tagged resources per ``provider:kind``, as ``make_plan`` counts them. Pure."""
    unique = {r.ref: r for r in resources}
    return dict(Counter(r.ref.kind_key for r in unique.values() if tags.pipeline in r.tags))


# -- the two steps --------------------------------------------------------------------------


class PipelineFacts:
    """Every sweep's pipeline step: look the runs up, attach what is known.

    Holds one :class:`RunLookup` for its life: keep one ``PipelineFacts`` per process so a
    daemon's sweeps send ``If-None-Match`` with the ETags of the last (a ``304`` costs
    GitHub no rate limit).
    """

    def __init__(self, settings: PipelineSettings, tags: TagKeys, lookup: RunLookup) -> None:
        self.settings = settings
        self.tags = tags
        self.lookup = lookup

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> PipelineFacts | None:
        """The step of a config, reading tokens from ``environ`` (``os.environ`` when None)
        at every sweep; None when no source is configured (nothing is ever asked then)."""
        pipelines = settings.pipelines
        if not pipelines.sources:
            return None
        lookup = RunLookup(
            sources_of(pipelines),
            environ=environ,
            max_workers=pipelines.max_workers,
            max_wait=pipelines.max_wait.total_seconds(),
            timeout=pipelines.timeout.total_seconds(),
        )
        return cls(pipelines, settings.tags, lookup)

    def prepare(
        self, resources: Sequence[Resource], policy: PolicySettings, now: datetime
    ) -> Prepared:
        """Ask about every distinct run the resources name, once; attach what is known."""
        named = named_runs(resources, self.tags)
        _log_invalid(named.invalid)
        invalid = sum(named.invalid.values())
        if not named.runs:
            return Prepared(tuple(resources), policy, invalid=invalid)
        result = self.lookup.lookup(named.runs.values())
        facts = {
            run: facts_of(run, status, self.settings.after_finish)
            for run, status in result.statuses.items()
        }
        return Prepared(
            attach(resources, named.runs, facts), policy, stats=result.stats, invalid=invalid
        )


class RunCleanup:
    """``reaper run --pipeline ALIAS/RUN``: the run's cleanup step reaps exactly its resources.

    The run is finished by definition for this invocation (its own cleanup step says so),
    so its resources are litter now: no CI request, ``after_finish`` is not waited for and
    the grace period is skipped (a mark would outlive the step that asked). Protection,
    unreadable tags, quarantine and backoff rules apply as in any sweep, and so do the
    brake (measured against every pipeline resource seen) and the audit trail. Resources of
    any other run, or naming no run, are not even planned.
    """

    def __init__(self, target: RunRef, tags: TagKeys) -> None:
        self.target = target
        self.tags = tags

    def prepare(
        self, resources: Sequence[Resource], policy: PolicySettings, now: datetime
    ) -> Prepared:
        """Pure: the target run's resources, finished at ``now``, and a grace-free policy."""
        named = named_runs(resources, self.tags)
        mine = [
            replace(r, run=RunFacts(str(run), RunPhase.FINISHED, now, now))
            for r in resources
            if (run := named.runs.get(r.ref)) is not None and in_run(run, self.target)
        ]
        return Prepared(
            tuple(mine),
            policy.model_copy(update={"grace_period": timedelta(0)}),
            population=pipeline_population(resources, self.tags),
        )


def _log_invalid(invalid: Mapping[tuple[str, str], int]) -> None:
    for (alias, value), count in sorted(invalid.items()):
        log.warning(
            "pipeline run tags name no run source=%r run=%r resources=%d: "
            "the TTL rules apply (tag the run id, e.g. 4711 or 4711-2)",
            alias,
            value,
            count,
        )
