"""Handlers for ``compute.instances.*``: listing, reading and the writes a reaper makes.

Label, tag and metadata writes take effect at once (and move the fingerprint at once,
so a concurrent writer with the old one gets 412); delete, stop and start put the
instance in a transitional status and take effect when their operation is DONE.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from reaper.sandbox.gcp.compute_common import (
    idempotent,
    not_ready,
    precondition_failed,
    require_project,
    require_zone,
)
from reaper.sandbox.gcp.compute_json import (
    instance_json,
    instance_url,
    project_url,
    zone_url,
)
from reaper.sandbox.gcp.errors import (
    compute_error,
    compute_invalid,
    compute_not_found,
    reject_unknown_fields,
)
from reaper.sandbox.gcp.filters import FilterSyntaxError, Predicate, parse_filter
from reaper.sandbox.gcp.fingerprints import compute_fingerprint
from reaper.sandbox.gcp.labels import label_problem
from reaper.sandbox.gcp.model import ComputeOperation, Effect, Instance
from reaper.sandbox.gcp.paging import Key, max_results, page
from reaper.sandbox.gcp.request import ApiRequest, JsonObject
from reaper.sandbox.gcp.world import World

_TAG = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_METADATA_KEY = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_ACTIVE = ("PROVISIONING", "STAGING", "RUNNING", "REPAIRING")
_ORDERS = (None, "name", "creationTimestamp desc")


def _predicate(request: ApiRequest) -> Predicate | None:
    text = request.arg("filter")
    if not text:
        return None
    try:
        return parse_filter(text)
    except FilterSyntaxError as exc:
        raise compute_invalid(
            f"Invalid value for field 'filter': '{text}'. Invalid list filter expression: {exc}."
        ) from exc


def _order_key(request: ApiRequest) -> Callable[[Instance], str]:
    """What to sort instances by: the name, or newest first for ``creationTimestamp desc``."""
    order = request.arg("orderBy")
    if order not in _ORDERS:
        raise compute_invalid(
            f"Invalid value for field 'orderBy': '{order}'. "
            "Only 'name' and 'creationTimestamp desc' are supported."
        )
    if order == "creationTimestamp desc":
        return lambda instance: f"{2**62 - int(instance.created.timestamp() * 1e6):020d}"
    return lambda instance: ""


def _flag(request: ApiRequest, name: str) -> bool:
    return (request.arg(name) or "").lower() == "true"


def aggregated_list(world: World, request: ApiRequest) -> JsonObject:
    """``instances.aggregatedList``: every zone of the project keyed ``zones/<zone>``.

    A page holds at most ``maxResults`` instances over all zones; a zone with none on
    this page gets a NO_RESULTS_ON_PAGE warning. A zone made unreachable is listed in
    ``unreachables``; without ``returnPartialSuccess`` it also keeps its key, with an
    UNREACHABLE warning, the older way of saying the same thing.
    """
    p = request.params["project"]
    project = require_project(world, p)
    by = _order_key(request)
    predicate = _predicate(request)
    partial = _flag(request, "returnPartialSuccess")
    order = {zone: index for index, zone in enumerate(project.zones)}
    unreachable = [z for z in project.zones if world.faults.zone_unreachable(p, z)]
    candidates: list[tuple[Key, Instance]] = [
        ((f"{order[zone]:06d}", by(instance), name), instance)
        for (ip, zone, name), instance in world.instances.items()
        if ip == p and zone not in unreachable
    ]
    chosen, next_token = _page_of(candidates, predicate, request)
    by_zone: dict[str, list[JsonObject]] = {}
    for body in chosen:
        by_zone.setdefault(body["zone"].rsplit("/", 1)[1], []).append(body)
    items: JsonObject = {}
    for zone in project.zones:
        scope = f"zones/{zone}"
        if zone in unreachable:
            if not partial:
                items[scope] = _warning("UNREACHABLE", f"Scope '{scope}' is unreachable.", scope)
        elif zone in by_zone:
            items[scope] = {"instances": by_zone[zone]}
        else:
            message = f"There are no results for scope '{scope}' on this page."
            items[scope] = _warning("NO_RESULTS_ON_PAGE", message, scope)
    result: JsonObject = {
        "kind": "compute#instanceAggregatedList",
        "id": f"projects/{p}/aggregated/instances",
        "items": items,
        "selfLink": f"{project_url(p)}/aggregated/instances",
    }
    if next_token:
        result["nextPageToken"] = next_token
    if unreachable:
        result["unreachables"] = [f"zones/{zone}" for zone in unreachable]
    return result


def _page_of(
    candidates: list[tuple[Key, Instance]],
    predicate: Predicate | None,
    request: ApiRequest,
) -> tuple[list[JsonObject], str | None]:
    """One page of the instances' JSON in key order; only a filter needs all serialized."""
    candidates.sort(key=lambda row: row[0])
    size, token = max_results(request.arg("maxResults")), request.arg("pageToken")
    if predicate is None:
        chosen, next_token = page(candidates, size, token)
        return [instance_json(instance) for _key, instance in chosen], next_token
    rows = [(key, instance_json(instance)) for key, instance in candidates]
    matching, next_token = page([row for row in rows if predicate(row[1])], size, token)
    return [body for _key, body in matching], next_token


