"""The Kubernetes API calls of the namespace kind, each one request of raw JSON.

Every function takes the :class:`~.clients.Cluster` and its scope, and raises
:class:`~.clients.KubeApiError` (a ProviderError) when the call fails; ``None`` answers
stand for 404 Not Found where the caller needs to tell "gone" from "failed". Lists are
read in pages, and a list whose continue token expired starts over as its
:class:`ListRestarts` (one budget per cluster per sweep) allows.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client

from reaper.model import Scope
from reaper.providers.kubernetes.clients import (
    GONE,
    JSON,
    MERGE_PATCH,
    REQUEST_TIMEOUT,
    Cluster,
    KubeApiError,
    read_json,
    translate_errors,
    unless_missing,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 500

WORKLOAD_KINDS = ("deployments", "statefulsets")


def items_of(page: Mapping[str, Any]) -> list[Any]:
    items = page.get("items")
    return items if isinstance(items, list) else []


class ListRestarts:
    """How many lists of one cluster may still start over after an expired continue token.

    A continue token expires (410 Gone) when the snapshot the list started from has been
    compacted; the list then starts over from the beginning, without a token. Every
    paginated list of one cluster in one sweep draws on one budget (one restart): the
    namespaces, the Services, and the workloads of each quarantined namespace read back.
    Once it is spent, the next expiry is an error (of the collection, during a sweep's
    collect). Thread-safe: the lists of one cluster run concurrently.
    """

    def __init__(self, allowed: int = 1) -> None:
        self._left = allowed
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Use one restart; False when none is left."""
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


def list_all(
    cluster: Cluster,
    scope: Scope,
    resource: str,
    restarts: ListRestarts,
    *,
    label_selector: str | None = None,
) -> list[JSON]:
    """Every item of a (cluster-wide) list of ``namespaces`` or ``services``, in pages of
    500 (``limit`` and ``continue``); an expired token restarts it if ``restarts`` allows."""
    return _paged(
        f"list {resource} in {scope}",
        lambda token: _list_page(cluster, scope, resource, label_selector, token),
        restarts,
    )


def _paged(what: str, fetch: Callable[[str | None], JSON], restarts: ListRestarts) -> list[JSON]:
    """Every item of a paginated list: ``fetch(continue_token)`` answers one page.

    A page refused with 410 Gone (its continue token expired) starts the list over from
    the first page, once ``restarts`` allows it; otherwise the KubeApiError is raised.
    """
    token: str | None = None
    items: list[JSON] = []
    while True:
        try:
            page = fetch(token)
        except KubeApiError as err:
            if err.status != GONE or token is None:
                raise
            if not restarts.take():
                raise KubeApiError(
                    f"{err} (a list of this cluster was already restarted once this sweep)",
                    err.status,
                    err.reason,
                ) from err
            log.warning("%s: the continue token expired; the list starts over", what)
            token, items = None, []
            continue
        items += [item for item in items_of(page) if isinstance(item, dict)]
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


def _list_page(
    cluster: Cluster, scope: Scope, resource: str, label_selector: str | None, token: str | None
) -> JSON:
    raw: object
    with translate_errors(f"list {resource} in {scope}"):
        if resource == "namespaces":
            raw = cluster.core.list_namespace(
                label_selector=label_selector,
                limit=PAGE_SIZE,
                _continue=token,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        elif resource == "services":
            raw = cluster.core.list_service_for_all_namespaces(
                label_selector=label_selector,
                limit=PAGE_SIZE,
                _continue=token,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        else:
            raise ValueError(f"reaper does not list {resource} cluster-wide")
    return read_json(raw)


def read_namespace(cluster: Cluster, scope: Scope, name: str) -> JSON | None:
    return unless_missing(
        f"get namespace {name} in {scope}",
        lambda: cluster.core.read_namespace(
            name, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        ),
    )


def patch_namespace(cluster: Cluster, scope: Scope, name: str, body: JSON) -> JSON:
    """A JSON merge patch (no resourceVersion, so no conflict; null removes a key)."""
    with translate_errors(f"patch namespace {name} in {scope}"):
        raw = cluster.core.patch_namespace(
            name,
            body,
            _content_type=MERGE_PATCH,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
        )
    return read_json(raw)


def delete_namespace(
    cluster: Cluster, scope: Scope, name: str, uid: str | None, version: str | None = None
) -> JSON:
    """DELETE with ``propagationPolicy=Background``, conditional on the uid and
    resourceVersion seen (``preconditions``): a namespace recreated under the same name, or
    changed since it was read, is not deleted (409 Conflict)."""
    options = client.V1DeleteOptions(
        propagation_policy="Background",
        preconditions=(
            client.V1Preconditions(uid=uid or None, resource_version=version or None)
            if uid or version
            else None
        ),
    )
    with translate_errors(f"delete namespace {name} in {scope}"):
        raw = cluster.core.delete_namespace(
            name, body=options, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
    return read_json(raw)


# -- what is in a namespace --------------------------------------------------------------


def list_in(
    cluster: Cluster, scope: Scope, resource: str, namespace: str, restarts: ListRestarts
) -> list[JSON]:
    """Every ``deployments``, ``statefulsets``, ``cronjobs`` or ``services`` of a namespace,
    in pages of 500; an expired token restarts the list if ``restarts`` allows."""
    return _paged(
        f"list {resource} in {scope}/{namespace}",
        lambda token: _list_in_page(cluster, scope, resource, namespace, token),
        restarts,
    )


def _list_in_page(
    cluster: Cluster, scope: Scope, resource: str, namespace: str, token: str | None
) -> JSON:
    options: dict[str, Any] = {
        "limit": PAGE_SIZE,
        "_continue": token,
        "_preload_content": False,
        "_request_timeout": REQUEST_TIMEOUT,
    }
    raw: object
    with translate_errors(f"list {resource} in {scope}/{namespace}"):
        if resource == "deployments":
            raw = cluster.apps.list_namespaced_deployment(namespace, **options)
        elif resource == "statefulsets":
            raw = cluster.apps.list_namespaced_stateful_set(namespace, **options)
        elif resource == "cronjobs":
            raw = cluster.batch.list_namespaced_cron_job(namespace, **options)
        elif resource == "services":
            raw = cluster.core.list_namespaced_service(namespace, **options)
        else:
            raise ValueError(f"reaper does not list {resource}")
    return read_json(raw)


def read_workload(
    cluster: Cluster, scope: Scope, resource: str, namespace: str, name: str
) -> JSON | None:
    read = (
        cluster.apps.read_namespaced_deployment
        if resource == "deployments"
        else cluster.apps.read_namespaced_stateful_set
    )
    return unless_missing(
        f"get {resource} {namespace}/{name} in {scope}",
        lambda: read(name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT),
    )


def _merge_patch() -> dict[str, Any]:
    """The client options of a JSON merge patch whose answer reaper reads itself."""
    return {
        "_content_type": MERGE_PATCH,
        "_preload_content": False,
        "_request_timeout": REQUEST_TIMEOUT,
    }


def patch_object(
    cluster: Cluster, scope: Scope, resource: str, namespace: str, name: str, body: JSON
) -> JSON:
    """A JSON merge patch of a Deployment, StatefulSet or CronJob; a ``resourceVersion`` in
    the body makes it conditional (409 Conflict if the object changed)."""
    options = _merge_patch()
    raw: object
    with translate_errors(f"patch {resource} {namespace}/{name} in {scope}"):
        if resource == "deployments":
            raw = cluster.apps.patch_namespaced_deployment(name, namespace, body, **options)
        elif resource == "statefulsets":
            raw = cluster.apps.patch_namespaced_stateful_set(name, namespace, body, **options)
        elif resource == "cronjobs":
            raw = cluster.batch.patch_namespaced_cron_job(name, namespace, body, **options)
        else:
            raise ValueError(f"reaper does not patch {resource}")
    return read_json(raw)


def scale(
    cluster: Cluster, scope: Scope, resource: str, namespace: str, name: str, replicas: int
) -> JSON:
    """Set a Deployment's or StatefulSet's replicas through its ``scale`` subresource."""
    body = {"spec": {"replicas": replicas}}
    options = _merge_patch()
    raw: object
    with translate_errors(f"patch {resource}/scale {namespace}/{name} in {scope}"):
        if resource == "deployments":
            raw = cluster.apps.patch_namespaced_deployment_scale(name, namespace, body, **options)
        else:
            raw = cluster.apps.patch_namespaced_stateful_set_scale(name, namespace, body, **options)
    return read_json(raw)


def read_network_policy(cluster: Cluster, scope: Scope, namespace: str, name: str) -> JSON | None:
    return unless_missing(
        f"get networkpolicy {namespace}/{name} in {scope}",
        lambda: cluster.networking.read_namespaced_network_policy(
            name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        ),
    )


def create_network_policy(cluster: Cluster, scope: Scope, namespace: str, body: JSON) -> JSON:
    name = body["metadata"]["name"]
    policy = cluster.api_client.deserialize(json.dumps(body), "V1NetworkPolicy", "application/json")
    with translate_errors(f"create networkpolicy {namespace}/{name} in {scope}"):
        raw = cluster.networking.create_namespaced_network_policy(
            namespace, policy, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        )
    return read_json(raw)


def delete_network_policy(
    cluster: Cluster, scope: Scope, namespace: str, name: str, uid: str | None
) -> bool:
    """Delete a NetworkPolicy (only the one with ``uid``, if given); False if it was gone."""
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid) if uid else None)
    answer = unless_missing(
        f"delete networkpolicy {namespace}/{name} in {scope}",
        lambda: cluster.networking.delete_namespaced_network_policy(
            name, namespace, body=body, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
        ),
    )
    return answer is not None
