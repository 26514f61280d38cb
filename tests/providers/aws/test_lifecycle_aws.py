"""The lifecycle end to end on EC2: mark -> grace -> act, unmark, quarantine and release,
failure backoff and webhook notices, with real boto3 over HTTP to the moto server.

Time passes by handing a sweep a later ``now``; what a sweep did is read back from
moto (tags, instance state, the security groups of network interfaces) and from the
audit trail, not from the sweep's own report.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from ec2_support import (
    DAY,
    FRESH,
    HOUR,
    MINUTE,
    QUARANTINE_TTL,
    REGION,
    ConfigFactory,
    KindsFactory,
    ReadAudit,
    actions,
    cli,
    ec2_client,
    events,
    instance_state,
    instance_tags,
    interface_groups,
    launch,
    launch_in,
    lifecycle_config,
    lifecycle_settings,
    make_network,
    quarantine_groups,
    reaper_tags,
    sweep,
)

from reaper import lifecycle
from reaper.config import parse_settings
from reaper.lifecycle import epoch
from reaper.model import Action, Reason, Result
from reaper.notify import WebhookNotifier
from reaper.providers.aws.ec2_isolation import (
    MANAGED_TAG,
    ORIGINAL_GROUPS,
    ORIGINAL_STATE,
    QUARANTINE_GROUP,
    decode_groups,
)
from reaper.report import plan_to_json
from reaper.results import ExitCode
from reaper.sandbox.estate import CI_ACCOUNT_ID
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

# -- mark, then act ----------------------------------------------------------------------------


def test_a_due_instance_is_marked_then_terminated_after_the_grace_period(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    due = launch(ec2, sandbox, now)
    fresh = launch(ec2, sandbox, now, age=FRESH)
    settings = lifecycle_settings(make_config, grace="1h")
    kinds = make_kinds(settings)

    first = sweep(settings, kinds, audit_path, now)

    assert first.exit_code == ExitCode.OK
    assert reaper_tags(ec2, due) == {
        lifecycle.STATE: "marked",
        lifecycle.MARKED_AT: epoch(now),
        lifecycle.ACTION: "delete",
        lifecycle.REASON: "ttl-expired",
    }
    assert instance_state(ec2, due) == "running"
    assert reaper_tags(ec2, fresh) == {}
    records = read_audit(audit_path)
    assert actions(records, due) == [("intent", "mark", ""), ("outcome", "mark", "done")]
    (intent,) = events(records, "intent", due)
    assert intent["intended"] == "delete"
    assert intent["reasons"] == ["ttl-expired"]
    assert not events(records, "intent", fresh)

    # Half-way through the grace period: nothing to do.
    waiting = sweep(settings, kinds, audit_path, now + 30 * MINUTE)

    assert waiting.exit_code == ExitCode.OK
    assert waiting.outcomes == ()
    assert events(read_audit(audit_path), "intent") == events(records, "intent")
    assert instance_state(ec2, due) == "running"
    assert reaper_tags(ec2, due)[lifecycle.MARKED_AT] == epoch(now)

    # The grace period is over.
    acting = sweep(settings, kinds, audit_path, now + 61 * MINUTE)

    assert acting.exit_code == ExitCode.OK
    assert instance_state(ec2, due) == "terminated"
    assert instance_state(ec2, fresh) == "running"
    records = read_audit(audit_path)
    assert actions(records, due) == [
        ("intent", "mark", ""),
        ("outcome", "mark", "done"),
        ("intent", "delete", ""),
        ("outcome", "delete", "done"),
    ]


def test_a_stopping_instance_is_kept_in_transition_and_terminated_once_stopped(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    due = launch(ec2, sandbox, now)
    # AWS shows a stopping instance for a while; moto would go straight to stopped.
    sandbox.set_instance_states(CI_ACCOUNT_ID, REGION, {due: "stopping"})
    settings = lifecycle_settings(make_config, grace="0s")
    kinds = make_kinds(settings)

    held = sweep(settings, kinds, audit_path, now)

    (decision,) = held.plan.decisions
    assert decision.resource.transitioning
    assert (decision.action, decision.reasons) == (Action.KEEP, (Reason.IN_TRANSITION,))
    assert held.outcomes == ()
    assert instance_state(ec2, due) == "stopping"
    assert reaper_tags(ec2, due) == {}
    assert not events(read_audit(audit_path), "intent", due)

    sandbox.set_instance_states(CI_ACCOUNT_ID, REGION, {due: "stopped"})
    settled = sweep(settings, kinds, audit_path, now + MINUTE)

    assert [(o.action, o.result) for o in settled.outcomes] == [(Action.DELETE, Result.DONE)]
    assert instance_state(ec2, due) == "terminated"


@pytest.mark.parametrize(
    "rescue",
    [
        pytest.param(lambda now: {"reaper-protect": "true"}, id="protect-tag"),
        pytest.param(
            lambda now: {"reaper-expires-at": (now + 7 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")},
            id="expiry-extended",
        ),
    ],
)
def test_a_marked_instance_its_owner_rescues_is_unmarked_and_survives(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
    rescue: Callable[[datetime], dict[str, str]],
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    instance = launch(ec2, sandbox, now)
    settings = lifecycle_settings(make_config, grace="1h")
    kinds = make_kinds(settings)
    sweep(settings, kinds, audit_path, now)
    assert reaper_tags(ec2, instance)[lifecycle.STATE] == "marked"

    owner_tags = rescue(now)
    ec2.create_tags(
        Resources=[instance], Tags=[{"Key": k, "Value": v} for k, v in owner_tags.items()]
    )
    unmarking = sweep(settings, kinds, audit_path, now + 61 * MINUTE)

    assert unmarking.exit_code == ExitCode.OK
    assert instance_state(ec2, instance) == "running"
    assert reaper_tags(ec2, instance) == {}
    assert owner_tags.items() <= instance_tags(ec2, instance).items()
    assert actions(read_audit(audit_path), instance)[-2:] == [
        ("intent", "unmark", ""),
        ("outcome", "unmark", "done"),
    ]

    # And it stays that way.
    later = sweep(settings, kinds, audit_path, now + 2 * DAY)

    assert later.outcomes == ()
    assert instance_state(ec2, instance) == "running"
    assert reaper_tags(ec2, instance) == {}


# -- quarantine and release ----------------------------------------------------------------------


def test_quarantine_isolates_and_stops_and_release_restores(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
    tmp_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    network = make_network(ec2)
    instance = launch_in(ec2, sandbox, now, network)
    (eni,) = interface_groups(ec2, instance)
    assert interface_groups(ec2, instance) == {eni: set(network.groups)}
    data = lifecycle_config(make_config, grace="0s", actions={"ttl-expired": "quarantine"})
    settings = parse_settings(data, "tests/lifecycle.yaml")
    kinds = make_kinds(settings)

    quarantining = sweep(settings, kinds, audit_path, now)

    assert quarantining.exit_code == ExitCode.OK
    (outcome,) = quarantining.outcomes
    assert (outcome.action, outcome.result) == (Action.QUARANTINE, Result.DONE)
    assert instance_state(ec2, instance) == "stopped"
    (group,) = quarantine_groups(ec2, network.vpc)
    assert interface_groups(ec2, instance) == {eni: {group["GroupId"]}}
    assert group["IpPermissions"] == []
    assert group["IpPermissionsEgress"] == []
    assert {"Key": MANAGED_TAG, "Value": "true"} in group["Tags"]
    tags = reaper_tags(ec2, instance)
    assert tags == {
        lifecycle.STATE: "quarantined",
        lifecycle.QUARANTINED_AT: epoch(now),
        lifecycle.ACTION: "quarantine",
        lifecycle.REASON: "ttl-expired",
        ORIGINAL_GROUPS: tags[ORIGINAL_GROUPS],
        ORIGINAL_STATE: "running",
    }
    assert {k: set(v) for k, v in decode_groups(tags[ORIGINAL_GROUPS]).items()} == {
        eni: set(network.groups)
    }
    assert actions(read_audit(audit_path), instance) == [
        ("intent", "quarantine", ""),
        ("outcome", "quarantine", "done"),
    ]

    # Within the quarantine TTL a sweep leaves it alone.
    waiting = sweep(settings, make_kinds(settings), audit_path, now + DAY)

    assert waiting.outcomes == ()
    assert instance_state(ec2, instance) == "stopped"
    assert interface_groups(ec2, instance) == {eni: {group["GroupId"]}}
    assert len(actions(read_audit(audit_path), instance)) == 2

    # The owner asks for it back: the operator releases it from the command line.
    config = tmp_path / "reaper.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    released = cli(sandbox, tmp_path, "release", f"aws:ec2_instance:{instance}", "-c", config)

    assert released.returncode == ExitCode.OK, released.stderr
    assert f"aws:ec2_instance:{instance}: done" in released.stdout
    assert interface_groups(ec2, instance) == {eni: set(network.groups)}
    assert instance_state(ec2, instance) == "running"
    assert reaper_tags(ec2, instance) == {}
    assert {"reaper-pipeline", "reaper-owner"} <= set(instance_tags(ec2, instance))
    records = read_audit(audit_path)
    assert actions(records, instance)[-2:] == [
        ("intent", "release", ""),
        ("outcome", "release", "done"),
    ]
    # The quarantine group stays for the next quarantine in this VPC.
    assert [g["GroupId"] for g in quarantine_groups(ec2, network.vpc)] == [group["GroupId"]]


def test_one_quarantine_group_per_vpc_reused_by_later_quarantines(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    first_vpc, second_vpc = make_network(ec2, 10), make_network(ec2, 20)
    first = launch_in(ec2, sandbox, now, first_vpc)
    settings = lifecycle_settings(make_config, grace="0s", actions={"ttl-expired": "quarantine"})
    sweep(settings, make_kinds(settings), audit_path, now)
    (group,) = quarantine_groups(ec2)
    assert group["VpcId"] == first_vpc.vpc

    # Later, in a new process (no cached group): one more in that VPC, one in another.
    neighbour = launch_in(ec2, sandbox, now, first_vpc)
    elsewhere = launch_in(ec2, sandbox, now, second_vpc)
    report = sweep(settings, make_kinds(settings), audit_path, now + HOUR)

    assert {(o.ref.id, o.result) for o in report.outcomes} == {
        (neighbour, Result.DONE),
        (elsewhere, Result.DONE),
    }
    groups = {g["VpcId"]: g["GroupId"] for g in quarantine_groups(ec2)}
    assert len(quarantine_groups(ec2)) == 2
    assert groups[first_vpc.vpc] == group["GroupId"]
    for instance, network in ((first, first_vpc), (neighbour, first_vpc), (elsewhere, second_vpc)):
        interfaces = interface_groups(ec2, instance)
        assert interfaces
        assert all(v == {groups[network.vpc]} for v in interfaces.values())
        assert instance_state(ec2, instance) == "stopped"


def test_an_unreleased_quarantine_is_terminated_after_the_quarantine_ttl(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    read_audit: ReadAudit,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    instance = launch_in(ec2, sandbox, now, make_network(ec2))
    settings = lifecycle_settings(make_config, grace="0s", actions={"ttl-expired": "quarantine"})
    kinds = make_kinds(settings)
    sweep(settings, kinds, audit_path, now)
    quarantined_at = datetime.fromtimestamp(
        int(reaper_tags(ec2, instance)[lifecycle.QUARANTINED_AT]), tz=UTC
    )

    almost = sweep(settings, kinds, audit_path, quarantined_at + QUARANTINE_TTL - MINUTE)

    assert almost.outcomes == ()
    assert instance_state(ec2, instance) == "stopped"

    expired = sweep(settings, kinds, audit_path, quarantined_at + QUARANTINE_TTL + MINUTE)

    assert expired.exit_code == ExitCode.OK
    assert instance_state(ec2, instance) == "terminated"
    intent = events(read_audit(audit_path), "intent", instance)[-1]
    assert intent["action"] == "delete"
    assert intent["reasons"] == [str(Reason.QUARANTINE_EXPIRED)]
    assert actions(read_audit(audit_path), instance)[-1] == ("outcome", "delete", "done")


def test_a_quarantine_group_left_open_by_an_interrupted_creation_is_closed_before_use(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    proxy: CountingProxy,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    network = make_network(ec2)
    instance = launch_in(ec2, sandbox, now, network)
    settings = lifecycle_settings(
        make_config, grace="0s", actions={"ttl-expired": "quarantine"}, retry={"backoff": "30m"}
    )
    # The group is created, then closing its outbound rule is refused once.
    proxy.add_fault(REGION, "RevokeSecurityGroupEgress", 403, "UnauthorizedOperation", times=1)
    kinds = make_kinds(settings, proxy.endpoint_url)

    failed = sweep(settings, kinds, audit_path, now)

    assert failed.exit_code == ExitCode.PARTIAL_FAILURE
    (group,) = quarantine_groups(ec2, network.vpc)
    assert group["IpPermissionsEgress"] != []  # left open, as a crash would leave it
    assert instance_state(ec2, instance) == "running"
    assert all(v == set(network.groups) for v in interface_groups(ec2, instance).values())
    assert reaper_tags(ec2, instance).get(lifecycle.FAILURES) == "1"

    retried = sweep(settings, kinds, audit_path, now + 31 * MINUTE)

    assert retried.exit_code == ExitCode.OK
    (closed,) = quarantine_groups(ec2, network.vpc)
    assert closed["GroupId"] == group["GroupId"]
    assert closed["IpPermissionsEgress"] == []
    assert closed["IpPermissions"] == []
    assert all(v == {group["GroupId"]} for v in interface_groups(ec2, instance).values())
    assert instance_state(ec2, instance) == "stopped"


def test_a_quarantine_group_that_lets_traffic_in_is_not_used(
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
    # Someone opened the quarantine group "just for a minute".
    opened = ec2.create_security_group(
        GroupName=QUARANTINE_GROUP, Description="quarantine", VpcId=network.vpc
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=opened,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    settings = lifecycle_settings(make_config, grace="0s", actions={"ttl-expired": "quarantine"})

    report = sweep(settings, make_kinds(settings), audit_path, now)

    assert report.exit_code == ExitCode.PARTIAL_FAILURE
    (failure,) = report.failed
    assert "allows inbound traffic" in failure.message
    assert opened in failure.message
    assert instance_state(ec2, instance) == "running"
    assert all(v == set(network.groups) for v in interface_groups(ec2, instance).values())
    assert lifecycle.STATE not in reaper_tags(ec2, instance)


# -- failures: backoff and escalation --------------------------------------------------------------


def test_a_failing_termination_backs_off_retries_and_escalates(
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
    guarded = launch(ec2, sandbox, now)
    ec2.modify_instance_attribute(InstanceId=guarded, DisableApiTermination={"Value": True})
    settings = lifecycle_settings(
        make_config, grace="0s", retry={"backoff": "30m", "max_backoff": "12h", "escalate_after": 2}
    )
    kinds = make_kinds(settings, proxy.endpoint_url)

    # 1: the attempt fails and the failure is counted on the instance.
    first = sweep(settings, kinds, audit_path, now)

    assert first.exit_code == ExitCode.PARTIAL_FAILURE
    (failure,) = first.failed
    assert failure.ref.id == guarded
    assert "OperationNotPermitted" in failure.message
    assert instance_state(ec2, guarded) == "running"
    assert reaper_tags(ec2, guarded) == {
        lifecycle.FAILURES: "1",
        lifecycle.LAST_FAILURE_AT: epoch(now),
    }
    assert actions(read_audit(audit_path), guarded) == [
        ("intent", "delete", ""),
        ("outcome", "delete", "failed"),
    ]

    # 2: a minute later, within the 30m backoff: not even attempted.
    proxy.reset_counts()
    waiting = sweep(settings, kinds, audit_path, now + MINUTE)

    assert waiting.exit_code == ExitCode.OK
    assert proxy.count("ec2", "TerminateInstances") == 0
    (held,) = waiting.plan.decisions
    assert held.action is Action.KEEP
    assert held.reasons == (Reason.TTL_EXPIRED, Reason.RETRY_BACKOFF)
    assert held.not_before == datetime.fromtimestamp(int(epoch(now)), tz=UTC) + 30 * MINUTE
    assert len(actions(read_audit(audit_path), guarded)) == 2

    # 3: after the backoff: attempted again, and the count goes up.
    retry_at = now + 31 * MINUTE
    retried = sweep(settings, kinds, audit_path, retry_at)

    assert proxy.count("ec2", "TerminateInstances") == 1
    assert retried.exit_code == ExitCode.PARTIAL_FAILURE
    assert reaper_tags(ec2, guarded) == {
        lifecycle.FAILURES: "2",
        lifecycle.LAST_FAILURE_AT: epoch(retry_at),
    }

    # 4: the backoff has doubled to 1h; after it, the second failure escalates the instance,
    # and the rest of the sweep goes on.
    other = launch(ec2, sandbox, now)
    escalated_at = retry_at + 61 * MINUTE
    report = sweep(settings, kinds, audit_path, escalated_at)

    document = plan_to_json(report.plan, dry_run=False, outcomes=report.outcomes)
    by_id = {d["id"]: d for d in document["decisions"]}
    assert by_id[guarded]["escalated"] is True
    assert by_id[guarded]["failures"] == 2
    assert by_id[guarded]["result"] == "failed"
    assert by_id[other]["escalated"] is False
    # Moto terminates the ids ahead of the protected one before refusing the batch (AWS
    # refuses it whole), so the one-by-one retry may find it already gone: either is fine.
    assert by_id[other]["result"] in ("done", "already-gone")
    assert instance_state(ec2, other) == "terminated"
    assert instance_state(ec2, guarded) == "running"
    assert reaper_tags(ec2, guarded)[lifecycle.FAILURES] == "3"
    assert report.exit_code == ExitCode.PARTIAL_FAILURE


# -- notifications ---------------------------------------------------------------------------------

WEBHOOK_ENV = "REAPER_TEST_WEBHOOK"


@dataclass
class Webhook:
    """A local Slack-like webhook that records the JSON documents posted to it."""

    url: str = ""
    status: int = 200
    posts: list[dict[str, Any]] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Each post's blocks, joined into one text."""
        return ["\n".join(b["text"]["text"] for b in post["blocks"]) for post in self.posts]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.posts.append(json.loads(body))
            answer = b"ok" if hook.status < 400 else b"internal_error"
            self.send_response(hook.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/not-a-secret"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _notifier(hook: Webhook) -> WebhookNotifier:
    return WebhookNotifier.from_env(WEBHOOK_ENV, {WEBHOOK_ENV: hook.url}, sleep=lambda _: None)


def test_marking_and_acting_sweeps_notify_the_webhook(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    webhook: Webhook,
) -> None:
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    instance = launch(ec2, sandbox, now, owner="team-search")
    settings = lifecycle_settings(make_config, grace="1h", notify={"webhook_url_env": WEBHOOK_ENV})
    kinds = make_kinds(settings)

    marking = sweep(settings, kinds, audit_path, now, _notifier(webhook))

    assert marking.exit_code == ExitCode.OK
    marked, summary = webhook.texts()
    assert instance in marked
    assert "team-search" in marked
    planned = (now + HOUR).astimezone(UTC).isoformat(timespec="seconds")
    assert f"will delete at {planned}" in marked
    assert "mark: done 1" in summary

    webhook.posts.clear()
    acting = sweep(settings, kinds, audit_path, now + 61 * MINUTE, _notifier(webhook))

    assert acting.exit_code == ExitCode.OK
    (summary,) = webhook.texts()  # nothing newly marked: only the summary
    assert "delete: done 1" in summary
    assert acting.sweep_id in summary


def test_a_failing_webhook_does_not_hold_up_the_sweeps(
    sandbox: MotoServer,
    aws_session: boto3.Session,
    make_config: ConfigFactory,
    make_kinds: KindsFactory,
    audit_path: Path,
    webhook: Webhook,
) -> None:
    webhook.status = 500
    ec2 = ec2_client(aws_session, sandbox)
    now = datetime.now(UTC)
    instance = launch(ec2, sandbox, now)
    settings = lifecycle_settings(make_config, grace="1h", notify={"webhook_url_env": WEBHOOK_ENV})
    kinds = make_kinds(settings)
    notifier = _notifier(webhook)

    marking = sweep(settings, kinds, audit_path, now, notifier)

    assert marking.exit_code == ExitCode.OK
    assert reaper_tags(ec2, instance)[lifecycle.STATE] == "marked"
    assert len(webhook.posts) == 2 * 3  # both messages, each tried and retried twice
    assert (notifier.sent, notifier.failed) == (0, 2)

    acting = sweep(settings, kinds, audit_path, now + 61 * MINUTE, notifier)

    assert acting.exit_code == ExitCode.OK
    assert instance_state(ec2, instance) == "terminated"
    assert (notifier.sent, notifier.failed) == (0, 3)
