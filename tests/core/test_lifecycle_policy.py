"""Unit cases for the lifecycle in the pure policy: mark -> grace -> act, unmark, quarantine,
the quarantine TTL and the backoff after failures.

Every resource here is past its deadline unless a case says otherwise, and its lifecycle
tags are built with ``reaper.lifecycle``'s own writers and signed with the test state key,
so the cases read the tags exactly as the actuator writes them. Tags reaper did not sign
are what anyone with tag rights can write: they are ignored (see the last section).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from signing import FORGER, SIGNER, signed

from reaper import lifecycle
from reaper.config import PolicySettings, TagKeys
from reaper.lifecycle import epoch, mark_tags, quarantine_tags
from reaper.model import Action, Decision, Reason, Resource, ResourceRef, Scope
from reaper.policy import decide

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GRACE = HOUR
QUARANTINE_TTL = 3 * DAY
TAGS = TagKeys()
PIPELINE = {"reaper-pipeline": "gitlab-ci-4711", "reaper-owner": "team-payments"}
# Created two days before NOW with the default TTL of 24h: due since NOW - 1d.
AGE = 2 * DAY
DUE = NOW - AGE + DAY


def policy(**settings: Any) -> PolicySettings:
    """The policy under test: 24h TTL, 1h grace, 3d quarantine TTL, unless overridden."""
    return PolicySettings.model_validate(
        {
            "default_ttl": "24h",
            "grace_period": "1h",
            "quarantine_ttl": "3d",
            **settings,
        }
    )


POLICY = policy()
QUARANTINE = policy(actions={"ttl-expired": "quarantine"})


def resource(
    *tag_sets: Mapping[str, str],
    age: timedelta = AGE,
    kind: str = "ec2_instance",
    sign: bool = True,
    isolated: bool | None = None,
) -> Resource:
    """A pipeline resource created ``age`` before NOW, with the given tags merged in and
    reaper's own among them signed (unless ``sign`` is False: as a forger writes them).
    ``isolated``: what the collector read back of a quarantined resource's isolation."""
    tags = dict(PIPELINE)
    for tag_set in tag_sets:
        tags.update(tag_set)
    ref = ResourceRef("aws", kind, Scope("ci", "us-east-1"), "i-0abc")
    return Resource(
        ref=ref,
        name="i-0abc",
        created_at=NOW - age,
        tags=signed(ref, tags) if sign else tags,
        owner=tags.get("reaper-owner"),
        isolated=isolated,
    )


def marked(ago: timedelta, action: str = "delete", reason: str = "ttl-expired") -> dict[str, str]:
    """The tags of a resource marked ``ago`` before NOW."""
    return mark_tags(NOW - ago, action, reason)


def quarantined(ago: timedelta) -> dict[str, str]:
    """The tags of a resource quarantined ``ago`` before NOW."""
    return quarantine_tags(NOW - ago, "ttl-expired")


def failed(times: int, ago: timedelta) -> dict[str, str]:
    """The tags of a resource whose last of ``times`` failed attempts was ``ago`` before NOW."""
    return {lifecycle.FAILURES: str(times), lifecycle.LAST_FAILURE_AT: epoch(NOW - ago)}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def decide_now(
    resource: Resource, settings: PolicySettings = POLICY, at: datetime = NOW
) -> Decision:
    return decide(resource, settings, TAGS, at, SIGNER)


# --- mark -> grace -> act ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        pytest.param({}, Reason.TTL_EXPIRED, id="ttl-expired"),
        pytest.param(
            {"reaper-expires-at": iso(NOW - MINUTE)}, Reason.EXPIRY_PASSED, id="expiry-passed"
        ),
    ],
)
def test_first_sight_of_a_due_resource_marks_it(extra: dict[str, str], reason: Reason) -> None:
    decision = decide_now(resource(extra))

    assert decision.action is Action.MARK
    assert decision.reasons == (reason,)
    assert decision.intended is Action.DELETE
    assert decision.not_before == NOW + GRACE
    assert decision.failures == 0
    assert decision.escalated is False


def test_a_marked_resource_in_its_grace_period_is_kept() -> None:
    decision = decide_now(resource(marked(10 * MINUTE)))

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.TTL_EXPIRED, Reason.IN_GRACE)
    assert decision.intended is Action.DELETE
    assert decision.deadline == DUE
    assert decision.not_before == NOW - 10 * MINUTE + GRACE


