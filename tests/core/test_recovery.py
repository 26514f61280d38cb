"""Recovery: an intent stays open until a sweep can tell what became of it.

Sweeps run through the sweep service on a real audit file, with a kind whose API can be
"down". What the trail says (records, their ``open_intents``, ``reaper audit verify``'s
warnings) and what the report says are checked, not logs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reaper.app import SweepService, recovery_outcome
from reaper.audit import AuditLog, dangling_intents, verify_lines
from reaper.audit.file_sink import FileSink
from reaper.cli.audit import audit
from reaper.config import Settings, parse_settings
from reaper.errors import ProviderError
from reaper.model import Action, Collected, Outcome, Resource, ResourceRef, Result, Scope
from reaper.providers.base import ResourceKind
from reaper.records import OPEN_INTENTS, Event, Writer, recovery_window
from reaper.results import ExitCode, SweepReport
from reaper.shards import Shard, owner, scope_key

NOW = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
SCOPE = Scope("ci", "us-east-1")


class Instances(ResourceKind):
    """Instances that exist or not; ``down`` makes every read fail. Never acts."""

    provider = "aws"
    kind = "ec2_instance"
    permissions = ("ec2:DescribeInstances",)
    delete_order = 50

    def __init__(self, existing: Sequence[str] = ()) -> None:
        self.existing = set(existing)
        self.down = False
        self.reads: list[str] = []

    def scopes(self) -> Sequence[Scope]:
        return []  # nothing to collect: these sweeps only recover

    def collect(self, scope: Scope) -> Collected:
        return Collected(())

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        self.reads += ids
        if self.down:
            raise ProviderError("DescribeInstances: ServiceUnavailable")
        return Collected(
            tuple(
                Resource(ResourceRef("aws", "ec2_instance", scope, i), i, NOW)
                for i in ids
                if i in self.existing
            )
        )

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        raise AssertionError("recovery never repeats an action")


def _settings(path: Path) -> Settings:
    data = {"providers": {"aws": {"regions": ["us-east-1"]}}, "audit": {"path": str(path)}}
    return parse_settings(data, "test.yaml")


def _crashed_sweep(path: Path, *ids: str, action: str = "delete") -> None:
    """A sweep killed after its intents: start and intents, no outcome, no end."""
    writer = Writer("crashed00001", "reaper/test", "host")
    resource = {"provider": "aws", "kind": "ec2_instance", "account": "ci", "region": SCOPE.region}
    with AuditLog(path) as log:
        log.append([writer.sweep_record(Event.SWEEP_START, NOW, dry_run=False)])
        log.append(
            [
                {
                    **writer.sweep_record(Event.INTENT, NOW),
                    "resource": {**resource, "id": i, "name": i, "tags": {}},
                    "action": action,
                    "reasons": ["ttl-expired"],
                    "dry_run": False,
                }
                for i in ids
            ]
        )


def _sweep(path: Path, kind: Instances, dry_run: bool = False) -> SweepReport:
    service = SweepService(_settings(path), [kind], lambda: AuditLog(path))
    return service.run(NOW + timedelta(hours=1), dry_run)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_an_intent_that_cannot_be_checked_stays_open_across_sweeps_until_it_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    _crashed_sweep(path, "i-1")
    kind = Instances()  # the delete went through: i-1 is gone
    kind.down = True

    for _ in range(3):  # the API is down for three sweeps
        report = _sweep(path, kind)
        assert report.exit_code == ExitCode.PARTIAL_FAILURE
        assert [(u.ref and u.ref.id, u.action) for u in report.unresolved] == [("i-1", "delete")]
        assert "cannot re-read the resource: DescribeInstances" in report.unresolved[0].why
        end = _records(path)[-1]
        assert end["event"] == "sweep-end"
        assert [(e["resource"]["id"], e["seq"], e["why"]) for e in end[OPEN_INTENTS]] == [
            ("i-1", 2, report.unresolved[0].why)
        ]
        assert not [r for r in _records(path) if r.get("recovered_by")]

    kind.down = False
    report = _sweep(path, kind)

    assert kind.reads == ["i-1"] * 4  # checked again by every sweep
    assert report.exit_code == ExitCode.OK
    assert report.unresolved == ()
    records = _records(path)
    recovered = [r for r in records if r.get("recovered_by")]
    assert [(r["resource"]["id"], r["result"], r["intent_seq"]) for r in recovered] == [
        ("i-1", "already-gone", 2)
    ]
    assert recovered[0]["sweep_id"] == "crashed00001"
    assert records[-1][OPEN_INTENTS] == []
    assert dangling_intents(path) == []
    result = verify_lines(path.read_bytes().splitlines(keepends=True))
    assert (result.ok, result.unresolved) == (True, 0)


def test_an_intent_of_a_kind_this_run_does_not_sweep_stays_open(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _crashed_sweep(path, "cluster-1")
    with AuditLog(path) as log:  # an EKS intent: this run sweeps instances only
        intent = dict(log.open_intents[0])
        intent["resource"] = {**intent["resource"], "kind": "eks_cluster"}
        log.append([{k: v for k, v in intent.items() if k not in ("seq", "prev_sha256")}])

    report = _sweep(path, Instances())

    assert [(u.ref and u.ref.kind, u.why) for u in report.unresolved] == [
        ("eks_cluster", "not checked: kind aws:eks_cluster is not swept by this run")
    ]
    assert [r["resource"]["kind"] for r in _records(path) if r.get("recovered_by")] == [
        "ec2_instance"
    ]


def test_recovery_reads_back_only_to_the_last_sweep_end(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for _ in range(3):
        _sweep(path, Instances())
    _crashed_sweep(path, "i-1", "i-2")
    lines = path.read_bytes().splitlines(keepends=True)
    # Everything before the last sweep-end is made unreadable: recovery must not need it.
    last_end = max(n for n, line in enumerate(lines) if b'"sweep-end"' in line)
    path.write_bytes(b"not a record\n" * last_end + b"".join(lines[last_end:]))

    with AuditLog(path) as log:
        assert [i["resource"]["id"] for i in log.open_intents] == ["i-1", "i-2"]

    report = _sweep(path, Instances(existing=["i-2"]))
    kept = [json.loads(line) for line in path.read_bytes().splitlines()[last_end:]]
    recovered = [r for r in kept if r.get("recovered_by")]
    assert [(r["resource"]["id"], r["result"]) for r in recovered] == [
        ("i-1", "already-gone"),
        ("i-2", "skipped"),
    ]
    assert report.unresolved == ()


def test_the_window_of_a_0_1_0_sweep_end_reaches_back_to_its_start() -> None:
    def record(event: str, sweep: str, **fields: Any) -> dict[str, Any]:
        return {"event": event, "sweep_id": sweep, **fields}

    trail = [
        record("sweep-start", "a"),
        record("sweep-end", "a"),
        record("sweep-start", "b"),
        record("intent", "b", resource={"id": "i-1"}, action="delete"),
        record("sweep-end", "b"),  # 0.1.0: no open_intents
        record("intent", "c", resource={"id": "i-2"}, action="delete"),
    ]
    window = recovery_window(reversed(trail))
    assert window == trail[2:]
    carried = {**record("sweep-end", "b"), OPEN_INTENTS: []}
    assert recovery_window(reversed([*trail[:4], carried, trail[5]])) == [carried, trail[5]]


@pytest.mark.parametrize(
    ("action", "present", "result", "says"),
    [
        pytest.param("delete", False, Result.ALREADY_GONE, "the delete went through", id="deleted"),
        pytest.param("quarantine", False, Result.ALREADY_GONE, "gone", id="gone"),
        pytest.param("delete", True, Result.SKIPPED, "the delete did not happen; NEXT", id="kept"),
        pytest.param(
            "quarantine", True, Result.SKIPPED, "may be partly done and is not repeated; NEXT",
            id="partly-quarantined",
        ),
        pytest.param(
            "release", True, Result.SKIPPED, "run `reaper release` again", id="release",
        ),
    ],
)  # fmt: skip
def test_recovery_says_what_happens_next(
    action: str, present: bool, result: Result, says: str
) -> None:
    got, message = recovery_outcome(action, present, "NEXT")
    assert got is result
    assert says in message
    if action == Action.RELEASE:
        assert "NEXT" not in message  # a release is never planned again


def test_a_dry_run_recovery_does_not_promise_an_action(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _crashed_sweep(path, "i-1")
    _sweep(path, Instances(existing=["i-1"]), dry_run=True)
    (recovered,) = [r for r in _records(path) if r.get("recovered_by")]
    assert recovered["result"] == "skipped"
    assert recovered["message"].endswith(
        "this dry run only plans it; the next applied sweep decides about it afresh"
    )


def test_a_shard_recovers_an_intent_whose_scope_another_shard_sweeps_now(
    tmp_path: Path,
) -> None:
    # The shard's chain holds an interrupted delete from before N changed; the scope is
    # now another shard's. Its trail still recovers it, and says who decides about it.
    path = tmp_path / "audit.jsonl"
    _crashed_sweep(path, "i-1")
    key = scope_key("aws", SCOPE)
    count = 3
    mine = next(i for i in range(count) if i != owner(key, count))
    service = SweepService(
        _settings(path),
        [Instances(existing=["i-1"])],
        lambda: AuditLog(path),
        shard=Shard(mine, count),
    )

    report = service.run(NOW + timedelta(hours=1), dry_run=False)

    assert report.unresolved == ()
    (recovered,) = [r for r in _records(path) if r.get("recovered_by")]
    assert recovered["result"] == "skipped"
    assert recovered["message"].endswith(
        f"its scope is now shard {owner(key, count)}/{count}'s, whose sweeps decide about it"
    )


def test_verify_warns_about_each_unresolved_intent(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _crashed_sweep(path, "i-1")
    kind = Instances()
    kind.down = True
    _sweep(path, kind)

    result = CliRunner().invoke(audit, ["verify", str(path)])

    assert result.exit_code == 0
    assert result.stdout == "ok: 4 records, chain intact\n"
    assert (
        "warning: unresolved intent seq 2: delete aws:ec2_instance:i-1 in ci/us-east-1 "
        "(sweep crashed00001): cannot re-read the resource: DescribeInstances: "
        "ServiceUnavailable: its action's fate is unknown until a sweep's recovery checks "
        "the resource\n"
    ) in result.stderr


def test_a_sweep_recovers_from_the_sink_the_chain_continues_from(tmp_path: Path) -> None:
    """A new pod: its local file is empty, the trail is in another sink (a bucket, here a
    second file standing in for it)."""
    kept = tmp_path / "bucket.jsonl"
    _crashed_sweep(kept, "i-1")
    local = tmp_path / "pod-2" / "audit.jsonl"

    def open_audit() -> AuditLog:
        return AuditLog(local, sinks=[FileSink(kept, required=True)])

    report = SweepService(_settings(local), [Instances()], open_audit).run(
        NOW + timedelta(hours=1), dry_run=False
    )

    assert report.unresolved == ()
    recovered = [r for r in _records(kept) if r.get("recovered_by")]
    assert [(r["resource"]["id"], r["result"]) for r in recovered] == [("i-1", "already-gone")]
    assert _records(local)[0]["seq"] == 3  # the chain continued from the other sink
