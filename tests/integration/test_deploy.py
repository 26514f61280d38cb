"""What ships in deploy/ is safe by default and agrees with the code."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from paths import REPO

from reaper.config import parse_settings
from reaper.providers import catalog  # noqa: F401  (fills the registry)
from reaper.providers.base import REGISTRY

DEPLOY = REPO / "deploy"


def _manifest(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())
    assert isinstance(data, dict)
    return data


def test_shipped_config_is_valid_and_dry_run() -> None:
    configmap = _manifest("configmap.yaml")
    settings = parse_settings(yaml.safe_load(configmap["data"]["config.yaml"]), "configmap")
    assert settings.dry_run is True


def _uncommented(text: str, key: str) -> str:
    """``text`` with the commented-out block ``# key:`` (and its indented lines) restored."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().split()[:2] == ["#", f"{key}:"])
    indent = lines[start].index("#")
    prefix = " " * indent + "#   "
    end = start + 1
    while end < len(lines) and lines[end].startswith(prefix):
        end += 1
    restored = [line.replace("# ", "", 1) for line in lines[start:end]]
    return "\n".join([*lines[:start], *restored, *lines[end:]])


@pytest.mark.parametrize("sink", ["s3", "gcs"])
def test_the_configmap_shows_a_valid_bucket_sink_for_the_cronjob(sink: str) -> None:
    text = _manifest("configmap.yaml")["data"]["config.yaml"]
    settings = parse_settings(yaml.safe_load(_uncommented(text, sink)), "configmap")
    section = getattr(settings.audit, sink)
    assert section is not None
    assert section.required is True
    assert settings.dry_run is True


def test_the_cronjob_recommends_a_bucket_sink_and_the_policy_grants_it() -> None:
    cronjob = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text()
    assert "lifecycle release" not in cronjob
    assert "audit.s3" in cronjob
    assert "audit.gcs" in cronjob
    policy = json.loads((DEPLOY / "aws" / "iam-policy.json").read_text())
    (bucket,) = [s for s in policy["Statement"] if s["Sid"] == "ReaperAuditTrailBucket"]
    assert set(bucket["Action"]) == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectRetention",
    }


def test_cronjob_never_runs_two_sweeps_at_once_and_does_not_apply() -> None:
    cronjob = _manifest("cronjob.yaml")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert "--apply" not in container["args"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_kustomization_lists_every_manifest() -> None:
    listed = set(_manifest("kustomization.yaml")["resources"])
    present = {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_iam_policy_grants_every_permission_a_kind_declares() -> None:
    policy = json.loads((DEPLOY / "aws" / "iam-policy.json").read_text())
    granted: set[str] = set()
    for statement in policy["Statement"]:
        actions = statement["Action"]
        granted.update([actions] if isinstance(actions, str) else actions)
    needed = {
        p for key, kind in REGISTRY.items() if key.startswith("aws:") for p in kind.permissions
    }
    assert needed <= granted, f"missing from iam-policy.json: {sorted(needed - granted)}"


def test_instance_actions_are_limited_to_pipeline_tagged_instances() -> None:
    policy = json.loads((DEPLOY / "aws" / "iam-policy.json").read_text())
    for action in ("ec2:TerminateInstances", "ec2:StopInstances", "ec2:DeleteTags"):
        granting = [s for s in policy["Statement"] if action in s["Action"]]
        assert len(granting) == 1, f"{action} granted by {len(granting)} statements"
        assert granting[0]["Resource"] == "arn:aws:ec2:*:*:instance/*"
        assert granting[0]["Condition"] == {"Null": {"aws:ResourceTag/reaper-pipeline": "false"}}
