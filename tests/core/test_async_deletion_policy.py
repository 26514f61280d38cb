"""Resources whose deletion is under way, and exposure by a provider's own rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reaper.config import PolicySettings, TagKeys
from reaper.model import Action, Deletion, Reason, Resource, ResourceRef, Scope
from reaper.policy import decide

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TAGS = TagKeys()
POLICY = PolicySettings.model_validate({"default_ttl": "24h", "grace_period": "1h"})
PIPELINE = {"reaper-pipeline": "gitlab-ci-1"}


def namespace(**facts: object) -> Resource:
    return Resource(
        ref=ResourceRef("kubernetes", "namespace", Scope("ci", ""), "ci/ci-1-review"),
        name="ci-1-review",
        created_at=NOW - timedelta(days=3),
        tags=dict(PIPELINE),
        **facts,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(PIPELINE, id="expired"),
        pytest.param({**PIPELINE, "reaper-protect": "true"}, id="protected"),
        pytest.param({**PIPELINE, "reaper-state": "marked", "reaper-signature": "x"}, id="forged"),
    ],
)
def test_a_resource_being_deleted_is_kept_in_progress(tags: dict[str, str]) -> None:
    requested = NOW - timedelta(minutes=10)
    resource = namespace(deleting=Deletion(requested, requested + timedelta(hours=1)))
    decision = decide(
        Resource(
            resource.ref, resource.name, resource.created_at, tags, deleting=resource.deleting
        ),
        POLICY,
        TAGS,
        NOW,
    )
    assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.DELETING,))
    assert decision.escalated is False
    assert decision.not_before == requested + timedelta(hours=1)
    assert decision.warnings == ()


def test_a_deletion_stuck_past_its_limit_is_escalated_with_what_holds_it() -> None:
    requested = NOW - timedelta(hours=2)
    held = ("NamespaceFinalizersRemaining: foo.example.com/finalizer in 1 resource instances",)
    decision = decide(
        namespace(deleting=Deletion(requested, requested + timedelta(hours=1), held)),
        POLICY,
        TAGS,
        NOW,
    )
    assert (decision.action, decision.escalated) == (Action.KEEP, True)
    assert decision.warnings == ("still deleting 2h after its deletion was requested: " + held[0],)
    assert decision.details == held


def test_a_deletion_that_is_not_pipeline_tagged_is_not_reapers() -> None:
    resource = namespace(deleting=Deletion(NOW, NOW))
    untagged = Resource(
        resource.ref, resource.name, resource.created_at, {}, deleting=resource.deleting
    )
    assert decide(untagged, POLICY, TAGS, NOW).reasons == (Reason.NOT_PIPELINE,)


def test_exposure_by_the_providers_rule_counts_whatever_the_port() -> None:
    fresh = namespace(exposures=("service web: NodePort (ports 8080:30001/TCP)",))
    fresh = Resource(
        fresh.ref, fresh.name, NOW - timedelta(hours=1), fresh.tags, exposures=fresh.exposures
    )
    decision = decide(fresh, POLICY, TAGS, NOW)
    assert (decision.action, decision.reasons) == (Action.MARK, (Reason.EXPOSED,))
    assert decision.intended is Action.QUARANTINE
    assert decision.details == ("service web: NodePort (ports 8080:30001/TCP)",)
