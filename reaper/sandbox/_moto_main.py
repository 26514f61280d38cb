"""Child-process entry point: moto's HTTP server plus reaper's ``/_reaper/`` control endpoints.

Run as ``python -m reaper.sandbox._moto_main --port PORT [--host 127.0.0.1]``.

Moto offers no clock control over HTTP, so the control endpoints reach into moto's
in-process backend state to age resources:

* ``POST /_reaper/age-instances`` ``{"account_id", "region", "launch_times": {id: iso}}``
* ``POST /_reaper/age-images`` ``{"account_id", "region", "creation_dates": {id: iso},
  "deprecation_times": {id: iso}}`` (``deprecation_times`` optional)
* ``POST /_reaper/set-instance-states`` ``{"account_id", "region", "states": {id: name}}``
  (moto moves an instance to its next state at once; AWS shows ``stopping`` for a while)
* ``GET /_reaper/health`` -> ``ok``

Every other request goes to moto unchanged, except where moto strays from the documented
API in a way reaper relies on (see :func:`conform_to_aws`). Timestamps without an offset
are taken as UTC.

When IAM is enforced (``MotoServer.iam_enforced()``), requests are authorized by
:mod:`reaper.sandbox._moto_iam`: moto's own checks plus the resources and conditions of
the calls reaper makes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from moto.backends import get_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from reaper.sandbox import _moto_iam

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CONTROL_PREFIX = "/_reaper/"
_PARENT_POLL_SECONDS = 0.5


class ControlError(Exception):
    """A control request that cannot be honoured; rendered as a JSON error response."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("error", ""))
        self.status = status
        self.payload = payload


