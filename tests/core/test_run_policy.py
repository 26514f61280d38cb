"""Unit cases for pipeline-aware decisions: a finished run's resources are litter, an active
run's are kept within their TTL, and a run nobody could tell about changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reaper.config import PolicySettings, TagKeys, parse_settings
from reaper.errors import ConfigError
from reaper.lifecycle import SIGNATURE, StateSigner, mark_tags, quarantine_tags
from reaper.model import Action, Reason, Resource, ResourceRef, RunFacts, RunPhase, Scope
from reaper.policy import decide, make_plan
from reaper.report.view import build_view

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TAGS = TagKeys()
RUN_TAGS = {"reaper-pipeline": "4711", "reaper-ci": "web", "reaper-owner": "team-web"}
SIGNER = StateSigner(b"test-state-key-not-secret", TAGS.model_dump().values())


def policy(**settings: Any) -> PolicySettings:
    """24h TTL and no grace unless a case says otherwise."""
    return PolicySettings.model_validate({"default_ttl": "24h", "grace_period": "0s", **settings})


def resource(
    run: RunFacts | None, *, age: timedelta | None = 2 * HOUR, tags: Mapping[str, str] = {}
) -> Resource:
    """reaper's own tags among ``tags`` are signed, as reaper writes them."""
    ref = ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-0abc")
    owned = SIGNER.owned(tags)
    signature = {SIGNATURE: SIGNER.signature(ref, owned)} if owned else {}
    return Resource(
        ref=ref,
        name="e2e",
        created_at=None if age is None else NOW - age,
        tags={**RUN_TAGS, **tags, **signature},
        run=run,
    )


def finished(ago: timedelta, after_finish: timedelta = 30 * MINUTE) -> RunFacts:
    ended = NOW - ago
    return RunFacts("web/4711", RunPhase.FINISHED, ended, ended + after_finish)


ACTIVE = RunFacts("web/4711", RunPhase.ACTIVE)


@pytest.mark.parametrize(
    ("run", "age", "action", "reasons"),
    [
        pytest.param(finished(HOUR), 2 * HOUR, Action.DELETE, (Reason.RUN_FINISHED,),
                     id="finished-past-after_finish-within-ttl"),
        pytest.param(finished(10 * MINUTE), 2 * HOUR, Action.KEEP, (Reason.WITHIN_TTL,),
                     id="finished-within-after_finish"),
        pytest.param(ACTIVE, 2 * HOUR, Action.KEEP, (Reason.RUN_ACTIVE,),
                     id="active-within-ttl"),
        pytest.param(ACTIVE, 3 * DAY, Action.DELETE, (Reason.TTL_EXPIRED,),
                     id="active-past-ttl-the-ttl-is-a-hard-bound"),
        pytest.param(None, 2 * HOUR, Action.KEEP, (Reason.WITHIN_TTL,),
                     id="unknown-within-ttl"),
        pytest.param(None, 3 * DAY, Action.DELETE, (Reason.TTL_EXPIRED,),
                     id="unknown-past-ttl"),
        pytest.param(finished(HOUR), 3 * DAY, Action.DELETE,
                     (Reason.TTL_EXPIRED, Reason.RUN_FINISHED), id="finished-and-past-ttl"),
        pytest.param(finished(HOUR), None, Action.DELETE, (Reason.RUN_FINISHED,),
                     id="finished-unknown-age"),
        pytest.param(ACTIVE, None, Action.KEEP, (Reason.RUN_ACTIVE,), id="active-unknown-age"),
        pytest.param(None, None, Action.KEEP, (Reason.UNKNOWN_AGE,), id="unknown-unknown-age"),
    ],
)  # fmt: skip
def test_what_a_run_state_does(
    run: RunFacts | None, age: timedelta | None, action: Action, reasons: tuple[Reason, ...]
) -> None:
    decision = decide(resource(run, age=age), policy(), TAGS, NOW, SIGNER)

    assert (decision.action, decision.reasons) == (action, reasons)


def test_a_finished_run_is_due_at_its_litter_time() -> None:
    run = finished(HOUR)

    acted = decide(resource(run), policy(), TAGS, NOW, SIGNER)
    waiting = decide(resource(finished(10 * MINUTE)), policy(), TAGS, NOW, SIGNER)

    assert acted.deadline == run.litter_at == NOW - 30 * MINUTE
    # Kept, and shown due at the earlier of the TTL deadline and the litter time.
    assert waiting.deadline == NOW + 20 * MINUTE


