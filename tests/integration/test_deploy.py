"""What ships in deploy/ is safe by default and agrees with the code."""

from __future__ import annotations

import json
from typing import Any

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


def test_ci_tokens_come_from_an_optional_secret_never_a_literal() -> None:
    cronjob = _manifest("cronjob.yaml")
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "daemon" / "deployment.yaml").read_text())
    for pod in (
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        deployment["spec"]["template"]["spec"],
    ):
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        for name in ("GITHUB_TOKEN", "GITLAB_TOKEN"):
            assert "value" not in env[name]
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["optional"]) == ("reaper-ci-tokens", True)
