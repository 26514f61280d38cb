"""What ships in deploy/ is safe by default and agrees with the code."""

from __future__ import annotations

import fnmatch
import importlib
import json
from typing import Any

import pytest
import yaml
from paths import REPO

from reaper.config import GcpSettings, TagKeys, load_settings, parse_settings
from reaper.lifecycle import ALL_KEYS, RESERVED_KEYS
from reaper.providers import catalog  # noqa: F401  (fills the registry)
from reaper.providers.aws.ec2_facts import MANAGED_TAG
from reaper.providers.aws.iam_policy import policy_document, render
from reaper.providers.base import REGISTRY
from reaper.sandbox._moto_iam import Authorization, decide

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
    # The policy generated for the ConfigMap's config with its S3 block uncommented.
    text = _manifest("configmap.yaml")["data"]["config.yaml"]
    settings = parse_settings(yaml.safe_load(_uncommented(text, "s3")), "configmap")
    policy = policy_document(settings)
    actions = {
        action
        for statement in policy["Statement"]
        for action in statement["Action"]
        if action.startswith("s3:")
    }
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"}


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


# -- the example SCP: nobody but reaper writes reaper's own tags ------------------------------

SCP = DEPLOY / "aws" / "scp-reaper-tags.json"
REAPER_ROLE = "arn:aws:iam::123456789012:role/reaper"
PIPELINE_ROLE = "arn:aws:iam::123456789012:role/gitlab-runner"


