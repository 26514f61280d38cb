"""Checks every Compute Engine handler shares: scope, idempotency, fingerprints."""

from __future__ import annotations

from collections.abc import Callable

from reaper.sandbox.gcp.compute_json import operation_json
from reaper.sandbox.gcp.errors import ApiError, compute_error, compute_invalid, compute_not_found
from reaper.sandbox.gcp.model import ComputeOperation, Project
from reaper.sandbox.gcp.request import ApiRequest, JsonObject
from reaper.sandbox.gcp.world import World


def require_project(world: World, project: str) -> Project:
    """The project, or 404 as Compute Engine answers for one it does not know."""
    found = world.project(project)
    if found is None:
        raise compute_not_found(f"projects/{project}")
    return found


def require_zone(world: World, project: str, zone: str) -> Project:
    """The project, or 400 ``Unknown zone`` for a zone it does not have."""
    found = require_project(world, project)
    if zone not in found.zones:
        raise compute_invalid(f"Invalid value for field 'zone': '{zone}'. Unknown zone.")
    return found


def not_ready(resource: str) -> ApiError:
    """400 ``resourceNotReady``: another operation on the resource has not finished."""
    return compute_error(400, "resourceNotReady", f"The resource '{resource}' is not ready")


def precondition_failed(message: str) -> ApiError:
    """412 ``conditionNotMet`` on the If-Match header: a stale fingerprint."""
    extra = {"location": "If-Match", "locationType": "header"}
    return compute_error(412, "conditionNotMet", message, extra=extra)


def idempotent(
    world: World, project: str, request: ApiRequest, start: Callable[[], ComputeOperation]
) -> JsonObject:
    """Start an operation, or return the one an earlier call with this ``requestId`` started.

    A retried mutation carrying the same requestId is not carried out twice: that is the
    point of the parameter on the real service.
    """
    request_id = request.arg("requestId")
    if request_id:
        earlier = world.request_ids.get((project, request_id))
        if earlier is not None:
            return operation_json(world.compute_operations[earlier])
    op = start()
    if request_id:
        world.request_ids[(project, request_id)] = op.name
    return operation_json(op)
