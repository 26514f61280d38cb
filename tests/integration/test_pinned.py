"""Pinned plans: `reaper plan -o plan.json`, then `reaper apply plan.json`.

An apply acts on exactly the resources of the reviewed plan, each re-read and re-decided
first; the plan itself is refused when stale or made with another config. The command
line runs as a subprocess against the shared moto, as an operator would run it; the
parsing of plan documents (``reaper.pinned.read_pinned``) is also tested on its own.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from signing import SIGNER, signed

from reaper.config import PolicySettings, TagKeys
from reaper.model import EVERY_REGION, Action, Resource, ResourceRef, Scope
from reaper.pinned import PinnedItem, PinnedPlan, PlanRefused, read_pinned, refuse_outside_scope
from reaper.policy import make_plan
from reaper.report import plan_to_json
from reaper.results import ExitCode
from reaper.sandbox.estate import CI_ACCOUNT_ID, SANDBOX_AMI
from reaper.sandbox.moto_server import MotoServer
from reaper.shards import Shard, owner, scope_key

REGION = "us-east-1"
HOUR = timedelta(hours=1)
EXPIRED = 2 * 24 * HOUR  # the demo config gives EC2 instances a TTL of 12h
FRESH = HOUR

ConfigFactory = Callable[..., dict[str, Any]]
ReadAudit = Callable[[Path | str], list[dict[str, Any]]]


# -- the command line against the sandbox --------------------------------------------------------


class Operator:
    """Writes a config, runs ``reaper`` against the sandbox, and touches instances by hand."""

    def __init__(
        self,
        sandbox: MotoServer,
        session: boto3.Session,
        tmp_path: Path,
        make_config: ConfigFactory,
    ) -> None:
        self.sandbox = sandbox
        self._session = session
        self.ec2 = session.client("ec2", region_name=REGION, endpoint_url=sandbox.endpoint_url)
        self.tmp_path = tmp_path
        self.plan_path = tmp_path / "plan.json"
        self.config_path = tmp_path / "reaper.yaml"
        self._make_config = make_config
        self._env = sandbox_env(sandbox.endpoint_url, REGION)

    def write_config(
        self, safety: Mapping[str, Any] | None = None, regions: Sequence[str] = (REGION,)
    ) -> Path:
        """A dry-run config acting on first sight (grace 0s); apply acts regardless."""
        data = self._make_config(
            accounts=("ci",),
            regions=tuple(regions),
            dry_run=True,
            grace_period="0s",
            safety={"max_fraction": 1.0, **(safety or {})},
        )
        text = "# reviewed by the platform team\n" + yaml.safe_dump(data, sort_keys=False)
        self.config_path.write_text(text, encoding="utf-8")
        return self.config_path

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*reaper_command(), *map(str, args)],
            env=self._env,
            cwd=self.tmp_path,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def plan(self) -> dict[str, Any]:
        """`reaper plan -c CONFIG -o plan.json`; returns the plan document."""
        result = self("plan", "-c", self.config_path, "-o", self.plan_path)
        assert result.returncode in (ExitCode.OK, ExitCode.SAFETY_BRAKE), explain(result)
        document: dict[str, Any] = json.loads(self.plan_path.read_text(encoding="utf-8"))
        return document

    def apply(self, *options: str) -> subprocess.CompletedProcess[str]:
        return self("apply", self.plan_path, "-c", self.config_path, *options)

    def save(self, document: Mapping[str, Any]) -> None:
        """Write an edited plan document back where `plan` wrote it."""
        self.plan_path.write_text(json.dumps(document), encoding="utf-8")

    def client(self, region: str = REGION) -> Any:
        if region == REGION:
            return self.ec2
        return self._session.client(
            "ec2", region_name=region, endpoint_url=self.sandbox.endpoint_url
        )

    def launch(
        self, *, age: timedelta = EXPIRED, owner: str = "team-payments", region: str = REGION
    ) -> str:
        tags = {"reaper-pipeline": "gitlab-ci-4711", "reaper-owner": owner}
        answer = self.client(region).run_instances(
            ImageId=SANDBOX_AMI,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        instance_id = str(answer["Instances"][0]["InstanceId"])
        self.sandbox.age_instances(CI_ACCOUNT_ID, region, {instance_id: datetime.now(UTC) - age})
        return instance_id

    def tag(self, instance_id: str, **tags: str) -> None:
        self.ec2.create_tags(
            Resources=[instance_id],
            Tags=[{"Key": k.replace("_", "-"), "Value": v} for k, v in tags.items()],
        )

    def states(self, *instance_ids: str, region: str = REGION) -> dict[str, str]:
        answer = self.client(region).describe_instances(InstanceIds=list(instance_ids))
        return {
            i["InstanceId"]: i["State"]["Name"]
            for r in answer["Reservations"]
            for i in r["Instances"]
        }

    def tags(self, instance_id: str) -> dict[str, str]:
        (reservation,) = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


@pytest.fixture
def operator(
    sandbox: MotoServer, aws_session: boto3.Session, tmp_path: Path, make_config: ConfigFactory
) -> Operator:
    return Operator(sandbox, aws_session, tmp_path, make_config)


def _planned(document: Mapping[str, Any], action: str = "delete") -> set[str]:
    return {d["id"] for d in document["decisions"] if d["action"] == action}


def _events(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == event]


# -- apply acts on exactly the plan ---------------------------------------------------------------


def test_apply_acts_on_exactly_the_planned_resources_that_still_qualify(
    operator: Operator, audit_path: Path, read_audit: ReadAudit
) -> None:
    gone, reowned, unchanged = operator.launch(), operator.launch(), operator.launch()
    fresh = operator.launch(age=FRESH)
    operator.write_config()
    document = operator.plan()
    assert _planned(document) == {gone, reowned, unchanged}
    assert _planned(document, "keep") == {fresh}
    assert operator.states(gone, reowned, unchanged, fresh) == dict.fromkeys(
        (gone, reowned, unchanged, fresh), "running"
    )

    # Between review and apply: one is terminated by hand, one changes hands, and a new
    # expired instance appears that nobody reviewed.
    operator.ec2.terminate_instances(InstanceIds=[gone])
    operator.tag(reowned, reaper_owner="team-search")
    unreviewed = operator.launch()

    result = operator.apply()

    assert result.returncode == ExitCode.OK, explain(result)
    assert operator.states(reowned, unchanged, fresh, unreviewed) == {
        reowned: "running",
        unchanged: "terminated",
        fresh: "running",
        unreviewed: "running",
    }
    assert "reaper-state" not in operator.tags(unreviewed)
    records = read_audit(audit_path)
    skipped = {r["resource"]["id"]: r for r in _events(records, "skipped")}
    assert set(skipped) == {gone, reowned}
    assert skipped[gone]["message"] == "gone"
    assert "owner changed" in skipped[reowned]["message"]
    assert "team-payments" in skipped[reowned]["message"]
    assert "team-search" in skipped[reowned]["message"]
    assert all(r["action"] == "delete" and r["result"] == "skipped" for r in skipped.values())
    acted = {(r["resource"]["id"], r["action"]) for r in _events(records, "intent")}
    assert acted == {(unchanged, "delete")}
    (start,) = _events(records, "sweep-start")
    assert start["pinned_plan"] == document["generated_at"]


def test_apply_skips_a_planned_resource_that_no_longer_qualifies(
    operator: Operator, audit_path: Path, read_audit: ReadAudit
) -> None:
    protected = operator.launch()
    operator.write_config()
    assert _planned(operator.plan()) == {protected}
    operator.tag(protected, reaper_protect="true")

    result = operator.apply()

    assert result.returncode == ExitCode.OK, explain(result)
    assert operator.states(protected) == {protected: "running"}
    (skipped,) = _events(read_audit(audit_path), "skipped")
    assert skipped["resource"]["id"] == protected
    assert skipped["message"].startswith("no longer qualifies")
    assert "protected" in skipped["message"]
    assert not _events(read_audit(audit_path), "intent")


def test_apply_skips_an_item_whose_id_is_malformed_without_sending_it(
    operator: Operator, audit_path: Path, read_audit: ReadAudit
) -> None:
    planned = operator.launch()
    operator.write_config()
    document = operator.plan()
    # A hand-edited plan: a copy of the item with an id no instance can have. Sent along,
    # it would fail the whole DescribeInstances of its region (InvalidInstanceID).
    forged = {**next(d for d in document["decisions"] if d["id"] == planned), "id": "i-$(rm)"}
    document["decisions"].append(forged)
    operator.plan_path.write_text(json.dumps(document), encoding="utf-8")

    result = operator.apply()

    assert result.returncode == ExitCode.OK, explain(result)
    assert operator.states(planned) == {planned: "terminated"}
    (skipped,) = _events(read_audit(audit_path), "skipped")
    assert skipped["resource"]["id"] == "i-$(rm)"
    assert skipped["message"].startswith("'i-$(rm)' is not an id of aws:ec2_instance (i- and")


# -- plans that are refused ------------------------------------------------------------------------


def test_apply_refuses_a_plan_older_than_plan_max_age(operator: Operator) -> None:
    instance = operator.launch()
    operator.write_config()
    document = operator.plan()
    document["generated_at"] = (datetime.now(UTC) - 2 * HOUR).isoformat()
    operator.plan_path.write_text(json.dumps(document), encoding="utf-8")

    result = operator.apply()

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert "plan_max_age" in result.stderr
    assert operator.states(instance) == {instance: "running"}


def test_apply_refuses_a_plan_made_with_a_different_config(operator: Operator) -> None:
    instance = operator.launch()
    config = operator.write_config()
    operator.plan()
    # One byte, in a comment: the same settings, but not the file that was reviewed.
    text = config.read_bytes()
    config.write_bytes(text.replace(b"# reviewed", b"# Reviewed", 1))
    assert config.read_bytes() != text

    result = operator.apply()

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert "different config" in result.stderr
    assert operator.states(instance) == {instance: "running"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            "cannot read plan: the JSON is nested too deeply",
            id="nested-too-deeply",
        ),
        pytest.param("{", "cannot read plan: Expecting property name", id="not-json"),
    ],
)
def test_apply_refuses_an_unreadable_plan_file_with_exit_2(
    operator: Operator, text: str, problem: str
) -> None:
    operator.write_config()
    operator.plan_path.write_text(text, encoding="utf-8")

    result = operator.apply()

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{operator.plan_path}: {problem}")
    assert len(result.stderr.splitlines()) == 1


def test_the_safety_brake_holds_an_apply(
    operator: Operator, audit_path: Path, read_audit: ReadAudit
) -> None:
    instances = [operator.launch(), operator.launch()]
    operator.write_config(safety={"max_actions_per_sweep": 0})
    assert _planned(operator.plan()) == set(instances)

    result = operator.apply()

    assert result.returncode == ExitCode.SAFETY_BRAKE, explain(result)
    assert "max_actions_per_sweep=0" in result.stderr
    assert operator.states(*instances) == dict.fromkeys(instances, "running")
    records = read_audit(audit_path)
    (brake,) = _events(records, "safety-brake")
    assert brake["counts"] == [{"group": "aws:ec2_instance", "actions": 2, "population": 2}]
    assert not _events(records, "intent")


def test_an_edited_population_does_not_get_a_plan_past_the_brake(
    operator: Operator, audit_path: Path, read_audit: ReadAudit
) -> None:
    instances = [operator.launch(), operator.launch()]
    fresh = operator.launch(age=FRESH)
    operator.write_config(safety={"max_fraction": 0.5, "min_actions_for_fraction": 0})
    document = operator.plan()  # 2 of 3 pipeline instances: over max_fraction
    assert _planned(document) == set(instances)
    document["summary"]["population"] = {"aws:ec2_instance": 1000}
    operator.save(document)

    result = operator.apply()

    assert result.returncode == ExitCode.SAFETY_BRAKE, explain(result)
    assert "2 of 3 pipeline resources" in result.stderr
    assert operator.states(*instances, fresh) == dict.fromkeys((*instances, fresh), "running")
    records = read_audit(audit_path)
    (brake,) = _events(records, "safety-brake")
    assert brake["counts"] == [{"group": "aws:ec2_instance", "actions": 2, "population": 3}]
    assert not _events(records, "intent")


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        pytest.param(
            {"region": "eu-west-1"},
            "region eu-west-1 is not configured (configured: us-east-1)",
            id="region-not-configured",
        ),
        pytest.param(
            {"account": "prod"},
            "account prod is not configured (configured: ci)",
            id="account-not-configured",
        ),
        pytest.param(
            {"region": "eu west 1"},
            "region 'eu west 1' is not configured (configured: us-east-1)",
            id="invalid-region",
        ),
        pytest.param(
            {"kind": "ebs_volume"},
            "kind aws:ebs_volume is not configured (configured: aws:ec2_instance)",
            id="kind-not-configured",
        ),
        pytest.param(
            {"provider": "gcp", "kind": "compute_instance"},
            "kind gcp:compute_instance is not configured (configured: aws:ec2_instance)",
            id="provider-not-configured",
        ),
    ],
)
def test_apply_refuses_items_outside_the_configured_scope_before_doing_anything(
    operator: Operator,
    audit_path: Path,
    read_audit: ReadAudit,
    edit: Mapping[str, str],
    named: str,
) -> None:
    planned = operator.launch()
    elsewhere = operator.launch(region="eu-west-1")  # the config sweeps us-east-1 only
    operator.write_config()
    document = operator.plan()
    assert _planned(document) == {planned}
    (item,) = (d for d in document["decisions"] if d["id"] == planned)
    document["decisions"].append({**item, "id": elsewhere, **edit})
    operator.save(document)

    result = operator.apply()

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert "Traceback" not in result.stderr, explain(result)
    (line,) = [line for line in result.stderr.splitlines() if elsewhere in line]
    assert line.startswith(f"refused: {operator.plan_path}: "), line
    assert named in line
    assert operator.states(planned) == {planned: "running"}
    assert operator.states(elsewhere, region="eu-west-1") == {elsewhere: "running"}
    assert not audit_path.exists() or read_audit(audit_path) == []


def _split(scopes: Sequence[Scope]) -> Shard:
    """The shard of the fewest shards that sweeps ``scopes[0]`` but not ``scopes[1]``."""
    for count in range(2, 20):
        first, second = (owner(scope_key("aws", s), count) for s in scopes)
        if first != second:
            return Shard(first, count)
    raise AssertionError("rendezvous put both scopes on one shard for every count")


def test_a_shards_apply_refuses_a_plan_naming_another_shards_scope_and_acts_under_its_trail(
    operator: Operator, audit_path: Path, read_audit: ReadAudit
) -> None:
    east, west = operator.launch(), operator.launch(region="eu-west-1")
    operator.write_config(regions=(REGION, "eu-west-1"))
    shard = _split([Scope("ci", REGION), Scope("ci", "eu-west-1")])
    other = owner(scope_key("aws", Scope("ci", "eu-west-1")), shard.count)
    trail = audit_path.with_name(f"{audit_path.stem}.shard-{shard.index}{audit_path.suffix}")
    # The whole sweep's plan names both; as the shard of us-east-1 it is refused whole.
    assert _planned(operator.plan()) == {east, west}

    refused = operator.apply("--shard", str(shard))

    assert refused.returncode == ExitCode.USAGE, explain(refused)
    (line,) = [line for line in refused.stderr.splitlines() if west in line]
    assert f"shard {other}/{shard.count} sweeps aws/ci/eu-west-1, not this shard" in line
    assert f"outside the configured kinds, accounts and regions or shard {shard}'s" in (
        refused.stderr
    )
    assert operator.states(east) == {east: "running"}
    assert not trail.exists()
    assert not audit_path.exists()

    # The shard's own plan is applied under the shard's own trail (and its lock).
    planned = operator(
        "plan", "-c", operator.config_path, "-o", operator.plan_path, "--shard", str(shard)
    )
    assert planned.returncode == ExitCode.OK, explain(planned)
    assert _planned(json.loads(operator.plan_path.read_text(encoding="utf-8"))) == {east}
    applied = operator.apply("--shard", str(shard))

    assert applied.returncode == ExitCode.OK, explain(applied)
    assert operator.states(east) == {east: "terminated"}
    assert operator.states(west, region="eu-west-1") == {west: "running"}
    assert not audit_path.exists()
    start, *_ = read_audit(trail)
    assert (start["event"], start["pinned_plan"] is not None) == ("sweep-start", True)
    assert [r["resource"]["id"] for r in _events(read_audit(trail), "outcome")] == [east]
    assert trail.with_name(f"{trail.name}.lock").exists()


# -- read_pinned on its own ------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHA = "ab" * 32
SCOPE = Scope("ci", REGION)
SOURCE = "plan.json"


def _document() -> dict[str, Any]:
    """A plan document as `reaper plan` writes it: one delete, one mark, one keep."""
    policy = PolicySettings.model_validate({"default_ttl": "24h", "grace_period": "1h"})
    resources = [
        Resource(
            ResourceRef("aws", "ec2_instance", SCOPE, instance_id),
            name=instance_id,
            created_at=NOW - age,
            tags=signed(
                ResourceRef("aws", "ec2_instance", SCOPE, instance_id),
                {"reaper-pipeline": "gitlab-ci-1", "reaper-owner": "team-payments", **tags},
            ),
            owner="team-payments",
        )
        for instance_id, age, tags in (
            (
                "i-01",
                48 * HOUR,
                {
                    "reaper-state": "marked",
                    "reaper-marked-at": "1772352000",
                    "reaper-action": "delete",
                },
            ),
            ("i-02", 48 * HOUR, {}),
            ("i-03", HOUR, {}),
        )
    ]
    plan = make_plan(resources, policy, TagKeys(), NOW - HOUR / 2, SIGNER)
    return plan_to_json(plan, True, config_sha256=SHA)


def _read(document: object, *, now: datetime = NOW, sha: str = SHA) -> Any:
    return read_pinned(document, SOURCE, sha, HOUR, now)


def test_read_pinned_takes_every_item_that_is_not_keep() -> None:
    document = _document()
    assert [d["action"] for d in document["decisions"]] == ["delete", "mark", "keep"]

    pinned = _read(document)

    assert pinned.generated_at == NOW - HOUR / 2
    assert pinned.config_sha256 == SHA
    assert pinned.items == (
        PinnedItem(
            ResourceRef("aws", "ec2_instance", SCOPE, "i-01"), Action.DELETE, "team-payments"
        ),
        PinnedItem(ResourceRef("aws", "ec2_instance", SCOPE, "i-02"), Action.MARK, "team-payments"),
    )
    assert pinned.source == SOURCE


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        del document[key]

    return edit


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document[key] = value

    return edit


def _first(
    key: str, value: Any = None, *, delete: bool = False
) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        if delete:
            del document["decisions"][0][key]
        else:
            document["decisions"][0][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        pytest.param(_without("decisions"), "not a reaper plan", id="no-decisions"),
        pytest.param(
            _set("decisions", {"i-01": "delete"}), "not a reaper plan", id="decisions-a-map"
        ),
        pytest.param(_without("generated_at"), "malformed", id="no-generated-at"),
        pytest.param(_set("generated_at", "last tuesday"), "malformed", id="generated-at-a-word"),
        pytest.param(_set("generated_at", 1772366400), "malformed", id="generated-at-a-number"),
        pytest.param(
            _set("generated_at", "2026-03-01T11:30:00"), "no UTC offset", id="generated-at-naive"
        ),
        pytest.param(_without("config_sha256"), "malformed", id="no-config-hash"),
        pytest.param(_set("decisions", ["i-01"]), "malformed", id="decision-not-a-mapping"),
        pytest.param(_first("id", delete=True), "malformed", id="decision-without-id"),
        pytest.param(_first("account", delete=True), "malformed", id="decision-without-account"),
        pytest.param(_first("region", 7), "malformed", id="region-not-text"),
        pytest.param(_first("scope", {"account": "ci"}), "malformed", id="scope-without-region"),
        pytest.param(_first("action", delete=True), "malformed", id="decision-without-action"),
        pytest.param(_first("action", "nuke"), "malformed", id="unknown-action"),
    ],
)
def test_read_pinned_refuses_a_malformed_document(
    edit: Callable[[dict[str, Any]], None], problem: str
) -> None:
    document = _document()
    edit(document)

    with pytest.raises(PlanRefused) as refused:
        _read(document)

    assert str(refused.value).startswith(f"{SOURCE}: ")
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(None, id="null"),
        pytest.param([], id="a-list"),
        pytest.param("plan", id="a-string"),
        pytest.param({}, id="empty"),
    ],
)
def test_read_pinned_refuses_what_is_not_a_plan(document: object) -> None:
    with pytest.raises(PlanRefused, match="not a reaper plan"):
        _read(document)


def test_read_pinned_accepts_a_plan_exactly_plan_max_age_old() -> None:
    # The plan was made at NOW - 30m; plan_max_age is 1h.
    assert _read(_document(), now=NOW + HOUR / 2).items


def test_read_pinned_refuses_a_plan_older_than_plan_max_age() -> None:
    with pytest.raises(PlanRefused, match=re.escape("older than safety.plan_max_age=1h")):
        _read(_document(), now=NOW + HOUR / 2 + timedelta(seconds=1))


def test_read_pinned_refuses_a_plan_from_the_future() -> None:
    with pytest.raises(PlanRefused, match="dated in the future"):
        _read(_document(), now=NOW - HOUR)


def test_read_pinned_refuses_a_plan_made_with_another_config() -> None:
    with pytest.raises(PlanRefused, match="different config"):
        _read(_document(), sha="cd" * 32)


def test_read_pinned_takes_a_resource_named_twice_once() -> None:
    document = _document()
    document["decisions"].append({**document["decisions"][0], "action": "mark"})

    pinned = _read(document)

    assert [(i.ref.id, i.action) for i in pinned.items] == [
        ("i-01", Action.DELETE),
        ("i-02", Action.MARK),
    ]


def test_read_pinned_takes_nothing_from_the_plans_summary() -> None:
    document = _document()
    del document["summary"]

    assert len(_read(document).items) == 2


CONFIGURED = {
    "aws:ec2_instance": [Scope("ci", REGION), Scope("ci", "eu-west-1"), Scope("prod", REGION)]
}


def test_a_plan_within_the_configured_scope_passes() -> None:
    refuse_outside_scope(_read(_document()), CONFIGURED)


def test_a_shard_refuses_items_another_shard_sweeps_and_names_the_rest_once() -> None:
    document = _document()
    document["decisions"][1]["region"] = "eu-west-1"
    document["decisions"][2]["region"] = "ap-south-1"  # the keep: not an item
    here, there = Scope("ci", REGION), Scope("ci", "eu-west-1")
    count = next(n for n in range(2, 20) if owner(f"aws/{here}", n) != owner(f"aws/{there}", n))
    mine, theirs = owner(f"aws/{here}", count), owner(f"aws/{there}", count)
    pinned = _read(document)

    with pytest.raises(PlanRefused) as refused:
        refuse_outside_scope(pinned, CONFIGURED, Shard(mine, count))

    assert refused.value.problems == (
        f"{SOURCE}: aws:ec2_instance:i-02 in ci/eu-west-1: shard {theirs}/{count} sweeps "
        f"aws/ci/eu-west-1, not this shard ({mine}/{count})",
        f"{SOURCE}: 1 item(s) outside the configured kinds, accounts and regions or shard "
        f"{mine}/{count}'s scopes; nothing was done",
    )
    # Unsharded, or as one shard of one, the same plan passes.
    refuse_outside_scope(pinned, CONFIGURED)
    refuse_outside_scope(pinned, CONFIGURED, Shard(0, 1))
    # An item outside the configured scope is named once, as such, whatever the shard.
    document["decisions"][1]["region"] = "ap-south-1"
    with pytest.raises(PlanRefused) as outside:
        refuse_outside_scope(_read(document), CONFIGURED, Shard(mine, count))
    assert [p for p in outside.value.problems if "i-02" in p] == [
        f"{SOURCE}: aws:ec2_instance:i-02 in ci/ap-south-1: region ap-south-1 is not "
        "configured (configured: eu-west-1, us-east-1)"
    ]


def test_every_item_outside_the_configured_scope_is_named() -> None:
    document = _document()
    document["decisions"][0]["region"] = "ap-south-1"
    document["decisions"][1]["account"] = "staging\nrefused: all good"

    with pytest.raises(PlanRefused) as refused:
        refuse_outside_scope(_read(document), CONFIGURED)

    assert refused.value.problems == (
        f"{SOURCE}: aws:ec2_instance:i-01 in ci/ap-south-1: region ap-south-1 is not "
        "configured (configured: eu-west-1, us-east-1)",
        f"{SOURCE}: aws:ec2_instance:i-02 in 'staging\\nrefused: all good/us-east-1': account "
        "'staging\\nrefused: all good' is not configured (configured: ci, prod)",
        f"{SOURCE}: 2 item(s) outside the configured kinds, accounts and regions; nothing was done",
    )


def test_every_region_of_an_account_covers_any_region_but_not_none() -> None:
    whole_account = {"aws:ec2_instance": [Scope("ci", EVERY_REGION), Scope("prod", REGION)]}
    document = _document()
    document["decisions"][0]["region"] = "ap-south-1"  # any region of ci
    document["decisions"][1]["region"] = ""

    with pytest.raises(PlanRefused) as refused:
        refuse_outside_scope(_read(document), whole_account)

    assert refused.value.problems == (
        f"{SOURCE}: aws:ec2_instance:i-02 in ci: region '' is not configured (configured: all)",
        f"{SOURCE}: 1 item(s) outside the configured kinds, accounts and regions; nothing was done",
    )


def test_a_namespace_outside_the_configured_clusters_is_named_by_its_cluster() -> None:
    """A cluster is a Kubernetes scope's account, and it has no region."""

    def item(cluster: str, region: str = "") -> PinnedItem:
        ref = ResourceRef("kubernetes", "namespace", Scope(cluster, region), f"{cluster}/ci-1")
        return PinnedItem(ref, Action.DELETE, None)

    plan = PinnedPlan(NOW, SHA, (item("ci"), item("prod"), item("ci", "us-east-1")), SOURCE)
    configured = {"kubernetes:namespace": [Scope("ci", ""), Scope("staging", "")]}

    with pytest.raises(PlanRefused) as refused:
        refuse_outside_scope(plan, configured)

    assert refused.value.problems == (
        f"{SOURCE}: kubernetes:namespace:prod/ci-1 in prod: cluster prod is not configured "
        "(configured: ci, staging)",
        f"{SOURCE}: kubernetes:namespace:ci/ci-1 in ci/us-east-1: a cluster has no region, the "
        "plan names us-east-1",
        f"{SOURCE}: 2 item(s) outside the configured kinds, accounts and regions; nothing was done",
    )