def test_the_earlier_of_the_ttl_and_the_run_is_the_deadline() -> None:
    run = finished(3 * HOUR)  # litter since NOW - 2h30m; the TTL passed at NOW - 2d

    decision = decide(resource(run, age=3 * DAY), policy(), TAGS, NOW, SIGNER)

    assert decision.deadline == NOW - 2 * DAY


def test_a_finished_run_is_marked_first_like_any_reason() -> None:
    decision = decide(resource(finished(HOUR)), policy(grace_period="1h"), TAGS, NOW, SIGNER)

    assert decision.action is Action.MARK
    assert decision.intended is Action.DELETE
    assert decision.reasons == (Reason.RUN_FINISHED,)
    assert decision.not_before == NOW + HOUR


def test_a_mark_for_a_finished_run_is_acted_on_after_the_grace() -> None:
    marked = mark_tags(NOW - 2 * HOUR, "delete", "run-finished")

    decision = decide(
        resource(finished(3 * HOUR), tags=marked), policy(grace_period="1h"), TAGS, NOW, SIGNER
    )

    assert decision.action is Action.DELETE


def test_a_mark_for_a_run_that_runs_again_is_cleared() -> None:
    """A re-run attempt makes the run active again: its resources are in use."""
    marked = mark_tags(NOW - 10 * MINUTE, "delete", "run-finished")

    decision = decide(resource(ACTIVE, tags=marked), policy(grace_period="1h"), TAGS, NOW, SIGNER)

    assert (decision.action, decision.reasons) == (Action.UNMARK, (Reason.RUN_ACTIVE,))


def test_the_actions_setting_maps_run_finished() -> None:
    quarantining = policy(actions={"run-finished": "quarantine"})

    decision = decide(resource(finished(HOUR)), quarantining, TAGS, NOW, SIGNER)

    assert decision.action is Action.QUARANTINE


def test_the_most_destructive_action_wins_with_a_finished_run() -> None:
    quarantining = policy(actions={"run-finished": "quarantine"})

    decision = decide(resource(finished(HOUR), age=3 * DAY), quarantining, TAGS, NOW, SIGNER)

    assert decision.action is Action.DELETE  # ttl-expired deletes


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param({"reaper-protect": "true"}, id="protected"),
        pytest.param({"reaper-ttl": "3 dayz"}, id="invalid-ttl"),
        pytest.param({"reaper-state": "gone-fishing"}, id="unreadable-lifecycle"),
    ],
)
def test_a_finished_run_does_not_override_the_safety_rules(tags: Mapping[str, str]) -> None:
    decision = decide(resource(finished(DAY), tags=tags), policy(), TAGS, NOW, SIGNER)

    assert decision.action is Action.KEEP


def test_a_finished_run_does_not_shorten_a_quarantine() -> None:
    quarantined = quarantine_tags(NOW - HOUR, "exposed")

    isolated = replace(resource(finished(DAY), tags=quarantined), isolated=True)

    decision = decide(isolated, policy(), TAGS, NOW, SIGNER)

    assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.QUARANTINED,))


def test_a_resource_without_the_pipeline_tag_is_never_touched_whatever_its_run() -> None:
    untagged = Resource(
        ref=ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-0abc"),
        name="x",
        created_at=NOW - DAY * 9,
        tags={"reaper-ci": "web"},
        run=finished(DAY),
    )

    assert decide(untagged, policy(), TAGS, NOW, SIGNER).action is Action.KEEP


def test_run_finished_is_a_reason_the_actions_setting_accepts() -> None:
    base = {"providers": {"aws": {"regions": ["us-east-1"]}}}

    settings = parse_settings({**base, "policy": {"actions": {"run-finished": "quarantine"}}}, "a")
    with pytest.raises(ConfigError, match="unknown reason 'run-active'"):
        parse_settings({**base, "policy": {"actions": {"run-active": "delete"}}}, "b")

    assert settings.policy.action_for("aws", "ec2_instance", "run-finished") == "quarantine"


def test_reports_count_an_active_runs_resources_instead_of_listing_them() -> None:
    kept = resource(ACTIVE)
    due = Resource(
        ref=ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-0def"),
        name="done",
        created_at=NOW - HOUR,
        tags=RUN_TAGS,
        run=finished(HOUR),
    )

    view = build_view(make_plan([kept, due], policy(), TAGS, NOW, SIGNER))

    assert dict(view.quiet) == {"run-active": 1}
    listed = [r for o in view.owners for p in o.pipelines for r in p.rows]
    assert [(r.decision.ref.id, r.reasons) for r in listed] == [("i-0def", "run-finished")]