def test_a_marked_resource_is_acted_on_once_its_grace_has_passed() -> None:
    decision = decide_now(resource(marked(61 * MINUTE)))

    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.TTL_EXPIRED,)
    assert decision.not_before == NOW - 61 * MINUTE + GRACE


@pytest.mark.parametrize(
    ("offset", "action"),
    [
        pytest.param(-timedelta(seconds=1), Action.KEEP, id="a-second-before"),
        pytest.param(timedelta(0), Action.DELETE, id="at-the-end-of-the-grace"),
    ],
)
def test_the_grace_period_ends_exactly_grace_after_the_mark(
    offset: timedelta, action: Action
) -> None:
    marked_at = NOW - 5 * HOUR
    at = marked_at + GRACE + offset

    decision = decide_now(resource(mark_tags(marked_at, "delete", "ttl-expired")), at=at)

    assert decision.action is action


def test_a_mark_without_its_time_is_written_again() -> None:
    tags = {lifecycle.STATE: "marked", lifecycle.ACTION: "delete"}

    decision = decide_now(resource(tags))

    assert decision.action is Action.MARK
    assert decision.not_before == NOW + GRACE


def test_zero_grace_acts_on_first_sight() -> None:
    decision = decide_now(resource(), policy(grace_period="0s"))

    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.TTL_EXPIRED,)
    assert decision.not_before == DUE


# --- unmark ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner_tags", "reason"),
    [
        pytest.param({"reaper-ttl": "30d"}, Reason.WITHIN_TTL, id="ttl-extended"),
        pytest.param(
            {"reaper-expires-at": iso(NOW + DAY)}, Reason.WITHIN_TTL, id="expiry-moved-later"
        ),
        pytest.param({"reaper-protect": "true"}, Reason.PROTECTED, id="protect-tag-added"),
        pytest.param({"reaper-protect": ""}, Reason.PROTECTED, id="protect-tag-without-value"),
    ],
)
@pytest.mark.parametrize(
    "ago",
    [
        pytest.param(10 * MINUTE, id="in-grace"),
        pytest.param(2 * HOUR, id="grace-passed"),
    ],
)
def test_a_marked_resource_that_no_longer_qualifies_is_unmarked(
    owner_tags: dict[str, str], reason: Reason, ago: timedelta
) -> None:
    decision = decide_now(resource(marked(ago), owner_tags))

    assert decision.action is Action.UNMARK
    assert decision.reasons == (reason,)


def test_protect_false_does_not_unmark() -> None:
    decision = decide_now(resource(marked(2 * HOUR), {"reaper-protect": "false"}))

    assert decision.action is Action.DELETE


def test_an_unmarked_resource_within_its_ttl_is_simply_kept() -> None:
    decision = decide_now(resource(age=HOUR))

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.WITHIN_TTL,)


# --- choosing quarantine ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"actions": {"ttl-expired": "quarantine"}}, id="policy-actions"),
        pytest.param(
            {"kinds": {"ec2_instance": {"actions": {"ttl-expired": "quarantine"}}}},
            id="kind-actions",
        ),
        pytest.param(
            {"kinds": {"aws:ec2_instance": {"actions": {"ttl-expired": "quarantine"}}}},
            id="provider-kind-actions",
        ),
        pytest.param(
            {
                "actions": {"ttl-expired": "delete"},
                "kinds": {"ec2_instance": {"actions": {"ttl-expired": "quarantine"}}},
            },
            id="kind-over-policy",
        ),
    ],
)
def test_actions_can_choose_quarantine(settings: dict[str, Any]) -> None:
    chosen = policy(**settings)

    first = decide_now(resource(), chosen)
    after_grace = decide_now(resource(marked(2 * HOUR, "quarantine")), chosen)
    no_grace = decide_now(resource(), policy(**settings, grace_period="0s"))

    assert (first.action, first.intended) == (Action.MARK, Action.QUARANTINE)
    assert after_grace.action is Action.QUARANTINE
    assert no_grace.action is Action.QUARANTINE


def test_a_kind_rule_for_delete_overrides_a_policy_rule_for_quarantine() -> None:
    chosen = policy(
        actions={"ttl-expired": "quarantine"},
        kinds={"ec2_instance": {"actions": {"ttl-expired": "delete"}}},
    )

    assert decide_now(resource(marked(2 * HOUR)), chosen).action is Action.DELETE


