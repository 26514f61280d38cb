"""Attacks with tags, end to end on moto: lifecycle tags reaper did not sign.

Anyone with tag rights in a CI account can write any tag; reaper runs with delete rights.
Each case is an attack seen in the field, replayed against a sweep (or the ``reaper``
command) and checked on what moto says afterwards: the instance's state, its groups and
its tags, and the audit trail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from ec2_support import (
    EXPIRED,
    HOUR,
    MINUTE,
    REGION,
    ConfigFactory,
    KindsFactory,
    ReadAudit,
    ec2_client,
    events,
    instance_state,
    instance_tags,
    launch,
    lifecycle_settings,
    reaper_tags,
    sweep,
)
from signing import SIGNER

from reaper import lifecycle
from reaper.lifecycle import epoch
from reaper.model import Action, Reason, ResourceRef, Scope
from reaper.policy import UNVERIFIED
from reaper.results import ExitCode
from reaper.sandbox.moto_server import MotoServer


def _ref(instance_id: str) -> ResourceRef:
    return ResourceRef("aws", "ec2_instance", Scope("ci", REGION), instance_id)


def _forge(ec2: Any, instance_id: str, tags: dict[str, str]) -> None:
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


FORGED_QUARANTINE = {
    lifecycle.STATE: "quarantined",
    lifecycle.QUARANTINED_AT: "1",
    lifecycle.ACTION: "quarantine",
    lifecycle.REASON: "ttl-expired",
}


# -- forged lifecycle state ------------------------------------------------------------------


def test_a_forged_quarantine_on_a_young_instance_does_not_get_it_terminated(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    """As seen: 6 minutes old, expiring in 2099, "quarantined" since 1970."""
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    young = launch(
        ec2,
        sandbox,
        now,
        age=6 * MINUTE,
        tags={**FORGED_QUARANTINE, "reaper-expires-at": "2099-01-01T00:00:00Z"},
    )
    settings = lifecycle_settings(make_config, grace="1h")

    report = sweep(settings, make_kinds(settings), audit_path, now)

    assert report.exit_code == ExitCode.OK
    assert instance_state(ec2, young) == "running"
    (decision,) = report.plan.decisions
    assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.WITHIN_TTL,))
    assert decision.verified is False
    assert UNVERIFIED in decision.warnings
    assert not events(read_audit(audit_path), "intent", young)


def test_a_forged_quarantine_on_a_due_instance_gets_it_marked_not_terminated(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    due = launch(ec2, sandbox, now, age=EXPIRED, tags=FORGED_QUARANTINE)
    settings = lifecycle_settings(make_config, grace="1h")
    kinds = make_kinds(settings)

    marking = sweep(settings, kinds, audit_path, now)

    assert marking.exit_code == ExitCode.OK
    assert instance_state(ec2, due) == "running"
    # Marked now, by reaper, signed: the forged state is gone, the grace starts now.
    assert reaper_tags(ec2, due) == lifecycle.mark_tags(now, "delete", "ttl-expired")
    assert SIGNER.verify(_ref(due), instance_tags(ec2, due))
    (intent,) = events(read_audit(audit_path), "intent", due)
    assert (intent["action"], intent["intended"]) == ("mark", "delete")

    waiting = sweep(settings, kinds, audit_path, now + 30 * MINUTE)

    assert waiting.outcomes == ()
    assert instance_state(ec2, due) == "running"

    acting = sweep(settings, kinds, audit_path, now + HOUR)

    assert acting.exit_code == ExitCode.OK
    assert instance_state(ec2, due) == "terminated"


def test_a_forged_old_mark_gets_the_instance_marked_now_not_acted_on(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    month_ago = lifecycle.mark_tags(now - timedelta(days=30), "delete", "ttl-expired")
    due = launch(ec2, sandbox, now, age=EXPIRED, tags=month_ago)
    settings = lifecycle_settings(make_config, grace="1h")
    kinds = make_kinds(settings)

    marking = sweep(settings, kinds, audit_path, now)

    (outcome,) = marking.outcomes
    assert outcome.action is Action.MARK
    assert instance_state(ec2, due) == "running"
    assert reaper_tags(ec2, due)[lifecycle.MARKED_AT] == epoch(now)

    waiting = sweep(settings, kinds, audit_path, now + 59 * MINUTE)

    assert waiting.outcomes == ()
    assert instance_state(ec2, due) == "running"
