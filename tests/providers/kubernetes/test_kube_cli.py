"""``reaper plan``, ``apply`` and ``release`` on a fake cluster, as processes: the config
names the fake's kubeconfig, as it would name a real one."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from kube_support import PIPELINE

from reaper.results import ExitCode
from reaper.sandbox.kube import KubeFake


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    with KubeFake(context="ci") as fake:
        yield fake


def _config(tmp_path: Path, fake: KubeFake) -> Path:
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    config = tmp_path / "reaper.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": {
                    "kubernetes": {
                        "clusters": [{"name": "ci", "kubeconfig": str(kubeconfig)}],
                    }
                },
                "policy": {"grace_period": "0s"},
                "safety": {"max_fraction": 1},
                "audit": {"path": str(tmp_path / "audit.jsonl")},
            }
        )
    )
    return config


def reaper(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*reaper_command(), *args],
        env=sandbox_env(None),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_plan_apply_and_release_by_cluster_and_name(cluster: KubeFake, tmp_path: Path) -> None:
    old = datetime.now().astimezone() - timedelta(days=2)
    cluster.seed_namespace("ci-4711-review", labels=PIPELINE, created=old)
    cluster.seed_namespace("ci-4790-preview", labels=PIPELINE)
    cluster.seed_service("ci-4790-preview", "web", type="NodePort")
    cluster.seed_deployment("ci-4790-preview", "web", replicas=2)
    config = str(_config(tmp_path, cluster))

    planned = reaper(tmp_path, "plan", "-c", config, "--format", "json", "-o", "plan.json")
    assert planned.returncode == ExitCode.OK, explain(planned)
    document = json.loads((tmp_path / "plan.json").read_text())
    assert {(d["id"], d["action"]) for d in document["decisions"]} == {
        ("ci/ci-4711-review", "delete"),
        ("ci/ci-4790-preview", "quarantine"),
    }
    assert cluster.namespace_phase("ci-4711-review") == "Active"

    applied = reaper(tmp_path, "apply", "plan.json", "-c", config)
    assert applied.returncode == ExitCode.OK, explain(applied)
    assert cluster.namespace_phase("ci-4711-review") == "Terminating"
    web = cluster.get("deployments", "web", "ci-4790-preview")
    assert web is not None
    assert web["spec"]["replicas"] == 0

    released = reaper(tmp_path, "release", "kubernetes:namespace:ci/ci-4790-preview", "-c", config)
    assert released.returncode == ExitCode.OK, explain(released)
    assert released.stdout.startswith(
        "kubernetes:namespace:ci/ci-4790-preview: done released; restored 1 workload"
    )
    web = cluster.get("deployments", "web", "ci-4790-preview")
    assert web is not None
    assert web["spec"]["replicas"] == 2
    assert cluster.get("networkpolicies", "reaper-quarantine", "ci-4790-preview") is None


def test_release_of_a_name_in_another_cluster_finds_nothing(
    cluster: KubeFake, tmp_path: Path
) -> None:
    cluster.seed_namespace("ci-4790-preview", labels=PIPELINE)
    config = str(_config(tmp_path, cluster))

    result = reaper(tmp_path, "release", "kubernetes:namespace:prod/ci-4790-preview", "-c", config)

    assert result.returncode == ExitCode.PARTIAL_FAILURE, explain(result)
    assert "not found in any configured scope" in result.stderr


@pytest.mark.parametrize(
    "resource_id",
    [
        pytest.param("ci-4790-preview", id="no-cluster"),
        pytest.param("ci/CI-4790", id="upper-case"),
        pytest.param("ci/ci.4790", id="dots"),
        pytest.param("ci/-ci-4790", id="leading-dash"),
        pytest.param("ci/" + "n" * 64, id="too-long"),
        pytest.param("ci/ci-4790/x", id="two-slashes"),
        pytest.param("ci/$(rm -rf)", id="shell"),
    ],
)
def test_release_of_a_malformed_id_exits_2_before_any_api_call(
    cluster: KubeFake, tmp_path: Path, resource_id: str
) -> None:
    config = str(_config(tmp_path, cluster))
    cluster.reset_requests()

    result = reaper(tmp_path, "release", f"kubernetes:namespace:{resource_id}", "-c", config)

    assert result.returncode == ExitCode.USAGE, explain(result)
    assert result.stderr.splitlines()[-1] == (
        f"{resource_id!r} is not an id of kubernetes:namespace (<cluster>/<namespace>, e.g. "
        "ci/ci-4711-review: a cluster name (1-63 lowercase letters, digits, '-' and '_') and "
        "a DNS-1123 namespace name (1-63 lowercase letters, digits and '-', starting and "
        "ending with a letter or digit))"
    )
    assert cluster.requests() == []
    assert not (tmp_path / "audit.jsonl").exists()


@pytest.mark.parametrize(
    ("scope", "problem"),
    [
        pytest.param(
            {"account": "prod"},
            "kubernetes:namespace:ci/ci-4711-review in prod: cluster prod is not configured "
            "(configured: ci)",
            id="cluster-not-configured",
        ),
        pytest.param(
            {"region": "us-east-1"},
            "kubernetes:namespace:ci/ci-4711-review in ci/us-east-1: a cluster has no region, "
            "the plan names us-east-1",
            id="a-region",
        ),
    ],
)
def test_apply_refuses_a_plan_naming_a_cluster_outside_the_config_before_any_call(
    cluster: KubeFake, tmp_path: Path, scope: dict[str, str], problem: str
) -> None:
    old = datetime.now().astimezone() - timedelta(days=2)
    cluster.seed_namespace("ci-4711-review", labels=PIPELINE, created=old)
    config = str(_config(tmp_path, cluster))
    planned = reaper(tmp_path, "plan", "-c", config, "--format", "json", "-o", "plan.json")
    assert planned.returncode == ExitCode.OK, explain(planned)
    document = json.loads((tmp_path / "plan.json").read_text())
    (decision,) = document["decisions"]
    decision.update(scope)
    (tmp_path / "plan.json").write_text(json.dumps(document))
    cluster.reset_requests()
    trail = tmp_path / "audit.jsonl"
    before = trail.read_text() if trail.exists() else None

    applied = reaper(tmp_path, "apply", "plan.json", "-c", config)

    assert applied.returncode == ExitCode.USAGE, explain(applied)
    assert f"refused: plan.json: {problem}" in applied.stderr.splitlines(), applied.stderr
    assert cluster.requests() == []
    assert cluster.namespace_phase("ci-4711-review") == "Active"
    assert (trail.read_text() if trail.exists() else None) == before
