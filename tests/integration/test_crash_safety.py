"""SIGKILL between an intent record and its action: the next sweep finishes the job.

reaper runs as a real subprocess against moto through the counting proxy. The proxy holds
every request for a while, so the process is reliably inside the call the test waits for
(TerminateInstances, ModifyNetworkInterfaceAttribute), with its intent already on disk,
when the test kills it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml
from cli_support import sandbox_env

from reaper.audit import verify_lines
from reaper.sandbox.estate import SANDBOX_AMI, SANDBOX_KEY_ID, SANDBOX_SECRET
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def _config(
    tmp_path: Path, audit: Path, policy: dict[str, Any] | None = None, **sinks: Any
) -> Path:
    path = audit.parent / "reaper.yaml" if sinks else tmp_path / "reaper.yaml"
    config = {
        "dry_run": False,
        "providers": {"aws": {"accounts": [{"name": "ci"}], "regions": [REGION]}},
        "policy": {"default_ttl": "12h", "grace_period": "0s", **(policy or {})},
        "safety": {"max_actions_per_sweep": 10, "max_fraction": 1},
        "audit": {"path": str(audit), **sinks},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def _seed_expired(sandbox: MotoServer, count: int) -> list[str]:
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id=SANDBOX_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET,
    )
    answer = ec2.run_instances(
        ImageId=SANDBOX_AMI,
        MinCount=count,
        MaxCount=count,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "reaper-pipeline", "Value": "ci-1"}]}
        ],
    )
    ids = [i["InstanceId"] for i in answer["Instances"]]
    old = datetime.now(UTC) - timedelta(days=2)
    sandbox.age_instances(ACCOUNT_ID, REGION, dict.fromkeys(ids, old))
    return ids


def _states(sandbox: MotoServer, ids: list[str]) -> dict[str, str]:
    ec2 = boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id=SANDBOX_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET,
    )
    found = ec2.describe_instances(InstanceIds=ids)
    return {
        i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]
    }


def _records(audit: Path) -> list[dict[str, Any]]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_bytes().splitlines() if line.endswith(b"}")]


def _run_and_kill_after_intent(
    config: Path,
    env: dict[str, str],
    audit: Path,
    proxy: CountingProxy,
    records: Callable[[], list[dict[str, Any]]] | None = None,
    operation: str = "TerminateInstances",
) -> None:
    """Start an applied sweep; kill it once its intent is stored (in ``audit``, or what
    ``records`` reads) and its ``operation`` request has reached the proxy (which holds it
    for a while)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reaper", "run", "-c", str(config), "--apply"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stored = records or (lambda: _records(audit))
    deadline = time.monotonic() + 60
    try:
        while not (
            any(r["event"] == "intent" for r in stored()) and proxy.count("ec2", operation) > 0
        ):
            assert process.poll() is None, "reaper exited before its action"
            assert time.monotonic() < deadline, "no intent record within 60 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def _run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reaper", "run", "-c", str(config), "--apply"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_kill_during_the_action_then_next_sweep_completes_without_repeating_it(
    sandbox: MotoServer, tmp_path: Path
) -> None:
    ids = _seed_expired(sandbox, 2)
    audit = tmp_path / "audit.jsonl"
    config = _config(tmp_path, audit)
    with CountingProxy(sandbox.endpoint_url, latency=1.5) as proxy:
        _run_and_kill_after_intent(config, sandbox_env(proxy.endpoint_url, REGION), audit, proxy)
        # The proxy still forwards the request it was holding: the action goes through,
        # but no outcome is recorded.
        deadline = time.monotonic() + 20
        while "running" in _states(sandbox, ids).values() and time.monotonic() < deadline:
            time.sleep(0.2)
        killed = _records(audit)
        assert {r["resource"]["id"] for r in killed if r["event"] == "intent"} == set(ids)
        assert not [r for r in killed if r["event"] == "outcome"]
        assert set(_states(sandbox, ids).values()) <= {"shutting-down", "terminated"}

        proxy.latency = 0
        proxy.reset_counts()
        second = _run(config, sandbox_env(proxy.endpoint_url, REGION))
        assert second.returncode == 0, second.stderr
        assert proxy.count("ec2", "TerminateInstances") == 0, "an action was repeated"

    records = _records(audit)
    recovered = [r for r in records if r.get("recovered_by")]
    assert {r["resource"]["id"] for r in recovered} == set(ids)
    assert {r["result"] for r in recovered} == {"already-gone"}
    intent_seqs = {r["seq"] for r in records if r["event"] == "intent"}
    assert {r["intent_seq"] for r in recovered} == intent_seqs
    result = verify_lines(audit.read_bytes().splitlines(keepends=True))
    assert result.ok, result


