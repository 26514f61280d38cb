"""The sweep's pipeline step: runs named by tags, facts attached, and the cleanup step.

The lookups go to the GitHub and GitLab fakes over real HTTP, through the real client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reaper.config import PolicySettings, Settings, TagKeys, parse_settings
from reaper.model import Action, Resource, ResourceRef, RunFacts, RunPhase, Scope
from reaper.pipelines import RunRef, RunStatus, UnknownReason
from reaper.pipelines.facts import (
    PipelineFacts,
    RunCleanup,
    attach,
    facts_of,
    in_run,
    named_runs,
    pipeline_population,
    sources_of,
)
from reaper.pipelines.sources import GithubSource, GitlabSource
from reaper.policy import make_plan
from reaper.sandbox.ci import GET_PIPELINE, GET_RUN, FakeClock, FakeGithub, FakeGitlab

TAGS = TagKeys()
NOW = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
GH_TOKEN = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD01"
GL_TOKEN = "glpat-FAKEfake0123456789ab"
POLICY = PolicySettings.model_validate({"default_ttl": "24h", "grace_period": "1h"})


def resource(n: int, tags: Mapping[str, str], *, kind: str = "ec2_instance") -> Resource:
    return Resource(
        ref=ResourceRef("aws", kind, Scope("ci", "us-east-1"), f"i-{n:04d}"),
        name=f"vm-{n}",
        created_at=NOW - 2 * HOUR,
        tags={"reaper-owner": "team", **tags},
    )


def run_tags(run: str, alias: str = "web") -> dict[str, str]:
    return {TAGS.pipeline: run, TAGS.ci_source: alias}


# -- pure parts ---------------------------------------------------------------------------


def test_runs_are_named_by_both_tags() -> None:
    resources = [
        resource(1, run_tags("4711")),
        resource(2, run_tags("4711-2")),
        resource(3, {TAGS.pipeline: "4711"}),  # no ci_source tag: TTL rules only
        resource(4, run_tags("gitlab-ci-90")),  # no run id
        resource(5, run_tags("90", alias="Infra")),  # alias no label value
    ]

    named = named_runs(resources, TAGS)

    assert dict(named.runs) == {
        resources[0].ref: RunRef("web", 4711),
        resources[1].ref: RunRef("web", 4711, 2),
    }
    assert dict(named.invalid) == {("web", "gitlab-ci-90"): 1, ("Infra", "90"): 1}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(RunStatus.active("in_progress"), RunFacts("web/4711", RunPhase.ACTIVE),
                     id="active"),
        pytest.param(RunStatus.finished(NOW - HOUR, "success"),
                     RunFacts("web/4711", RunPhase.FINISHED, NOW - HOUR, NOW - HOUR / 2),
                     id="finished-litter-after_finish-later"),
        *(pytest.param(RunStatus.unknown(reason), None, id=f"unknown-{reason}")
          for reason in UnknownReason),
    ],
)  # fmt: skip
def test_facts_are_kept_only_for_known_states(status: RunStatus, expected: RunFacts | None) -> None:
    assert facts_of(RunRef("web", 4711), status, HOUR / 2) == expected


def test_facts_are_attached_to_every_resource_of_their_run() -> None:
    a, b, c = resource(1, run_tags("1")), resource(2, run_tags("1")), resource(3, run_tags("2"))
    facts = {RunRef("web", 1): RunFacts("web/1", RunPhase.ACTIVE), RunRef("web", 2): None}

    out = attach([a, b, c], named_runs([a, b, c], TAGS).runs, facts)

    assert [r.run for r in out] == [facts[RunRef("web", 1)], facts[RunRef("web", 1)], None]
    assert out[2] is c


@pytest.mark.parametrize(
    ("run", "target", "member"),
    [
        pytest.param(RunRef("web", 4711), RunRef("web", 4711), True, id="same"),
        pytest.param(RunRef("web", 4711, 2), RunRef("web", 4711), True, id="any-attempt"),
        pytest.param(RunRef("web", 4711, 2), RunRef("web", 4711, 2), True, id="same-attempt"),
        pytest.param(RunRef("web", 4711, 1), RunRef("web", 4711, 2), False, id="other-attempt"),
        pytest.param(RunRef("web", 4711), RunRef("web", 4711, 2), False, id="no-attempt"),
        pytest.param(RunRef("web", 4712), RunRef("web", 4711), False, id="other-run"),
        pytest.param(RunRef("infra", 4711), RunRef("web", 4711), False, id="other-source"),
    ],
)
def test_which_runs_a_cleanup_target_takes(run: RunRef, target: RunRef, member: bool) -> None:
    assert in_run(run, target) is member


def test_sources_come_from_the_config() -> None:
    settings = parse_settings(
        {
            "providers": {"aws": {"regions": ["us-east-1"]}},
            "pipelines": {
                "sources": {
                    "web": {"github": {"repository": "acme/web", "token_env": "GH"}},
                    "infra": {"gitlab": {"project": "p/infra", "url": "https://gl.example"}},
                }
            },
        },
        "x.yaml",
    )

    assert sources_of(settings.pipelines) == {
        "web": GithubSource("acme/web", "GH", None),
        "infra": GitlabSource("p/infra", "https://gl.example", "GITLAB_TOKEN"),
    }


# -- the cleanup step ---------------------------------------------------------------------


def test_a_cleanup_takes_its_run_and_nothing_else() -> None:
    mine = [resource(1, run_tags("4711-2")), resource(2, run_tags("4711-2"))]
    others = [
        resource(3, run_tags("4711-1")),
        resource(4, run_tags("4712-2")),
        resource(5, run_tags("4711-2", alias="infra")),
        resource(6, {TAGS.pipeline: "4711-2"}),
        resource(7, {"team": "x"}),
    ]

    prepared = RunCleanup(RunRef("web", 4711, 2), TAGS).prepare([*others, *mine], POLICY, NOW)
    plan = make_plan(prepared.resources, prepared.policy, TAGS, NOW)

    assert {d.ref for d in plan.decisions} == {r.ref for r in mine}
    # At once: the run is over by its own word, and the grace would outlive the step.
    assert {d.action for d in plan.decisions} == {Action.DELETE}
    assert prepared.population == {"aws:ec2_instance": 6}


def test_a_cleanup_keeps_protected_resources_of_its_run() -> None:
    protected = resource(1, {**run_tags("9"), TAGS.protect: "true"})

    prepared = RunCleanup(RunRef("web", 9), TAGS).prepare([protected], POLICY, NOW)

    (decision,) = make_plan(prepared.resources, prepared.policy, TAGS, NOW).decisions
    assert decision.action is Action.KEEP


_ALIASES = ["web", "infra"]
run_values = st.builds(
    lambda run, attempt: f"{run}" if attempt is None else f"{run}-{attempt}",
    st.integers(1, 4),
    st.none() | st.integers(1, 3),
)
tag_sets = st.fixed_dictionaries(
    {},
    optional={
        TAGS.pipeline: run_values | st.sampled_from(["", "x", "4711x", "0"]),
        TAGS.ci_source: st.sampled_from([*_ALIASES, "WEB", ""]),
        TAGS.protect: st.sampled_from(["true", "false"]),
        TAGS.ttl: st.sampled_from(["1h", "3 dayz", "1m"]),
        "reaper-state": st.sampled_from(["marked", "quarantined"]),
        "reaper-marked-at": st.just(str(int((NOW - 2 * HOUR).timestamp()))),
        "reaper-action": st.sampled_from(["delete", "quarantine"]),
    },
)
targets = st.builds(
    RunRef, st.sampled_from(_ALIASES), st.integers(1, 4), st.none() | st.integers(1, 3)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(tag_sets, max_size=12), targets)
def test_a_cleanup_never_touches_a_resource_of_another_run(
    tag_list: list[dict[str, str]], target: RunRef
) -> None:
    """Whatever the estate, every decision of a cleanup plan is on a resource of its run."""
    resources = [resource(n, tags) for n, tags in enumerate(tag_list)]

    prepared = RunCleanup(target, TAGS).prepare(resources, POLICY, NOW)
    plan = make_plan(prepared.resources, prepared.policy, TAGS, NOW)

    for decision in plan.decisions:
        tags = decision.resource.tags
        run = RunRef.parse(tags[TAGS.ci_source], tags[TAGS.pipeline])
        assert in_run(run, target)
    assert prepared.population == pipeline_population(resources, TAGS)


# -- against the fakes --------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGithub]:
    with FakeGithub(clock=clock) as fake:
        fake.grant(GH_TOKEN, "acme/web-app")
        yield fake


@pytest.fixture
def gitlab(clock: FakeClock) -> Iterator[FakeGitlab]:
    with FakeGitlab(clock=clock) as fake:
        fake.grant(GL_TOKEN, "platform/infra")
        yield fake


def fake_settings(github: FakeGithub, gitlab: FakeGitlab) -> Settings:
    return parse_settings(
        {
            "providers": {"aws": {"regions": ["us-east-1"]}},
            "pipelines": {
                "after_finish": "30m",
                "sources": {
                    "web": {
                        "github": {
                            "repository": "acme/web-app",
                            "token_env": "GH_TOKEN",
                            "api_url": github.url,
                        }
                    },
                    "infra": {
                        "gitlab": {
                            "project": "platform/infra",
                            "url": gitlab.url,
                            "token_env": "GL_TOKEN",
                        }
                    },
                },
            },
        },
        "x.yaml",
    )


ENVIRON = {"GH_TOKEN": GH_TOKEN, "GL_TOKEN": GL_TOKEN}


def test_one_request_per_distinct_run_and_facts_for_each_resource(
    github: FakeGithub, gitlab: FakeGitlab, caplog: pytest.LogCaptureFixture
) -> None:
    github.add_run("acme/web-app", 1, status="completed", conclusion="failure",
                   updated_at=NOW - HOUR)  # fmt: skip
    github.add_run("acme/web-app", 2)
    gitlab.add_pipeline("platform/infra", 30, status="running")
    resources = [
        *(resource(n, run_tags("1")) for n in range(5)),
        *(resource(10 + n, run_tags("2")) for n in range(3)),
        *(resource(20 + n, run_tags("30", alias="infra")) for n in range(4)),
        resource(30, run_tags("99")),  # never existed: 404
        resource(31, run_tags("99")),
        resource(40, run_tags("7", alias="nowhere")),  # alias not configured
        resource(50, {TAGS.pipeline: "gitlab-ci-5"}),
    ]
    step = PipelineFacts.from_settings(fake_settings(github, gitlab), ENVIRON)
    assert step is not None

    with caplog.at_level(logging.WARNING, logger="reaper.pipelines"):
        prepared = step.prepare(resources, POLICY, NOW)

    phases = {r.ref.id: r.run.phase if r.run else None for r in prepared.resources}
    assert [phases[f"i-{n:04d}"] for n in (0, 4, 10, 20, 30, 40, 50)] == [
        RunPhase.FINISHED, RunPhase.FINISHED, RunPhase.ACTIVE, RunPhase.ACTIVE, None, None, None
    ]  # fmt: skip
    finished = next(r.run for r in prepared.resources if r.ref.id == "i-0000")
    assert finished == RunFacts("web/1", RunPhase.FINISHED, NOW - HOUR, NOW - HOUR / 2)
    assert github.stats().requests == {GET_RUN: 3}  # runs 1, 2 and 99
    assert gitlab.stats().requests == {GET_PIPELINE: 1}
    assert prepared.stats.requests == 4
    assert dict(prepared.stats.unknown_reasons) == {
        UnknownReason.NOT_FOUND: 1,
        UnknownReason.UNCONFIGURED_SOURCE: 1,
    }
    # Unknown runs are logged once each, not once per resource.
    unknown_lines = [r.getMessage() for r in caplog.records if "state unknown" in r.getMessage()]
    assert len(unknown_lines) == 2
    assert not any(GH_TOKEN in r.getMessage() or GL_TOKEN in r.getMessage() for r in caplog.records)


def test_a_kept_step_asks_conditionally_and_304s_cost_nothing(
    github: FakeGithub, gitlab: FakeGitlab, clock: FakeClock
) -> None:
    for run_id in (1, 2, 3):
        github.add_run("acme/web-app", run_id)
    resources = [resource(n, run_tags(str(1 + n % 3))) for n in range(9)]
    step = PipelineFacts.from_settings(fake_settings(github, gitlab), ENVIRON)
    assert step is not None
    step.prepare(resources, POLICY, NOW)
    github.finish_run("acme/web-app", 2, at=clock.now())
    remaining = github.rate_limit.remaining

    again = step.prepare(resources, POLICY, NOW + HOUR)

    assert again.stats.requests == 3
    assert again.stats.not_modified == 2  # runs 1 and 3 unchanged
    assert github.rate_limit.remaining == remaining - 1  # only the changed run cost a unit
    phases = {r.run.run: r.run.phase for r in again.resources if r.run}
    assert phases == {
        "web/1": RunPhase.ACTIVE,
        "web/2": RunPhase.FINISHED,
        "web/3": RunPhase.ACTIVE,
    }


def test_without_a_token_nothing_is_sent_and_nothing_changes(
    github: FakeGithub, gitlab: FakeGitlab
) -> None:
    github.add_run("acme/web-app", 1, status="completed", conclusion="success",
                   updated_at=NOW - 5 * HOUR)  # fmt: skip
    step = PipelineFacts.from_settings(fake_settings(github, gitlab), {})
    assert step is not None

    prepared = step.prepare([resource(1, run_tags("1"))], POLICY, NOW)

    assert prepared.resources[0].run is None
    assert github.stats().total == 0
    assert dict(prepared.stats.unknown_reasons) == {UnknownReason.NO_TOKEN: 1}


def test_no_sources_no_step() -> None:
    settings = parse_settings({"providers": {"aws": {"regions": ["us-east-1"]}}}, "x.yaml")

    assert PipelineFacts.from_settings(settings) is None
