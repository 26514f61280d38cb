"""Attacks with tags, end to end on moto: lifecycle tags reaper did not sign, a release
asked of a resource reaper never quarantined, and the protect tag spelled another way.

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
import pytest
import yaml
from ec2_support import (
    EXPIRED,
    HOUR,
    MINUTE,
    REGION,
    ConfigFactory,
    KindsFactory,
    ReadAudit,
    cli,
    ec2_client,
    ec2_ref,
    events,
    instance_state,
    instance_tags,
    interface_groups,
    launch,
    lifecycle_config,
    lifecycle_settings,
    make_network,
    reaper_tags,
    sweep,
)
from signing import SIGNER

from reaper import lifecycle
from reaper.config import parse_settings
from reaper.lifecycle import epoch, quarantine_tags
from reaper.model import Action, Reason
from reaper.policy import UNVERIFIED
from reaper.providers.aws.ec2_isolation import ORIGINAL_GROUPS, ORIGINAL_STATE
from reaper.results import ExitCode
from reaper.sandbox.estate import SANDBOX_AMI
from reaper.sandbox.moto_server import MotoServer


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
    assert SIGNER.verify(ec2_ref(due), instance_tags(ec2, due))
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


# -- release of what reaper did not quarantine -------------------------------------------------


def _cli_config(tmp_path: Path, make_config: ConfigFactory) -> Path:
    path = tmp_path / "reaper.yaml"
    data = lifecycle_config(make_config, grace="0s", actions={"ttl-expired": "quarantine"})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _in_web_only(ec2: Any, sandbox: MotoServer, now: datetime, tags: dict[str, str]) -> Any:
    """An instance in the ``web`` group only, and the ``ssh`` group open to the world."""
    network = make_network(ec2)
    web, ssh = network.groups
    answer = ec2.run_instances(
        ImageId=SANDBOX_AMI,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": network.subnet, "Groups": [web]}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    )
    instance = str(answer["Instances"][0]["InstanceId"])
    (eni,) = interface_groups(ec2, instance)
    return instance, eni, web, ssh


@pytest.mark.parametrize(
    ("pipeline", "refusal"),
    [
        pytest.param(False, "it has no reaper-pipeline tag", id="untagged"),
        pytest.param(True, "its reaper-* tags are not signed", id="pipeline-tagged"),
    ],
)
def test_release_refuses_forged_originals_and_changes_nothing(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    audit_path: Path,
    read_audit: ReadAudit,
    tmp_path: Path,
    pipeline: bool,
    refusal: str,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    tags = {"reaper-pipeline": "gitlab-ci-4711"} if pipeline else {"team": "platform"}
    instance, eni, web, ssh = _in_web_only(ec2, sandbox, now, tags)
    # The forger names the group open to the world as the "original", and says quarantined.
    forged = {ORIGINAL_GROUPS: f"{eni}={ssh}", ORIGINAL_STATE: "running"}
    if pipeline:
        forged.update(quarantine_tags(now - HOUR, "ttl-expired"))
    _forge(ec2, instance, forged)

    released = cli(
        sandbox,
        tmp_path,
        "release",
        f"aws:ec2_instance:{instance}",
        "-c",
        _cli_config(tmp_path, make_config),
    )

    assert released.returncode == ExitCode.PARTIAL_FAILURE, released.stderr
    assert f"aws:ec2_instance:{instance}: failed refused: {refusal}" in released.stdout
    assert interface_groups(ec2, instance) == {eni: {web}}
    assert instance_state(ec2, instance) == "running"
    assert forged.items() <= instance_tags(ec2, instance).items()
    (record,) = [r for r in read_audit(audit_path) if r["resource"]["id"] == instance]
    assert (record["event"], record["action"], record["result"]) == ("skipped", "release", "failed")
    assert refusal in record["message"]


def test_release_refuses_a_quarantine_whose_originals_were_edited_afterwards(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    tmp_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    instance, eni, web, ssh = _in_web_only(ec2, sandbox, now, {"reaper-pipeline": "gitlab-ci-4711"})
    sandbox.age_instances("123456789012", REGION, {instance: now - EXPIRED})
    config = _cli_config(tmp_path, make_config)
    settings = parse_settings(yaml.safe_load(config.read_text()), str(config))
    sweep(settings, make_kinds(settings), audit_path, now)
    (quarantine_group,) = interface_groups(ec2, instance)[eni]
    assert reaper_tags(ec2, instance)[lifecycle.STATE] == "quarantined"
    _forge(ec2, instance, {ORIGINAL_GROUPS: f"{eni}={ssh}"})

    edited = cli(sandbox, tmp_path, "release", f"aws:ec2_instance:{instance}", "-c", config)

    assert edited.returncode == ExitCode.PARTIAL_FAILURE
    assert "refused: its reaper-* tags are not signed" in edited.stdout
    assert interface_groups(ec2, instance) == {eni: {quarantine_group}}
    assert instance_state(ec2, instance) == "stopped"

    # Put back as reaper wrote it, the release goes through and restores the real group.
    _forge(ec2, instance, {ORIGINAL_GROUPS: f"{eni}={web}"})
    released = cli(sandbox, tmp_path, "release", f"aws:ec2_instance:{instance}", "-c", config)

    assert released.returncode == ExitCode.OK, released.stderr
    assert interface_groups(ec2, instance) == {eni: {web}}
    assert instance_state(ec2, instance) == "running"
    assert reaper_tags(ec2, instance) == {}


def test_release_refuses_a_resource_reaper_only_marked(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    tmp_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    instance = launch(ec2, sandbox, now)
    settings = lifecycle_settings(make_config, grace="1h")
    sweep(settings, make_kinds(settings), audit_path, now)
    assert reaper_tags(ec2, instance)[lifecycle.STATE] == "marked"

    released = cli(
        sandbox,
        tmp_path,
        "release",
        f"aws:ec2_instance:{instance}",
        "-c",
        _cli_config(tmp_path, make_config),
    )

    assert released.returncode == ExitCode.PARTIAL_FAILURE
    assert "refused: reaper did not quarantine it" in released.stdout
    assert reaper_tags(ec2, instance)[lifecycle.STATE] == "marked"


# -- the protect tag, however it is spelled ----------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("Reaper-Protect", "true", id="title-case"),
        pytest.param("REAPER_PROTECT", "yes", id="upper-underscore"),
        pytest.param("reaper_protect", "", id="underscore-no-value"),
        # reaper's own prefix: read as the user's protect key, never as reaper's state
        pytest.param("reaper-Protect", "true", id="own-prefix-title-case"),
        pytest.param("reaper-PROTECT", "on", id="own-prefix-upper"),
    ],
)
def test_an_expired_instance_protected_in_another_spelling_is_kept(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
    key: str,
    value: str,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    protected = launch(ec2, sandbox, now, tags={key: value})
    unprotected = launch(ec2, sandbox, now)
    settings = lifecycle_settings(make_config, grace="0s")

    report = sweep(settings, make_kinds(settings), audit_path, now)

    assert report.exit_code == ExitCode.OK
    assert instance_state(ec2, protected) == "running"
    assert instance_state(ec2, unprotected) == "terminated"
    decisions = {d.ref.id: d for d in report.plan.decisions}
    assert decisions[protected].reasons == (Reason.PROTECTED,)
    assert decisions[protected].verified
    assert not events(read_audit(audit_path), "intent", protected)
    # A sweep after a grace period keeps it too, and its protect tag is where it was.
    later = sweep(settings, make_kinds(settings), audit_path, now + timedelta(hours=2))
    assert later.exit_code == ExitCode.OK
    assert instance_state(ec2, protected) == "running"
    assert instance_tags(ec2, protected)[key] == value
