"""Discovery and OpenAPI documents, built from the resource table. Pure.

Legacy (unaggregated) discovery as ``kubectl -v=8`` records it from real servers:
``/api`` is an ``APIVersions`` (no apiVersion field), ``/apis`` an ``APIGroupList``,
``/api/v1`` an ``APIResourceList`` without apiVersion and ``/apis/<group>/<version>`` one with
``apiVersion: v1``. Clients that ask for aggregated discovery get these too, as plain
``application/json``, and fall back, as they do against servers without it.

OpenAPI v3 is served minimally: a root index and, per group/version, the paths with their
operations, the ``x-kubernetes-group-version-kind`` extension and the query parameters,
which is what ``kubectl`` reads to decide that the server validates fields itself
(``fieldValidation``) and which patch types a kind accepts. Component schemas are left out,
so ``kubectl apply`` computes its strategic merge patches from the OpenAPI v2 definitions
instead (:mod:`reaper.sandbox.kube.openapi_v2`, which kubectl 1.20 also validates against).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reaper.sandbox.kube.resources import RESOURCE_TYPES, ResourceType, group_versions

JSON = dict[str, Any]

SERVER_VERSION: JSON = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def api_versions(server_address: str) -> JSON:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list(extra_group_versions: list[str]) -> JSON:
    """``GET /apis``: every named group, plus aggregated ones that are registered."""
    groups: list[JSON] = []
    for group_version in [gv for gv in group_versions() if "/" in gv] + extra_group_versions:
        name, version = group_version.split("/", 1)
        entry = {"groupVersion": group_version, "version": version}
        groups.append({"name": name, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> JSON | None:
    """``GET /apis/<group>``."""
    for group_version in group_versions():
        if group_version.startswith(f"{group}/"):
            entry = {"groupVersion": group_version, "version": group_version.split("/", 1)[1]}
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": group,
                "versions": [entry],
                "preferredVersion": entry,
            }
    return None


def resource_list(group_version: str) -> JSON | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``; None if not served."""
    types = [rt for rt in RESOURCE_TYPES if rt.group_version == group_version]
    if not types:
        return None
    resources = [entry for rt in sorted(types, key=lambda t: t.plural) for entry in rt.discovery()]
    body: JSON = {"kind": "APIResourceList"}
    if "/" in group_version:
        body["apiVersion"] = "v1"
    body["groupVersion"] = group_version
    body["resources"] = resources
    return body


def _api_path(group_version: str) -> str:
    return f"api/{group_version}" if "/" not in group_version else f"apis/{group_version}"


def openapi_index() -> JSON:
    """``GET /openapi/v3``: where each group/version's document is."""
    paths = {}
    for group_version in group_versions():
        path = _api_path(group_version)
        paths[path] = {
            "serverRelativeURL": f"/openapi/v3/{path}?hash={_hash(openapi_document(group_version))}"
        }
    return {"paths": paths}


def _hash(document: JSON | None) -> str:
    raw = json.dumps(document, sort_keys=True).encode()
    return hashlib.sha512(raw).hexdigest().upper()[:128]


def _parameter(name: str, kind: str = "string") -> JSON:
    return {
        "name": name,
        "in": "query",
        "description": name,
        "schema": {"type": kind, "uniqueItems": True},
    }


def _operation(rt: ResourceType, action: str, verb_title: str, scope: str) -> JSON:
    group_title = "".join(
        part.capitalize() for part in (rt.group.split(".")[0] if rt.group else "core").split("-")
    )
    operation: JSON = {
        "description": f"{verb_title} {rt.kind}",
        "operationId": f"{action}{group_title}{rt.version.capitalize()}{scope}{rt.kind}",
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
    }
    if action in ("patch", "put", "post"):
        operation["parameters"] = [
            _parameter("dryRun"),
            _parameter("fieldManager"),
            _parameter("fieldValidation"),
        ]
        content: tuple[str, ...]
        if action == "patch":
            operation["parameters"].append(_parameter("force", "boolean"))
            content = _PATCH_TYPES
        else:
            content = ("*/*",)
        operation["requestBody"] = {
            "content": {media: {"schema": {"type": "object"}} for media in content},
            "required": True,
        }
    return operation


def openapi_document(group_version: str) -> JSON | None:
    """``GET /openapi/v3/api(s)/<group_version>``; None if not served."""
    types = [rt for rt in RESOURCE_TYPES if rt.group_version == group_version]
    if not types:
        return None
    paths: JSON = {}
    for rt in types:
        base = f"/{_api_path(group_version)}"
        scope = "Namespaced" if rt.namespaced else ""
        collection = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        paths[collection] = {
            "get": _operation(rt, "list", "list or watch objects of kind", scope),
            "post": _operation(rt, "post", "create a", scope),
        }
        paths[f"{collection}/{{name}}"] = {
            "get": _operation(rt, "get", "read the specified", scope),
            "put": _operation(rt, "put", "replace the specified", scope),
            "patch": _operation(rt, "patch", "partially update the specified", scope),
            "delete": _operation(rt, "delete", "delete a", scope),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }
