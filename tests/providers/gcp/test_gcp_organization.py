"""Projects of a GCP organization and folders: which ones, under which names, found how.

The hierarchy below is seeded in the GCP fake; reaper searches and walks it with the real
Resource Manager client over REST, and what it found is read from the projects it sweeps,
the fake's request counts and logs and, end to end, from ``reaper plan``'s JSON. Whatever
the search answers (the fake can combine a query's terms with AND or, as the reference's
words allow, with OR), only the parent's ACTIVE projects are swept.

    organizations/… ── "org-root-1"
     ├─ ci ─────────── "ci-alpha-1", "ci-beta-22", "gone-proj-1" (DELETE_REQUESTED)
     │   └─ nested ─── "ci-nested-3"
     └─ prod ───────── "prod-payments"
         └─ secret ─── "prod-secret-9"
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import CLI_TIMEOUT, explain, reaper_command, sandbox_env
from gcp_support import (
    EXPIRED,
    FAST,
    NOW,
    PIPELINE,
    SIGNER,
    ZONE,
    gcp_config,
    kinds_of,
    settings_of,
    sweep,
)
from hypothesis import given
from hypothesis import strategies as st
from paths import REPO
from prometheus_client import CollectorRegistry
from sweep_support import run_sweep

from reaper.config import GCP_ORGANIZATION_SCOPE, GcpProject, GcpSettings, parse_settings
from reaper.errors import ConfigError, ProviderError
from reaper.metrics import Metrics
from reaper.model import Action, Result, Scope
from reaper.providers.discovery import RETRY_AFTER_FAILURE
from reaper.providers.gcp.clients import GcpClients, GcpConnection
from reaper.providers.gcp.organization import (
    METHODS_PERMISSIONS,
    PERMISSIONS,
    FoundProject,
    children,
    merge_projects,
    project_name,
    search_query,
    select,
)
from reaper.results import ExitCode
from reaper.sandbox.gcp import FakeGcp, Semantics
from reaper.shards import assign, scope_key

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SEARCH = "cloudresourcemanager.projects.search"
FOLDERS = "cloudresourcemanager.folders.list"
SEMANTICS = pytest.mark.parametrize("semantics", list(Semantics), ids=[s.value for s in Semantics])


class Org:
    """The hierarchy of the module doc, seeded in ``fake``."""

    def __init__(self, fake: FakeGcp) -> None:
        self.fake = fake
        self.org = fake.add_organization(123456789012)
        self.ci = fake.add_folder(self.org, "CI")
        self.nested = fake.add_folder(self.ci, "nested")
        self.prod = fake.add_folder(self.org, "Prod")
        self.secret = fake.add_folder(self.prod, "secret")
        self.numbers = {
            project: fake.add_project(project, zones=[ZONE], parent=parent)
            for project, parent in (
                ("org-root-1", self.org),
                ("ci-alpha-1", self.ci),
                ("ci-beta-22", self.ci),
                ("gone-proj-1", self.ci),
                ("ci-nested-3", self.nested),
                ("prod-payments", self.prod),
                ("prod-secret-9", self.secret),
            )
        }
        fake.request_project_deletion("gone-proj-1")


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp(wait_seconds=0.01) as server:
        yield server
        assert server.failures == []


@pytest.fixture
def org(fake: FakeGcp) -> Org:
    return Org(fake)


def section(fake: FakeGcp, **gcp: Any) -> GcpSettings:
    data = {"providers": {"gcp": {"endpoints": {"resourcemanager": fake.endpoint}, **gcp}}}
    found = parse_settings(data, "org.yaml").providers.gcp
    assert found is not None
    return found


def clients(settings: GcpSettings, clock: Any = None) -> GcpClients:
    connection = FAST if clock is None else GcpConnection(**{**FAST.__dict__, "clock": clock})
    return GcpClients(settings, connection)


def names(found: GcpClients) -> list[str]:
    return [p.name for p in found.projects()]


# -- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gcp", "problem"),
    [
        (
            {},
            "org.yaml: providers.gcp: at least one project is needed "
            "(projects, organization or folders)",
        ),
        (
            {"organization": "orgs/12"},
            "org.yaml: providers.gcp.organization: 'orgs/12' is not an organization "
            "(organizations/123456789012, or its id)",
        ),
        (
            {"folders": ["folders/1", "nope"]},
            "org.yaml: providers.gcp.folders: not folders (folders/123456789012, or its id): "
            "'nope'",
        ),
        (
            {"folders": [7, "folders/7"]},
            "org.yaml: providers.gcp.folders: folders are listed more than once",
        ),
        (
            {"folders": [1], "exclude_projects": ["Not_An_Id"]},
            "org.yaml: providers.gcp.exclude_projects: not project IDs: 'Not_An_Id'",
        ),
        (
            {"projects": [{"name": "ci", "project_id": "acme-ci-1"}], "exclude_folders": [2]},
            "org.yaml: providers.gcp: exclude_folders: only with organization or folders",
        ),
        (
            {"projects": [{"name": GCP_ORGANIZATION_SCOPE, "project_id": "acme-ci-1"}]},
            f"org.yaml: providers.gcp.projects: {GCP_ORGANIZATION_SCOPE!r} is reserved "
            "(the scope of a failed project listing)",
        ),
        (
            {"organization": 1, "rediscover_after": "soon"},
            "org.yaml: providers.gcp.rediscover_after: 'soon' is not a duration (e.g. 90m, 6h, 3d)",
        ),
    ],
    ids=[
        "nothing-to-sweep",
        "bad-organization",
        "bad-folder",
        "folder-twice",
        "bad-excluded-project",
        "exclusion-without-discovery",
        "reserved-name",
        "bad-interval",
    ],
)
def test_config_problems_name_the_file_and_key(gcp: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings({"providers": {"gcp": gcp}}, "org.yaml")
    assert excinfo.value.problems == (problem,)


def test_ids_may_be_bare_numbers_and_projects_become_optional() -> None:
    data = {"organization": 123456789012, "folders": ["55", "folders/66"], "exclude_folders": [7]}
    gcp = parse_settings({"providers": {"gcp": data}}, "org.yaml").providers.gcp
    assert gcp is not None
    assert gcp.projects == ()
    assert gcp.organization == "organizations/123456789012"
    assert gcp.folders == ("folders/55", "folders/66")
    assert gcp.exclude_folders == ("folders/7",)
    assert gcp.rediscover_after == timedelta(hours=1)


# -- pure ---------------------------------------------------------------------------------


@given(
    project_id=st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True),
    number=st.integers(1, 10**15),
    taken=st.booleans(),
)
def test_derived_names_are_valid_free_and_the_project_id_when_it_is_free(
    project_id: str, number: int, taken: bool
) -> None:
    names_taken = {project_id} if taken else set()
    derived = project_name(project_id, str(number), names_taken)
    assert NAME.fullmatch(derived), derived
    assert derived not in names_taken
    assert derived == (f"{project_id}-{number}" if taken else project_id)


def test_only_active_projects_with_ids_reaper_takes_not_excluded_nor_named() -> None:
    settings = GcpSettings(
        folders=("folders/1",),
        projects=(GcpProject(name="ci-runners", project_id="named-by-hand"),),
        exclude_projects=("excluded-one",),
    )
    found = [
        FoundProject("live-project", "11", True, "folders/1"),
        FoundProject("gone-project", "12", False, "folders/1"),
        FoundProject("excluded-one", "13", True, "folders/1"),
        FoundProject("named-by-hand", "14", True, "folders/1"),
        FoundProject("example.com:legacy", "15", True, "folders/1"),
        FoundProject("under-excluded", "16", True, "folders/9"),
        FoundProject("ci-runners", "17", True, "folders/1"),  # its ID is a name taken by hand
    ]
    chosen = select(found, settings, {"folders/9"})
    assert chosen == [
        GcpProject(name="ci-runners-17", project_id="ci-runners"),
        GcpProject(name="live-project", project_id="live-project"),
    ]


def test_the_search_query_is_the_documented_form() -> None:
    # google/cloud/resourcemanager/v3/projects.proto, SearchProjectsRequest.query:
    # "parent: Project's parent (for example: folders/123, organizations/*). Prefer parent
    # field over parent.type and parent.id." and "state, lifecycleState: Filters by state."
    assert search_query("folders/345678901234") == "parent:folders/345678901234 state:ACTIVE"
    assert search_query("organizations/1") == "parent:organizations/1 state:ACTIVE"


def test_only_the_active_children_of_the_parent_searched_are_kept() -> None:
    answered = [
        FoundProject("child-live", "1", True, "folders/1"),
        FoundProject("child-gone", "2", False, "folders/1"),
        FoundProject("grandchild", "3", True, "folders/2"),
        FoundProject("elsewhere", "4", True, "organizations/9"),
        FoundProject("no-organization", "5", True, ""),
        FoundProject("prefix-only", "6", True, "folders/10"),
    ]
    assert children(answered, "folders/1") == [answered[0]]
    assert children([], "folders/1") == []


def test_projects_named_by_hand_win_and_are_not_swept_twice() -> None:
    named = [
        GcpProject(name="ci", project_id="acme-ci-1", impersonate_service_account=None),
        GcpProject(name="payments", project_id="prod-payments"),
    ]
    found = [
        GcpProject(name="prod-payments", project_id="prod-payments"),
        GcpProject(name="ci-beta-22", project_id="ci-beta-22"),
        GcpProject(name="ci-beta-22", project_id="ci-beta-22"),
    ]
    merged = merge_projects(named, found)
    assert [(p.name, p.project_id) for p in merged] == [
        ("ci", "acme-ci-1"),
        ("payments", "prod-payments"),
        ("ci-beta-22", "ci-beta-22"),
    ]


# -- discovery through the real client, against the fake -----------------------------------


def test_an_organization_means_every_active_project_in_every_folder(
    org: Org, fake: FakeGcp
) -> None:
    fake.set_list_page_size(1)  # every project and folder on a page of its own
    found = clients(section(fake, organization=org.org))

    assert names(found) == [
        "ci-alpha-1",
        "ci-beta-22",
        "ci-nested-3",
        "org-root-1",
        "prod-payments",
        "prod-secret-9",
    ]
    assert found.error_scopes() == []
    # A page per project or folder listed, an empty one per parent without any: 5 parents,
    # of which ci has 2 live projects (not the deleted one) and the organization 2 folders.
    counts = fake.stats.counts()
    assert counts[SEARCH] == 6
    assert counts["cloudresourcemanager.folders.list"] == 6


def test_a_folder_means_its_subtree_and_exclusion_wins(org: Org, fake: FakeGcp) -> None:
    found = clients(
        section(
            fake,
            folders=[org.ci, org.nested, org.secret],
            exclude_folders=[org.prod],
            exclude_projects=["ci-beta-22"],
        )
    )
    # org.nested is under ci as well: listed once; org.secret is under an excluded folder.
    assert names(found) == ["ci-alpha-1", "ci-nested-3"]
    assert fake.stats.count(SEARCH) == 2
    # The folders of prod and secret (excluded, walked first), then of ci and nested: each
    # folder asked once, however many roots reach it.
    assert fake.stats.count(FOLDERS) == 4


def test_each_folder_is_listed_once_with_overlapping_roots_and_nested_exclusions(
    org: Org, fake: FakeGcp
) -> None:
    # The organization holds every folder; ci and nested are named again below it, and
    # nested is excluded inside the included ci.
    found = clients(
        section(
            fake, organization=org.org, folders=[org.ci, org.nested], exclude_folders=[org.nested]
        )
    )
    assert names(found) == [
        "ci-alpha-1",
        "ci-beta-22",
        "org-root-1",
        "prod-payments",
        "prod-secret-9",
    ]
    # nested (excluded, walked first), then organization, ci, prod, secret: five parents
    # each asked for its folders once; four of them searched for projects.
    assert fake.stats.count(FOLDERS) == 5
    assert fake.stats.count(SEARCH) == 4


def test_whatever_the_search_answers_only_the_parents_active_projects_are_kept(
    org: Org, fake: FakeGcp, caplog: pytest.LogCaptureFixture
) -> None:
    other = fake.add_organization()
    fake.add_project("other-org-7", zones=[ZONE], parent=other)
    fake.add_project("loose-proj-8", zones=[ZONE])  # in no organization
    fake.set_search_semantics(Semantics.ANY)  # parent OR state: every ACTIVE project, each time

    with caplog.at_level(logging.DEBUG, logger="reaper.providers.gcp.organization"):
        found = clients(section(fake, folders=[org.ci]))
        swept = names(found)

    assert swept == ["ci-alpha-1", "ci-beta-22", "ci-nested-3"]
    assert found.error_scopes() == []
    # Two searches (ci, nested), each answered with the 8 ACTIVE projects and gone-proj-1 for
    # ci: 9 - 2 and 8 - 1 dropped.
    dropped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dropped")]
    assert dropped == [
        f"dropped 7 of the 9 projects a search for {org.ci} returned: another parent or not ACTIVE",
        f"dropped 7 of the 8 projects a search for {org.nested} returned: another parent or "
        "not ACTIVE",
    ]


def test_a_configured_folder_whose_projects_cannot_be_seen_is_warned_about_not_failed(
    org: Org, fake: FakeGcp, caplog: pytest.LogCaptureFixture
) -> None:
    # No resourcemanager.projects.get below nested: the search answers nothing (no 403),
    # and folders.list finds no folder either. ci has a folder (nested): no warning for it.
    fake.hide_projects(org.nested)
    with caplog.at_level(logging.WARNING, logger="reaper.providers.gcp.organization"):
        found = clients(section(fake, folders=[org.nested]))
        alone = names(found)
        walked = names(clients(section(fake, folders=[org.ci])))

    assert alone == []
    assert found.error_scopes() == []
    assert walked == ["ci-alpha-1", "ci-beta-22"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"{org.nested} has no ACTIVE project reaper may see and no folder: nothing is swept "
        "there; check that reaper has resourcemanager.projects.get on its projects "
        "(deploy/gcp/reaper-discovery-role.yaml bound on it or above)"
    ]


def test_named_projects_are_merged_with_the_discovered_ones(org: Org, fake: FakeGcp) -> None:
    named = [
        {"name": "payments", "project_id": "prod-payments"},
        {"name": "ci-alpha-1", "project_id": "acme-other-1"},  # takes a discovered ID's name
    ]
    found = clients(section(fake, projects=named, folders=[org.prod, org.ci]))
    assert names(found) == [
        "payments",
        "ci-alpha-1",
        f"ci-alpha-1-{org.numbers['ci-alpha-1']}",
        "ci-beta-22",
        "ci-nested-3",
        "prod-secret-9",
    ]
    swept = {p.project_id for p in found.projects()}
    assert len(swept) == len(found.projects())
    assert "gone-proj-1" not in swept


def test_projects_are_listed_again_after_rediscover_after(org: Org, fake: FakeGcp) -> None:
    now = [0.0]
    found = clients(section(fake, folders=[org.nested], rediscover_after="10m"), lambda: now[0])
    assert names(found) == ["ci-nested-3"]

    fake.add_project("ci-late-44", zones=[ZONE], parent=org.nested)
    fake.request_project_deletion("ci-nested-3")
    now[0] = 599.0
    assert names(found) == ["ci-nested-3"]
    assert fake.stats.count(SEARCH) == 1

    now[0] = 600.0
    assert names(found) == ["ci-late-44"]
    assert fake.stats.count(SEARCH) == 2


def test_a_failed_listing_keeps_what_was_found_and_is_an_error_scope_until_it_works(
    org: Org, fake: FakeGcp
) -> None:
    now = [0.0]
    found = clients(section(fake, folders=[org.ci]), lambda: now[0])
    before = names(found)

    fake.deny_listing(org.nested)
    now[0] = 3600.0
    assert names(found) == before  # a folder that cannot be read never empties the list
    assert found.error_scopes() == [Scope(GCP_ORGANIZATION_SCOPE, "")]
    with pytest.raises(
        ProviderError, match="HTTP 403 Forbidden: The caller does not have permission"
    ):
        found.project(Scope(GCP_ORGANIZATION_SCOPE, ""))

    fake.deny_listing(org.nested, denied=False)
    now[0] = 3600.0 + RETRY_AFTER_FAILURE - 1
    assert found.error_scopes() == [Scope(GCP_ORGANIZATION_SCOPE, "")]  # not asked again yet
    now[0] = 3600.0 + RETRY_AFTER_FAILURE  # a failure is retried soon, not after an hour
    assert names(found) == before
    assert found.error_scopes() == []


def test_discovery_needs_exactly_the_permissions_it_declares(org: Org, fake: FakeGcp) -> None:
    clients(section(fake, organization=org.org, exclude_folders=[org.secret])).projects()
    used = set(fake.stats.counts())
    assert used == set(METHODS_PERMISSIONS)
    role = yaml.safe_load((REPO / "deploy" / "gcp" / "reaper-discovery-role.yaml").read_text())
    assert sorted(role["includedPermissions"]) == list(PERMISSIONS)


# -- sweeps over an organization ------------------------------------------------------------


def seed_instances(fake: FakeGcp, project: str) -> None:
    fake.add_instance(project, ZONE, "expired", labels=PIPELINE, created=NOW - EXPIRED)
    fake.add_instance(project, ZONE, "fresh", labels=PIPELINE, created=NOW - timedelta(hours=1))


def test_an_unlistable_organization_is_a_collect_error_and_named_projects_are_swept(
    fake: FakeGcp, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    org = fake.add_organization()
    fake.add_project("acme-ci-123", zones=[ZONE])
    seed_instances(fake, "acme-ci-123")
    fake.deny_listing(org)
    settings = settings_of(
        gcp_config(
            fake,
            audit,
            kinds=("gce_instance", "gke_cluster"),
            projects=(("ci", "acme-ci-123"),),
            section={"organization": org},
        )
    )
    metrics = Metrics(CollectorRegistry())

    report = run_sweep(
        settings, kinds_of(settings, metrics), audit, NOW, False, signer=SIGNER, metrics=metrics
    )

    assert sorted((e.kind_key, str(e.scope)) for e in report.collection.errors) == [
        ("gcp:gce_instance", GCP_ORGANIZATION_SCOPE),
        ("gcp:gke_cluster", GCP_ORGANIZATION_SCOPE),
    ]
    assert all("The caller does not have permission" in e.message for e in report.collection.errors)
    assert report.exit_code is ExitCode.PARTIAL_FAILURE
    labels = {"provider": "gcp", "account": GCP_ORGANIZATION_SCOPE}
    assert metrics.registry.get_sample_value("reaper_collect_errors_total", labels) == 2
    # The project named by hand was swept all the same.
    assert fake.instance("acme-ci-123", ZONE, "expired") is None
    assert fake.instance("acme-ci-123", ZONE, "fresh") is not None


@SEMANTICS
def test_a_sweep_acts_in_discovered_projects_only(
    org: Org, fake: FakeGcp, tmp_path: Path, semantics: Semantics
) -> None:
    audit = tmp_path / "audit.jsonl"
    fake.add_project("loose-proj-8", zones=[ZONE])  # in no organization
    for project in ("ci-alpha-1", "ci-nested-3", "gone-proj-1", "prod-payments", "loose-proj-8"):
        seed_instances(fake, project)
    fake.set_search_semantics(semantics)
    settings = settings_of(gcp_config(fake, audit, projects=(), section={"folders": [org.ci]}))

    report = sweep(settings, kinds_of(settings), audit)

    deleted = {
        (o.ref.scope.account, o.ref.id)
        for o in report.outcomes
        if o.action is Action.DELETE and o.result is Result.DONE
    }
    assert deleted == {("ci-alpha-1", "expired"), ("ci-nested-3", "expired")}
    for project in ("gone-proj-1", "prod-payments", "loose-proj-8"):  # never swept
        assert fake.instance(project, ZONE, "expired") is not None
    assert report.exit_code is ExitCode.OK


# -- reaper plan, end to end and in shards ---------------------------------------------------


def write_config(fake: FakeGcp, tmp_path: Path, organization: str) -> Path:
    data = gcp_config(
        fake, tmp_path / "audit.jsonl", projects=(), section={"organization": organization}
    )
    path = tmp_path / "reaper.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def plan(
    config: Path, tmp_path: Path, *extra: str, exit_code: ExitCode = ExitCode.OK
) -> dict[str, Any]:
    result = subprocess.run(
        [*reaper_command(), "plan", "-c", str(config), "--format", "json", *extra],
        env=sandbox_env(None),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert result.returncode == exit_code, explain(result)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@SEMANTICS
def test_reaper_plan_over_a_discovered_organization(
    org: Org, fake: FakeGcp, tmp_path: Path, semantics: Semantics
) -> None:
    fake.add_project("loose-proj-8", zones=[ZONE])  # in no organization
    for project in ("ci-alpha-1", "prod-secret-9", "gone-proj-1", "loose-proj-8"):
        seed_instances(fake, project)
    fake.set_search_semantics(semantics)
    config = write_config(fake, tmp_path, org.org)

    document = plan(config, tmp_path)

    decided = {(d["account"], d["id"], d["action"]) for d in document["decisions"]}
    assert decided == {
        ("ci-alpha-1", "expired", "delete"),
        ("ci-alpha-1", "fresh", "keep"),
        ("prod-secret-9", "expired", "delete"),
        ("prod-secret-9", "fresh", "keep"),
    }
    assert document["collect_errors"] == []
    assert fake.instance("ci-alpha-1", ZONE, "expired") is not None  # a plan changes nothing


def test_two_shards_split_a_discovered_organization_disjointly(
    fake: FakeGcp, tmp_path: Path
) -> None:
    organization = fake.add_organization()
    projects = [f"ci-shard-{n:02d}" for n in range(10)]
    for project in projects:
        fake.add_project(project, zones=[ZONE], parent=organization)
        seed_instances(fake, project)
    config = write_config(fake, tmp_path, organization)

    swept = [
        {d["account"] for d in plan(config, tmp_path, "--shard", f"{i}/2")["decisions"]}
        for i in range(2)
    ]

    assert swept[0].isdisjoint(swept[1])
    assert swept[0] | swept[1] == set(projects)
    expected = assign([scope_key("gcp", Scope(p, "")) for p in projects], 2)
    for index, owned in enumerate(swept):
        assert {scope_key("gcp", Scope(p, "")) for p in owned} == {
            key for key, shard in expected.items() if shard == index
        }
    # Each shard listed the organization itself: no coordinator.
    assert fake.stats.count(SEARCH) == 2


def test_every_shard_whose_listing_fails_reports_it(fake: FakeGcp, tmp_path: Path) -> None:
    organization = fake.add_organization()
    fake.deny_listing(organization)
    projects = {f"ci-{n}": f"acme-shard-{n:02d}" for n in range(6)}
    for project_id in projects.values():
        fake.add_project(project_id, zones=[ZONE])
        seed_instances(fake, project_id)
    data = gcp_config(
        fake,
        tmp_path / "audit.jsonl",
        projects=tuple(projects.items()),
        section={"organization": organization},
    )
    config = tmp_path / "reaper.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    documents = [
        plan(config, tmp_path, "--shard", f"{i}/2", exit_code=ExitCode.PARTIAL_FAILURE)
        for i in range(2)
    ]

    # The error scope is no shard's share: each shard listed, failed and says so.
    for document in documents:
        errors = [(e["kind"], e["scope"]) for e in document["collect_errors"]]
        assert errors == [("gcp:gce_instance", GCP_ORGANIZATION_SCOPE)]
        assert "The caller does not have permission" in document["collect_errors"][0]["message"]
    # The projects named by hand are swept all the same, split between the shards.
    swept = [{d["account"] for d in document["decisions"]} for document in documents]
    expected = assign([scope_key("gcp", Scope(name, "")) for name in projects], 2)
    for index, owned in enumerate(swept):
        assert {scope_key("gcp", Scope(name, "")) for name in owned} == {
            key for key, shard in expected.items() if shard == index
        }