def _to_moto_datetime(value: object, field: str) -> datetime:
    """Parse an ISO-8601 string into moto's internal form: a naive datetime in UTC."""
    if not isinstance(value, str):
        raise ControlError(400, {"error": f"{field}: expected an ISO-8601 string"})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ControlError(400, {"error": f"{field}: {exc}"}) from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _aws_timestamp(value: datetime) -> str:
    """Render a naive-UTC datetime the way EC2 renders timestamps (whole seconds)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _timestamps(body: Mapping[str, Any], key: str, *, required: bool) -> dict[str, datetime]:
    raw = body.get(key)
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict):
        raise ControlError(400, {"error": f"{key}: expected an object of id -> timestamp"})
    return {str(rid): _to_moto_datetime(ts, f"{key}[{rid}]") for rid, ts in raw.items()}


def _ec2_backend(body: Mapping[str, Any]) -> Any:
    account_id = body.get("account_id")
    region = body.get("region")
    if not isinstance(account_id, str) or not isinstance(region, str):
        raise ControlError(400, {"error": "account_id and region must be strings"})
    return get_backend("ec2")[account_id][region]


def _not_found(missing: Iterable[str]) -> ControlError:
    ids = sorted(set(missing))
    return ControlError(404, {"error": "unknown resource ids", "missing": ids})


def age_instances(body: Mapping[str, Any]) -> dict[str, Any]:
    """Set ``launch_time`` on each listed instance; all-or-nothing."""
    backend = _ec2_backend(body)
    launch_times = _timestamps(body, "launch_times", required=True)
    instances = {rid: backend.get_instance_by_id(rid) for rid in launch_times}
    missing = [rid for rid, inst in instances.items() if inst is None]
    if missing:
        raise _not_found(missing)
    for rid, when in launch_times.items():
        instances[rid].launch_time = when
    return {"updated": len(launch_times)}


# EC2 instance state names and codes (InstanceState in the EC2 API reference).
_STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}


def set_instance_states(body: Mapping[str, Any]) -> dict[str, Any]:
    """Put each listed instance in the named state; all-or-nothing."""
    backend = _ec2_backend(body)
    states = body.get("states")
    if not isinstance(states, dict) or not all(s in _STATE_CODES for s in states.values()):
        raise ControlError(
            400, {"error": f"states: expected id -> one of {', '.join(_STATE_CODES)}"}
        )
    instances = {rid: backend.get_instance_by_id(rid) for rid in states}
    missing = [rid for rid, inst in instances.items() if inst is None]
    if missing:
        raise _not_found(missing)
    for rid, name in states.items():
        instances[rid]._state.name = name
        instances[rid]._state.code = _STATE_CODES[name]
    return {"updated": len(states)}


def age_images(body: Mapping[str, Any]) -> dict[str, Any]:
    """Set ``creation_date`` (and optionally the deprecation time) on each listed AMI."""
    backend = _ec2_backend(body)
    creation_dates = _timestamps(body, "creation_dates", required=True)
    deprecation_times = _timestamps(body, "deprecation_times", required=False)
    amis: Mapping[str, Any] = backend.amis
    missing = [rid for rid in (*creation_dates, *deprecation_times) if rid not in amis]
    if missing:
        raise _not_found(missing)
    for rid, when in creation_dates.items():
        amis[rid].creation_date = when
    for rid, when in deprecation_times.items():
        # Moto's Ami model has no deprecation field, but its response serializer looks up
        # `deprecation_time` for the Image.DeprecationTime (a string) member.
        amis[rid].deprecation_time = _aws_timestamp(when)
    return {"updated": len(set(creation_dates) | set(deprecation_times))}


def age_clusters(body: Mapping[str, Any]) -> dict[str, Any]:
    """Set ``createdAt`` on each listed EKS cluster (by name); all-or-nothing."""
    account_id, region = body.get("account_id"), body.get("region")
    if not isinstance(account_id, str) or not isinstance(region, str):
        raise ControlError(400, {"error": "account_id and region must be strings"})
    clusters: Mapping[str, Any] = get_backend("eks")[account_id][region].clusters
    created = _timestamps(body, "created_at", required=True)
    missing = [name for name in created if name not in clusters]
    if missing:
        raise _not_found(missing)
    for name, when in created.items():
        clusters[name].created_at = when
    return {"updated": len(created)}


_POST_HANDLERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "age-clusters": age_clusters,
    "age-instances": age_instances,
    "age-images": age_images,
    "set-instance-states": set_instance_states,
}


def _json_response(status: int, payload: Mapping[str, Any]) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _handle_control(request: Request) -> Response:
    name = request.path[len(CONTROL_PREFIX) :]
    if name == "health":
        if request.method != "GET":
            return _json_response(405, {"error": "use GET"})
        return Response("ok", mimetype="text/plain")
    handler = _POST_HANDLERS.get(name)
    if handler is None:
        return _json_response(404, {"error": f"no control endpoint {request.path}"})
    if request.method != "POST":
        return _json_response(405, {"error": "use POST"})
    try:
        body = json.loads(request.get_data() or b"null")
        if not isinstance(body, dict):
            raise ControlError(400, {"error": "body must be a JSON object"})
        return _json_response(200, handler(body))
    except json.JSONDecodeError as exc:
        return _json_response(400, {"error": f"invalid JSON: {exc}"})
    except ControlError as exc:
        return _json_response(exc.status, exc.payload)


class ReaperControlMiddleware:
    """Serves ``/_reaper/*`` itself and hands every other request to moto untouched."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not str(environ.get("PATH_INFO", "")).startswith(CONTROL_PREFIX):
            return self.app(environ, start_response)
        response = _handle_control(Request(environ))
        return response(environ, start_response)


class QuietRequestHandler(MotoRequestHandler):
    """Moto's request handler without werkzeug's per-request access log line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(_PARENT_POLL_SECONDS)
    # The main thread is blocked in serve_forever; only a hard exit ends the process.
    os._exit(0)


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def conform_to_aws() -> None:
    """Make moto answer as AWS documents where it does not.

    EKS ``ListNodegroups`` and ``ListFargateProfiles`` answer ``ResourceNotFoundException``
    (HTTP 404) for a cluster that does not exist; moto raises a KeyError and answers 500.

    EC2 ``ModifyNetworkInterfaceAttribute`` replaces an interface's security groups; moto
    reports the groups its instance was launched with as well, for ever.
    """
    from moto.eks.exceptions import ResourceNotFoundException
    from moto.eks.models import CLUSTER_NOT_FOUND_MSG, EKSBackend

    def require_cluster(method: Callable[..., Any]) -> Callable[..., Any]:
        def checked(self: Any, cluster_name: str, *args: Any, **kwargs: Any) -> Any:
            if cluster_name not in self.clusters:
                raise ResourceNotFoundException(
                    clusterName=None,
                    nodegroupName=None,
                    fargateProfileName=None,
                    addonName=None,
                    message=CLUSTER_NOT_FOUND_MSG.format(clusterName=cluster_name),
                )
            return method(self, cluster_name, *args, **kwargs)

        return checked

    for name in ("list_nodegroups", "list_fargate_profiles"):
        setattr(EKSBackend, name, require_cluster(getattr(EKSBackend, name)))
    _conform_interface_groups()


def _conform_interface_groups() -> None:
    """A network interface's security groups are its own, as in AWS.

    Moto reports an interface in its own groups and in every group its instance was
    launched with, whatever ``ModifyNetworkInterfaceAttribute`` set since (launch-time
    groups are already among the interface's own). And, as in AWS, the groups
    ``DescribeInstances`` reports for the instance are those of its primary interface.
    """
    from moto.ec2.models.elastic_network_interfaces import (
        NetworkInterface,
        NetworkInterfaceBackend,
    )

    def own_groups(self: Any) -> Any:
        return self._group_set

    original = NetworkInterfaceBackend.modify_network_interface_attribute

    def modify(self: Any, eni_id: str, group_ids: list[str], *args: Any, **kwargs: Any) -> None:
        original(self, eni_id, group_ids, *args, **kwargs)
        eni = self.get_network_interface(eni_id)
        if group_ids and eni.instance is not None and eni.device_index == 0:
            eni.instance.security_groups = list(eni._group_set)

    NetworkInterface.group_set = property(own_groups)  # type: ignore[method-assign,assignment]
    NetworkInterfaceBackend.modify_network_interface_attribute = modify  # type: ignore[method-assign]

    def interface_groups(self: Any) -> Any:
        return self._group_set

    NetworkInterface.group_set = property(interface_groups)  # type: ignore[assignment,method-assign]


def build_app() -> WSGIApplication:
    """Moto's full multi-service WSGI app wrapped in the control middleware."""
    moto_app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
    return ReaperControlMiddleware(moto_app)


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, or until the parent process goes away."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit once this is no longer our parent (default: the parent at startup)",
    )
    args = parser.parse_args(argv)

    # Moto builds some resource URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    parent_pid = args.parent_pid if args.parent_pid is not None else os.getppid()
    threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), name="parent-watch", daemon=True
    ).start()

    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, _raise_system_exit)

    conform_to_aws()
    _moto_iam.install()
    server = make_server(
        args.host, args.port, build_app(), threaded=True, request_handler=QuietRequestHandler
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
