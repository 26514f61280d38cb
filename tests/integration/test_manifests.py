"""deploy/ checked offline: every manifest, and every kustomize build, valid for the
Kubernetes API schemas (strict: an unknown field is an error), so a typo fails CI; and the
sharded CronJob's overlays keep N the same in its three places.

Needs kubectl (for ``kubectl kustomize``): skipped without it, failed in CI (``CI`` set).
"""

from __future__ import annotations

import os
import shutil
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from manifests import DEPLOY, Manifest, build, check_all, documents, kubectl, problems_of

SHARDED = DEPLOY / "kubernetes" / "sharded"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def kubectl_binary() -> str:
    found = kubectl()
    if found is None:
        if _in_ci():
            pytest.fail("kubectl not found, and CI is set: .ci/run installs kubernetes-client")
        pytest.skip("kubectl not found")
    return found


def test_every_manifest_and_every_build_is_valid(kubectl_binary: str) -> None:
    checked, problems = check_all()
    assert problems == []
    assert checked >= 15


CRONJOB = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("typo", "fixed", "expected"),
    [
        ("concurrencyPolicy:", "concurencyPolicy:", "'concurencyPolicy' was unexpected"),
        ("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes please", "not of type"),
        ("restartPolicy: Never", "restartPolicy: [Never]", "not of type"),
        ("      template:\n", "      templates:\n", "'template' is a required property"),
    ],
    ids=["misspelt-key", "wrong-type", "list-for-string", "misspelt-section"],
)
def test_a_typo_in_a_manifest_is_found(typo: str, fixed: str, expected: str) -> None:
    assert typo in CRONJOB
    (manifest,) = documents(CRONJOB.replace(typo, fixed, 1), "cronjob.yaml")
    problems = problems_of(manifest)
    assert len(problems) == 1
    assert expected in problems[0]
    assert problems[0].startswith("cronjob.yaml[0] CronJob/reaper: spec")


def test_a_typo_in_an_overlay_fails_its_build(kubectl_binary: str, tmp_path: Path) -> None:
    shutil.copytree(SHARDED, tmp_path / "sharded")
    overlay = tmp_path / "sharded" / "8-shards" / "kustomization.yaml"
    text = overlay.read_text(encoding="utf-8")
    overlay.write_text(
        text.replace("/spec/jobTemplate/spec/completions", "/spec/jobTemplate/spec/completion"),
        encoding="utf-8",
    )
    built, error = build(overlay.parent, kubectl_binary)
    # kustomize builds it (its JSON patch adds the misspelt field); the schema does not take it.
    assert error is None
    (cronjob,) = built
    (problem,) = problems_of(cronjob)
    assert "spec.jobTemplate.spec: Additional properties are not allowed" in problem
    assert "'completion' was unexpected" in problem


def _sharded_jobs(kubectl_binary: str) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    for directory in (SHARDED / "base", SHARDED / "8-shards"):
        built, error = build(directory, kubectl_binary)
        assert error is None, error
        (cronjob,) = [m for m in built if m.body["kind"] == "CronJob"]
        jobs[directory.name] = cronjob.body
    return jobs


def test_sharded_overlays_keep_n_in_step(kubectl_binary: str) -> None:
    counts = {}
    for name, cronjob in _sharded_jobs(kubectl_binary).items():
        job = cronjob["spec"]["jobTemplate"]["spec"]
        container = job["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert job["completionMode"] == "Indexed"
        assert job["completions"] == job["parallelism"] == int(env["REAPER_SHARDS"]), name
        assert "JOB_COMPLETION_INDEX" not in env, "Kubernetes sets it"
        assert "--apply" not in container["args"]
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
        assert cronjob["metadata"]["namespace"] == "reaper"
        counts[name] = job["completions"]
    assert counts == {"base": 4, "8-shards": 8}


def test_manifests_are_read_as_objects_and_other_yaml_is_not() -> None:
    stream = yaml.safe_dump_all(
        [{"groups": []}, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]
    )
    assert [str(m) for m in documents(stream, "mixed.yaml")] == ["mixed.yaml[1] Namespace/x"]
    assert isinstance(next(documents(stream, "m")), Manifest)


KUBERNETES = DEPLOY / "kubernetes"


def _documented_prerequisites(kustomization: Path) -> list[Path]:
    """The files the kustomization's comments say to ``kubectl apply -f`` first (paths
    from the repository's root, ``\\`` continuing a command on the next comment line)."""
    lines = [
        line.lstrip("#").strip()
        for line in kustomization.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    ]
    commands = " ".join(lines).replace("\\ ", "").split("kubectl ")
    words = [w for c in commands if c.startswith("apply") and " -f " in c for w in c.split()]
    return [DEPLOY.parent / after for before, after in pairwise(words) if before == "-f"]


def _names(manifests: list[Manifest]) -> set[tuple[str, str]]:
    return {(m.body["kind"], m.body["metadata"]["name"]) for m in manifests}


@pytest.mark.parametrize("overlay", ["daemon", "sharded/base", "sharded/8-shards"])
def test_each_alternative_install_brings_what_the_default_one_does(
    kubectl_binary: str, overlay: str
) -> None:
    # The shipped config sweeps the cluster's own namespaces (kubernetes: clusters:
    # [{name: local}]): without the ClusterRole and its binding every sweep would fail.
    # kustomize loads no file outside a kustomization's directory, so the daemon's and the
    # sharded CronJob's kustomizations name the shared objects in their apply commands.
    config = yaml.safe_load(
        next(documents((KUBERNETES / "configmap.yaml").read_text(encoding="utf-8"), "c")).body[
            "data"
        ]["config.yaml"]
    )
    assert [c["name"] for c in config["providers"]["kubernetes"]["clusters"]] == ["local"]
    default, error = build(KUBERNETES, kubectl_binary)
    assert error is None, error
    wanted = _names(default) - {("CronJob", "reaper")}
    assert {("ClusterRole", "reaper"), ("ClusterRoleBinding", "reaper")} <= wanted

    directory = KUBERNETES / overlay
    documented = directory / "kustomization.yaml"
    if not _documented_prerequisites(documented):  # an overlay of the sharded base
        documented = SHARDED / "base" / "kustomization.yaml"
    files = _documented_prerequisites(documented)
    assert all(f.is_file() for f in files), files
    shared = [m for f in files for m in documents(f.read_text(encoding="utf-8"), str(f))]
    built, error = build(directory, kubectl_binary)
    assert error is None, error
    installed = _names(shared) | _names(built)
    assert wanted <= installed, f"{overlay} lacks {sorted(wanted - installed)}"
    assert ("CronJob", "reaper") not in installed, "two sweepers would race"
    accounts = {
        m.body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"]
        if m.body["kind"] == "CronJob"
        else m.body["spec"]["template"]["spec"]["serviceAccountName"]
        for m in built
        if m.body["kind"] in ("CronJob", "Deployment")
    }
    assert accounts == {"reaper"}
    (binding,) = [m.body for m in shared if m.body["kind"] == "ClusterRoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "reaper", "namespace": "reaper"}
    ]