def test_actions_apply_to_their_reason_and_kind_only() -> None:
    chosen = policy(
        actions={"expiry-passed": "quarantine"},
        kinds={"ec2_instance": {"actions": {"ttl-expired": "quarantine"}}},
    )

    other_kind = decide_now(resource(kind="gke_cluster"), chosen)
    other_reason = decide_now(resource({"reaper-expires-at": iso(NOW - MINUTE)}), chosen)

    assert other_kind.intended is Action.DELETE
    assert other_reason.intended is Action.QUARANTINE


def test_a_resource_marked_for_delete_is_marked_again_when_the_policy_turns_to_quarantine() -> None:
    decision = decide_now(resource(marked(2 * HOUR, "delete")), QUARANTINE)

    # The owner was told "delete"; the new action gets its own announcement and grace.
    assert decision.action is Action.MARK
    assert decision.intended is Action.QUARANTINE
    assert decision.not_before == NOW + GRACE


# --- quarantine TTL ---------------------------------------------------------------------------


def test_a_quarantined_resource_is_kept_within_the_quarantine_ttl() -> None:
    decision = decide_now(resource(quarantined(DAY), isolated=True), QUARANTINE)

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.QUARANTINED,)
    assert decision.deadline == NOW - DAY + QUARANTINE_TTL


@pytest.mark.parametrize(
    ("offset", "action"),
    [
        pytest.param(-timedelta(seconds=1), Action.KEEP, id="a-second-before"),
        pytest.param(timedelta(0), Action.DELETE, id="at-the-end"),
        pytest.param(MINUTE, Action.DELETE, id="a-minute-after"),
    ],
)
def test_a_quarantined_resource_is_deleted_when_the_quarantine_ttl_ends(
    offset: timedelta, action: Action
) -> None:
    quarantined_at = NOW - 5 * DAY
    at = quarantined_at + QUARANTINE_TTL + offset

    tags = quarantine_tags(quarantined_at, "ttl-expired")

    decision = decide_now(resource(tags, isolated=True), QUARANTINE, at)

    assert decision.action is action
    if action is Action.DELETE:
        assert decision.reasons == (Reason.QUARANTINE_EXPIRED,)
        assert decision.not_before == quarantined_at + QUARANTINE_TTL


def test_a_quarantine_expires_even_when_the_policy_has_turned_back_to_delete() -> None:
    decision = decide_now(resource(quarantined(4 * DAY)), POLICY)

    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.QUARANTINE_EXPIRED,)


@pytest.mark.parametrize(
    "owner_tags",
    [
        pytest.param({"reaper-ttl": "30d"}, id="ttl-extended"),
        pytest.param({"reaper-expires-at": iso(NOW + DAY)}, id="expiry-moved-later"),
    ],
)
def test_a_quarantine_is_never_lifted_by_the_policy(owner_tags: dict[str, str]) -> None:
    """Only `reaper release` undoes a quarantine: extending the TTL keeps it in place."""
    decision = decide_now(resource(quarantined(DAY), owner_tags, isolated=True), QUARANTINE)

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.QUARANTINED,)


@pytest.mark.parametrize(
    "ago",
    [
        pytest.param(DAY, id="within-quarantine-ttl"),
        pytest.param(30 * DAY, id="quarantine-ttl-passed"),
    ],
)
def test_a_protected_quarantined_resource_is_kept_and_not_released(ago: timedelta) -> None:
    decision = decide_now(resource(quarantined(ago), {"reaper-protect": "true"}), QUARANTINE)

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.PROTECTED,)
    assert any("reaper release" in w for w in decision.warnings)


@pytest.mark.parametrize(
    "isolated",
    [
        pytest.param(False, id="reads-back-open"),
        pytest.param(None, id="could-not-tell"),
    ],
)
def test_a_quarantine_that_does_not_read_back_isolated_is_done_again(
    isolated: bool | None,
) -> None:
    """Cut short, failed part-way, or reopened since: quarantined again, now, keeping the
    quarantine's own deadline (the tags' quarantine time)."""
    decision = decide_now(resource(quarantined(DAY), isolated=isolated), QUARANTINE)

    assert decision.action is Action.QUARANTINE
    assert decision.reasons == (Reason.QUARANTINE_INCOMPLETE,)
    assert decision.deadline == NOW - DAY + QUARANTINE_TTL
    assert decision.not_before == NOW


