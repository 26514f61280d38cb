"""The ``query`` of Resource Manager v3 ``projects.search``: parsed strictly, matched per project.

From the v3 reference (``SearchProjectsRequest.query``, google/cloud/resourcemanager/v3/
projects.proto): terms ``field:value`` separated by spaces, with these fields (names and
values case insensitive):

* ``displayName``, ``name``: the display name;
* ``parent``: ``folders/123``, ``organizations/*`` (preferred over the next two);
* ``parent.type``: ``folder`` or ``organization``; ``parent.id``: ``123``;
* ``id``, ``projectId``: the project ID;
* ``state``, ``lifecycleState``: ``ACTIVE`` or ``DELETE_REQUESTED``;
* ``labels``: a label's key or value; ``labels.<key>``: that label's value.

A value ending in ``*`` matches any rest (``name:how*``), ``*`` alone any set value. Any
other field, a term without ``:`` or an empty value is a 400 INVALID_ARGUMENT.

How terms combine is where the reference is unclear: it says a query of several fields
"will return results that match any of the fields". The fake's default,
:attr:`Semantics.ALL`, requires every field named to match (terms naming the same field
are alternatives: ``parent:folders/1 parent:folders/2`` is either folder), which is what
a query like ``parent:folders/1 state:ACTIVE`` is written for. :attr:`Semantics.ANY` reads
the reference literally, a project matching any term, so tests can check that a client
does not trust the query to narrow its results.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reaper.sandbox.gcp.model import Project


class Semantics(enum.StrEnum):
    """How the fake combines the terms of a search query (see the module doc)."""

    ALL = "all"
    """Every field named matches; terms of one field are alternatives."""
    ANY = "any"
    """Any term matches (the reference's "match any of the fields")."""


class QueryError(ValueError):
    """The query is not one Resource Manager accepts."""


_Value = Callable[[Project], list[str]]


def _parent(project: Project) -> list[str]:
    return [project.parent] if project.parent else []


def _parent_type(project: Project) -> list[str]:
    kinds = {"organizations": "organization", "folders": "folder"}
    return [kinds[p.split("/", 1)[0]] for p in _parent(project)]


def _parent_id(project: Project) -> list[str]:
    return [p.rpartition("/")[2] for p in _parent(project)]


_FIELDS: Mapping[str, tuple[str, _Value]] = {
    "displayname": ("displayName", lambda p: [p.display_name] if p.display_name else []),
    "name": ("displayName", lambda p: [p.display_name] if p.display_name else []),
    "parent": ("parent", _parent),
    "parent.type": ("parent.type", _parent_type),
    "parent.id": ("parent.id", _parent_id),
    "id": ("projectId", lambda p: [p.project_id]),
    "projectid": ("projectId", lambda p: [p.project_id]),
    "state": ("state", lambda p: [p.state]),
    "lifecyclestate": ("state", lambda p: [p.state]),
    "labels": ("labels", lambda p: [*p.labels, *p.labels.values()]),
}
_STATES = frozenset({"active", "delete_requested"})
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")


@dataclass(frozen=True)
class Term:
    """One ``field:value`` of a query, its field resolved to the name it is grouped by."""

    field: str
    """``displayName``, ``parent``, ``projectId``, ``state``, ``labels.<key>`` ..."""
    value: str
    """Lower case; may end in ``*``."""
    values: _Value
    """The project's values for the field: none when it has none (no parent, no such label)."""

    def matches(self, project: Project) -> bool:
        found = [v.lower() for v in self.values(project)]
        if self.value == "*":
            return bool(found)
        if self.value.endswith("*"):
            return any(v.startswith(self.value[:-1]) for v in found)
        return self.value in found


def parse(query: str) -> list[Term]:
    """The terms of ``query`` (none: every project). Raises QueryError. Pure."""
    terms = []
    for word in query.split():
        field, colon, value = word.partition(":")
        if not colon or not value:
            raise QueryError(f"not a field:value term: {word!r}")
        key = field.lower()
        if key.startswith("labels."):
            label = key.removeprefix("labels.")
            if not _LABEL_KEY.fullmatch(label):
                raise QueryError(f"not a label key: {label!r}")
            terms.append(Term(key, value.lower(), _label(label)))
            continue
        known = _FIELDS.get(key)
        if known is None:
            raise QueryError(f"unknown field {field!r}")
        name, values = known
        if name == "state" and not value.endswith("*") and value.lower() not in _STATES:
            raise QueryError(f"unknown state {value!r}")
        terms.append(Term(name, value.lower(), values))
    return terms


def matches(terms: list[Term], project: Project, semantics: Semantics) -> bool:
    """Whether ``project`` answers the query of ``terms``. Pure."""
    if not terms:
        return True
    if semantics is Semantics.ANY:
        return any(t.matches(project) for t in terms)
    fields = {t.field for t in terms}
    return all(any(t.matches(project) for t in terms if t.field == f) for f in fields)


def _label(key: str) -> _Value:
    return lambda p: [p.labels[key]] if key in p.labels else []
