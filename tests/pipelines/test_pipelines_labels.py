"""``reaper labels``: the labels of the current CI run, from the CI's own environment."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import hcl2
import pytest
import yaml
from click.testing import CliRunner

from reaper.cli import cli
from reaper.config import PipelineSettings, TagKeys
from reaper.pipelines.labels import (
    FORMATS,
    CiRun,
    LabelsError,
    ci_run,
    render_labels,
    run_labels,
    source_alias,
)
from reaper.results import ExitCode

GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_RUN_ID": "4711",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_REPOSITORY": "Acme/Web-App",
    "GITHUB_API_URL": "https://api.github.com",
}
GITLAB_ENV = {
    "GITLAB_CI": "true",
    "CI_PIPELINE_ID": "90210",
    "CI_PROJECT_PATH": "platform/infra",
    "CI_SERVER_URL": "https://gitlab.example.com",
}
SOURCES = PipelineSettings.model_validate(
    {
        "sources": {
            "web": {"github": {"repository": "acme/web-app"}},
            "web-ghes": {
                "github": {"repository": "acme/web-app", "api_url": "https://ghe.acme.io/api/v3"}
            },
            "infra": {"gitlab": {"project": "platform/infra", "url": "https://gitlab.example.com"}},
        }
    }
)
# What GCP and Kubernetes accept as a label key (unprefixed) and value.
LABEL = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?")
LABELS = {"reaper-pipeline": "4711-2", "reaper-ci": "web", "reaper-owner": "team-web"}


def test_a_github_job_names_its_run_and_attempt() -> None:
    assert ci_run(GITHUB_ENV) == CiRun("github", "Acme/Web-App", "4711-2", "https://api.github.com")


def test_a_gitlab_job_names_its_pipeline() -> None:
    assert ci_run(GITLAB_ENV) == CiRun(
        "gitlab", "platform/infra", "90210", "https://gitlab.example.com"
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param({}, "not in a GitHub Actions or GitLab CI job", id="no-ci"),
        pytest.param({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "1"},
                     "lacks GITHUB_REPOSITORY", id="github-without-repository"),
        pytest.param({"GITLAB_CI": "true", "CI_PROJECT_PATH": "a/b"},
                     "lacks CI_PIPELINE_ID", id="gitlab-without-pipeline"),
    ],
)  # fmt: skip
def test_a_job_without_its_variables_is_refused(environ: Mapping[str, str], message: str) -> None:
    with pytest.raises(LabelsError, match=message):
        ci_run(environ)


@pytest.mark.parametrize(
    ("environ", "alias"),
    [
        pytest.param(GITHUB_ENV, "web", id="github-com-case-insensitive"),
        pytest.param({**GITHUB_ENV, "GITHUB_API_URL": "https://ghe.acme.io/api/v3/"},
                     "web-ghes", id="enterprise-server"),
        pytest.param(GITLAB_ENV, "infra", id="gitlab"),
    ],
)  # fmt: skip
def test_the_repository_maps_to_its_alias(environ: Mapping[str, str], alias: str) -> None:
    assert source_alias(ci_run(environ), SOURCES) == alias


def test_an_unconfigured_repository_is_refused_with_the_configured_aliases() -> None:
    run = ci_run({**GITLAB_ENV, "CI_PROJECT_PATH": "platform/other"})

    with pytest.raises(LabelsError, match=r"configured: infra, web, web-ghes"):
        source_alias(run, SOURCES)


def test_labels_carry_the_run_its_source_and_the_options() -> None:
    labels = run_labels("4711-2", "web", TagKeys(), owner="team-web", ttl="6h")

    assert labels == {**LABELS, "reaper-ttl": "6h"}


def test_labels_follow_the_configured_keys() -> None:
    keys = TagKeys(pipeline="ci-run", ci_source="ci-from")

    assert run_labels("7", "web", keys) == {"ci-run": "7", "ci-from": "web"}


@pytest.mark.parametrize(
    ("run", "alias", "options", "message"),
    [
        pytest.param("4711x", "web", {}, "is not a run id", id="bad-run"),
        pytest.param("1", "web", {"owner": "Team Web"}, "owner 'Team Web'", id="owner"),
        pytest.param("1", "web", {"ttl": "3 dayz"}, "ttl:", id="ttl"),
        pytest.param("1", "web", {"ttl": "6H"}, "lower case", id="ttl-upper"),
    ],
)
def test_labels_no_cloud_would_take_are_refused(
    run: str, alias: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(LabelsError, match=message):
        run_labels(run, alias, TagKeys(), **options)


def test_every_format_carries_the_same_labels() -> None:
    outputs = {fmt: render_labels(LABELS, fmt) for fmt in FORMATS}

    assert json.loads(outputs["json"]) == LABELS
    assert dict(line.split("=", 1) for line in outputs["key-value"].splitlines()) == LABELS
    parsed = hcl2.loads(outputs["terraform"])["reaper_labels"]
    assert {k.strip('"'): v.strip('"') for k, v in parsed.items()} == LABELS
    for fmt in ("kubectl", "gcloud"):
        (argument,) = outputs[fmt].split()  # one shell word
        name, _, value = argument.partition("=")
        assert name == "--labels"
        pairs = dict(pair.split("=") for pair in value.split(","))
        assert pairs == LABELS
        assert all(LABEL.fullmatch(k) and LABEL.fullmatch(v) for k, v in pairs.items())


_CI_VARIABLES = {*GITHUB_ENV, *GITLAB_ENV}


def only(environ: Mapping[str, str]) -> dict[str, str | None]:
    """``environ`` for CliRunner, every other CI variable unset (the host may be a CI job)."""
    return {**dict.fromkeys(_CI_VARIABLES), **environ}


def write_config(tmp_path: Path) -> Path:
    data = {
        "providers": {"aws": {"regions": ["us-east-1"]}},
        "pipelines": SOURCES.model_dump(mode="json", exclude_defaults=True),
    }
    path = tmp_path / "reaper.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_command_prints_the_labels_of_a_github_job(tmp_path: Path) -> None:
    config = write_config(tmp_path)

    result = CliRunner().invoke(
        cli,
        ["labels", "-c", str(config), "--owner", "team-web", "--format", "json"],
        env=only(GITHUB_ENV),
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == LABELS


def test_the_command_takes_an_alias_without_a_config() -> None:
    result = CliRunner().invoke(cli, ["labels", "--source", "infra"], env=only(GITLAB_ENV))

    assert result.exit_code == 0, result.output
    assert result.stdout == "reaper-pipeline=90210\nreaper-ci=infra\n"


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        pytest.param([], GITLAB_ENV, "give --config", id="neither-config-nor-source"),
        pytest.param(["--source", "nope", "-c", "{config}"], GITLAB_ENV,
                     "--source 'nope' is not under pipelines.sources", id="unknown-source"),
        pytest.param(["-c", "{config}"], {}, "not in a GitHub Actions", id="not-in-ci"),
    ],
)  # fmt: skip
def test_the_command_exits_2_with_the_reason(
    tmp_path: Path, args: list[str], environ: Mapping[str, str], message: str
) -> None:
    config = str(write_config(tmp_path))

    result = CliRunner().invoke(
        cli, ["labels", *(a.format(config=config) for a in args)], env=only(environ)
    )

    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    assert result.stdout == ""
