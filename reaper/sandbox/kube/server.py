"""The socket side: HTTP/1.1 with keep-alive on 127.0.0.1, one thread per connection.

:class:`HttpServer` binds an ephemeral loopback port once and keeps it for its life, so
going offline (every connection closed, the port refusing) and back online keeps the URL
the kubeconfig points at. It tracks open connections and shuts them on stop, so no thread
or socket outlives the server.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reaper.sandbox.kube.api import Api, Request, Response

LOOPBACK = "127.0.0.1"
_IDLE_SECONDS = 60.0
_MAX_BODY = 64 * 1024 * 1024


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, api: Api) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.api = api
        self._connections: set[socket.socket] = set()
        self._guard = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (its timeout passed) is normal; the rest is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self._connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._guard:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "reaper-kube-fake"
    timeout = _IDLE_SECONDS
    server: _Listener

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the request log instead."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            raw_query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        response = self.server.api.handle(request)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


class HttpServer:
    """Serves one :class:`Api` on ``127.0.0.1:<port>`` from a background thread."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._listener: _Listener | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port, fixed at the first :meth:`start`."""
        if not self._port:
            raise RuntimeError("the fake Kubernetes API server has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def online(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Listen (on a new ephemeral port the first time, on the same port after)."""
        with self._lock:
            if self._listener is not None:
                return
            listener = _Listener(self._port, self._api)
            self._port = listener.server_address[1]
            self._api.server_address = f"{LOOPBACK}:{self._port}"
            thread = threading.Thread(
                target=listener.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"kube-fake-{self._port}",
                daemon=True,
            )
            thread.start()
            self._listener, self._thread = listener, thread

    def stop(self) -> None:
        """Stop listening and close every open connection; the port then refuses."""
        with self._lock:
            listener, thread = self._listener, self._thread
            self._listener = self._thread = None
        if listener is None or thread is None:
            return
        listener.shutdown()
        listener.drop_connections()
        listener.server_close()
        thread.join(timeout=5)
