"""What ships in deploy/ is safe by default and agrees with the code."""

from __future__ import annotations

import json
from typing import Any

import yaml
from paths import REPO

from reaper.config import load_settings, parse_settings
from reaper.providers import catalog  # noqa: F401  (fills the registry)
from reaper.providers.aws.iam_policy import policy_document, render
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


def test_the_shipped_iam_policy_is_the_generators_output_for_the_example_config() -> None:
    settings, _ = load_settings(REPO / "config.example.yaml")

    shipped = (DEPLOY / "aws" / "iam-policy.json").read_text(encoding="utf-8")

    assert shipped == render(policy_document(settings)), (
        "regenerate it: reaper iam-policy -c config.example.yaml -o deploy/aws/iam-policy.json"
    )


def test_the_shipped_iam_policy_grants_what_the_example_configs_kinds_declare() -> None:
    settings, _ = load_settings(REPO / "config.example.yaml")
    policy = json.loads((DEPLOY / "aws" / "iam-policy.json").read_text())
    granted = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    aws = settings.providers.aws
    assert aws is not None

    needed = {p for kind in aws.kinds for p in REGISTRY[f"aws:{kind}"].permissions}

    assert needed == granted