def _scp() -> dict[str, Any]:
    document = json.loads(SCP.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _reaper_keys_by_service() -> dict[str, set[str]]:
    """Every tag key reaper writes, from the code: the lifecycle keys (reserved ones too),
    each kind's own, and the quarantine group's."""
    lifecycle_keys = {*ALL_KEYS, *RESERVED_KEYS}
    service_of = {"aws:ec2_instance": "ec2", "aws:eks_cluster": "eks"}
    assert set(service_of) == {key for key in REGISTRY if key.startswith("aws:")}
    services: dict[str, set[str]] = {"ec2": {MANAGED_TAG}, "eks": set()}
    for key, service in service_of.items():
        services[service] |= lifecycle_keys | set(REGISTRY[key].state_tags)
    return services


def _denied_keys(service: str) -> set[str]:
    found: set[str] = set()
    for statement in _scp()["Statement"]:
        actions = statement["Action"]
        if any(
            a.startswith(f"{service}:")
            for a in ([actions] if isinstance(actions, str) else actions)
        ):
            found |= set(
                statement["Condition"].get("ForAnyValue:StringLike", {}).get("aws:TagKeys", [])
            )
    return found


def test_the_scp_parses_and_only_denies_principals_other_than_reapers_role() -> None:
    document = _scp()

    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Deny"
        assert statement["Condition"]["ArnNotLike"] == {
            "aws:PrincipalARN": "arn:aws:iam::*:role/reaper"
        }
    assert len(json.dumps(document, separators=(",", ":"))) <= 5120  # an SCP's size limit


@pytest.mark.parametrize("service", ["ec2", "eks"])
def test_the_scp_names_every_tag_key_reaper_writes(service: str) -> None:
    needed = _reaper_keys_by_service()[service]

    assert needed, "no AWS kind writes tags?"
    assert needed - _denied_keys(service) == set()
    assert "reaper-original-*" in _denied_keys(service)


@pytest.mark.parametrize("service", ["ec2", "eks"])
def test_the_scp_leaves_pipelines_free_to_set_their_own_tags(service: str) -> None:
    user_keys = set(TagKeys().model_dump().values())

    denied = _denied_keys(service)

    assert not {k for k in user_keys if any(fnmatch.fnmatchcase(k, p) for p in denied)}


@pytest.mark.parametrize(
    ("principal", "action", "tags", "denied"),
    [
        pytest.param(PIPELINE_ROLE, "ec2:CreateTags", {"reaper-state": "marked"}, True, id="mark"),
        pytest.param(PIPELINE_ROLE, "ec2:DeleteTags", {"reaper-state": ""}, True, id="unmark"),
        pytest.param(
            PIPELINE_ROLE, "ec2:CreateTags", {"reaper-original-sgs": "x"}, True, id="originals"
        ),
        pytest.param(
            PIPELINE_ROLE, "ec2:CreateTags", {"reaper-original-new": "x"}, True, id="future-key"
        ),
        pytest.param(PIPELINE_ROLE, "eks:TagResource", {"reaper-signature": "x"}, True, id="eks"),
        pytest.param(
            PIPELINE_ROLE,
            "eks:CreateCluster",
            {"reaper-pipeline": "gitlab-ci-1", "reaper-state": "quarantined"},
            True,
            id="at-create",
        ),
        pytest.param(
            PIPELINE_ROLE,
            "ec2:CreateTags",
            {"reaper-pipeline": "gitlab-ci-1", "reaper-ttl": "2h", "reaper-owner": "team"},
            False,
            id="pipeline-launch-keys",
        ),
        pytest.param(PIPELINE_ROLE, "ec2:DeleteTags", {"reaper-protect": ""}, False, id="protect"),
        pytest.param(REAPER_ROLE, "ec2:CreateTags", {"reaper-state": "marked"}, False, id="reaper"),
        pytest.param(
            REAPER_ROLE, "eks:UntagResource", {"reaper-state": ""}, False, id="reaper-eks"
        ),
    ],
)
def test_the_scp_denies_reapers_keys_to_everyone_but_reaper(
    principal: str, action: str, tags: dict[str, str], denied: bool
) -> None:
    context = {
        "aws:principalarn": (principal,),
        "aws:tagkeys": tuple(tags),
        "aws:resourcetag/reaper-pipeline": ("gitlab-ci-1",),
        **{f"aws:requesttag/{k}": (v,) for k, v in tags.items() if v},
    }
    request = Authorization(action, "arn:aws:ec2:us-east-1:123456789012:instance/i-1", context)

    assert (decide([_scp()], request) == "deny") is denied


def test_the_scp_keeps_everyone_but_reaper_from_removing_every_tag_of_a_pipeline_instance() -> None:
    wipe = {"aws:resourcetag/reaper-pipeline": ("gitlab-ci-1",)}
    instance = "arn:aws:ec2:us-east-1:123456789012:instance/i-1"

    def verdict(principal: str, context: dict[str, tuple[str, ...]]) -> str:
        full = {"aws:principalarn": (principal,), **context}
        return decide([_scp()], Authorization("ec2:DeleteTags", instance, full))

    assert verdict(PIPELINE_ROLE, wipe) == "deny"
    assert verdict(REAPER_ROLE, wipe) != "deny"
    assert verdict(PIPELINE_ROLE, {}) != "deny"  # an instance that is not a pipeline's


@pytest.mark.parametrize(
    "manifest", ["cronjob.yaml", "daemon/deployment.yaml", "sharded/base/cronjob.yaml"]
)
def test_ci_tokens_and_the_state_key_come_from_optional_secrets_never_literals(
    manifest: str,
) -> None:
    workload = _manifest(manifest)
    spec = workload["spec"]
    pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    secrets = {
        "GITHUB_TOKEN": ("reaper-ci-tokens", "github"),
        "GITLAB_TOKEN": ("reaper-ci-tokens", "gitlab"),
        "REAPER_STATE_KEY": ("reaper-state-key", "key"),
    }
    for name, (secret, key) in secrets.items():
        assert "value" not in env[name]
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"], ref["optional"]) == (secret, key, True)


def test_gcp_role_has_exactly_the_permissions_the_kinds_declare() -> None:
    # Provider packages load lazily (reaper.providers.catalog): register the GCP kinds here,
    # or the test passes only after another one has imported them.
    importlib.import_module(GcpSettings.PACKAGE)
    role = yaml.safe_load((DEPLOY / "gcp" / "reaper-role.yaml").read_text())
    granted = role["includedPermissions"]
    needed = {
        p for key, kind in REGISTRY.items() if key.startswith("gcp:") for p in kind.permissions
    }
    assert len(granted) == len(set(granted)), "reaper-role.yaml lists a permission twice"
    assert set(granted) == needed, (
        f"missing: {sorted(needed - set(granted))}, not needed: {sorted(set(granted) - needed)}"
    )