def _warning(code: str, message: str, scope: str) -> JsonObject:
    return {
        "warning": {"code": code, "message": message, "data": [{"key": "scope", "value": scope}]}
    }


def list_instances(world: World, request: ApiRequest) -> JsonObject:
    """``instances.list`` in one zone, filtered and paged like the aggregated list."""
    p, z = request.params["project"], request.params["zone"]
    require_zone(world, p, z)
    by = _order_key(request)
    predicate = _predicate(request)
    candidates: list[tuple[Key, Instance]] = [
        ((by(instance), name), instance)
        for (ip, zone, name), instance in world.instances.items()
        if (ip, zone) == (p, z)
    ]
    chosen, next_token = _page_of(candidates, predicate, request)
    result: JsonObject = {
        "kind": "compute#instanceList",
        "id": f"projects/{p}/zones/{z}/instances",
        "selfLink": f"{zone_url(p, z)}/instances",
    }
    if chosen:
        result["items"] = chosen
    if next_token:
        result["nextPageToken"] = next_token
    return result


def _instance(world: World, request: ApiRequest) -> Instance:
    p, z, name = request.params["project"], request.params["zone"], request.params["instance"]
    require_zone(world, p, z)
    found = world.instances.get((p, z, name))
    if found is None:
        raise compute_not_found(f"projects/{p}/zones/{z}/instances/{name}")
    return found


def _resource(instance: Instance) -> str:
    return f"projects/{instance.project}/zones/{instance.zone}/instances/{instance.name}"


def _ensure_idle(world: World, instance: Instance, *, writes_only: bool) -> None:
    """Refuse a mutation while a lifecycle operation runs (any, or only a delete)."""
    if instance.busy_with is None:
        return
    running = world.compute_operations.get(instance.busy_with)
    if running is None or running.status == "DONE":
        instance.busy_with = None
        return
    if not writes_only or running.operation_type == "delete":
        raise not_ready(_resource(instance))


def get_instance(world: World, request: ApiRequest) -> JsonObject:
    return instance_json(_instance(world, request))


def _operation(
    world: World,
    instance: Instance,
    operation_type: str,
    method: str,
    on_done: Effect | None = None,
    on_error: Effect | None = None,
) -> ComputeOperation:
    return world.start_compute_operation(
        project=instance.project,
        zone=instance.zone,
        operation_type=operation_type,
        target_link=instance_url(instance.project, instance.zone, instance.name),
        target_id=instance.id,
        method=method,
        on_done=on_done,
        on_error=on_error,
    )


def delete_instance(world: World, request: ApiRequest) -> JsonObject:
    """``instances.delete``: STOPPING now; gone, with its auto-delete disks, when DONE."""
    instance = _instance(world, request)

    def start() -> ComputeOperation:
        _ensure_idle(world, instance, writes_only=False)
        if instance.deletion_protection:
            raise compute_error(
                400,
                "resourceInUseByAnotherResource",
                "Invalid resource usage: 'Resource cannot be deleted if it's protected "
                "against deletion.'.",
            )
        before = instance.status
        key = (instance.project, instance.zone, instance.name)

        def done() -> None:
            world.instances.pop(key, None)
            own_url = instance_url(*key)
            for attached in instance.disks:
                disk_key = (instance.project, instance.zone, attached.disk)
                disk = world.disks.get(disk_key)
                if disk is None:
                    continue
                disk.users = [user for user in disk.users if user != own_url]
                if attached.auto_delete:
                    world.disks.pop(disk_key, None)

        def failed() -> None:
            instance.status = before
            instance.busy_with = None

        if before in _ACTIVE:
            instance.status = "STOPPING"
        op = _operation(world, instance, "delete", request.method, done, failed)
        instance.busy_with = op.name if op.status != "DONE" else None
        return op

    return idempotent(world, instance.project, request, start)


