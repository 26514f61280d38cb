"""The HTTP front: a threaded server on loopback that routes to the handlers.

It speaks HTTP/1.1 with keep-alive, as the client libraries' ``requests`` sessions
expect, counts every request, applies injected latency and faults before the handler
runs, and rejects query parameters the method does not have, as the real front end does.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reaper.sandbox.gcp.errors import (
    ApiError,
    compute_error,
    denied_error,
    gke_error,
    quota_error,
)
from reaper.sandbox.gcp.faults import Fault
from reaper.sandbox.gcp.request import ApiRequest
from reaper.sandbox.gcp.routes import SYSTEM_PARAMETERS, Route, resolve
from reaper.sandbox.gcp.world import World

_FAULT_STATUS = {Fault.RATE_LIMITED: 429, Fault.QUOTA_FORBIDDEN: 403, Fault.UNAVAILABLE: 503}
_DEEP = 100_000
"""Nesting of the ``DEEP_JSON`` fault's body: far past any recursion limit."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], world: World) -> None:
        super().__init__(address, _Handler)
        self.world = world
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.failures: list[str] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (its timeout passed) is normal; the rest is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close idle keep-alive connections so their handler threads end."""
        with self.connections_lock:
            open_sockets = list(self.connections)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _mute = False
    """Set for a request answered after the client's timeout: its answer is dropped."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request counters are the record."""

    def _serve(self) -> None:
        world = self.server.world
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        gke = not split.path.startswith("/compute/")
        resolved = resolve(self.command, split.path)
        if resolved is None:
            world.stats.record("unknown")
            self._reply(404, _not_found(split.path, gke))
            return
        route, params = resolved
        world.stats.record(route.method, filtered=bool((query.get("filter") or [""])[0]))
        delay = world.faults.latency(route.method)
        if delay > 0:
            time.sleep(delay)
        late = world.faults.take_delay(route.method)
        if late is not None:
            # Served after the client's timeout: the effect applies, nobody reads the answer.
            time.sleep(late)
            self._mute = True
        fault = world.faults.take_error(route.method)
        if fault is Fault.UNPARSEABLE:
            self._send(200, b"<html><body>Service temporarily unavailable</body></html>")
            return
        if fault is Fault.DEEP_JSON:
            self._send(500, b"[" * _DEEP + b"]" * _DEEP)
            return
        if fault is not None:
            project = world.project(params.get("project", ""))
            if fault is Fault.PERMISSION_DENIED:
                error = denied_error(route.method, gke=gke)
            else:
                error = quota_error(
                    _FAULT_STATUS[fault],
                    gke=gke,
                    service="container.googleapis.com" if gke else "compute.googleapis.com",
                    project_number=project.number if project is not None else 0,
                    read=self.command == "GET",
                )
            self._reply(error.status, error.body)
            return
        try:
            request = ApiRequest(params, route.method, query, _body(route, raw, gke))
            _check_query(route, query, gke)
            with world.locked():
                payload = route.handler(world, request)
            self._reply(200, payload)
        except ApiError as error:
            self._reply(error.status, error.body)
        except Exception:
            self.server.failures.append(traceback.format_exc())
            internal = {"error": {"code": 500, "message": "Internal error in the GCP fake."}}
            self._reply(500, internal)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send(self, status: int, data: bytes) -> None:
        if self._mute:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _not_found(path: str, gke: bool) -> dict[str, Any]:
    message = f"The requested URL {path} was not found on this server."
    if gke:
        return gke_error(404, "NOT_FOUND", message).body
    return compute_error(404, "notFound", message).body


def _body(route: Route, raw: bytes, gke: bool) -> dict[str, Any] | None:
    if not route.body:
        return None
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        message = f"Invalid JSON payload received. {exc}."
        raise (
            gke_error(400, "INVALID_ARGUMENT", message)
            if gke
            else compute_error(400, "parseError", message)
        ) from None
    if not isinstance(parsed, dict):
        message = "Invalid JSON payload received. Expected an object."
        raise (
            gke_error(400, "INVALID_ARGUMENT", message)
            if gke
            else compute_error(400, "parseError", message)
        )
    return parsed


def _check_query(route: Route, query: dict[str, list[str]], gke: bool) -> None:
    for name in query:
        if name not in route.query and name not in SYSTEM_PARAMETERS:
            message = (
                f'Invalid JSON payload received. Unknown name "{name}": '
                "Cannot bind query parameter."
            )
            if gke:
                raise gke_error(400, "INVALID_ARGUMENT", message)
            raise compute_error(400, "invalid", message, status_name="INVALID_ARGUMENT")


class FakeServer:
    """Serves ``world`` on ``host`` (loopback) from a background thread."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), world)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="reaper-gcp-fake",
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def failures(self) -> list[str]:
        """Tracebacks of handler bugs (answered as HTTP 500); a test can assert none."""
        return list(self._server.failures)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
