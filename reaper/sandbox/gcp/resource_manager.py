"""Handlers for Resource Manager v3 ``projects.search`` and ``folders.list``.

Built from the public reference (cloud.google.com/resource-manager/reference/rest/v3 and
google/cloud/resourcemanager/v3/projects.proto, folders.proto):

* ``projects.search`` (``GET /v3/projects:search``) returns the projects that match
  ``query`` (:mod:`.project_search`; none: every project) **and** that the caller may
  ``get``, in any state, in an unspecified order (the fake's: by project ID). It never
  answers 403 for a parent named in the query: a project the caller may not see is simply
  not there. The caller may not see the projects below a parent denied with
  ``FakeGcp.deny_listing`` or ``FakeGcp.hide_projects`` (at any depth, as an IAM deny
  policy is inherited). A query Resource Manager would refuse is a 400;
* ``folders.list`` lists the **direct children** of ``parent`` (``organizations/N`` or
  ``folders/N``), which is required, and needs ``resourcemanager.folders.list`` on it: a
  parent it may not list (``deny_listing``), or that does not exist, answers 403
  PERMISSION_DENIED "The caller does not have permission" (existence is not disclosed);
  DELETE_REQUESTED folders are left out unless ``showDeleted=true``; a malformed ``parent``
  is 400 INVALID_ARGUMENT;
* both page by cursor: at most ``pageSize`` (the server may return fewer, and does: at
  most ``World.list_page_size``), with a ``nextPageToken`` while more follow; a token that
  is not one of its own, or a negative ``pageSize``, is a 400.

Errors have the shape of the newer (ESF) APIs: ``{"error": {"code", "message", "status"}}``.
Enums are names, or numbers when the client asks for ``$alt=json;enum-encoding=int`` (as
the Python clients' REST transports do).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from reaper.sandbox.gcp import project_search
from reaper.sandbox.gcp.errors import ApiError, JsonObject
from reaper.sandbox.gcp.model import Folder, Project
from reaper.sandbox.gcp.request import ApiRequest
from reaper.sandbox.gcp.timefmt import aware
from reaper.sandbox.gcp.world import World

_PARENT = re.compile(r"^(organizations|folders)/[1-9][0-9]{0,18}$")
_STATES = {"STATE_UNSPECIFIED": 0, "ACTIVE": 1, "DELETE_REQUESTED": 2}
_DENIED = "The caller does not have permission"
_INVALID = "Request contains an invalid argument."
T = TypeVar("T")


def search_projects(world: World, request: ApiRequest) -> JsonObject:
    try:
        terms = project_search.parse(request.arg("query") or "")
    except project_search.QueryError:
        raise _error(400, "INVALID_ARGUMENT", _INVALID) from None
    chosen = sorted(
        (
            p
            for p in world.projects.values()
            if _visible(world, p) and project_search.matches(terms, p, world.search_semantics)
        ),
        key=lambda p: p.project_id,
    )
    rows = [((p.project_id,), p) for p in chosen]
    served, token = _page(world, rows, request)
    encode_int = _int_enums(request)
    reply: JsonObject = {"projects": [project_json(p, encode_int) for p in served]}
    if token:
        reply["nextPageToken"] = token
    return reply


def list_folders(world: World, request: ApiRequest) -> JsonObject:
    parent = _listable_parent(world, request)
    deleted = _show_deleted(request)
    chosen = sorted(
        (
            f
            for f in world.folders.values()
            if f.parent == parent and (deleted or f.state == "ACTIVE")
        ),
        key=lambda f: f.name,
    )
    rows = [((f.name,), f) for f in chosen]
    served, token = _page(world, rows, request)
    encode_int = _int_enums(request)
    reply: JsonObject = {"folders": [folder_json(f, encode_int) for f in served]}
    if token:
        reply["nextPageToken"] = token
    return reply


def project_json(project: Project, encode_int: bool = False) -> JsonObject:
    """A project as Resource Manager v3 shows it."""
    found: JsonObject = {
        "name": f"projects/{project.number}",
        "parent": project.parent or "",
        "projectId": project.project_id,
        "state": _STATES[project.state] if encode_int else project.state,
        "displayName": project.display_name,
        "etag": _etag(project.project_id, project.state),
    }
    if project.created is not None:
        found["createTime"] = _timestamp(project.created)
        found["updateTime"] = _timestamp(project.deleted or project.created)
    if project.deleted is not None:
        found["deleteTime"] = _timestamp(project.deleted)
    if project.labels:
        found["labels"] = dict(project.labels)
    return found


def folder_json(folder: Folder, encode_int: bool = False) -> JsonObject:
    """A folder as Resource Manager v3 shows it."""
    found: JsonObject = {
        "name": folder.name,
        "parent": folder.parent,
        "displayName": folder.display_name,
        "state": _STATES[folder.state] if encode_int else folder.state,
        "createTime": _timestamp(folder.created),
        "updateTime": _timestamp(folder.deleted or folder.created),
        "etag": _etag(folder.name, folder.state),
    }
    if folder.deleted is not None:
        found["deleteTime"] = _timestamp(folder.deleted)
    return found


def _visible(world: World, project: Project) -> bool:
    """Whether the caller may ``get`` ``project``: no parent above it is denied."""
    denied = world.unlistable | world.hidden
    parent = project.parent
    seen: set[str] = set()
    while parent is not None and parent not in seen:
        if parent in denied:
            return False
        seen.add(parent)
        folder = world.folders.get(parent)
        parent = folder.parent if folder is not None else None
    return True


def _listable_parent(world: World, request: ApiRequest) -> str:
    parent = request.arg("parent") or ""
    if not _PARENT.fullmatch(parent):
        raise _error(400, "INVALID_ARGUMENT", _INVALID)
    known = parent in world.organizations or parent in world.folders
    if not known or parent in world.unlistable:
        raise _error(403, "PERMISSION_DENIED", _DENIED)
    folder = world.folders.get(parent)
    if folder is not None and folder.state != "ACTIVE":
        raise _error(403, "PERMISSION_DENIED", _DENIED)
    return parent


def _show_deleted(request: ApiRequest) -> bool:
    raw = (request.arg("showDeleted") or "false").lower()
    if raw not in ("true", "false"):
        raise _error(
            400, "INVALID_ARGUMENT", f"Invalid value at 'show_deleted' (TYPE_BOOL), \"{raw}\""
        )
    return raw == "true"


def _int_enums(request: ApiRequest) -> bool:
    alt = request.arg("$alt") or request.arg("alt") or ""
    return "enum-encoding=int" in alt


def _page(
    world: World, rows: Sequence[tuple[tuple[str, ...], T]], request: ApiRequest
) -> tuple[list[T], str | None]:
    """The page ``request`` asks for (``pageSize``, ``pageToken``) and the next one's token."""
    raw_size = request.arg("pageSize") or "0"
    try:
        size = int(raw_size)
    except ValueError:
        raise _error(
            400, "INVALID_ARGUMENT", f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\""
        ) from None
    if size < 0:
        raise _error(400, "INVALID_ARGUMENT", _INVALID)
    size = min(size or world.list_page_size, world.list_page_size)
    start = 0
    token = request.arg("pageToken")
    if token:
        after = _after(token)
        start = next((i for i, (key, _) in enumerate(rows) if key > after), len(rows))
    chosen = list(rows[start : start + size])
    more = start + size < len(rows)
    return [row for _, row in chosen], _token(chosen[-1][0]) if more and chosen else None


def _token(key: tuple[str, ...]) -> str:
    """An opaque cursor: the last key served, so deletions between pages skip nothing."""
    return base64.urlsafe_b64encode(json.dumps(["v3", *key]).encode()).decode().rstrip("=")


def _after(token: str) -> tuple[str, ...]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if (
        not isinstance(decoded, list)
        or decoded[:1] != ["v3"]
        or not all(isinstance(part, str) for part in decoded)
    ):
        raise _error(400, "INVALID_ARGUMENT", _INVALID)
    return tuple(decoded[1:])


def _etag(name: str, state: str) -> str:
    return "W/" + json.dumps(base64.b64encode(f"{name}/{state}".encode()).decode()[:20])


def _timestamp(moment: datetime) -> str:
    return aware(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, status_name: str, message: str) -> ApiError:
    return ApiError(status, {"error": {"code": status, "message": message, "status": status_name}})
