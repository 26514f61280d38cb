"""The GCP fake's Resource Manager v3 ``projects.list`` and ``folders.list``, as the reference
describes them: direct children only, ACTIVE unless ``showDeleted``, pages by cursor, 403
for a parent the caller may not list, 400 for what the API refuses; through raw HTTP and
through the official client's REST transport."""

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

from reaper.sandbox.gcp import FakeGcp


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


def projects_client(fake: FakeGcp) -> resourcemanager_v3.ProjectsClient:
    return resourcemanager_v3.ProjectsClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.endpoint},
        transport="rest",
    )


def test_projects_are_the_direct_children_sorted_by_display_name_in_pages(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    folder = fake.add_folder(org, "ci")
    numbers = {
        project: fake.add_project(project, parent=org, display_name=shown)
        for project, shown in (("zz-first-1", "A"), ("aa-second-2", "B"), ("mm-third-3", "C"))
    }
    fake.add_project("in-folder-4", parent=folder)

    first = get(fake, "/v3/projects", parent=org, pageSize="2")
    token = first[1]["nextPageToken"]
    second = get(fake, "/v3/projects", parent=org, pageSize="2", pageToken=token)

    assert first[0] == second[0] == 200
    assert [p["projectId"] for p in first[1]["projects"]] == ["zz-first-1", "aa-second-2"]
    assert [p["projectId"] for p in second[1]["projects"]] == ["mm-third-3"]
    assert "nextPageToken" not in second[1]
    shown = first[1]["projects"][0]
    assert shown["name"] == f"projects/{numbers['zz-first-1']}"
    assert (shown["parent"], shown["state"], shown["displayName"]) == (org, "ACTIVE", "A")


def test_deleted_projects_only_with_show_deleted_and_states_as_numbers_on_request(
    fake: FakeGcp,
) -> None:
    org = fake.add_organization(42)
    fake.add_project("live-one-1", parent=org)
    fake.add_project("gone-one-2", parent=org)
    fake.request_project_deletion("gone-one-2")

    listed = get(fake, "/v3/projects", parent=org)[1]["projects"]
    every = get(
        fake, "/v3/projects", parent=org, showDeleted="true", **{"$alt": "json;enum-encoding=int"}
    )

    assert [p["projectId"] for p in listed] == ["live-one-1"]
    assert {p["projectId"]: p["state"] for p in every[1]["projects"]} == {
        "live-one-1": 1,
        "gone-one-2": 2,
    }
    assert "deleteTime" in next(p for p in every[1]["projects"] if p["state"] == 2)


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
        ({}, 400, "Request contains an invalid argument."),
        ({"parent": "projects/1"}, 400, "Request contains an invalid argument."),
        (
            {"parent": "ORG", "pageToken": "bm90LW91cnM"},
            400,
            "Request contains an invalid argument.",
        ),
        ({"parent": "ORG", "pageSize": "-1"}, 400, "Request contains an invalid argument."),
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
def test_refusals_have_googles_error_shape(
    fake: FakeGcp, query: dict[str, str], status: int, message: str
) -> None:
    org = fake.add_organization(42)
    denied = fake.add_folder(org, "secret")
    fake.deny_listing(denied)
    filled = {k: {"ORG": org, "DENIED": denied}.get(v, v) for k, v in query.items()}

    answered, body = get(fake, "/v3/projects", **filled)

    assert answered == status
    assert body["error"]["code"] == status
    assert body["error"]["message"] == message
    assert body["error"]["status"] == ("PERMISSION_DENIED" if status == 403 else "INVALID_ARGUMENT")


def test_the_official_client_pages_and_reads_a_denial(fake: FakeGcp) -> None:
    org = fake.add_organization(42)
    for n in range(5):
        fake.add_project(f"paged-project-{n}", parent=org)
    fake.set_list_page_size(2)
    client = projects_client(fake)

    listed = list(client.list_projects(parent=org))
    fake.deny_listing(org)
    with pytest.raises(gexc.Forbidden, match="The caller does not have permission"):
        list(client.list_projects(parent=org))

    assert [p.project_id for p in listed] == [f"paged-project-{n}" for n in range(5)]
    assert {p.state for p in listed} == {resourcemanager_v3.Project.State.ACTIVE}
    assert fake.stats.count("cloudresourcemanager.projects.list") == 3 + 1