def test_a_quarantine_that_keeps_failing_to_isolate_backs_off_and_escalates() -> None:
    settings = policy(actions={"ttl-expired": "quarantine"}, retry=RETRY)
    tags = (quarantined(DAY), failed(3, 10 * MINUTE))

    held = decide_now(resource(*tags, isolated=False), settings)
    retried = decide_now(resource(*tags, isolated=False), settings, NOW + 2 * HOUR)

    assert held.action is Action.KEEP
    assert held.reasons == (Reason.QUARANTINE_INCOMPLETE, Reason.RETRY_BACKOFF)
    assert held.intended is Action.QUARANTINE
    assert retried.action is Action.QUARANTINE
    assert held.escalated is retried.escalated is True


def test_an_open_quarantine_past_its_ttl_is_deleted() -> None:
    decision = decide_now(resource(quarantined(4 * DAY), isolated=False), QUARANTINE)

    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.QUARANTINE_EXPIRED,)


def test_a_quarantined_resource_without_its_time_is_kept() -> None:
    tags = {lifecycle.STATE: "quarantined", lifecycle.ACTION: "quarantine"}

    decision = decide_now(resource(tags), QUARANTINE)

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.INVALID_TAG,)
    assert any(lifecycle.QUARANTINED_AT in w for w in decision.warnings)


# --- tags reaper did not write ----------------------------------------------------------------


def _forged_elsewhere(tags: dict[str, str]) -> dict[str, str]:
    """Tags signed by reaper for another resource, copied onto this one."""
    other = ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-0other")
    return signed(other, tags)


def _signed_then_edited(tags: dict[str, str], key: str, value: str) -> dict[str, str]:
    """Tags reaper signed for this resource, one of them changed afterwards."""
    ref = ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-0abc")
    return {**signed(ref, {**PIPELINE, **tags}), key: value}


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param(
            {**quarantine_tags(datetime.fromtimestamp(1, UTC), "ttl-expired")},
            id="quarantined-at-1-unsigned",
        ),
        pytest.param(marked(30 * DAY), id="old-mark-unsigned"),
        pytest.param(failed(9, MINUTE), id="failures-unsigned"),
        pytest.param({lifecycle.STATE: "bogus"}, id="bogus-state-unsigned"),
        pytest.param(
            {**marked(30 * DAY), lifecycle.SIGNATURE: "0" * 32}, id="old-mark-made-up-signature"
        ),
        pytest.param(
            FORGER.signed(
                ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-0abc"),
                marked(30 * DAY),
            ),
            id="old-mark-signed-with-another-key",
        ),
        pytest.param(_forged_elsewhere(quarantined(30 * DAY)), id="quarantine-of-another-resource"),
        pytest.param(
            _signed_then_edited(marked(10 * MINUTE), lifecycle.MARKED_AT, epoch(NOW - 30 * DAY)),
            id="mark-moved-back-after-signing",
        ),
        pytest.param(
            _signed_then_edited(marked(10 * MINUTE), "reaper-original-sgs", "eni-1=sg-open"),
            id="original-added-after-signing",
        ),
    ],
)
def test_lifecycle_tags_reaper_did_not_sign_count_as_unmarked_and_it_is_marked_now(
    tags: dict[str, str],
) -> None:
    decision = decide_now(resource(tags, sign=False), QUARANTINE)

    assert decision.action is Action.MARK
    assert decision.reasons == (Reason.TTL_EXPIRED,)
    assert decision.intended is Action.QUARANTINE
    assert decision.not_before == NOW + GRACE  # the grace starts now
    assert decision.failures == 0
    assert decision.verified is False
    assert any("not signed" in w for w in decision.warnings)


def test_unsigned_lifecycle_tags_are_marked_over_first_even_without_a_grace_period() -> None:
    """No grace to skip, but nothing is acted on in the sweep that finds forged tags: the
    mark replaces them with reaper's own, and the next sweep acts (forged failures do not
    hold it back)."""
    tags = {**failed(9, MINUTE), **marked(10 * MINUTE, "quarantine")}

    decision = decide_now(resource(tags, sign=False), policy(grace_period="0s"))
    unforged = decide_now(resource(), policy(grace_period="0s"))

    assert (decision.action, decision.intended) == (Action.MARK, Action.DELETE)
    assert decision.not_before == NOW
    assert decision.failures == 0
    assert decision.verified is False
    assert unforged.action is Action.DELETE