def test_a_shard_owns_a_whole_project_items_in_its_zones_included() -> None:
    """A GCP project swept in all its zones is one collection scope, so one shard: an item
    names its zone, and the shard that owns the project is the one that may act on it."""

    def project_of(ref: ResourceRef) -> Scope:
        return Scope(ref.scope.account, "")

    def vm(zone: str, name: str) -> PinnedItem:
        ref = ResourceRef("gcp", "gce_instance", Scope("ci-gcp", zone), name)
        return PinnedItem(ref, Action.DELETE, None)

    plan = PinnedPlan(NOW, SHA, (vm("us-central1-a", "a"), vm("europe-west1-b", "b")), SOURCE)
    configured = {"gcp:gce_instance": [Scope("ci-gcp", EVERY_REGION)]}
    count = 7
    mine = owner(scope_key("gcp", Scope("ci-gcp", "")), count)

    refuse_outside_scope(plan, configured, Shard(mine, count), project_of)
    other = (mine + 1) % count
    with pytest.raises(PlanRefused) as refused:
        refuse_outside_scope(plan, configured, Shard(other, count), project_of)
    assert refused.value.problems[:2] == (
        f"{SOURCE}: gcp:gce_instance:a in ci-gcp/us-central1-a: shard {mine}/{count} sweeps "
        f"gcp/ci-gcp, not this shard ({other}/{count})",
        f"{SOURCE}: gcp:gce_instance:b in ci-gcp/europe-west1-b: shard {mine}/{count} sweeps "
        f"gcp/ci-gcp, not this shard ({other}/{count})",
    )
