"""HTTP requests in, API responses out: routing, content negotiation, faults, counting.

Independent of the socket server (:mod:`reaper.sandbox.kube.server`) so it can be driven
directly. Paths are parsed like the API server's ``RequestInfoFactory`` (including the
``namespaces/<name>/{status,finalize}`` special case); ``Accept`` headers asking for
``as=Table`` get a ``meta.k8s.io/v1`` Table and ``as=PartialObjectMetadata[List]`` gets
metadata only, as ``kubectl`` and metadata clients expect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from reaper.sandbox.kube import discovery, errors, openapi_v2, tables
from reaper.sandbox.kube.clock import Clock
from reaper.sandbox.kube.deletion import Deleter
from reaper.sandbox.kube.errors import ApiError
from reaper.sandbox.kube.faults import Fault, FaultAction, RequestInfo, Traffic
from reaper.sandbox.kube.registry import Registry
from reaper.sandbox.kube.resources import ResourceType, group_versions, lookup
from reaper.sandbox.kube.scale import Scaler

JSON = dict[str, Any]
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"


@dataclass(frozen=True)
class Request:
    """An HTTP request as the server read it."""

    method: str
    """GET, POST, PUT, PATCH or DELETE."""
    path: str
    """The URL path, without the query."""
    raw_query: str = ""
    """The query string as sent."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header names lower-cased."""
    body: bytes = b""
    """The request body."""

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))


@dataclass
class Response:
    """What to send back; ``drop`` means close the connection without answering."""

    status: int
    """The HTTP status."""
    body: bytes = b""
    """The response body."""
    content_type: str = _JSON
    """Its media type."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra headers."""
    drop: bool = False
    """Close the connection instead of answering."""


def _json(status: int, body: Any) -> Response:
    return Response(status, json.dumps(body, separators=(",", ":")).encode() + b"\n")


def _text(status: int, text: str) -> Response:
    return Response(status, text.encode(), _TEXT)


def _error(err: ApiError) -> Response:
    response = _json(err.code, err.status())
    retry = (err.details or {}).get("retryAfterSeconds")
    if retry:
        response.headers["Retry-After"] = str(retry)
    return response


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """``RequestInfoFactory.NewRequestInfo``, for the paths this fake serves. Pure."""
    parts = [p for p in path.split("/") if p]
    verb = _VERBS.get(method, method.lower())
    if len(parts) >= 3 and parts[0] == "apis":
        rest = parts[3:]
    elif len(parts) >= 2 and parts[0] == "api":
        rest = parts[2:]
    else:
        return RequestInfo(method, path, "get" if verb == "get" else verb)
    if not rest:
        return RequestInfo(method, path, "get" if verb == "get" else verb)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    if resource == "namespaces":
        namespace = ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name:
        if verb == "get":
            verb = "watch" if query.get("watch") in ("true", "1") else "list"
        elif verb == "delete":
            verb = "deletecollection"
    elif verb == "get" and query.get("watch") in ("true", "1"):
        verb = "watch"
    return RequestInfo(method, path, verb, resource, subresource, namespace, name)


def _group_version(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "api" and len(parts) >= 2:
        return parts[1]
    if parts and parts[0] == "apis" and len(parts) >= 3:
        return f"{parts[1]}/{parts[2]}"
    return ""


def _negotiate(accept: str) -> str:
    """``plain``, ``table`` or ``partial``; raises 406 if nothing acceptable is offered."""
    if not accept.strip():
        return "plain"
    for clause in accept.split(","):
        media, *raw = [piece.strip() for piece in clause.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        if media not in (_JSON, "*/*", "application/*"):
            continue
        shape = params.get("as")
        if shape is None:
            return "plain"
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if shape == "Table":
            return "table"
        if shape in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return "partial"
    raise ApiError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf",
    )


def _known_fields(rt: ResourceType, body: Any, query: Mapping[str, str]) -> tuple[Any, list[str]]:
    """A create's or update's body as the API server decodes it: unknown fields are a 400
    with ``fieldValidation=Strict`` (worded as its strict decoder words it), else dropped,
    with a warning each unless ``Ignore`` (the default is ``Warn``). Patches are not checked.
    Returns the body to store and the ``Warning`` header values."""
    definition = openapi_v2.definition_for(rt.group, rt.version, rt.kind)
    if definition is None or not isinstance(body, dict):
        return body, []
    kept, unknown = openapi_v2.known_fields(body, definition)
    validation = query.get("fieldValidation", "Warn")
    if unknown and validation == "Strict":
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise errors.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
            f"strict decoding error: {fields}"
        )
    if validation == "Ignore":
        return kept, []
    return kept, [f'299 - "unknown field \\"{path}\\""' for path in unknown]