def test_without_a_key_no_lifecycle_tag_is_reaper_s() -> None:
    keyless = decide(resource(marked(2 * HOUR)), POLICY, TAGS, NOW)

    assert keyless.action is Action.MARK
    assert keyless.verified is False


@pytest.mark.parametrize(
    ("tags", "key"),
    [
        pytest.param({lifecycle.STATE: "bogus"}, lifecycle.STATE, id="unknown-state"),
        pytest.param({lifecycle.STATE: "Marked"}, lifecycle.STATE, id="state-wrong-case"),
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "yesterday"},
            lifecycle.MARKED_AT,
            id="marked-at-a-word",
        ),
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "2026-03-01T10:00:00Z"},
            lifecycle.MARKED_AT,
            id="marked-at-rfc3339",
        ),
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "-1"}, lifecycle.MARKED_AT, id="negative"
        ),
        pytest.param(
            {**quarantined(DAY), lifecycle.QUARANTINED_AT: "soon"},
            lifecycle.QUARANTINED_AT,
            id="quarantined-at-a-word",
        ),
        pytest.param({lifecycle.FAILURES: "two"}, lifecycle.FAILURES, id="failures-a-word"),
        pytest.param({lifecycle.FAILURES: "-1"}, lifecycle.FAILURES, id="failures-negative"),
        pytest.param({lifecycle.FAILURES: "²"}, lifecycle.FAILURES, id="failures-superscript"),
        pytest.param(
            {**failed(1, MINUTE), lifecycle.LAST_FAILURE_AT: "1.5e9"},
            lifecycle.LAST_FAILURE_AT,
            id="last-failure-float",
        ),
        # Digits, but no time a datetime can hold (or add a grace period to): these used to
        # raise out of decide() and stop the whole sweep.
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "9" * 20},
            lifecycle.MARKED_AT,
            id="marked-at-beyond-time_t",
        ),
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "1772366400000"},
            lifecycle.MARKED_AT,
            id="marked-at-in-milliseconds",
        ),
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "253402300799"},
            lifecycle.MARKED_AT,
            id="marked-at-end-of-year-9999",
        ),
        pytest.param(
            {**quarantined(DAY), lifecycle.QUARANTINED_AT: "253402300799"},
            lifecycle.QUARANTINED_AT,
            id="quarantined-at-end-of-year-9999",
        ),
        pytest.param(
            {**marked(2 * HOUR), lifecycle.MARKED_AT: "١٧٧٢٣٦٦٤٠٠"},
            lifecycle.MARKED_AT,
            id="marked-at-in-arabic-indic-digits",
        ),
    ],
)
def test_a_signed_lifecycle_tag_that_does_not_parse_keeps_the_resource(
    tags: dict[str, str], key: str
) -> None:
    """Signed, so reaper wrote it (an older or a broken version): keep, and say which."""
    decision = decide_now(resource(tags))

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.INVALID_TAG,)
    assert len(decision.warnings) == 1
    assert key in decision.warnings[0]


def test_a_signed_lifecycle_tag_that_does_not_parse_wins_over_protection() -> None:
    decision = decide_now(resource({lifecycle.STATE: "bogus", "reaper-protect": "true"}))

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.INVALID_TAG,)


def test_an_unsigned_lifecycle_tag_does_not_win_over_protection() -> None:
    tags = {lifecycle.STATE: "bogus", "reaper-protect": "true"}

    decision = decide_now(resource(tags, sign=False))

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.PROTECTED,)


# --- failures and backoff ----------------------------------------------------------------------

RETRY = {"backoff": "30m", "max_backoff": "4h", "escalate_after": 3}
NO_GRACE = policy(grace_period="0s", retry=RETRY)


@pytest.mark.parametrize(
    ("settings", "state"),
    [
        pytest.param(NO_GRACE, {}, id="acting-on-first-sight"),
        pytest.param(policy(retry=RETRY), marked(3 * HOUR), id="marked-grace-passed"),
    ],
)
def test_a_recent_failure_holds_the_next_attempt_back(
    settings: PolicySettings, state: dict[str, str]
) -> None:
    decision = decide_now(resource(state, failed(1, 10 * MINUTE)), settings)

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.TTL_EXPIRED, Reason.RETRY_BACKOFF)
    assert decision.intended is Action.DELETE
    assert decision.not_before == NOW - 10 * MINUTE + 30 * MINUTE
    assert decision.failures == 1
    assert decision.escalated is False


