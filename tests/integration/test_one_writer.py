"""One writer per audit trail, with real ``reaper run --apply`` processes against moto.

Two runs on one config and one audit file: the second waits for the first's lock, then
either gives up (exit 4, nothing done) or runs once the first is done, finding nothing
left to do. A run that cannot know its chain's head (the bucket unreadable, the local
file new) does nothing and exits 1, and says why in its metrics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml
from cli_support import explain, sandbox_env
from prometheus_client import CollectorRegistry

from reaper.app import SweepService
from reaper.audit import AuditLog, verify_lines
from reaper.audit.s3_sink import S3Sink
from reaper.config import parse_settings
from reaper.errors import ChainHeadUnknown
from reaper.metrics import Metrics
from reaper.model import Collected, Outcome, Resource, Scope
from reaper.providers.base import ResourceKind
from reaper.results import ExitCode
from reaper.sandbox.estate import CI_ACCOUNT_ID, SANDBOX_AMI, SANDBOX_KEY_ID, SANDBOX_SECRET
from reaper.sandbox.moto_server import MotoServer
from reaper.sandbox.proxy import CountingProxy

REGION = "us-east-1"


def _ec2(sandbox: MotoServer) -> Any:
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=sandbox.endpoint_url,
        aws_access_key_id=SANDBOX_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET,
    )


def _seed_expired(sandbox: MotoServer, count: int) -> list[str]:
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "reaper-pipeline", "Value": "ci-1"}]}]
    answer = _ec2(sandbox).run_instances(
        ImageId=SANDBOX_AMI, MinCount=count, MaxCount=count, TagSpecifications=tags
    )
    ids = [i["InstanceId"] for i in answer["Instances"]]
    old = datetime.now(UTC) - timedelta(days=2)
    sandbox.age_instances(CI_ACCOUNT_ID, REGION, dict.fromkeys(ids, old))
    return ids


def _config(path: Path, audit: dict[str, Any]) -> Path:
    config = {
        "dry_run": False,
        "providers": {"aws": {"accounts": [{"name": "ci"}], "regions": [REGION]}},
        "policy": {"default_ttl": "12h", "grace_period": "0s"},
        "safety": {"max_actions_per_sweep": 50, "max_fraction": 1},
        "audit": audit,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _start(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reaper", "run", "-c", str(config), "--apply"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _records(audit: Path) -> list[dict[str, Any]]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_bytes().splitlines() if line.endswith(b"}")]


def test_two_runs_on_one_trail_act_once_and_keep_one_chain(
    sandbox: MotoServer, tmp_path: Path
) -> None:
    ids = _seed_expired(sandbox, 20)
    audit = tmp_path / "audit.jsonl"
    waits = _config(tmp_path / "waits.yaml", {"path": str(audit), "lock_timeout": "120s"})
    gives_up = _config(tmp_path / "gives-up.yaml", {"path": str(audit), "lock_timeout": "1s"})
    # Every request is held 3 s, so the first run keeps the trail for a while.
    with CountingProxy(sandbox.endpoint_url, latency=3.0) as proxy:
        env = sandbox_env(proxy.endpoint_url, REGION)
        first = _start(waits, env)
        deadline = time.monotonic() + 60
        while not any(r["event"] == "sweep-start" for r in _records(audit)):
            assert first.poll() is None, explain(_finish(first))
            assert time.monotonic() < deadline, "the first run never started its sweep"
            time.sleep(0.05)
        impatient, patient = _start(gives_up, env), _start(waits, env)

        refused = _finish(impatient)
        assert first.poll() is None, "the first run ended before the second gave up"
        proxy.latency = 0
        done = [_finish(first), _finish(patient)]
        terminations = proxy.count("ec2", "TerminateInstances")

    assert refused.returncode == ExitCode.AUDIT_LOCKED, explain(refused)
    assert "the audit trail is locked by another reaper (pid=" in refused.stderr
    assert "nothing was done" in refused.stderr
    assert [run.returncode for run in done] == [0, 0], [explain(run) for run in done]
    records = _records(audit)
    # Two sweeps, one after the other: never two writers at once.
    sweeps = [r["sweep_id"] for r in records]
    assert len(set(sweeps)) == 2
    assert sweeps == sorted(sweeps, key=sweeps.index)  # each sweep's records are together
    assert [r["event"] for r in records if r["event"].startswith("sweep-")] == [
        "sweep-start",
        "sweep-end",
        "sweep-start",
        "sweep-end",
    ]
    # Every instance was acted on once, by the first run; the second found nothing left.
    intents = Counter(r["resource"]["id"] for r in records if r["event"] == "intent")
    assert intents == Counter(ids)
    assert {r["sweep_id"] for r in records if r["event"] == "intent"} == {sweeps[0]}
    assert terminations == 1  # one batched call
    result = verify_lines(audit.read_bytes().splitlines(keepends=True))
    assert result.ok, result


def test_a_run_that_cannot_read_the_bucket_with_a_new_local_file_does_nothing(
    sandbox: MotoServer, aws_session: boto3.Session, tmp_path: Path
) -> None:
    ids = _seed_expired(sandbox, 2)
    s3 = aws_session.client("s3", endpoint_url=sandbox.endpoint_url)
    s3.create_bucket(Bucket="audit-outage")
    audit = tmp_path / "pod" / "audit.jsonl"  # a new pod: its emptyDir is empty
    config = _config(
        tmp_path / "reaper.yaml",
        {"path": str(audit), "s3": {"bucket": "audit-outage", "prefix": "trail"}},
    )
    with CountingProxy(sandbox.endpoint_url) as proxy:
        proxy.add_fault(None, None, 503, "ServiceUnavailable", service="s3")  # a brief outage
        run = _finish(_start(config, sandbox_env(proxy.endpoint_url, REGION)))
        terminations = proxy.count("ec2", "TerminateInstances")

    assert run.returncode == ExitCode.PARTIAL_FAILURE, explain(run)
    assert "the audit chain's last record cannot be known" in run.stderr
    assert "nothing is done until it can be read" in run.stderr
    assert terminations == 0
    reservations = _ec2(sandbox).describe_instances(InstanceIds=ids)["Reservations"]
    assert {i["State"]["Name"] for r in reservations for i in r["Instances"]} == {"running"}
    assert not audit.exists() or audit.read_bytes() == b""
    assert "Contents" not in s3.list_objects_v2(Bucket="audit-outage")


class _Untouchable(ResourceKind):
    provider = "aws"
    kind = "ec2_instance"
    permissions = ()
    delete_order = 50

    def scopes(self) -> list[Scope]:
        raise AssertionError("a sweep that cannot know its chain head collects nothing")

    def collect(self, scope: Scope) -> Collected:
        raise AssertionError("never collected")

    def delete(self, scope: Scope, resources: list[Resource]) -> list[Outcome]:
        raise AssertionError("never acted on")


def test_a_refused_trail_is_counted_in_the_metrics(
    aws_session: boto3.Session, tmp_path: Path
) -> None:
    client = aws_session.client("s3", endpoint_url="http://127.0.0.1:9")  # nothing listens
    path = tmp_path / "audit.jsonl"
    settings = parse_settings(
        {"providers": {"aws": {"regions": [REGION]}}, "audit": {"path": str(path)}}, "t.yaml"
    )
    metrics = Metrics(CollectorRegistry())

    def open_audit() -> AuditLog:
        return AuditLog(path, sinks=[S3Sink(client, "audit", "trail", retries=0)])

    service = SweepService(settings, [_Untouchable()], open_audit, metrics=metrics)
    try:
        service.run(datetime.now(UTC), dry_run=False)
    except ChainHeadUnknown:
        pass
    else:
        raise AssertionError("the sweep ran on an unknown chain head")

    registry = metrics.registry
    refusals = "reaper_audit_trail_refusals_total"
    assert registry.get_sample_value(refusals, {"reason": "head-unknown"}) == 1
    assert registry.get_sample_value(refusals, {"reason": "locked"}) == 0
    assert registry.get_sample_value("reaper_sweeps_total", {"result": "error"}) == 1