def test_kill_before_the_action_happens_then_next_sweep_does_it_once(
    sandbox: MotoServer, tmp_path: Path
) -> None:
    ids = _seed_expired(sandbox, 1)
    audit = tmp_path / "audit.jsonl"
    config = _config(tmp_path, audit)
    with CountingProxy(sandbox.endpoint_url, latency=0.2) as proxy:
        # Every TerminateInstances is refused, so the killed run never performed it.
        proxy.add_fault(REGION, "TerminateInstances", 503, "RequestLimitExceeded")
        _run_and_kill_after_intent(config, sandbox_env(proxy.endpoint_url, REGION), audit, proxy)
        assert _states(sandbox, ids) == {ids[0]: "running"}

        proxy.clear_faults()
        proxy.latency = 0
        proxy.reset_counts()
        second = _run(config, sandbox_env(proxy.endpoint_url, REGION))
        assert second.returncode == 0, second.stderr
        assert proxy.count("ec2", "TerminateInstances") == 1

    assert set(_states(sandbox, ids).values()) <= {"shutting-down", "terminated"}
    records = _records(audit)
    recovered = [r for r in records if r.get("recovered_by")]
    assert [(r["resource"]["id"], r["result"]) for r in recovered] == [(ids[0], "skipped")]
    done = [r for r in records if r["event"] == "outcome" and r.get("result") == "done"]
    assert [r["resource"]["id"] for r in done] == ids
    result = verify_lines(audit.read_bytes().splitlines(keepends=True))
    assert result.ok, result


def _bucket_lines(s3: Any, bucket: str) -> list[bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="trail/").get("Contents", [])
    bodies = [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed]
    return b"".join(bodies).splitlines(keepends=True)


def test_a_new_pod_recovers_from_the_bucket_what_a_killed_pod_left(
    sandbox: MotoServer, aws_session: boto3.Session, tmp_path: Path
) -> None:
    """The CronJob shape: the local file is on an emptyDir, S3 is the only durable copy.

    Pod 1 is killed inside its TerminateInstances call, with its intents in S3 (a
    required sink). Pod 2 starts with a new, empty local file and the same bucket: it
    must find the intents there, complete them, and repeat nothing.
    """
    ids = _seed_expired(sandbox, 2)
    s3 = aws_session.client("s3", endpoint_url=sandbox.endpoint_url)
    bucket = "audit-cronjob"
    s3.create_bucket(Bucket=bucket)
    remote = {"s3": {"bucket": bucket, "prefix": "trail", "required": True}}

    def in_bucket() -> list[dict[str, Any]]:
        return [json.loads(line) for line in _bucket_lines(s3, bucket)]

    with CountingProxy(sandbox.endpoint_url, latency=1.5) as proxy:
        env = sandbox_env(proxy.endpoint_url, REGION)
        pod_1 = tmp_path / "pod-1" / "audit.jsonl"
        config_1 = _config(tmp_path, pod_1, **remote)
        _run_and_kill_after_intent(config_1, env, pod_1, proxy, in_bucket)
        deadline = time.monotonic() + 20
        while "running" in _states(sandbox, ids).values() and time.monotonic() < deadline:
            time.sleep(0.2)
        killed = in_bucket()
        assert {r["resource"]["id"] for r in killed if r["event"] == "intent"} == set(ids)
        assert not [r for r in killed if r["event"] in ("outcome", "sweep-end")]
        assert set(_states(sandbox, ids).values()) <= {"shutting-down", "terminated"}

        proxy.latency = 0
        proxy.reset_counts()
        pod_2 = tmp_path / "pod-2" / "audit.jsonl"  # a new pod: a new, empty emptyDir
        second = _run(_config(tmp_path, pod_2, **remote), env)
        assert second.returncode == 0, second.stderr
        assert proxy.count("ec2", "TerminateInstances") == 0, "an action was repeated"

    records = in_bucket()
    recovered = [r for r in records if r.get("recovered_by")]
    assert {(r["resource"]["id"], r["result"]) for r in recovered} == {
        (i, "already-gone") for i in ids
    }
    intent_seqs = {r["seq"] for r in records if r["event"] == "intent"}
    assert {r["intent_seq"] for r in recovered} == intent_seqs
    assert records[-1]["event"] == "sweep-end"
    assert records[-1]["open_intents"] == []
    # Pod 2's own file continues the bucket's chain; the bucket holds the whole trail.
    local = _records(pod_2)
    assert local[0]["seq"] == len(killed) + 1
    assert local == records[len(killed) :]
    result = verify_lines(_bucket_lines(s3, bucket))
    assert (result.ok, result.unresolved) == (True, 0), result


