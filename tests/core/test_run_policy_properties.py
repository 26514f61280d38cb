"""Hypothesis properties of pipeline-aware decisions.

The run states go through the same path as in a sweep: a :class:`RunStatus` as the lookup
answers it (active, finished, or unknown for any reason), ``facts_of`` and ``attach``,
then ``decide``. Resources, policies and clocks are the random ones of the policy's own
properties (``test_policy_properties``), with the run tags added.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import event, given
from hypothesis import strategies as st
from test_policy_properties import PROPERTY, TAGS, moments, policies, resources

from reaper.config import PolicySettings
from reaper.model import Action, Decision, Reason, Resource
from reaper.pipelines.facts import attach, facts_of
from reaper.pipelines.model import RunRef, RunState, RunStatus, UnknownReason
from reaper.policy import decide

RUN = RunRef("web", 4711)
after_finishes = st.integers(0, 3 * 86400).map(lambda s: timedelta(seconds=s))
# Finished within a few days of the sweep (``now`` is drawn from ``moments`` too, so this
# is only a sometimes-near time; ``finished_near`` ties it to the sweep).
finished_statuses = st.builds(RunStatus.finished, moments)


@st.composite
def finished_near(draw: st.DrawFn) -> tuple[datetime, RunStatus]:
    """A sweep's time and a run that finished between a day after and ten days before it."""
    now = draw(moments)
    ago = timedelta(seconds=draw(st.integers(-86400, 10 * 86400)))
    return now, RunStatus.finished(now - ago)


active_statuses = st.sampled_from(["queued", "in_progress", "running", "manual"]).map(
    RunStatus.active
)
unknown_statuses = st.builds(RunStatus.unknown, st.sampled_from(list(UnknownReason)), st.text())

# Destructiveness of where a decision leads, and how far along it is.
_TARGET = {Action.KEEP: 0, Action.UNMARK: 0, Action.QUARANTINE: 1, Action.DELETE: 2}
_PROGRESS = {Action.KEEP: 0, Action.UNMARK: 0, Action.MARK: 1}


def target(decision: Decision) -> int:
    return _TARGET[decision.intended or decision.action]


def progress(decision: Decision) -> int:
    if decision.action is Action.KEEP and decision.intended is not None:
        return 1  # waiting in its grace or backoff
    return _PROGRESS.get(decision.action, 2)


def with_run(resource: Resource, status: RunStatus, after_finish: timedelta) -> Resource:
    """The resource tagged with RUN and given the facts a sweep would attach."""
    tagged = replace(resource, tags={**resource.tags, TAGS.ci_source: "web"})
    facts = {RUN: facts_of(RUN, status, after_finish)}
    (attached,) = attach([tagged], {tagged.ref: RUN}, facts)
    return attached


def decide_both(
    resource: Resource,
    status: RunStatus,
    after_finish: timedelta,
    policy: PolicySettings,
    now: datetime,
) -> tuple[Decision, Decision]:
    attached = with_run(resource, status, after_finish)
    return decide(replace(attached, run=None), policy, TAGS, now), decide(
        attached, policy, TAGS, now
    )


@PROPERTY
@given(resources(), unknown_statuses, after_finishes, policies(), moments)
def test_an_unknown_run_changes_nothing(
    res: Resource,
    status: RunStatus,
    after_finish: timedelta,
    policy: PolicySettings,
    now: datetime,
) -> None:
    without, with_facts = decide_both(res, status, after_finish, policy, now)

    assert with_facts.resource.run is None
    assert with_facts == replace(without, resource=with_facts.resource)


@PROPERTY
@given(resources(), active_statuses, after_finishes, policies(), moments)
def test_an_active_run_changes_no_action_only_the_reason_to_keep(
    res: Resource,
    status: RunStatus,
    after_finish: timedelta,
    policy: PolicySettings,
    now: datetime,
) -> None:
    without, with_facts = decide_both(res, status, after_finish, policy, now)
    event(f"{without.action} {without.reasons[0]}")

    swapped = tuple(
        Reason.RUN_ACTIVE if r in (Reason.WITHIN_TTL, Reason.UNKNOWN_AGE) else r
        for r in without.reasons
    )
    assert with_facts == replace(without, resource=with_facts.resource, reasons=swapped)


@PROPERTY
@given(resources(pipeline=True), finished_near(), after_finishes, policies())
def test_a_finished_run_only_brings_actions_forward(
    res: Resource,
    sweep: tuple[datetime, RunStatus],
    after_finish: timedelta,
    policy: PolicySettings,
) -> None:
    """Never a less destructive end, and for the same end never a later step of it."""
    now, status = sweep
    without, with_facts = decide_both(res, status, after_finish, policy, now)
    event(f"{without.action} -> {with_facts.action}")

    assert target(with_facts) >= target(without)
    if target(with_facts) == target(without):
        assert progress(with_facts) >= progress(without)
    if with_facts.action is not without.action or with_facts.intended != without.intended:
        # Whatever changed, changed because the run was over by now.
        assert status.finished_at is not None
        assert now >= status.finished_at + after_finish
        assert Reason.RUN_FINISHED in with_facts.reasons


@PROPERTY
@given(
    resources(protect=True, pipeline=True),
    finished_statuses | active_statuses | unknown_statuses,
    after_finishes,
    policies(),
    moments,
)
def test_no_run_state_overrides_protection(
    res: Resource,
    status: RunStatus,
    after_finish: timedelta,
    policy: PolicySettings,
    now: datetime,
) -> None:
    without, with_facts = decide_both(res, status, after_finish, policy, now)
    event(str(status.state))

    assert not with_facts.action.destructive
    assert with_facts.action is not Action.MARK
    assert (with_facts.action, with_facts.reasons) == (without.action, without.reasons)


@PROPERTY
@given(resources(pipeline=False), finished_statuses, after_finishes, policies(), moments)
def test_no_run_state_touches_a_resource_without_the_pipeline_tag(
    res: Resource,
    status: RunStatus,
    after_finish: timedelta,
    policy: PolicySettings,
    now: datetime,
) -> None:
    _, with_facts = decide_both(res, status, after_finish, policy, now)

    assert with_facts.action is Action.KEEP
    assert with_facts.reasons == (Reason.NOT_PIPELINE,)


def test_the_states_cover_every_run_state() -> None:
    """The strategies above exercise all three states (a new one must get a property)."""
    assert set(RunState) == {RunState.ACTIVE, RunState.FINISHED, RunState.UNKNOWN}
