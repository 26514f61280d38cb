"""The ``pipelines`` section and the ``ci_source`` tag key: loading, defaults, every problem."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reaper.config import Settings, describe_settings, parse_settings
from reaper.errors import ConfigError

MINIMAL = {"providers": {"aws": {"regions": ["us-east-1"]}}}
SOURCES = {
    "web": {"github": {"repository": "acme/web-app", "token_env": "GITHUB_TOKEN", "api_url": None}},
    "infra": {
        "gitlab": {
            "project": "platform/infra",
            "url": "https://gitlab.example.com/",
            "token_env": "GITLAB_TOKEN",
        }
    },
}


def settings_with(pipelines: object) -> Settings:
    return parse_settings({**MINIMAL, "pipelines": pipelines}, "reaper.yaml")


def problems(pipelines: object) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as excinfo:
        settings_with(pipelines)
    return excinfo.value.problems


def test_the_issue_example_loads() -> None:
    settings = settings_with({"after_finish": "30m", "sources": SOURCES})

    pipelines = settings.pipelines
    assert pipelines.after_finish == timedelta(minutes=30)
    web, infra = pipelines.sources["web"], pipelines.sources["infra"]
    assert web.github is not None
    assert web.gitlab is None
    assert (web.github.repository, web.github.api_url) == ("acme/web-app", None)
    assert infra.gitlab is not None
    assert infra.gitlab.url == "https://gitlab.example.com"  # trailing slash dropped
    assert "pipelines=web:github,infra:gitlab after_finish=30m" in describe_settings(settings)


def test_defaults_ask_nothing_and_tag_reaper_ci() -> None:
    settings = parse_settings(MINIMAL, "minimal.yaml")

    assert settings.tags.ci_source == "reaper-ci"
    assert dict(settings.pipelines.sources) == {}
    assert settings.pipelines.after_finish == timedelta(minutes=30)
    assert "pipelines" not in describe_settings(settings)


def test_after_finish_may_be_zero() -> None:
    assert settings_with({"after_finish": "0s"}).pipelines.after_finish == timedelta(0)


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        pytest.param(
            {"Web": SOURCES["web"]},
            "reaper.yaml: pipelines.sources.Web: source alias 'Web' is not a label value",
            id="alias-not-a-label-value",
        ),
        pytest.param(
            {"web": {**SOURCES["web"], **SOURCES["infra"]}},
            "reaper.yaml: pipelines.sources.web: give exactly one of github or gitlab",
            id="both-systems",
        ),
        pytest.param(
            {"web": {}},
            "reaper.yaml: pipelines.sources.web: give exactly one of github or gitlab",
            id="no-system",
        ),
        pytest.param(
            {"web": {"github": {"repository": "web-app"}}},
            "reaper.yaml: pipelines.sources.web.github.repository: 'web-app' is not owner/repo",
            id="repository-without-owner",
        ),
        pytest.param(
            {"infra": {"gitlab": {"project": "infra"}}},
            "reaper.yaml: pipelines.sources.infra.gitlab.project: 'infra' is not group/project",
            id="project-without-group",
        ),
        pytest.param(
            {"web": {"github": {"repository": "a/b", "tokn_env": "X"}}},
            "reaper.yaml: pipelines.sources.web.github.tokn_env: unknown key "
            "(valid: repository, token_env, api_url)",
            id="typo",
        ),
    ],
)
def test_problems_name_the_source_and_key(sources: object, expected: str) -> None:
    found = problems({"sources": sources})

    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("where", "value"),
    [
        pytest.param("token_env", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", id="token-pasted"),
        pytest.param("api_url", "https://x-access-token:s3cr3tvalue@ghe.example.com", id="url"),
    ],
)
def test_a_misplaced_secret_is_never_echoed(where: str, value: str) -> None:
    found = problems({"sources": {"web": {"github": {"repository": "a/b", where: value}}}})

    assert found
    assert all(value not in p and "s3cr3tvalue" not in p for p in found)
    assert f"pipelines.sources.web.github.{where}" in found[0]


def test_an_unknown_pipelines_key_lists_the_valid_ones() -> None:
    (problem,) = problems({"after_finnish": "1h"})

    assert problem == (
        "reaper.yaml: pipelines.after_finnish: unknown key "
        "(valid: after_finish, sources, max_workers, max_wait, timeout)"
    )


def test_the_ci_source_key_must_differ_from_the_others() -> None:
    with pytest.raises(ConfigError, match="used twice: reaper-pipeline"):
        parse_settings({**MINIMAL, "tags": {"ci_source": "reaper-pipeline"}}, "reaper.yaml")
