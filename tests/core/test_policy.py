"""Unit cases for the pure policy: decide, make_plan and the blast-radius brake."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from reaper.config import PolicySettings, SafetySettings, TagKeys
from reaper.errors import BrakeCount, ReaperError, SafetyLimitExceeded
from reaper.model import Action, Decision, Plan, Reason, Resource, ResourceRef, Scope
from reaper.policy import check_brake, decide, make_plan

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TAGS = TagKeys()
SCOPE = Scope("ci", "us-east-1")
# No per-kind override: the default TTL of 24h applies unless a test says otherwise.
# These cases are about deadlines, so the policy acts on first sight (no grace period);
# the mark-then-act lifecycle has its own tests in test_lifecycle_policy.py.
POLICY = PolicySettings.model_validate({"default_ttl": "24h", "grace_period": "0s"})
PIPELINE = {"reaper-pipeline": "gitlab-ci-4711"}


def resource(
    tags: Mapping[str, str],
    age: timedelta | None = 2 * HOUR,
    *,
    provider: str = "aws",
    kind: str = "ec2_instance",
    id: str = "i-0abc",
    scope: Scope = SCOPE,
) -> Resource:
    """A resource created ``age`` before NOW (None: creation time unknown)."""
    return Resource(
        ref=ResourceRef(provider, kind, scope, id),
        name=id,
        created_at=None if age is None else NOW - age,
        tags=dict(tags),
    )


def policy(default_ttl: str = "24h", **kinds: str) -> PolicySettings:
    """A policy; keyword arguments are per-kind TTLs (use ``aws__ec2_instance`` for ``:``)."""
    return PolicySettings.model_validate(
        {
            "default_ttl": default_ttl,
            "grace_period": "0s",
            "kinds": {k.replace("__", ":"): {"ttl": v} for k, v in kinds.items()},
        }
    )


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- decide: the safety rules ------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param({}, id="no-tags"),
        pytest.param({"team": "platform"}, id="unrelated-tags"),
        pytest.param({"reaper-ttl": "1h"}, id="ttl-but-no-pipeline"),
        pytest.param({"reaper-expires-at": iso(NOW - HOUR)}, id="expired-but-no-pipeline"),
        pytest.param({"Reaper-Pipeline": "x"}, id="pipeline-key-wrong-case"),
    ],
)
def test_resource_without_pipeline_tag_is_kept(tags: dict[str, str]) -> None:
    decision = decide(resource(tags, age=365 * 24 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.NOT_PIPELINE,)


def test_empty_pipeline_value_still_counts_as_pipeline_tagged() -> None:
    decision = decide(resource({"reaper-pipeline": ""}, age=48 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.DELETE


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("true", id="true"),
        pytest.param("", id="empty"),
        pytest.param("yes", id="yes"),
        pytest.param("TRUE", id="TRUE"),
        pytest.param("until-friday", id="free-text"),
        pytest.param("falsey", id="falsey-is-not-false"),
    ],
)
def test_protect_tag_keeps_an_expired_resource(value: str) -> None:
    tags = {**PIPELINE, "reaper-protect": value, "reaper-expires-at": iso(NOW - HOUR)}
    decision = decide(resource(tags, age=30 * 24 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.PROTECTED,)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("false", id="false"),
        pytest.param("no", id="no"),
        pytest.param("0", id="zero"),
        pytest.param("off", id="off"),
        pytest.param(" False ", id="False-padded"),
        pytest.param("NO", id="NO"),
    ],
)
def test_explicit_false_protect_value_does_not_protect(value: str) -> None:
    tags = {**PIPELINE, "reaper-protect": value}
    decision = decide(resource(tags, age=48 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.TTL_EXPIRED,)


def test_protect_wins_over_an_invalid_tag() -> None:
    tags = {**PIPELINE, "reaper-protect": "true", "reaper-ttl": "3 dayz"}
    decision = decide(resource(tags), POLICY, TAGS, NOW)
    assert decision.reasons == (Reason.PROTECTED,)


@pytest.mark.parametrize(
    ("extra", "tag_key", "bad_value"),
    [
        pytest.param({"reaper-ttl": "3 dayz"}, "reaper-ttl", "3 dayz", id="ttl-3-dayz"),
        pytest.param({"reaper-ttl": "-2h"}, "reaper-ttl", "-2h", id="ttl-negative"),
        pytest.param({"reaper-ttl": "0h"}, "reaper-ttl", "0h", id="ttl-zero"),
        pytest.param({"reaper-ttl": ""}, "reaper-ttl", "", id="ttl-empty"),
        pytest.param(
            {"reaper-expires-at": "next-tuesday"},
            "reaper-expires-at",
            "next-tuesday",
            id="expiry-words",
        ),
        pytest.param(
            {"reaper-expires-at": "2026-01-01T00:00:00"},
            "reaper-expires-at",
            "2026-01-01T00:00:00",
            id="expiry-naive",
        ),
        pytest.param(
            {"reaper-ttl": "3 dayz", "reaper-expires-at": iso(NOW - HOUR)},
            "reaper-ttl",
            "3 dayz",
            id="bad-ttl-with-passed-expiry",
        ),
        pytest.param(
            {"reaper-ttl": "1h", "reaper-expires-at": "soon"},
            "reaper-expires-at",
            "soon",
            id="bad-expiry-with-expired-ttl",
        ),
    ],
)
def test_invalid_reaper_tag_keeps_the_resource_and_says_why(
    extra: dict[str, str], tag_key: str, bad_value: str
) -> None:
    decision = decide(resource({**PIPELINE, **extra}, age=30 * 24 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.INVALID_TAG,)
    assert len(decision.warnings) == 1
    assert decision.warnings[0].startswith(f"tag {tag_key}: {bad_value!r}")


def test_both_tags_invalid_gives_two_warnings() -> None:
    tags = {**PIPELINE, "reaper-ttl": "3 dayz", "reaper-expires-at": "next-tuesday"}
    decision = decide(resource(tags), POLICY, TAGS, NOW)
    assert decision.reasons == (Reason.INVALID_TAG,)
    assert [w.split(":")[0] for w in decision.warnings] == [
        "tag reaper-ttl",
        "tag reaper-expires-at",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"reaper-ttl": "99999999999999999w"}, id="ttl-overflows-timedelta"),
        pytest.param({"reaper-expires-at": "0001-01-01T00:00:00+01:00"}, id="expiry-out-of-range"),
    ],
)
def test_overflowing_tag_value_is_an_invalid_tag_not_a_crash(extra: dict[str, str]) -> None:
    decision = decide(resource({**PIPELINE, **extra}), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.INVALID_TAG,)


def test_unknown_age_without_expiry_is_kept() -> None:
    decision = decide(resource(PIPELINE, age=None), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.UNKNOWN_AGE,)
    assert decision.deadline is None


def test_unknown_age_with_passed_expiry_is_deleted() -> None:
    tags = {**PIPELINE, "reaper-expires-at": iso(NOW - HOUR)}
    decision = decide(resource(tags, age=None), POLICY, TAGS, NOW)
    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.EXPIRY_PASSED,)
    assert decision.deadline == NOW - HOUR


# --- decide: deadlines --------------------------------------------------------------------


def test_young_resource_is_within_ttl_with_its_deadline() -> None:
    decision = decide(resource(PIPELINE, age=2 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.WITHIN_TTL,)
    assert decision.deadline == NOW - 2 * HOUR + 24 * HOUR
    assert decision.not_before is None


@pytest.mark.parametrize(
    ("settings", "tags", "age", "expected_ttl"),
    [
        pytest.param(policy("24h"), {"reaper-ttl": "2h"}, 3 * HOUR, 2 * HOUR, id="ttl-tag"),
        pytest.param(
            policy("24h", ec2_instance="6h"),
            {"reaper-ttl": "2h"},
            3 * HOUR,
            2 * HOUR,
            id="ttl-tag-beats-kind",
        ),
        pytest.param(policy("24h", ec2_instance="6h"), {}, 7 * HOUR, 6 * HOUR, id="kind-key"),
        pytest.param(
            policy("24h", aws__ec2_instance="5h"), {}, 7 * HOUR, 5 * HOUR, id="provider-kind-key"
        ),
        pytest.param(
            policy("24h", ec2_instance="6h", aws__ec2_instance="5h"),
            {},
            7 * HOUR,
            5 * HOUR,
            id="provider-kind-beats-kind",
        ),
        pytest.param(policy("4h"), {}, 5 * HOUR, 4 * HOUR, id="default-ttl"),
        pytest.param(
            policy("4h", ec2_instance="6h"), {}, 7 * HOUR, 6 * HOUR, id="kind-beats-default"
        ),
    ],
)
def test_ttl_expired_uses_the_most_specific_ttl(
    settings: PolicySettings, tags: dict[str, str], age: timedelta, expected_ttl: timedelta
) -> None:
    created = NOW - age
    decision = decide(resource({**PIPELINE, **tags}, age=age), settings, TAGS, NOW)
    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.TTL_EXPIRED,)
    assert decision.deadline == created + expected_ttl
    assert decision.not_before == decision.deadline


def test_ttl_tag_longer_than_the_default_keeps_the_resource() -> None:
    tags = {**PIPELINE, "reaper-ttl": "2d"}
    decision = decide(resource(tags, age=30 * HOUR), policy("24h"), TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.WITHIN_TTL,)


def test_kind_ttl_does_not_apply_to_another_kind() -> None:
    settings = policy("24h", aws__ec2_instance="1h")
    other = resource(PIPELINE, age=3 * HOUR, provider="gcp", kind="ec2_instance")
    assert decide(other, settings, TAGS, NOW).action is Action.KEEP


@pytest.mark.parametrize(
    "expiry",
    [
        pytest.param(iso(NOW - HOUR), id="rfc3339"),
        pytest.param(str(int((NOW - HOUR).timestamp())), id="epoch-seconds"),
        pytest.param((NOW - HOUR).astimezone().isoformat(), id="local-offset"),
    ],
)
def test_passed_expiry_deletes_a_young_resource(expiry: str) -> None:
    tags = {**PIPELINE, "reaper-expires-at": expiry}
    decision = decide(resource(tags, age=HOUR / 2), POLICY, TAGS, NOW)
    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.EXPIRY_PASSED,)
    assert decision.deadline == NOW - HOUR


@pytest.mark.parametrize(
    "ttl_tag",
    [
        pytest.param({}, id="default-ttl-expired"),
        pytest.param({"reaper-ttl": "1h"}, id="ttl-tag-expired"),
    ],
)
def test_future_expiry_wins_over_an_expired_ttl(ttl_tag: dict[str, str]) -> None:
    tags = {**PIPELINE, **ttl_tag, "reaper-expires-at": iso(NOW + 48 * HOUR)}
    decision = decide(resource(tags, age=10 * 24 * HOUR), POLICY, TAGS, NOW)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.WITHIN_TTL,)
    assert decision.deadline == NOW + 48 * HOUR


@pytest.mark.parametrize(
    ("offset", "action"),
    [
        pytest.param(timedelta(0), Action.DELETE, id="now-equals-deadline-deletes"),
        pytest.param(timedelta(seconds=1), Action.DELETE, id="one-second-after-deletes"),
        pytest.param(-timedelta(seconds=1), Action.KEEP, id="one-second-before-keeps"),
    ],
)
@pytest.mark.parametrize("via", ["ttl", "expiry"])
def test_deadline_boundary(offset: timedelta, action: Action, via: str) -> None:
    deadline = NOW - 5 * HOUR
    if via == "ttl":
        res = resource({**PIPELINE, "reaper-ttl": "3h"}, age=8 * HOUR)
    else:
        res = resource({**PIPELINE, "reaper-expires-at": iso(deadline)}, age=HOUR)
    decision = decide(res, POLICY, TAGS, deadline + offset)
    assert decision.deadline == deadline
    assert decision.action is action


def test_custom_tag_keys_are_used() -> None:
    keys = TagKeys(
        pipeline="ci-run", ttl="ci-ttl", expires_at="ci-exp", protect="ci-keep", owner="ci-owner"
    )
    res = resource({"ci-run": "1", "ci-ttl": "1h"}, age=2 * HOUR)
    assert decide(res, POLICY, keys, NOW).action is Action.DELETE
    assert decide(res, POLICY, TAGS, NOW).reasons == (Reason.NOT_PIPELINE,)


# --- make_plan ----------------------------------------------------------------------------


def test_make_plan_decides_each_ref_once_and_counts_pipeline_population() -> None:
    old = 48 * HOUR
    resources = [
        resource(PIPELINE, old, id="i-1"),
        resource(PIPELINE, old, id="i-1"),  # seen twice, e.g. from overlapping pages
        resource(PIPELINE, HOUR, id="i-2"),
        resource({**PIPELINE, "reaper-protect": "true"}, old, id="i-3"),
        resource({"team": "x"}, old, id="i-4"),  # untagged: not in the population
        resource({}, old, id="i-5"),
        resource(PIPELINE, old, id="i-1", scope=Scope("staging", "us-east-1")),
        resource(PIPELINE, old, provider="gcp", kind="compute_instance", id="vm-1"),
    ]
    plan = make_plan(resources, POLICY, TAGS, NOW)

    assert plan.created_at == NOW
    assert len(plan.decisions) == 7
    assert len({d.ref for d in plan.decisions}) == 7
    assert dict(plan.population) == {"aws:ec2_instance": 4, "gcp:compute_instance": 1}
    assert plan.count(Action.DELETE) == 3
    assert {str(d.ref) for d in plan.actionable()} == {
        "aws:ec2_instance:i-1",
        "gcp:compute_instance:vm-1",
    }


def test_make_plan_order_does_not_depend_on_input_order() -> None:
    resources = [resource(PIPELINE, HOUR * n, id=f"i-{n}") for n in range(1, 6)]
    forward = make_plan(resources, POLICY, TAGS, NOW)
    backward = make_plan(list(reversed(resources)), POLICY, TAGS, NOW)
    assert forward == backward
    assert [d.ref.id for d in forward.decisions] == ["i-1", "i-2", "i-3", "i-4", "i-5"]


def test_make_plan_of_nothing_is_empty() -> None:
    plan = make_plan([], POLICY, TAGS, NOW)
    assert plan.decisions == ()
    assert dict(plan.population) == {}


# --- check_brake --------------------------------------------------------------------------


def brake_plan(groups: Mapping[str, tuple[int, int]], action: Action = Action.DELETE) -> Plan:
    """A plan with, per ``provider:kind``, (destructive decisions, pipeline population)."""
    decisions: list[Decision] = []
    for key, (acting, size) in groups.items():
        provider, kind = key.split(":")
        for n in range(size):
            res = resource(PIPELINE, provider=provider, kind=kind, id=f"{kind}-{n}")
            if n < acting:
                decisions.append(Decision(res, action, (Reason.TTL_EXPIRED,)))
            else:
                decisions.append(Decision(res, Action.KEEP, (Reason.WITHIN_TTL,)))
    population = {key: size for key, (_, size) in groups.items()}
    return Plan(created_at=NOW, decisions=tuple(decisions), population=population)


def safety(
    max_actions: int = 50, max_fraction: float = 1.0, min_for_fraction: int = 0
) -> SafetySettings:
    return SafetySettings(
        max_actions_per_sweep=max_actions,
        max_fraction=max_fraction,
        min_actions_for_fraction=min_for_fraction,
    )


def test_brake_stops_more_actions_than_max_actions_per_sweep() -> None:
    plan = brake_plan({"aws:ec2_instance": (2, 10), "gcp:compute_instance": (2, 10)})
    with pytest.raises(SafetyLimitExceeded) as excinfo:
        check_brake(plan, safety(max_actions=3))
    err = excinfo.value
    assert isinstance(err, ReaperError)
    assert err.reasons == ("4 actions planned, more than max_actions_per_sweep=3",)
    assert err.counts == (
        BrakeCount(group="aws:ec2_instance", actions=2, population=10),
        BrakeCount(group="gcp:compute_instance", actions=2, population=10),
    )
    assert str(err) == "safety brake: 4 actions planned, more than max_actions_per_sweep=3"


def test_brake_stops_too_large_a_fraction_of_one_kind() -> None:
    plan = brake_plan({"aws:ec2_instance": (6, 10), "gcp:compute_instance": (1, 10)})
    with pytest.raises(SafetyLimitExceeded) as excinfo:
        check_brake(plan, safety(max_fraction=0.5))
    assert excinfo.value.reasons == (
        "aws:ec2_instance: 6 of 10 pipeline resources planned (60%), more than max_fraction=0.5",
    )
    assert BrakeCount("aws:ec2_instance", 6, 10) in excinfo.value.counts


def test_brake_reports_every_limit_exceeded() -> None:
    plan = brake_plan({"aws:ec2_instance": (3, 3), "gcp:compute_instance": (3, 4)})
    with pytest.raises(SafetyLimitExceeded) as excinfo:
        check_brake(plan, safety(max_actions=5, max_fraction=0.5))
    reasons = excinfo.value.reasons
    assert len(reasons) == 3
    assert reasons[0] == "6 actions planned, more than max_actions_per_sweep=5"
    assert reasons[1].startswith("aws:ec2_instance: 3 of 3 pipeline resources planned (100%)")
    assert reasons[2].startswith("gcp:compute_instance: 3 of 4 pipeline resources planned (75%)")


def test_the_fraction_spares_a_small_population_but_the_total_still_counts() -> None:
    """8 of 10 pipeline VMs expired over a weekend: cleaned, although 80% > max_fraction."""
    weekend = brake_plan({"aws:ec2_instance": (8, 10)})
    check_brake(weekend, safety(max_fraction=0.5, min_for_fraction=10))

    over = brake_plan({"aws:ec2_instance": (11, 14)})
    with pytest.raises(SafetyLimitExceeded, match="11 of 14 pipeline resources planned"):
        check_brake(over, safety(max_fraction=0.5, min_for_fraction=10))

    with pytest.raises(SafetyLimitExceeded, match="max_actions_per_sweep=5"):
        check_brake(weekend, safety(max_actions=5, max_fraction=0.5, min_for_fraction=10))


def test_brake_counts_quarantine_as_destructive() -> None:
    plan = brake_plan({"aws:ec2_instance": (2, 10)}, action=Action.QUARANTINE)
    with pytest.raises(SafetyLimitExceeded, match="2 actions planned"):
        check_brake(plan, safety(max_actions=1))


def test_brake_ignores_marks_and_keeps() -> None:
    plan = brake_plan({"aws:ec2_instance": (10, 10)}, action=Action.MARK)
    check_brake(plan, safety(max_actions=0, max_fraction=0.1))


@pytest.mark.parametrize(
    ("groups", "limits"),
    [
        pytest.param({"aws:ec2_instance": (3, 10)}, safety(max_actions=3), id="actions-at-limit"),
        pytest.param(
            {"aws:ec2_instance": (5, 10)}, safety(max_fraction=0.5), id="fraction-at-limit"
        ),
        pytest.param(
            {"aws:ec2_instance": (1, 4)}, safety(max_fraction=0.25), id="quarter-at-limit"
        ),
        pytest.param(
            {"aws:ec2_instance": (0, 10)}, safety(max_actions=0), id="nothing-with-zero-limit"
        ),
        pytest.param(
            {"aws:ec2_instance": (1, 1)}, safety(max_actions=1, max_fraction=1.0), id="all-of-one"
        ),
    ],
)
def test_brake_passes_exactly_at_the_limit(
    groups: dict[str, tuple[int, int]], limits: SafetySettings
) -> None:
    check_brake(brake_plan(groups), limits)


@pytest.mark.parametrize(
    ("groups", "limits", "message"),
    [
        pytest.param(
            {"aws:ec2_instance": (4, 10)},
            safety(max_actions=3),
            "4 actions planned, more than max_actions_per_sweep=3",
            id="actions-one-over",
        ),
        pytest.param(
            {"aws:ec2_instance": (6, 10)},
            safety(max_fraction=0.5),
            "6 of 10 pipeline resources planned (60%)",
            id="fraction-one-over",
        ),
        pytest.param(
            {"aws:ec2_instance": (1, 10)},
            safety(max_actions=0),
            "1 actions planned, more than max_actions_per_sweep=0",
            id="zero-limit-one-action",
        ),
    ],
)
def test_brake_trips_one_over_the_limit(
    groups: dict[str, tuple[int, int]], limits: SafetySettings, message: str
) -> None:
    with pytest.raises(SafetyLimitExceeded) as excinfo:
        check_brake(brake_plan(groups), limits)
    assert any(message in reason for reason in excinfo.value.reasons)


@pytest.mark.parametrize(
    ("acting", "population", "fraction"),
    [
        pytest.param(57, 100, 0.57, id="57-of-100-at-0.57"),
        pytest.param(63, 90, 0.7, id="63-of-90-at-0.7"),
    ],
)
def test_brake_passes_exactly_at_a_decimal_fraction(
    acting: int, population: int, fraction: float
) -> None:
    check_brake(
        brake_plan({"aws:ec2_instance": (acting, population)}),
        safety(max_actions=1000, max_fraction=fraction),
    )


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
def test_make_plan_leaves_the_cycle_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        make_plan([], PolicySettings(), TagKeys(), NOW)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