def _warned(response: Response, warnings: list[str]) -> Response:
    if warnings:
        response.headers["Warning"] = ", ".join(warnings)
    return response


class Api:
    """Answers the Kubernetes API for one fake cluster."""

    def __init__(
        self,
        registry: Registry,
        traffic: Traffic,
        clock: Clock,
        *,
        token: str | None,
        server_address: str,
    ) -> None:
        self._registry = registry
        self._scale = Scaler(registry)
        self._deleter = Deleter(registry)
        self._traffic = traffic
        self._clock = clock
        self._token = token
        self.server_address = server_address

    def handle(self, request: Request) -> Response:
        """Answer ``request``: latency, then a fault if one matches, else the API itself."""
        info = parse_request_info(request.method, request.path, request.query)
        delay = self._traffic.take_latency(info)
        if delay > 0:
            time.sleep(delay)
        fault = self._traffic.take_fault(info)
        if fault is not None:
            response = self._fault(fault)
        else:
            try:
                response = self._authorized(request) or self._route(request, info)
            except ApiError as err:
                response = _error(err)
            except Exception as err:  # a bug in the fake: say so instead of dropping the line
                response = _error(errors.generic(500, f"Internal error occurred: {err!r}"))
        self._traffic.record(info, request.raw_query, 0 if response.drop else response.status)
        return response

    @staticmethod
    def _fault(fault: Fault) -> Response:
        if fault.action is FaultAction.DROP:
            return Response(0, drop=True)
        return _error(errors.generic(fault.status, fault.message, fault.retry_after))

    def _authorized(self, request: Request) -> Response | None:
        if self._token is None:
            return None
        if request.headers.get("authorization", "") == f"Bearer {self._token}":
            return None
        return _error(ApiError(401, "Unauthorized", "Unauthorized"))

    # -- routing -------------------------------------------------------------------------------

    def _route(self, request: Request, info: RequestInfo) -> Response:
        if not info.resource:
            return self._non_resource(request)
        group_version = _group_version(request.path)
        if group_version in self._traffic.broken_groups():
            return _text(503, "service unavailable\n")
        rt = lookup(group_version, info.resource)
        if rt is None:
            if group_version in group_versions():
                raise ApiError(
                    404, "NotFound", "the server could not find the requested resource", {}
                )
            return _text(404, "404 page not found\n")
        if info.subresource and rt.subresource(info.subresource) is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        scoped_wrong = (
            rt.namespaced and not info.namespace and info.verb not in ("list", "watch")
        ) or (not rt.namespaced and info.namespace)
        if scoped_wrong:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        return self._dispatch(rt, request, info)

    def _non_resource(self, request: Request) -> Response:
        path = "/" + "/".join(p for p in request.path.split("/") if p)
        if request.method != "GET":
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                {},
            )
        broken = sorted(self._traffic.broken_groups())
        if path == "/version":
            return _json(200, discovery.SERVER_VERSION)
        if path == "/api":
            return _json(200, discovery.api_versions(self.server_address))
        if path == "/apis":
            return _json(200, discovery.api_group_list(broken))
        if path in ("/healthz", "/livez", "/readyz"):
            return _text(200, "ok")
        if path == "/openapi/v2":
            return self._openapi_v2(request)
        if path == "/openapi/v3":
            return _json(200, discovery.openapi_index())
        if path.startswith("/openapi/v3/"):
            suffix = path[len("/openapi/v3/") :]
            gv = suffix[len("api/") :] if suffix.startswith("api/") else suffix[len("apis/") :]
            document = discovery.openapi_document(gv)
            return _json(200, document) if document else _text(404, "404 page not found\n")
        group_version = _group_version(path)
        if group_version in broken:
            return _text(503, "service unavailable\n")
        if path.startswith("/apis/") and path.count("/") == 2:
            group = discovery.api_group(path.split("/")[2])
            return _json(200, group) if group else _text(404, "404 page not found\n")
        if group_version:
            listed = discovery.resource_list(group_version)
            if (
                listed is not None
                and path == f"/{'api' if '/' not in group_version else 'apis'}/{group_version}"
            ):
                return _json(200, listed)
        return _text(404, "404 page not found\n")

    @staticmethod
    def _openapi_v2(request: Request) -> Response:
        served = openapi_v2.negotiate(request.headers.get("accept", ""))
        if served is None:
            return Response(406, b"", _TEXT, {"Vary": "Accept"})
        headers = {"ETag": served.etag, "Vary": "Accept"}
        if openapi_v2.not_modified(served, request.headers.get("if-none-match", "")):
            return Response(304, b"", served.content_type, headers)
        return Response(200, served.body, served.content_type, headers)

    def _dispatch(self, rt: ResourceType, request: Request, info: RequestInfo) -> Response:
        query = request.query
        namespace = info.namespace if rt.namespaced else ""
        dry_run = query.get("dryRun") == "All"
        registry = self._registry
        if info.verb == "watch":
            raise errors.method_not_allowed(rt.plural, rt.group, "watch")
        if info.verb == "list":
            items, meta = registry.list_page(rt, namespace or None, query)
            return self._encode_list(rt, items, meta, request)
        if info.verb == "get":
            if info.subresource == "scale":
                return _json(200, self._scale.get(rt, namespace, info.name))
            obj = registry.get(rt, namespace, info.name)
            return self._encode_object(rt, obj, request)
        if info.verb == "create":
            if info.name:
                raise ApiError(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                    {},
                )
            body, warnings = _known_fields(rt, self._body(request), query)
            return _warned(
                _json(201, registry.create(rt, namespace, body, dry_run=dry_run)), warnings
            )
        if info.verb == "update":
            body = self._body(request)
            if info.subresource == "scale":
                return _json(
                    200, self._scale.update(rt, namespace, info.name, body, dry_run=dry_run)
                )
            if info.subresource:
                return _json(
                    200,
                    registry.update_subresource(
                        rt, namespace, info.name, info.subresource, body, dry_run=dry_run
                    ),
                )
            body, warnings = _known_fields(rt, body, query)
            return _warned(
                _json(200, registry.update(rt, namespace, info.name, body, dry_run=dry_run)),
                warnings,
            )
        if info.verb == "patch":
            content_type = request.headers.get("content-type", "")
            if info.subresource == "scale":
                return _json(
                    200,
                    self._scale.patch(
                        rt, namespace, info.name, content_type, request.body, dry_run=dry_run
                    ),
                )
            if info.subresource == "finalize":
                raise errors.method_not_allowed(rt.plural, rt.group, "patch")
            return _json(
                200,
                registry.patch(
                    rt,
                    namespace,
                    info.name,
                    content_type,
                    request.body,
                    subresource=info.subresource,
                    dry_run=dry_run,
                ),
            )
        if info.verb == "delete":
            code, body = self._deleter.delete(
                rt, namespace, info.name, self._delete_options(request)
            )
            return _json(code, body)
        if info.verb == "deletecollection":
            if rt.plural == "namespaces":
                raise errors.method_not_allowed(rt.plural, rt.group, "deletecollection")
            return _json(
                200,
                self._deleter.delete_collection(
                    rt, namespace or None, query, self._delete_options(request)
                ),
            )
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            {},
        )

    @staticmethod
    def _body(request: Request) -> Any:
        media = request.headers.get("content-type", _JSON).split(";", 1)[0].strip().lower()
        if media not in (_JSON, ""):
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json, application/yaml, "
                "application/vnd.kubernetes.protobuf, application/cbor",
            )
        try:
            return json.loads(request.body or b"null")
        except ValueError as err:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {err}"
            ) from None

    @staticmethod
    def _delete_options(request: Request) -> JSON:
        options: JSON = {}
        query = request.query
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if "orphanDependents" in query:
            options["orphanDependents"] = query["orphanDependents"] == "true"
        if query.get("dryRun"):
            options["dryRun"] = [query["dryRun"]]
        if request.body.strip():
            try:
                body = json.loads(request.body)
            except ValueError as err:
                raise errors.bad_request(
                    f"couldn't get version/kind; json parse error: {err}"
                ) from None
            if isinstance(body, dict):
                options.update(body)
        policy = options.get("propagationPolicy")
        if policy is not None and policy not in ("Orphan", "Background", "Foreground"):
            raise errors.invalid_object(
                "DeleteOptions",
                "",
                "",
                [
                    errors.not_supported(
                        "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"]
                    )
                ],
            )
        return options

    # -- encoding ------------------------------------------------------------------------------

    def _encode_list(
        self, rt: ResourceType, items: list[JSON], meta: JSON, request: Request
    ) -> Response:
        shape = _negotiate(request.headers.get("accept", ""))
        if shape == "table":
            include = request.query.get("includeObject", "Metadata")
            return _json(200, tables.table(rt.plural, items, meta, self._clock.now(), include))
        if shape == "partial":
            return _json(
                200,
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [tables.partial_metadata(item) for item in items],
                },
            )
        bare = [
            {k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in items
        ]
        return _json(
            200,
            {"kind": rt.list_kind, "apiVersion": rt.group_version, "metadata": meta, "items": bare},
        )

    def _encode_object(self, rt: ResourceType, obj: JSON, request: Request) -> Response:
        shape = _negotiate(request.headers.get("accept", ""))
        if shape == "table":
            include = request.query.get("includeObject", "Metadata")
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return _json(200, tables.table(rt.plural, [obj], meta, self._clock.now(), include))
        if shape == "partial":
            return _json(200, tables.partial_metadata(obj))
        return _json(200, obj)