def test_after_the_backoff_the_action_is_tried_again_with_its_failures() -> None:
    decision = decide_now(resource(failed(1, 31 * MINUTE)), NO_GRACE)

    assert decision.action is Action.DELETE
    assert decision.reasons == (Reason.TTL_EXPIRED,)
    assert decision.failures == 1
    assert decision.escalated is False


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        pytest.param(1, 30 * MINUTE, id="1-failure"),
        pytest.param(2, HOUR, id="2-failures"),
        pytest.param(3, 2 * HOUR, id="3-failures"),
        pytest.param(4, 4 * HOUR, id="4-failures-hits-max"),
        pytest.param(10, 4 * HOUR, id="10-failures-capped"),
        pytest.param(1000, 4 * HOUR, id="1000-failures-capped"),
    ],
)
def test_the_backoff_doubles_up_to_its_maximum(failures: int, wait: timedelta) -> None:
    last = NOW - 10 * MINUTE

    held = decide_now(resource(failed(failures, 10 * MINUTE)), NO_GRACE)
    retried = decide_now(resource(failed(failures, 10 * MINUTE)), NO_GRACE, last + wait)

    assert held.action is Action.KEEP
    assert held.not_before == last + wait
    assert retried.action is Action.DELETE
    assert retried.failures == failures


@pytest.mark.parametrize(
    ("failures", "escalated"),
    [
        pytest.param(2, False, id="below"),
        pytest.param(3, True, id="at-escalate-after"),
        pytest.param(7, True, id="above"),
    ],
)
def test_repeated_failures_are_escalated(failures: int, escalated: bool) -> None:
    waiting = decide_now(resource(failed(failures, MINUTE)), NO_GRACE)
    trying = decide_now(resource(failed(failures, 30 * DAY)), NO_GRACE)

    assert (waiting.action, trying.action) == (Action.KEEP, Action.DELETE)
    assert waiting.escalated is trying.escalated is escalated
    assert waiting.failures == trying.failures == failures


def test_a_failed_quarantine_backs_off_too() -> None:
    settings = policy(grace_period="0s", actions={"ttl-expired": "quarantine"}, retry=RETRY)

    held = decide_now(resource(failed(1, 10 * MINUTE)), settings)

    assert held.action is Action.KEEP
    assert held.intended is Action.QUARANTINE
    assert Reason.RETRY_BACKOFF in held.reasons


def test_a_failed_delete_after_quarantine_backs_off_too() -> None:
    tags = (quarantined(4 * DAY), failed(1, 10 * MINUTE))

    held = decide_now(resource(*tags), policy(retry=RETRY))

    assert held.action is Action.KEEP
    assert held.reasons == (Reason.QUARANTINE_EXPIRED, Reason.RETRY_BACKOFF)
    assert held.intended is Action.DELETE


def test_failures_of_a_protected_resource_do_not_matter() -> None:
    decision = decide_now(resource(failed(5, MINUTE), {"reaper-protect": "true"}), NO_GRACE)

    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.PROTECTED,)


# -- the user's keys in any spelling are never reaper's own --------------------------------


@given(
    upper=st.lists(st.booleans(), min_size=len("protect"), max_size=len("protect")),
    value=st.sampled_from(["true", "yes", "", "on"]),
)
def test_a_protect_tag_in_reapers_own_prefix_is_the_users_and_protects(
    upper: list[bool], value: str
) -> None:
    """``reaper-Protect`` starts with reaper's prefix, but it is the protect key as people
    misspell it: never reaper's own (unsigned, so ignored and removed) state; it protects."""
    key = "reaper-" + "".join(c.upper() if u else c for c, u in zip("protect", upper, strict=True))
    tags = {**PIPELINE, key: value}
    ref = ResourceRef("aws", "ec2_instance", Scope("ci", "us-east-1"), "i-1")
    resource = Resource(ref, "vm", NOW - AGE, tags)

    assert SIGNER.owned(tags) == {}
    decision = decide(resource, policy(), TAGS, NOW, SIGNER)
    assert (decision.action, decision.reasons, decision.verified) == (
        Action.KEEP,
        (Reason.PROTECTED,),
        True,
    )