def _lifecycle(
    world: World,
    request: ApiRequest,
    *,
    operation_type: str,
    during: str,
    final: str,
    already: tuple[str, ...],
) -> JsonObject:
    """Stop or start: ``during`` now, ``final`` when DONE, a no-op from ``already``."""
    instance = _instance(world, request)

    def start() -> ComputeOperation:
        _ensure_idle(world, instance, writes_only=False)
        before = instance.status
        if before in already:
            return _operation(world, instance, operation_type, request.method)

        def done() -> None:
            instance.status = final
            if final == "RUNNING":
                instance.last_start = world.now()
            else:
                instance.last_stop = world.now()
            instance.busy_with = None

        def failed() -> None:
            instance.status = before
            instance.busy_with = None

        instance.status = during
        op = _operation(world, instance, operation_type, request.method, done, failed)
        instance.busy_with = op.name if op.status != "DONE" else None
        return op

    return idempotent(world, instance.project, request, start)


def stop_instance(world: World, request: ApiRequest) -> JsonObject:
    """``instances.stop``: STOPPING now, TERMINATED when DONE; a no-op if already stopped."""
    return _lifecycle(
        world,
        request,
        operation_type="stop",
        during="STOPPING",
        final="TERMINATED",
        already=("TERMINATED", "STOPPING"),
    )


def start_instance(world: World, request: ApiRequest) -> JsonObject:
    """``instances.start``: STAGING now, RUNNING when DONE; a no-op if already running."""
    return _lifecycle(
        world, request, operation_type="start", during="STAGING", final="RUNNING", already=_ACTIVE
    )


def set_labels(world: World, request: ApiRequest) -> JsonObject:
    """``instances.setLabels``: body ``{labels, labelFingerprint}``; 412 if it is stale."""
    instance = _instance(world, request)
    body = request.json()
    reject_unknown_fields(body, frozenset({"labels", "labelFingerprint"}), gke=False)
    labels = body.get("labels") or {}
    if not isinstance(labels, dict):
        raise compute_invalid("Invalid value for field 'labels': must be a map.")
    problem = label_problem(labels)
    if problem is not None:
        raise compute_invalid(f"Invalid value for field 'labels': {problem}")

    def start() -> ComputeOperation:
        _ensure_idle(world, instance, writes_only=True)
        if body.get("labelFingerprint") != instance.label_fingerprint:
            raise precondition_failed(
                "Labels fingerprint either invalid or resource labels have changed"
            )
        instance.labels = dict(labels)
        instance.label_fingerprint = compute_fingerprint(instance.labels)
        return _operation(world, instance, "setLabels", request.method)

    return idempotent(world, instance.project, request, start)


def set_tags(world: World, request: ApiRequest) -> JsonObject:
    """``instances.setTags``: body ``{items, fingerprint}``; 412 if it is stale."""
    instance = _instance(world, request)
    body = request.json()
    reject_unknown_fields(body, frozenset({"items", "fingerprint"}), gke=False)
    items = body.get("items") or []
    for tag in items:
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise compute_invalid(
                f"Invalid value for field 'resource.tags.items[{items.index(tag)}]': '{tag}'. "
                "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
            )

    def start() -> ComputeOperation:
        _ensure_idle(world, instance, writes_only=True)
        if body.get("fingerprint") != instance.tags_fingerprint:
            raise precondition_failed(
                "Supplied fingerprint does not match current tags fingerprint."
            )
        instance.tags = list(dict.fromkeys(items))
        instance.tags_fingerprint = compute_fingerprint(instance.tags)
        return _operation(world, instance, "setTags", request.method)

    return idempotent(world, instance.project, request, start)


def set_metadata(world: World, request: ApiRequest) -> JsonObject:
    """``instances.setMetadata``: body ``{items, fingerprint, kind}``; 412 if it is stale."""
    instance = _instance(world, request)
    body = request.json()
    reject_unknown_fields(body, frozenset({"items", "fingerprint", "kind"}), gke=False)
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(body.get("items") or []):
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise compute_invalid(
                f"Invalid value for field 'metadata.items[{index}].key': '{key}'. "
                "Must be a match of regex '[a-zA-Z0-9-_]{1,128}'"
            )
        if key in (k for k, _ in pairs):
            raise compute_invalid(f"Invalid value for field 'metadata': duplicate key '{key}'.")
        pairs.append((key, str(item.get("value", ""))))

    def start() -> ComputeOperation:
        _ensure_idle(world, instance, writes_only=True)
        if body.get("fingerprint") != instance.metadata_fingerprint:
            raise precondition_failed(
                "Supplied fingerprint does not match current metadata fingerprint."
            )
        instance.metadata = pairs
        instance.metadata_fingerprint = compute_fingerprint(pairs)
        return _operation(world, instance, "setMetadata", request.method)

    return idempotent(world, instance.project, request, start)
