"""Handlers for ``compute.zoneOperations`` and ``compute.globalOperations`` get and wait.

Each call is one poll. ``wait`` is documented to return when the operation is DONE or
after about two minutes, possibly before it is done, so it polls once and then blocks at
most ``wait_seconds`` (small by default) for something else to finish it.
"""

from __future__ import annotations

from reaper.sandbox.gcp.compute_common import require_project, require_zone
from reaper.sandbox.gcp.compute_json import operation_json
from reaper.sandbox.gcp.errors import compute_not_found
from reaper.sandbox.gcp.model import ComputeOperation
from reaper.sandbox.gcp.request import ApiRequest, JsonObject
from reaper.sandbox.gcp.world import World


def _find(world: World, request: ApiRequest) -> ComputeOperation:
    p, name = request.params["project"], request.params["operation"]
    zone = request.params.get("zone")
    if zone is None:
        require_project(world, p)
        path = f"projects/{p}/global/operations/{name}"
    else:
        require_zone(world, p, zone)
        path = f"projects/{p}/zones/{zone}/operations/{name}"
    op = world.compute_operations.get(name)
    if op is None or op.project != p or op.zone != zone:
        raise compute_not_found(path)
    return op


def get_operation(world: World, request: ApiRequest) -> JsonObject:
    op = _find(world, request)
    world.poll_compute(op)
    return operation_json(op)


def wait_operation(world: World, request: ApiRequest) -> JsonObject:
    op = _find(world, request)
    world.poll_compute(op)
    if op.status != "DONE" and world.settings.wait_seconds > 0:
        world.changed.wait_for(lambda: op.status == "DONE", timeout=world.settings.wait_seconds)
    return operation_json(op)
