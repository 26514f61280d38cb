"""The CI side of the sandbox estate: runs in the GitHub and GitLab fakes, and instances
tagged with them.

Each instance specimen says what the demo policy (EC2 TTL 12h, ``after_finish: 30m``)
does with it once its run's state is known, so tests and the demo check outcomes:

| specimen | run | result |
|---|---|---|
| ``run-finished`` (2h old) | GitHub run, completed 2h ago | deleted, ``run-finished`` |
| ``run-active`` (2h old) | GitLab pipeline, running | kept, ``run-active`` |
| ``run-unknown`` (2h old) | GitHub run deleted (404) | kept, ``within-ttl``: no effect |
| ``run-active-ttl-expired`` (13h old) | GitHub run in progress | deleted, ``ttl-expired`` |

The tokens are placeholders the fakes accept; they open nothing anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from reaper.sandbox.ci import FakeGithub, FakeGitlab
from reaper.sandbox.estate import SeededInstance, Specimen

GITHUB_REPOSITORY = "acme/web-app"
GITLAB_PROJECT = "platform/infra"
GITHUB_TOKEN_ENV = "REAPER_SANDBOX_GITHUB_TOKEN"
GITLAB_TOKEN_ENV = "REAPER_SANDBOX_GITLAB_TOKEN"
SANDBOX_TOKENS = {
    GITHUB_TOKEN_ENV: "ghp_SANDBOXsandboxSANDBOX0123456789abcd",
    GITLAB_TOKEN_ENV: "glpat-SANDBOXsandbox012345",
}
"""Token variables and the placeholder tokens the fakes are granted."""

RUN_FINISHED = 5101
RUN_IN_PROGRESS = 5102
RUN_DELETED = 5103
PIPELINE_RUNNING = 7001
FINISHED_AGO = timedelta(hours=2)


def ci_specimens(owner: str = "team-web") -> list[Specimen]:
    """Instances that name CI runs (the default tag keys), one of each outcome."""
    hour = timedelta(hours=1)

    def run(value: str, alias: str) -> dict[str, str]:
        return {"reaper-pipeline": value, "reaper-ci": alias, "reaper-owner": owner}

    return [
        Specimen("run-finished", 2 * hour, run(f"{RUN_FINISHED}-1", "web"), expect_deleted=True),
        Specimen("run-active", 2 * hour, run(str(PIPELINE_RUNNING), "infra")),
        Specimen("run-unknown", 2 * hour, run(str(RUN_DELETED), "web")),
        Specimen(
            "run-active-ttl-expired",
            13 * hour,
            run(str(RUN_IN_PROGRESS), "web"),
            expect_deleted=True,
        ),
    ]


def seed_runs(github: FakeGithub, gitlab: FakeGitlab, now: datetime) -> None:
    """The runs the specimens name, and the placeholder tokens granted on them."""
    github.grant(SANDBOX_TOKENS[GITHUB_TOKEN_ENV], GITHUB_REPOSITORY)
    gitlab.grant(SANDBOX_TOKENS[GITLAB_TOKEN_ENV], GITLAB_PROJECT)
    started = now - 3 * FINISHED_AGO
    github.add_run(
        GITHUB_REPOSITORY,
        RUN_FINISHED,
        status="completed",
        conclusion="failure",
        created_at=started,
        updated_at=now - FINISHED_AGO,
    )
    github.add_run(GITHUB_REPOSITORY, RUN_IN_PROGRESS, created_at=now - timedelta(hours=14))
    github.add_run(GITHUB_REPOSITORY, RUN_DELETED, created_at=started)
    github.delete_run(GITHUB_REPOSITORY, RUN_DELETED)
    gitlab.add_pipeline(GITLAB_PROJECT, PIPELINE_RUNNING, status="running", created_at=started)


def pipelines_section(github_url: str, gitlab_url: str) -> dict[str, Any]:
    """The config's ``pipelines`` section for the fakes at these URLs."""
    return {
        "after_finish": "30m",
        "sources": {
            "web": {
                "github": {
                    "repository": GITHUB_REPOSITORY,
                    "token_env": GITHUB_TOKEN_ENV,
                    "api_url": github_url,
                }
            },
            "infra": {
                "gitlab": {
                    "project": GITLAB_PROJECT,
                    "url": gitlab_url,
                    "token_env": GITLAB_TOKEN_ENV,
                }
            },
        },
    }


def take_ci_calls(github: FakeGithub, gitlab: FakeGitlab) -> tuple[int, int, int]:
    """(GitHub requests, of which 304, GitLab requests) since the last call; resets them."""
    gh, gl = github.stats(), gitlab.stats()
    github.reset_stats()
    gitlab.reset_stats()
    return gh.total, gh.not_modified, gl.total


def ci_summary(seeded: list[SeededInstance], calls: list[tuple[int, int, int]]) -> str:
    """The demo's line about the CI side: what was asked, and what came of it."""
    named = sum(1 for s in seeded if s.label.startswith("run-"))
    sweeps = "; ".join(
        f"sweep {n}: GitHub {gh} ({_not_modified_text(nm)}), GitLab {gl}"
        for n, (gh, nm, gl) in enumerate(calls, 1)
    )
    return (
        f"CI runs: {named} instances name {len(ci_specimens())} runs, asked once per run and "
        f"sweep ({sweeps}). run-finished: its run finished, deleted; run-active: kept while "
        "its pipeline runs; run-unknown: its run was deleted (404), the TTL decides; "
        "run-active-ttl-expired: an active run never outlives the TTL."
    )


def _not_modified_text(n: int) -> str:
    return f"{n} answered 304 Not Modified" if n else "no ETag yet"


def sandbox_ci_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the placeholder tokens, for a lookup against the fakes. Pure."""
    return {**environ, **SANDBOX_TOKENS}
