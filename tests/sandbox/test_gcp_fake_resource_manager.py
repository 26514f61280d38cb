"""The GCP fake's Resource Manager v3 ``projects.search`` and ``folders.list``, as the
reference describes them: a search query parsed strictly and matched in any state, only
the projects the caller may get (never a 403 for a parent), folders as direct children,
ACTIVE unless ``showDeleted``, pages by cursor, 400 for what the API refuses; through raw
HTTP and through the official client's REST transport."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import resourcemanager_v3

from reaper.sandbox.gcp import FakeGcp, Semantics

INVALID = "Request contains an invalid argument."


@pytest.fixture
def fake() -> Iterator[FakeGcp]:
    with FakeGcp() as server:
        yield server
        assert server.failures == []


def get(fake: FakeGcp, path: str, **query: str) -> tuple[int, dict[str, Any]]:
    url = f"{fake.endpoint}{path}?{urlencode(query)}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def search(fake: FakeGcp, query: str | None = None, **more: str) -> tuple[int, dict[str, Any]]:
    return get(fake, "/v3/projects:search", **({} if query is None else {"query": query}), **more)


def ids(body: dict[str, Any]) -> list[str]:
    return [p["projectId"] for p in body.get("projects", [])]


def projects_client(fake: FakeGcp) -> resourcemanager_v3.ProjectsClient:
    return resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )


def folders_client(fake: FakeGcp) -> resourcemanager_v3.FoldersClient:
    return resourcemanager_v3.FoldersClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )


class Tree:
    """organizations/42 ── "root-one-1" (shown as Howl); ci ── "ci-live-2", "ci-gone-3"
    (DELETE_REQUESTED), "ci-labelled-4" (team=blue); ci/nested ── "nested-5"; and
    "loose-6", in no organization."""

    def __init__(self, fake: FakeGcp) -> None:
        self.org = fake.add_organization(42)
        self.ci = fake.add_folder(self.org, "ci")
        self.nested = fake.add_folder(self.ci, "nested")
        fake.add_project("root-one-1", parent=self.org, display_name="Howl")
        fake.add_project("ci-live-2", parent=self.ci)
        fake.add_project("ci-gone-3", parent=self.ci)
        fake.add_project("ci-labelled-4", parent=self.ci, labels={"team": "blue"})
        fake.add_project("nested-5", parent=self.nested)
        fake.add_project("loose-6")
        fake.request_project_deletion("ci-gone-3")

    def fill(self, text: str) -> str:
        ci_id = self.ci.removeprefix("folders/")
        return text.replace("CI_ID", ci_id).replace("CI", self.ci).replace("ORG", self.org)


@pytest.fixture
def tree(fake: FakeGcp) -> Tree:
    return Tree(fake)


# -- projects.search -----------------------------------------------------------------------


def test_a_search_pages_its_matches_by_cursor(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    folder = fake.add_folder(org, "ci")
    numbers = {
        project: fake.add_project(project, parent=org, display_name=project.upper())
        for project in ("zz-first-1", "aa-second-2", "mm-third-3")
    }
    fake.add_project("in-folder-4", parent=folder)
    query = f"parent:{org} state:ACTIVE"

    first = search(fake, query, pageSize="2")
    second = search(fake, query, pageSize="2", pageToken=first[1]["nextPageToken"])

    assert first[0] == second[0] == 200
    assert ids(first[1]) == ["aa-second-2", "mm-third-3"]
    assert ids(second[1]) == ["zz-first-1"]
    assert "nextPageToken" not in second[1]
    shown = first[1]["projects"][0]
    assert shown["name"] == f"projects/{numbers['aa-second-2']}"
    assert (shown["parent"], shown["state"], shown["displayName"]) == (
        org,
        "ACTIVE",
        "AA-SECOND-2",
    )


@pytest.mark.parametrize(
    ("query", "found"),
    [
        (None, ["ci-gone-3", "ci-labelled-4", "ci-live-2", "loose-6", "nested-5", "root-one-1"]),
        ("parent:CI", ["ci-gone-3", "ci-labelled-4", "ci-live-2"]),
        ("parent:CI state:ACTIVE", ["ci-labelled-4", "ci-live-2"]),
        ("PARENT:CI lifecycleState:delete_requested", ["ci-gone-3"]),
        ("parent:CI parent:ORG", ["ci-gone-3", "ci-labelled-4", "ci-live-2", "root-one-1"]),
        ("parent:organizations/* state:ACTIVE", ["root-one-1"]),
        ("parent.type:folder parent.id:CI_ID", ["ci-gone-3", "ci-labelled-4", "ci-live-2"]),
        ("name:how*", ["root-one-1"]),
        ("NAME:HOWL", ["root-one-1"]),
        ("labels.team:*", ["ci-labelled-4"]),
        ("labels:BLUE", ["ci-labelled-4"]),
        ("id:nested-5", ["nested-5"]),
        ("projectId:ci-* state:ACTIVE", ["ci-labelled-4", "ci-live-2"]),
    ],
    ids=[
        "no-query",
        "parent",
        "parent-and-state",
        "case-and-aliases",
        "one-field-twice",
        "parent-wildcard",
        "parent-type-and-id",
        "name-prefix",
        "name-any-case",
        "label-key",
        "label-value",
        "project-id",
        "id-prefix",
    ],
)
def test_a_query_matches_every_field_it_names_in_any_state(
    fake: FakeGcp, tree: Tree, query: str | None, found: list[str]
) -> None:
    status, body = search(fake, None if query is None else tree.fill(query))

    assert status == 200
    assert ids(body) == found


def test_with_any_semantics_one_matching_term_is_enough(fake: FakeGcp, tree: Tree) -> None:
    fake.set_search_semantics(Semantics.ANY)

    status, body = search(fake, f"parent:{tree.ci} state:ACTIVE")

    assert status == 200
    # ci's projects in any state, and every ACTIVE project anywhere.
    assert ids(body) == [
        "ci-gone-3",
        "ci-labelled-4",
        "ci-live-2",
        "loose-6",
        "nested-5",
        "root-one-1",
    ]


def test_a_search_shows_only_projects_the_caller_may_get_and_never_refuses_a_parent(
    fake: FakeGcp, tree: Tree
) -> None:
    fake.hide_projects(tree.ci)  # no projects.get below ci (nested too); folders still listed
    hidden = search(fake, f"parent:{tree.nested}")
    listed = get(fake, "/v3/folders", parent=tree.ci)
    fake.hide_projects(tree.ci, hidden=False)
    fake.deny_listing(tree.org)  # nothing below the organization, and no folders.list
    denied = search(fake, f"parent:{tree.org}")
    every = search(fake)
    refused = get(fake, "/v3/folders", parent=tree.org)

    assert hidden == (200, {"projects": []})
    assert listed[0] == 200
    assert [f["name"] for f in listed[1]["folders"]] == [tree.nested]
    assert denied == (200, {"projects": []})
    assert ids(every[1]) == ["loose-6"]
    assert refused[0] == 403


def test_states_are_numbers_when_the_client_asks(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    fake.add_project("live-one-1", parent=org)
    fake.add_project("gone-one-2", parent=org)
    fake.request_project_deletion("gone-one-2")

    status, body = search(fake, f"parent:{org}", **{"$alt": "json;enum-encoding=int"})

    assert status == 200
    assert {p["projectId"]: p["state"] for p in body["projects"]} == {
        "live-one-1": 1,
        "gone-one-2": 2,
    }
    assert "deleteTime" in next(p for p in body["projects"] if p["state"] == 2)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"query": "folder:CI"}, INVALID),
        ({"query": "parent CI"}, INVALID),
        ({"query": "parent:"}, INVALID),
        ({"query": "state:RUNNING"}, INVALID),
        ({"query": "labels.Bad!:x"}, INVALID),
        ({"query": "parent:CI", "pageToken": "bm90LW91cnM"}, INVALID),
        ({"query": "parent:CI", "pageSize": "-1"}, INVALID),
        (
            {"query": "parent:CI", "pageSize": "many"},
            "Invalid value at 'page_size' (TYPE_INT32), \"many\"",
        ),
        (
            {"parent": "CI"},
            'Invalid JSON payload received. Unknown name "parent": Cannot bind query parameter.',
        ),
    ],
    ids=[
        "unknown-field",
        "not-a-term",
        "empty-value",
        "unknown-state",
        "bad-label-key",
        "foreign-token",
        "negative-page",
        "page-not-a-number",
        "list-parameter",
    ],
)
def test_search_refusals_have_googles_error_shape(
    fake: FakeGcp, tree: Tree, query: dict[str, str], message: str
) -> None:
    answered, body = get(fake, "/v3/projects:search", **{k: tree.fill(v) for k, v in query.items()})

    assert answered == 400
    error = body["error"]
    assert (error["code"], error["message"], error["status"]) == (400, message, "INVALID_ARGUMENT")


def test_the_official_client_pages_a_search(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    for n in range(5):
        fake.add_project(f"paged-project-{n}", parent=org)
    fake.set_list_page_size(2)
    client = projects_client(fake)

    found = list(client.search_projects(query=f"parent:{org} state:ACTIVE"))
    fake.deny_listing(org)
    hidden = list(client.search_projects(query=f"parent:{org} state:ACTIVE"))

    assert [p.project_id for p in found] == [f"paged-project-{n}" for n in range(5)]
    assert {(p.state, p.parent) for p in found} == {(resourcemanager_v3.Project.State.ACTIVE, org)}
    assert hidden == []
    assert fake.stats.count("cloudresourcemanager.projects.search") == 3 + 1
    assert fake.stats.count("cloudresourcemanager.projects.list") == 0


# -- folders.list ----------------------------------------------------------------------------


def test_folders_are_the_direct_children(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    top = fake.add_folder(org, "top")
    fake.add_folder(top, "below")

    status, body = get(fake, "/v3/folders", parent=org)

    assert status == 200
    assert [(f["name"], f["displayName"], f["state"]) for f in body["folders"]] == [
        (top, "top", "ACTIVE")
    ]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"parent": "organizations/999"}, 403, "The caller does not have permission"),
        ({"parent": "DENIED"}, 403, "The caller does not have permission"),
        ({}, 400, INVALID),
        ({"parent": "projects/1"}, 400, INVALID),
        ({"parent": "ORG", "pageToken": "bm90LW91cnM"}, 400, INVALID),
        ({"parent": "ORG", "pageSize": "-1"}, 400, INVALID),
        (
            {"parent": "ORG", "query": "state:ACTIVE"},
            400,
            'Invalid JSON payload received. Unknown name "query": Cannot bind query parameter.',
        ),
    ],
    ids=[
        "unknown-parent",
        "not-allowed",
        "no-parent",
        "not-a-parent",
        "foreign-token",
        "negative-page",
        "unknown-parameter",
    ],
)
def test_folder_refusals_have_googles_error_shape(
    fake: FakeGcp, query: dict[str, str], status: int, message: str
) -> None:
    org = fake.add_organization(42)
    denied = fake.add_folder(org, "secret")
    fake.deny_listing(denied)
    filled = {k: {"ORG": org, "DENIED": denied}.get(v, v) for k, v in query.items()}

    answered, body = get(fake, "/v3/folders", **filled)

    assert answered == status
    assert body["error"]["code"] == status
    assert body["error"]["message"] == message
    assert body["error"]["status"] == ("PERMISSION_DENIED" if status == 403 else "INVALID_ARGUMENT")


def test_the_official_client_pages_folders_and_reads_a_denial(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    made = [fake.add_folder(org, f"folder-{n}") for n in range(5)]
    fake.set_list_page_size(2)
    client = folders_client(fake)

    listed = list(client.list_folders(parent=org))
    fake.deny_listing(org)
    with pytest.raises(gexc.Forbidden, match="The caller does not have permission"):
        list(client.list_folders(parent=org))

    assert sorted(f.name for f in listed) == sorted(made)
    assert {f.state for f in listed} == {resourcemanager_v3.Folder.State.ACTIVE}
    assert fake.stats.count("cloudresourcemanager.folders.list") == 3 + 1
