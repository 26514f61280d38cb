"""Unpatched and exposed resources: what the policy makes of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from reaper.config import PolicySettings, TagKeys
from reaper.model import Action, ImageFacts, PortRange, Reason, Resource, ResourceRef, Scope
from reaper.policy import decide
from reaper.versions import end_of_support, merged_calendar

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
TAGS = TagKeys()
FRESH_IMAGE = ImageFacts("ami-new", created_at=NOW - 10 * DAY)
SSH = PortRange("tcp", 22, 22)


def policy(**extra: Any) -> PolicySettings:
    return PolicySettings.model_validate({"default_ttl": "24h", "grace_period": "1h", **extra})


def vm(**facts: Any) -> Resource:
    return Resource(
        ref=ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-1"),
        name="runner",
        created_at=NOW - timedelta(hours=2),
        tags={"reaper-pipeline": "gitlab-ci-1"},
        **{"image": FRESH_IMAGE, **facts},
    )


def cluster(version: str, support_ends: date | None = None) -> Resource:
    return replace(vm(image=None), kubernetes_version=version, support_ends=support_ends)


@pytest.mark.parametrize(
    ("image", "detail"),
    [
        pytest.param(ImageFacts("ami-old", NOW - 200 * DAY), "200d old (max 90d)", id="old"),
        pytest.param(
            ImageFacts("ami-dep", NOW - 5 * DAY, deprecated_at=NOW - DAY),
            "deprecated since",
            id="deprecated",
        ),
        pytest.param(ImageFacts("ami-gone", missing=True), "no longer exists", id="missing"),
    ],
)
def test_unpatched_image_is_marked_for_quarantine(image: ImageFacts, detail: str) -> None:
    decision = decide(vm(image=image), policy(), TAGS, NOW)
    assert decision.action is Action.MARK
    assert decision.reasons == (Reason.UNPATCHED,)
    assert decision.intended is Action.QUARANTINE
    assert decision.not_before == NOW + timedelta(hours=1)
    assert any(detail in d for d in decision.details)


def test_a_fresh_image_within_ttl_is_kept() -> None:
    decision = decide(vm(), policy(), TAGS, NOW)
    assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.WITHIN_TTL,))


def test_deprecation_in_the_future_is_not_unpatched() -> None:
    image = ImageFacts("ami-1", NOW - DAY, deprecated_at=NOW + DAY)
    assert decide(vm(image=image), policy(), TAGS, NOW).action is Action.KEEP


@pytest.mark.parametrize(
    ("rules", "exposed"),
    [
        pytest.param((SSH,), True, id="ssh"),
        pytest.param((PortRange("tcp", 3380, 3390),), True, id="rdp-in-range"),
        pytest.param((PortRange("all", -1, -1),), True, id="all-traffic"),
        pytest.param((PortRange("tcp", 0, 65535),), True, id="all-tcp-ports"),
        pytest.param((PortRange("tcp", 443, 443),), False, id="https-only"),
        pytest.param((), False, id="nothing-open"),
    ],
)
def test_public_instance_open_on_a_sensitive_port_is_exposed(
    rules: tuple[PortRange, ...], exposed: bool
) -> None:
    decision = decide(vm(public=True, open_to_world=rules), policy(), TAGS, NOW)
    if exposed:
        assert (decision.action, decision.reasons) == (Action.MARK, (Reason.EXPOSED,))
        assert decision.intended is Action.QUARANTINE
    else:
        assert decision.action is Action.KEEP


def test_open_rules_without_a_public_address_are_not_exposed() -> None:
    assert decide(vm(public=False, open_to_world=(SSH,)), policy(), TAGS, NOW).action is Action.KEEP


def test_exposed_ports_are_configurable() -> None:
    web = (PortRange("tcp", 8080, 8080),)
    assert decide(vm(public=True, open_to_world=web), policy(), TAGS, NOW).action is Action.KEEP
    strict = policy(exposed_ports=[22, 8080])
    assert decide(vm(public=True, open_to_world=web), strict, TAGS, NOW).action is Action.MARK


def test_expired_and_exposed_is_deleted_the_most_destructive_action_wins() -> None:
    old = replace(vm(public=True, open_to_world=(SSH,)), created_at=NOW - 3 * DAY)
    decision = decide(old, policy(), TAGS, NOW)
    assert decision.reasons == (Reason.TTL_EXPIRED, Reason.EXPOSED)
    assert decision.intended is Action.DELETE


def test_zero_grace_quarantines_an_exposed_instance_at_once() -> None:
    decision = decide(vm(public=True, open_to_world=(SSH,)), policy(grace_period="0s"), TAGS, NOW)
    assert decision.action is Action.QUARANTINE


def test_the_action_for_a_risk_is_configurable() -> None:
    chosen = policy(actions={"exposed": "delete"})
    decision = decide(vm(public=True, open_to_world=(SSH,)), chosen, TAGS, NOW)
    assert decision.intended is Action.DELETE


def test_protection_wins_over_every_risk() -> None:
    res = vm(image=ImageFacts("ami-gone", missing=True), public=True, open_to_world=(SSH,))
    res = replace(res, tags={**res.tags, "reaper-protect": "true"})
    assert decide(res, policy(grace_period="0s"), TAGS, NOW).action is Action.KEEP


def test_untagged_resources_are_never_touched_whatever_their_risks() -> None:
    res = replace(vm(public=True, open_to_world=(SSH,)), tags={})
    assert decide(res, policy(grace_period="0s"), TAGS, NOW).reasons == (Reason.NOT_PIPELINE,)


@pytest.mark.parametrize(
    ("version", "support_ends", "settings", "unpatched"),
    [
        pytest.param("1.35", date(2027, 3, 27), {}, False, id="supported"),
        pytest.param("1.33", date(2026, 2, 28), {}, True, id="past-end-of-standard-support"),
        pytest.param("1.33", NOW.date(), {}, False, id="support-ends-today"),
        pytest.param("1.35", None, {}, False, id="unknown-to-the-calendar"),
        pytest.param("1.35", None, {"min_kubernetes_version": "1.36"}, True, id="below-minimum"),
        pytest.param("v1.35.2-eks-1", None, {}, False, id="patch-and-suffix"),
        pytest.param("not-a-version", date(2020, 1, 1), {}, False, id="unreadable-is-no-evidence"),
    ],
)
def test_outdated_kubernetes_is_unpatched(
    version: str, support_ends: date | None, settings: dict[str, Any], unpatched: bool
) -> None:
    """The policy compares the end of support its provider reported; it knows no calendar."""
    decision = decide(cluster(version, support_ends), policy(**settings), TAGS, NOW)
    assert (Reason.UNPATCHED in decision.reasons) is unpatched


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param((), date(2026, 7, 29), id="shipped"),
        pytest.param(({"1.33": date(2027, 1, 1)},), date(2027, 1, 1), id="policy-override"),
        pytest.param(
            ({"1.33": date(2027, 1, 1)}, {"v1.33.0": date(2028, 1, 1)}),
            date(2028, 1, 1),
            id="provider-override-wins",
        ),
    ],
)
def test_calendar_overrides_apply_in_order(
    overrides: tuple[dict[str, date], ...], expected: date
) -> None:
    from reaper.providers.aws.calendar import EKS_END_OF_STANDARD_SUPPORT

    calendar = merged_calendar(EKS_END_OF_STANDARD_SUPPORT, *overrides)
    assert end_of_support("1.33.4-eks-abc", calendar) == expected


def test_the_shipped_calendar_has_no_gaps_and_ascending_dates() -> None:
    from reaper.providers.aws.calendar import EKS_END_OF_STANDARD_SUPPORT
    from reaper.versions import parse_version

    versions = sorted(EKS_END_OF_STANDARD_SUPPORT, key=parse_version)
    minors = [parse_version(v)[1] for v in versions]
    assert minors == list(range(minors[0], minors[0] + len(minors)))
    dates = [EKS_END_OF_STANDARD_SUPPORT[v] for v in versions]
    assert dates == sorted(dates)
