"""The projects of a GCP organization or folders: found with Resource Manager, named, merged.

:func:`discover` walks each root (``organization``, then ``folders``) breadth first with
:func:`~reaper.providers.discovery.walk`, as AWS walks OUs: the folders directly under a
parent (``folders.list?parent=``), and so on down, each folder asked once however many
roots reach it, so a folder means its whole subtree; then the projects directly under each
folder reached (``projects.search`` with the query ``parent:<parent> state:ACTIVE``).
Subtrees of ``exclude_folders`` are walked first (folders only) and never entered,
whatever root they lie under: exclusion wins. Only ACTIVE projects are kept (not
DELETE_REQUESTED ones), minus ``exclude_projects``.

What the search answers is never trusted to be exactly what was asked:
:func:`children` keeps a project only if its ``parent`` is the parent searched and its
state is ACTIVE. The v3 reference says a query of several fields "will return results that
match any of the fields", so ``parent:folders/1 state:ACTIVE`` may also bring every active
project the caller sees; whatever the service does, the post-filter makes the result the
same. ``projects.search`` also returns only the projects the caller may ``get``
(``resourcemanager.projects.get``), and never a 403 for the parent: a missing grant reads
as an empty folder. So a configured organization or folder with no project and no folder
is logged at WARNING on every listing (a folder that cannot be *listed* is still an
error: ``folders.list`` answers 403). And it is eventually consistent: a project just
created may only be found by a later listing (``rediscover_after``).

Projects found are named by their project ID, which is unique, stable and already a valid
reaper name; one whose ID is the name of a project named by hand (for another project) is
named ``<project ID>-<project number>`` instead. :func:`search_query`, :func:`children`,
:func:`select`, :func:`merge_projects` and :func:`project_name` are pure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from google.cloud import resourcemanager_v3

from reaper.config import GCP_ORGANIZATION_SCOPE, PROJECT_ID, GcpProject, GcpSettings
from reaper.providers.discovery import walk

if TYPE_CHECKING:
    from reaper.providers.gcp.clients import GcpClients

log = logging.getLogger(__name__)

METHODS_PERMISSIONS = {
    "cloudresourcemanager.projects.search": "resourcemanager.projects.get",
    "cloudresourcemanager.folders.list": "resourcemanager.folders.list",
}
"""Each Resource Manager method :func:`discover` calls, and the permission it takes
(cloud.google.com/resource-manager/reference/rest/v3): ``projects.get`` on each project
the search may return, ``folders.list`` on each parent listed."""
PERMISSIONS = tuple(sorted(set(METHODS_PERMISSIONS.values())))
"""What discovery needs, granted on the organization or folders and inherited below them
(deploy/gcp/reaper-discovery-role.yaml)."""
_ACTIVE = resourcemanager_v3.Project.State.ACTIVE


@dataclass(frozen=True)
class FoundProject:
    """One project as Resource Manager lists it."""

    project_id: str
    number: str
    """The project number, from its resource name ``projects/<number>``."""
    active: bool
    parent: str


class Lister(Protocol):
    """The two calls of the walk; the real one is :class:`ResourceManagerLister`."""

    def projects(self, parent: str) -> list[FoundProject]:
        """The ACTIVE projects directly under ``parent`` that the caller may see."""
        ...

    def folders(self, parent: str) -> list[str]:
        """The ACTIVE folders directly under ``parent`` (``folders/123``)."""
        ...


def search_query(parent: str) -> str:
    """The ``projects.search`` query for the ACTIVE projects directly under ``parent``
    (``organizations/1`` or ``folders/2``), in the form the v3 reference prefers
    (``parent:``, not ``parent.type:`` and ``parent.id:``). Pure."""
    return f"parent:{parent} state:ACTIVE"


def children(found: Iterable[FoundProject], parent: str) -> list[FoundProject]:
    """The ``found`` projects whose parent is ``parent`` and that are ACTIVE: what a search
    for :func:`search_query` may answer, narrowed to what it asked for. Pure (but for a
    DEBUG line counting the others)."""
    found = list(found)
    kept = [p for p in found if p.parent == parent and p.active]
    if len(kept) < len(found):
        log.debug(
            "dropped %d of the %d projects a search for %s returned: another parent or not ACTIVE",
            len(found) - len(kept),
            len(found),
            parent,
        )
    return kept


def project_name(project_id: str, number: str, taken: set[str]) -> str:
    """A found project's reaper name: its project ID, or ``<ID>-<number>`` when that name is
    ``taken`` (by a project named by hand, or reserved). Pure."""
    return project_id if project_id not in taken else f"{project_id}-{number}"


def select(
    found: Iterable[FoundProject], settings: GcpSettings, excluded_parents: set[str]
) -> list[GcpProject]:
    """The found projects to sweep, sorted by project ID, as GcpProjects. Pure.

    ACTIVE ones only, none in ``exclude_projects`` nor directly under an excluded folder,
    none a project named by hand already covers (same project ID). A legacy domain-scoped
    ID (``example.com:ci``) cannot be a reaper project: it is left out, with a warning.
    """
    named_ids = {p.project_id for p in settings.projects}
    skip = named_ids | set(settings.exclude_projects)
    chosen: dict[str, FoundProject] = {}
    for p in found:
        if not p.active or p.project_id in skip or p.parent in excluded_parents:
            continue
        if not PROJECT_ID.fullmatch(p.project_id):
            log.warning(
                "not sweeping project %r (%s): not a project ID reaper takes",
                p.project_id,
                p.parent,
            )
            continue
        chosen[p.project_id] = p
    taken = {p.name for p in settings.projects} | {GCP_ORGANIZATION_SCOPE}
    return [
        GcpProject(name=project_name(p.project_id, p.number, taken), project_id=p.project_id)
        for p in sorted(chosen.values(), key=lambda p: p.project_id)
    ]


def merge_projects(
    named: Sequence[GcpProject], found: Iterable[GcpProject]
) -> tuple[GcpProject, ...]:
    """The projects named by hand, then the found ones they do not name. Pure.

    A found project is left out when a named one has its project ID (the named one wins,
    with its name and service account) or its name.
    """
    ids = {p.project_id for p in named}
    names = {p.name for p in named}
    merged = list(named)
    for project in found:
        if project.project_id in ids or project.name in names:
            continue
        ids.add(project.project_id)
        names.add(project.name)
        merged.append(project)
    return tuple(merged)


def discover(lister: Lister, settings: GcpSettings) -> list[GcpProject]:
    """The projects of ``organization`` and ``folders`` to sweep (see the module doc).

    Raises ProviderError when a parent cannot be listed: the listing is all or nothing, so
    a folder that cannot be read never makes its projects look gone. A root with neither
    projects nor folders is logged at WARNING: a search shows only the projects the caller
    may ``get``, so a missing grant looks just like that.
    """
    roots = [r for r in (settings.organization, *settings.folders) if r]
    tree = walk(roots, lister.folders, settings.exclude_folders)
    found: list[FoundProject] = []
    for parent, folders in tree.nodes.items():
        projects = lister.projects(parent)
        if parent in roots and not projects and not folders:
            log.warning(
                "%s has no ACTIVE project reaper may see and no folder: nothing is swept "
                "there; check that reaper has resourcemanager.projects.get on its projects "
                "(deploy/gcp/reaper-discovery-role.yaml bound on it or above)",
                parent,
            )
        found += projects
    return select(found, settings, set(tree.excluded))


class ResourceManagerLister(Lister):
    """:class:`Lister` over Resource Manager v3, each page through ``GcpClients.pages``
    (retries, request counts, ProviderError)."""

    def __init__(self, clients: GcpClients) -> None:
        self._clients = clients

    def projects(self, parent: str) -> list[FoundProject]:
        api = self._clients.resourcemanager().projects
        query = search_query(parent)

        def fetch(token: str) -> Any:
            request = resourcemanager_v3.SearchProjectsRequest(query=query, page_token=token)
            return api.search_projects(request=request, retry=None, timeout=self._clients.timeout)

        pages = self._clients.pages(
            "cloudresourcemanager.projects.search", f"projects of {parent}", fetch
        )
        return children((_found(raw) for page in pages for raw in page.projects), parent)

    def folders(self, parent: str) -> list[str]:
        api = self._clients.resourcemanager().folders

        def fetch(token: str) -> Any:
            request = resourcemanager_v3.ListFoldersRequest(parent=parent, page_token=token)
            return api.list_folders(request=request, retry=None, timeout=self._clients.timeout)

        pages = self._clients.pages(
            "cloudresourcemanager.folders.list", f"folders of {parent}", fetch
        )
        return [
            str(raw.name)
            for page in pages
            for raw in page.folders
            if raw.state == resourcemanager_v3.Folder.State.ACTIVE
        ]


def _found(raw: resourcemanager_v3.Project) -> FoundProject:
    number = str(raw.name).removeprefix("projects/")
    return FoundProject(str(raw.project_id), number, raw.state == _ACTIVE, str(raw.parent))
