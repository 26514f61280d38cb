"""Hypothesis properties guarding the safety rules of the policy.

Resources carry random tags, including reaper's own keys with valid, odd and garbage
values, signed with the test state key or not (forged); creation times, ``now`` and the
policy's TTLs are random too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import event, given, settings
from hypothesis import strategies as st
from signing import FORGER, SIGNER, signed

from reaper.config import PolicySettings, SafetySettings, TagKeys
from reaper.durations import MAX_DURATION, format_duration, parse_duration, parse_timestamp
from reaper.errors import SafetyLimitExceeded
from reaper.model import (
    Action,
    Decision,
    ImageFacts,
    Plan,
    PortRange,
    Reason,
    Resource,
    ResourceRef,
    Scope,
)
from reaper.policy import check_brake, decide, make_plan

TAGS = TagKeys()
PROPERTY = settings(max_examples=100, deadline=None)
NOT_PROTECTING = ("false", "no", "0", "off")

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
# Mostly hours to days, so that plenty of resources expire; sometimes anything up to the max.
durations = st.one_of(
    st.integers(1, 7 * 86400), st.integers(1, int(MAX_DURATION.total_seconds()))
).map(lambda s: timedelta(seconds=s))

# Garbage is kept short: long digit runs overflow the parsers (a known bug, covered by
# strict xfails in test_durations.py and test_policy.py), which would hide the properties.
_garbage = st.text(max_size=9) | st.sampled_from(
    ["", " ", "3 dayz", "-1h", "0h", "10", "1.5h", "1d 12h", "3661d", "true", "never"]
)
valid_ttls = durations.map(format_duration) | durations.map(lambda d: format_duration(d).upper())
valid_expiries = st.builds(
    lambda moment, offset, style: (
        str(int(moment.timestamp()))
        if style == "epoch"
        else moment.astimezone(timezone(timedelta(minutes=offset))).isoformat()
        if style == "offset"
        else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    ),
    moments,
    st.integers(-12 * 60, 14 * 60),
    st.sampled_from(["epoch", "offset", "zulu"]),
)
naive_or_garbage_expiries = _garbage | moments.map(lambda m: m.replace(tzinfo=None).isoformat())


def _parses(parser: Callable[[str], object], value: str) -> bool:
    try:
        parser(value)
    except ValueError:
        return False
    return True


bad_ttls = _garbage.filter(lambda v: not _parses(parse_duration, v))
bad_expiries = naive_or_garbage_expiries.filter(lambda v: not _parses(parse_timestamp, v))
protecting_values = st.text(max_size=8).filter(lambda v: v.strip().lower() not in NOT_PROTECTING)
protect_values = protecting_values | st.sampled_from([*NOT_PROTECTING, "FALSE", " No "])

REAPER_KEYS = {TAGS.pipeline, TAGS.ttl, TAGS.expires_at, TAGS.protect, TAGS.owner}
other_tags = st.dictionaries(
    st.text(min_size=1, max_size=6).filter(lambda k: k not in REAPER_KEYS),
    st.text(max_size=6),
    max_size=3,
)
KINDS = [("aws", "ec2_instance"), ("gcp", "compute_instance")]
# reaper's own lifecycle tags, well-formed or not: marks, quarantine, failure counts.
epochs = moments.map(lambda m: str(int(m.timestamp())))
lifecycle_tags = st.fixed_dictionaries(
    {},
    optional={
        "reaper-state": st.sampled_from(["marked", "quarantined"]) | _garbage,
        "reaper-marked-at": epochs | _garbage,
        "reaper-action": st.sampled_from(["delete", "quarantine"]) | _garbage,
        "reaper-reason": st.sampled_from(["ttl-expired", "expiry-passed"]),
        "reaper-quarantined-at": epochs | _garbage,
        "reaper-failures": st.integers(0, 40).map(str) | _garbage,
        "reaper-last-failure-at": epochs | _garbage,
    },
)


images = st.builds(
    ImageFacts,
    id=st.just("ami-1"),
    created_at=st.none() | moments,
    deprecated_at=st.none() | moments,
    missing=st.booleans(),
)
port_ranges = st.builds(
    PortRange,
    protocol=st.sampled_from(["tcp", "udp", "all"]),
    from_port=st.integers(0, 65535),
    to_port=st.integers(0, 65535),
)


@st.composite
def resources(
    draw: st.DrawFn, *, pipeline: bool | None = None, protect: bool | None = None
) -> Resource:
    """A resource; ``pipeline``/``protect`` force the tag present or absent (None: random)."""
    tags = draw(other_tags)
    if pipeline if pipeline is not None else draw(st.booleans()):
        tags[TAGS.pipeline] = draw(st.text(max_size=12))
    if draw(st.booleans()):
        tags[TAGS.ttl] = draw(valid_ttls | _garbage)
    if draw(st.booleans()):
        tags[TAGS.expires_at] = draw(valid_expiries | naive_or_garbage_expiries)
    if protect is True:
        tags[TAGS.protect] = draw(protecting_values)
    elif protect is None and draw(st.booleans()):
        tags[TAGS.protect] = draw(protect_values)
    if draw(st.booleans()):
        tags[TAGS.owner] = draw(st.text(max_size=8))
    if draw(st.booleans()):
        tags.update(draw(lifecycle_tags))
    provider, kind = draw(st.sampled_from(KINDS))
    scope = Scope(
        draw(st.sampled_from(["ci", "staging"])), draw(st.sampled_from(["us-east-1", ""]))
    )
    ident = draw(st.sampled_from(["i-1", "i-2", "i-3", "i-4", "i-5", "i-6"]))
    ref = ResourceRef(provider, kind, scope, ident)
    if draw(st.booleans()):
        tags = signed(ref, tags)  # as reaper wrote them; else as anyone may have
    return Resource(
        ref=ref,
        name=ident,
        created_at=draw(st.none() | moments),
        tags=tags,
        isolated=draw(st.none() | st.booleans()),
        image=draw(st.none() | images),
        public=draw(st.booleans()),
        open_to_world=tuple(draw(st.lists(port_ranges, max_size=3))),
        kubernetes_version=draw(st.none() | st.sampled_from(["1.24", "1.33", "1.35", "v1.x"])),
    )


@st.composite
def policies(draw: st.DrawFn) -> PolicySettings:
    kinds: dict[str, dict[str, str]] = {}
    for key in ("ec2_instance", "aws:ec2_instance"):
        if draw(st.booleans()):
            kinds[key] = {"ttl": format_duration(draw(durations))}
    default_ttl = format_duration(draw(durations))
    grace = draw(st.sampled_from(["0s", "1h", "1d"]))
    return PolicySettings.model_validate(
        {"default_ttl": default_ttl, "kinds": kinds, "grace_period": grace}
    )


safeties = st.builds(
    lambda n, f, m: SafetySettings(
        max_actions_per_sweep=n, max_fraction=f, min_actions_for_fraction=m
    ),
    st.integers(0, 25),
    st.floats(0, 1, exclude_min=True),
    st.integers(0, 12),
)


# --- decide ---------------------------------------------------------------------------------


@PROPERTY
@given(resources(protect=True), policies(), moments)
def test_a_protected_resource_is_never_deleted(
    res: Resource, policy: PolicySettings, now: datetime
) -> None:
    decision = decide(res, policy, TAGS, now, SIGNER)
    # Kept as it is, or only cleared of reaper's marks.
    assert decision.action in (Action.KEEP, Action.UNMARK)
    assert not decision.action.destructive


@PROPERTY
@given(resources(pipeline=False), policies(), moments)
def test_a_resource_without_the_pipeline_tag_is_never_deleted(
    res: Resource, policy: PolicySettings, now: datetime
) -> None:
    decision = decide(res, policy, TAGS, now, SIGNER)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.NOT_PIPELINE,)


@PROPERTY
@given(
    resources(pipeline=True, protect=False),
    st.sampled_from(["ttl", "expiry", "both"]),
    bad_ttls,
    bad_expiries,
    policies(),
    moments,
)
def test_a_resource_with_an_unparsable_reaper_tag_is_never_deleted(
    res: Resource,
    which: str,
    bad_ttl: str,
    bad_expiry: str,
    policy: PolicySettings,
    now: datetime,
) -> None:
    tags = dict(res.tags)
    if which in ("ttl", "both"):
        tags[TAGS.ttl] = bad_ttl
    if which in ("expiry", "both"):
        tags[TAGS.expires_at] = bad_expiry
    broken = Resource(res.ref, res.name, res.created_at, tags)
    decision = decide(broken, policy, TAGS, now, SIGNER)
    assert decision.action is Action.KEEP
    assert decision.reasons == (Reason.INVALID_TAG,)
    assert decision.warnings


@PROPERTY
@given(resources(), policies(), moments)
def test_decide_is_deterministic(res: Resource, policy: PolicySettings, now: datetime) -> None:
    copy = replace(res, tags=dict(res.tags))
    assert decide(res, policy, TAGS, now, SIGNER) == decide(copy, policy, TAGS, now, SIGNER)


@PROPERTY
@given(
    resources(pipeline=True),
    policies(),
    moments,
    st.none() | st.integers(-10 * 86400, 10 * 86400).map(lambda s: timedelta(seconds=s)),
)
def test_deadlines_are_consistent_with_the_action(
    res: Resource, policy: PolicySettings, now: datetime, age: timedelta | None
) -> None:
    if age is not None:  # created close to now, so both sides of the deadline are seen
        res = replace(res, created_at=now - age)
    decision = decide(res, policy, TAGS, now, SIGNER)
    event(f"{decision.action}: {', '.join(decision.reasons)}")
    if decision.reasons == (Reason.QUARANTINE_INCOMPLETE,):
        # Quarantined again: reaper's own signed state says quarantined, the isolation
        # did not read back; the quarantine's deadline stays where it was.
        assert decision.action is Action.QUARANTINE
        assert SIGNER.verify(res.ref, res.tags)
        assert res.tags.get("reaper-state") == "quarantined"
        assert res.isolated is not True
        assert decision.not_before == now
    elif decision.action in (Action.DELETE, Action.QUARANTINE):
        # Acting: the deadline has passed and so has the grace after the mark.
        assert decision.deadline is not None
        assert decision.deadline <= now
        assert decision.not_before is not None
        assert decision.not_before <= now
        acting = {Reason.TTL_EXPIRED, Reason.EXPIRY_PASSED, Reason.UNPATCHED, Reason.EXPOSED}
        assert decision.reasons == (Reason.QUARANTINE_EXPIRED,) or (
            decision.reasons and set(decision.reasons) <= acting
        )
        if policy.grace_period and decision.reasons != (Reason.QUARANTINE_EXPIRED,):
            marked_at = res.tags.get("reaper-marked-at", "")
            assert res.tags.get("reaper-state") == "marked"
            assert marked_at.isdigit()
            assert int(marked_at) + policy.grace_period.total_seconds() <= now.timestamp()
    elif decision.action is Action.MARK:
        # Announcing: due now, acting no earlier than one grace period from now.
        assert decision.deadline is not None
        assert decision.deadline <= now
        assert decision.not_before == now + policy.grace_period
        assert decision.intended in (Action.DELETE, Action.QUARANTINE)
    else:
        assert decision.action in (Action.KEEP, Action.UNMARK)
        if decision.reasons == (Reason.WITHIN_TTL,):
            assert decision.deadline is not None
            assert decision.deadline > now


# Owned tags as anyone may write them: reaper's keys and made-up ``reaper-`` ones, any
# values, and a signature that is missing, made up, reaper's for another resource or for
# other values, or made with another key.
owned_tags = st.dictionaries(
    st.sampled_from(
        [
            "reaper-state",
            "reaper-marked-at",
            "reaper-action",
            "reaper-quarantined-at",
            "reaper-failures",
            "reaper-last-failure-at",
            "reaper-original-sgs",
            "reaper-x",
        ]
    ),
    st.sampled_from(["marked", "quarantined", "delete", "quarantine", "1", "0"])
    | epochs
    | _garbage,
    min_size=1,
)


@st.composite
def forged(draw: st.DrawFn) -> tuple[Resource, str]:
    """A pipeline resource carrying owned tags that do not verify, and how they were forged."""
    res = draw(resources(pipeline=True))
    user = {k: v for k, v in res.tags.items() if k in REAPER_KEYS or not k.startswith("reaper-")}
    owned = draw(owned_tags)
    other = ResourceRef(res.ref.provider, res.ref.kind, res.ref.scope, res.ref.id + "-other")
    how = draw(st.sampled_from(["unsigned", "made-up", "other-resource", "edited", "other-key"]))
    tags = {**user, **owned}
    if how == "made-up":
        tags["reaper-signature"] = draw(
            st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
        )
    elif how == "other-resource":
        tags = signed(other, tags)
    elif how == "edited":
        key = draw(st.sampled_from(sorted(owned)))
        tags = {**signed(res.ref, tags), key: owned[key] + "0"}
    elif how == "other-key":
        tags = {**tags, **FORGER.signed(res.ref, FORGER.owned(tags))}
    return replace(res, tags=tags, isolated=draw(st.none() | st.booleans())), how


@settings(PROPERTY, max_examples=300)
@given(forged(), policies(), moments)
def test_owned_tags_that_do_not_verify_never_lead_to_a_delete_or_a_quarantine(
    forgery: tuple[Resource, str], policy: PolicySettings, now: datetime
) -> None:
    """Whatever reaper's own tags say, if reaper did not sign them: at most marked now,
    whatever the grace period (even none)."""
    res, how = forgery
    event(how)
    assert not SIGNER.verify(res.ref, res.tags)

    decision = decide(res, policy, TAGS, now, SIGNER)
    (planned,) = make_plan([res], policy, TAGS, now, SIGNER).decisions

    event(f"{decision.action}: {', '.join(decision.reasons)}")
    for d in (decision, planned):
        assert not d.action.destructive
        assert d.verified is False
        assert d.failures == 0
        if d.action is Action.MARK:
            assert d.not_before == now + policy.grace_period


def _spelled(draw: st.DrawFn, key: str) -> str:
    """``key`` in any case, each dash a dash or an underscore."""
    return "".join(
        draw(st.sampled_from(["-", "_"]))
        if c == "-"
        else draw(st.sampled_from([c.lower(), c.upper()]))
        for c in key
    )


@st.composite
def loosely_protected(draw: st.DrawFn) -> Resource:
    """A pipeline resource protected by the protect key spelled any which way."""
    res = draw(resources(pipeline=True, protect=False))
    key = _spelled(draw, TAGS.protect)
    tags = {k: v for k, v in res.tags.items() if k != TAGS.protect}
    tags[key] = draw(protecting_values)
    return replace(res, tags=tags)


@settings(PROPERTY, max_examples=300)
@given(loosely_protected(), policies(), moments)
def test_the_protect_key_protects_in_any_case_with_dashes_or_underscores(
    res: Resource, policy: PolicySettings, now: datetime
) -> None:
    event("exact key" if TAGS.protect in res.tags else "loose spelling")
    decision = decide(res, policy, TAGS, now, SIGNER)
    (planned,) = make_plan([res], policy, TAGS, now, SIGNER).decisions

    for d in (decision, planned):
        assert d.action in (Action.KEEP, Action.UNMARK)
        assert not d.action.destructive


@st.composite
def in_transition(draw: st.DrawFn) -> Resource:
    """A pipeline resource caught between two states, reaper's tags on it signed or forged,
    quarantined or not, expired, unpatched or exposed as it may be."""
    res = draw(resources(pipeline=True) | forged().map(lambda f: f[0]))
    state = draw(st.sampled_from(["stopping", "suspending", "shutting-down", ""]))
    return replace(res, transitioning=True, state=state)


@settings(PROPERTY, max_examples=300)
@given(in_transition(), policies(), moments)
def test_a_transitioning_resource_is_never_deleted_or_quarantined(
    res: Resource, policy: PolicySettings, now: datetime
) -> None:
    """Whatever its tags, deadline, risks or quarantine say: kept (at most unmarked, when
    protected), and decided again on a later sweep."""
    decision = decide(res, policy, TAGS, now, SIGNER)
    (planned,) = make_plan([res], policy, TAGS, now, SIGNER).decisions

    event(f"{decision.action}: {', '.join(decision.reasons)}")
    for d in (decision, planned):
        assert not d.action.destructive
        assert d.action in (Action.KEEP, Action.UNMARK)
        assert d.reasons in ((Reason.IN_TRANSITION,), (Reason.PROTECTED,), (Reason.INVALID_TAG,))


# --- make_plan and the brake ---------------------------------------------------------------


@st.composite
def sweeps(draw: st.DrawFn) -> tuple[list[Resource], datetime]:
    """What one sweep sees at ``now``: messy resources and plain pipeline leftovers."""
    now = draw(moments)
    leftovers = st.builds(
        lambda res, age: Resource(
            res.ref, res.name, now - age, {TAGS.pipeline: "gitlab-ci-1", "team": "x"}
        ),
        resources(),
        st.integers(0, 5 * 86400).map(lambda s: timedelta(seconds=s)),
    )
    return draw(st.lists(resources() | leftovers, max_size=30)), now


@settings(PROPERTY, max_examples=200)
@given(sweeps(), policies(), safeties)
def test_the_brake_never_lets_through_more_than_its_limits(
    sweep: tuple[list[Resource], datetime], policy: PolicySettings, safety: SafetySettings
) -> None:
    items, now = sweep
    plan = make_plan(items, policy, TAGS, now, SIGNER)
    assert len(plan.decisions) == len({r.ref for r in items})
    acting = Counter(d.ref.kind_key for d in plan.decisions if d.action.destructive)
    over_total = sum(acting.values()) > safety.max_actions_per_sweep
    small = safety.min_actions_for_fraction
    over_kind = [
        key
        for key, n in acting.items()
        if n > small and n > safety.max_fraction * plan.population.get(key, 0)
    ]
    tripped = _brake(plan, safety)
    if tripped is None:
        event("brake passed with destructive actions" if acting else "brake passed, nothing to do")
        assert sum(acting.values()) <= safety.max_actions_per_sweep
        for key, n in acting.items():
            # Within the fraction, or a population small enough to be spared the fraction.
            assert n <= small or n <= safety.max_fraction * plan.population[key]
            if n > safety.max_fraction * plan.population[key]:
                event("a small population passed over max_fraction")
    else:
        event("brake tripped")
        assert over_total or over_kind, "the brake tripped although no limit was exceeded"
        assert {c.group: c.actions for c in tripped.counts} == dict(acting)
        assert len(tripped.reasons) == int(over_total) + len(over_kind)


def _counted_plan(groups: dict[str, tuple[int, int]]) -> Plan:
    """A plan acting on ``acting`` of ``size`` pipeline resources per kind key."""
    decisions = []
    for key, (acting, size) in groups.items():
        provider, kind = key.split(":")
        for n in range(size):
            res = Resource(
                ref=ResourceRef(provider, kind, Scope("ci", "us-east-1"), f"{kind}-{n}"),
                name=f"{kind}-{n}",
                created_at=_NOW,
                tags={TAGS.pipeline: "run-1"},
            )
            action = Action.DELETE if n < acting else Action.KEEP
            decisions.append(Decision(res, action, (Reason.TTL_EXPIRED,)))
    return Plan(_NOW, tuple(decisions), {key: size for key, (_, size) in groups.items()})


_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_GROUPS = st.dictionaries(
    st.sampled_from(["aws:ec2_instance", "aws:eks_cluster", "gcp:gce_instance"]),
    st.integers(1, 40).flatmap(lambda size: st.tuples(st.integers(0, size), st.just(size))),
    max_size=3,
)


@settings(PROPERTY, max_examples=300)
@given(_GROUPS, safeties)
def test_small_populations_are_spared_the_fraction_never_the_total(
    groups: dict[str, tuple[int, int]], safety: SafetySettings
) -> None:
    """A kind with at most ``min_actions_for_fraction`` actions never trips ``max_fraction``;
    ``max_actions_per_sweep`` holds whatever the populations."""
    plan = _counted_plan(groups)
    total = sum(acting for acting, _ in groups.values())
    tripped = _brake(plan, safety)
    if total > safety.max_actions_per_sweep:
        assert tripped is not None
        assert any("max_actions_per_sweep" in r for r in tripped.reasons)
    if tripped is None:
        assert total <= safety.max_actions_per_sweep
        return
    for reason in tripped.reasons:
        if "max_fraction" in reason:
            key = reason.split(":", 2)[0] + ":" + reason.split(":", 2)[1]
            acting, size = groups[key]
            assert acting > safety.min_actions_for_fraction, reason
            assert acting > safety.max_fraction * size, reason


def _brake(plan: Plan, safety: SafetySettings) -> SafetyLimitExceeded | None:
    """The brake's verdict: the exception it raised, or None if the plan may go ahead."""
    try:
        check_brake(plan, safety)
    except SafetyLimitExceeded as err:
        return err
    return None
