"""Quarantine as a state verified every sweep, on EC2 and moto: a quarantine that fails
part-way is not recorded as done and is retried, and one someone undoes is done again.

What happened is read back from moto (tags, instance state, the security groups of each
network interface) and from the audit trail; faults come from the counting proxy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
from ec2_support import (
    DAY,
    HOUR,
    MINUTE,
    QUARANTINE_TTL,
    REGION,
    ConfigFactory,
    KindsFactory,
    ReadAudit,
    actions,
    ec2_client,
    ec2_ref,
    events,
    instance_state,
    instance_tags,
    interface_groups,
    launch_in,
    lifecycle_settings,
    make_network,
    quarantine_groups,
    reaper_tags,
    sweep,
)
from signing import SIGNER

from reaper import lifecycle
from reaper.lifecycle import epoch
from reaper.model import Action, Reason, Result
from reaper.providers.aws.ec2_isolation import ORIGINAL_GROUPS, ORIGINAL_STATE, decode_groups
from reaper.report import plan_to_json
from reaper.results import ExitCode
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy


def test_a_quarantine_refused_part_way_is_not_recorded_retried_after_backoff_and_escalated(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    proxy: CountingProxy,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    network = make_network(ec2)
    instance = launch_in(ec2, sandbox, now, network)
    (eni,) = interface_groups(ec2, instance)
    settings = lifecycle_settings(
        make_config,
        grace="0s",
        actions={"ttl-expired": "quarantine"},
        retry={"backoff": "30m", "max_backoff": "12h", "escalate_after": 2},
    )
    kinds = make_kinds(settings, proxy.endpoint_url)
    # reaper may tag and stop, but not move an interface to another group.
    proxy.add_fault(REGION, "ModifyNetworkInterfaceAttribute", 403, "UnauthorizedOperation")

    first = sweep(settings, kinds, audit_path, now)

    assert first.exit_code == ExitCode.PARTIAL_FAILURE
    (failure,) = first.failed
    assert failure.action is Action.QUARANTINE
    assert "UnauthorizedOperation" in failure.message
    # Still running in its open groups, and not said to be quarantined: the originals are
    # recorded (signed) and the failure counted, nothing more.
    assert instance_state(ec2, instance) == "running"
    assert interface_groups(ec2, instance) == {eni: set(network.groups)}
    tags = reaper_tags(ec2, instance)
    assert lifecycle.STATE not in tags
    assert {k: set(v) for k, v in decode_groups(tags[ORIGINAL_GROUPS]).items()} == {
        eni: set(network.groups)
    }
    assert tags[ORIGINAL_STATE] == "running"
    assert (tags[lifecycle.FAILURES], tags[lifecycle.LAST_FAILURE_AT]) == ("1", epoch(now))
    assert SIGNER.verify(ec2_ref(instance), instance_tags(ec2, instance))
    assert actions(read_audit(audit_path), instance) == [
        ("intent", "quarantine", ""),
        ("outcome", "quarantine", "failed"),
    ]

    # Within the backoff: not attempted.
    proxy.reset_counts()
    waiting = sweep(settings, kinds, audit_path, now + MINUTE)

    (held,) = waiting.plan.decisions
    assert (held.action, held.intended) == (Action.KEEP, Action.QUARANTINE)
    assert Reason.RETRY_BACKOFF in held.reasons
    assert proxy.count("ec2", "ModifyNetworkInterfaceAttribute") == 0

    # After it: attempted again, and failing again...
    retry_at = now + 31 * MINUTE
    retried = sweep(settings, kinds, audit_path, retry_at)

    assert retried.exit_code == ExitCode.PARTIAL_FAILURE
    assert proxy.count("ec2", "ModifyNetworkInterfaceAttribute") == 1
    assert reaper_tags(ec2, instance)[lifecycle.FAILURES] == "2"

    # ...which escalates it after escalate_after=2 failures.
    escalated_at = retry_at + 61 * MINUTE
    report = sweep(settings, kinds, audit_path, escalated_at)

    document = plan_to_json(report.plan, dry_run=False, outcomes=report.outcomes)
    (decision,) = document["decisions"]
    assert (decision["action"], decision["escalated"], decision["failures"]) == (
        "quarantine",
        True,
        2,
    )
    assert instance_state(ec2, instance) == "running"

    # Once reaper may, the next attempt completes it; the originals are the real ones.
    proxy.clear_faults()
    done_at = escalated_at + 2 * HOUR + MINUTE
    proxy.reset_counts()
    done = sweep(settings, kinds, audit_path, done_at)

    assert done.exit_code == ExitCode.OK
    (group,) = quarantine_groups(ec2, network.vpc)
    assert interface_groups(ec2, instance) == {eni: {group["GroupId"]}}
    assert instance_state(ec2, instance) == "stopped"
    tags = reaper_tags(ec2, instance)
    assert tags[lifecycle.STATE] == "quarantined"
    assert tags[lifecycle.QUARANTINED_AT] == epoch(done_at)
    assert lifecycle.FAILURES not in tags
    assert {k: set(v) for k, v in decode_groups(tags[ORIGINAL_GROUPS]).items()} == {
        eni: set(network.groups)
    }
    assert tags[ORIGINAL_STATE] == "running"


def test_a_quarantine_someone_undoes_is_quarantined_again_keeping_its_deadline(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    proxy: CountingProxy,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    network = make_network(ec2)
    instance = launch_in(ec2, sandbox, now, network)
    (eni,) = interface_groups(ec2, instance)
    settings = lifecycle_settings(make_config, grace="0s", actions={"ttl-expired": "quarantine"})
    kinds = make_kinds(settings, proxy.endpoint_url)
    sweep(settings, kinds, audit_path, now)
    (group,) = quarantine_groups(ec2, network.vpc)
    quarantined = reaper_tags(ec2, instance)
    assert quarantined[lifecycle.STATE] == "quarantined"

    # An ordinary sweep reads the isolation back at no extra cost: the quarantine group
    # is among the groups the exposure facts describe anyway.
    proxy.reset_counts()
    quiet = sweep(settings, kinds, audit_path, now + HOUR)

    assert quiet.outcomes == ()
    (kept,) = quiet.plan.decisions
    assert kept.reasons == (Reason.QUARANTINED,)
    assert kept.resource.isolated is True
    assert {op: n for (_, _, op), n in proxy.counts().items()} == {
        "DescribeInstances": 1,
        "DescribeImages": 1,
        "DescribeSecurityGroups": 1,
    }

    # Someone puts the interface back in its open groups and starts the instance.
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=list(network.groups))
    ec2.start_instances(InstanceIds=[instance])
    assert instance_state(ec2, instance) == "running"

    drifted_at = now + DAY
    again = sweep(settings, kinds, audit_path, drifted_at)

    assert again.exit_code == ExitCode.OK
    (outcome,) = again.outcomes
    assert (outcome.action, outcome.result) == (Action.QUARANTINE, Result.DONE)
    assert interface_groups(ec2, instance) == {eni: {group["GroupId"]}}
    assert instance_state(ec2, instance) == "stopped"
    # The same quarantine: its time (and so its deadline) and its originals are kept.
    assert reaper_tags(ec2, instance) == quarantined
    (intent,) = events(read_audit(audit_path), "intent", instance)[-1:]
    assert intent["reasons"] == [str(Reason.QUARANTINE_INCOMPLETE)]

    # The quarantine TTL still counts from the first quarantine.
    expired = sweep(settings, kinds, audit_path, now + QUARANTINE_TTL + MINUTE)

    assert instance_state(ec2, instance) == "terminated"
    assert events(read_audit(audit_path), "intent", instance)[-1]["reasons"] == [
        str(Reason.QUARANTINE_EXPIRED)
    ]
    assert expired.exit_code == ExitCode.OK


def test_a_quarantine_group_reopened_later_fails_the_read_back_and_is_escalated(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    network = make_network(ec2)
    instance = launch_in(ec2, sandbox, now, network)
    settings = lifecycle_settings(
        make_config,
        grace="0s",
        actions={"ttl-expired": "quarantine"},
        retry={"backoff": "30m", "escalate_after": 1},
    )
    kinds = make_kinds(settings)
    sweep(settings, kinds, audit_path, now)
    (group,) = quarantine_groups(ec2, network.vpc)
    # Someone lets the world in through the quarantine group itself.
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )

    report = sweep(settings, kinds, audit_path, now + HOUR)

    (kept,) = report.plan.decisions
    assert (kept.action, kept.reasons) == (Action.QUARANTINE, (Reason.QUARANTINE_INCOMPLETE,))
    (failure,) = report.failed
    assert failure.action is Action.QUARANTINE
    assert f"{group['GroupId']}, which has rules that let traffic through" in failure.message
    assert reaper_tags(ec2, instance)[lifecycle.FAILURES] == "1"
    assert reaper_tags(ec2, instance)[lifecycle.STATE] == "quarantined"

    # The next attempt looks at the group afresh, and says what a person must do.
    later = sweep(settings, kinds, audit_path, now + 2 * HOUR)

    (decision,) = later.plan.decisions
    assert decision.escalated is True
    (failure,) = later.failed
    assert "allows inbound traffic; remove its inbound rules" in failure.message