def _ec2(sandbox: MotoServer) -> Any:
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id=SANDBOX_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET,
    )


def _seed_exposed(sandbox: MotoServer) -> tuple[str, str, set[str]]:
    """An expired pipeline instance in a VPC, its interface in two groups (one open to the
    world on 22); returns the instance, its interface and those groups."""
    ec2 = _ec2(sandbox)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    groups = set()
    for name in ("web", "ssh"):
        group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            ],
        )
        groups.add(str(group))
    answer = ec2.run_instances(
        ImageId=SANDBOX_AMI,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": sorted(groups)}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "reaper-pipeline", "Value": "ci-1"}]}
        ],
    )
    (instance,) = answer["Instances"]
    sandbox.age_instances(
        ACCOUNT_ID, REGION, {instance["InstanceId"]: datetime.now(UTC) - timedelta(days=2)}
    )
    eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return str(instance["InstanceId"]), str(eni), groups


def _described(sandbox: MotoServer, instance_id: str) -> dict[str, Any]:
    (reservation,) = _ec2(sandbox).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(reservation["Instances"][0])


def _groups_of(sandbox: MotoServer, instance_id: str) -> set[str]:
    (eni,) = _described(sandbox, instance_id)["NetworkInterfaces"]
    return {g["GroupId"] for g in eni["Groups"]}


def _reaper_tags(sandbox: MotoServer, instance_id: str) -> dict[str, str]:
    tags = _described(sandbox, instance_id).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags if t["Key"].startswith("reaper-")}


def test_kill_during_the_isolation_then_next_sweep_finishes_the_quarantine(
    sandbox: MotoServer, tmp_path: Path
) -> None:
    instance, eni, groups = _seed_exposed(sandbox)
    audit = tmp_path / "audit.jsonl"
    config = _config(tmp_path, audit, {"actions": {"ttl-expired": "quarantine"}})
    with CountingProxy(sandbox.endpoint_url, latency=0.3) as proxy:
        env = sandbox_env(proxy.endpoint_url, REGION)
        _run_and_kill_after_intent(
            config, env, audit, proxy, operation="ModifyNetworkInterfaceAttribute"
        )
        # The held request still goes through: the interface moves, nothing else happens.
        deadline = time.monotonic() + 20
        while _groups_of(sandbox, instance) == groups and time.monotonic() < deadline:
            time.sleep(0.2)
        (quarantine_group,) = _groups_of(sandbox, instance)
        assert quarantine_group not in groups
        killed = _reaper_tags(sandbox, instance)
        # Not recorded as quarantined: running, and only its originals (signed) recorded.
        assert _described(sandbox, instance)["State"]["Name"] == "running"
        assert "reaper-state" not in killed
        assert killed["reaper-original-sgs"] == f"{eni}={'+'.join(sorted(groups))}"
        assert "reaper-signature" in killed
        assert not [r for r in _records(audit) if r["event"] == "outcome"]

        proxy.latency = 0
        second = _run(config, env)
        assert second.returncode == 0, second.stderr

        # Finished: stopped, isolated, recorded as quarantined; the originals are the
        # groups it had before the first attempt, not the quarantine group.
        assert _groups_of(sandbox, instance) == {quarantine_group}
        assert _described(sandbox, instance)["State"]["Name"] in ("stopping", "stopped")
        tags = _reaper_tags(sandbox, instance)
        assert tags["reaper-state"] == "quarantined"
        assert tags["reaper-original-sgs"] == killed["reaper-original-sgs"]
        assert tags["reaper-original-state"] == "running"

        proxy.reset_counts()
        third = _run(config, env)
        assert third.returncode == 0, third.stderr
        assert proxy.count("ec2", "ModifyNetworkInterfaceAttribute") == 0

    records = _records(audit)
    (recovered,) = [r for r in records if r.get("recovered_by")]
    assert (recovered["action"], recovered["result"]) == ("quarantine", "skipped")
    assert recovered["message"] == (
        "interrupted; the quarantine may be partly done and is not repeated; this sweep plans "
        "to quarantine it again (ttl-expired)"
    )
    outcomes = [r for r in records if r["event"] == "outcome" and not r.get("recovered_by")]
    assert [(r["action"], r["result"]) for r in outcomes] == [("quarantine", "done")]
    assert len([r for r in records if r["event"] == "intent"]) == 2
    result = verify_lines(audit.read_bytes().splitlines(keepends=True))
    assert result.ok, result
