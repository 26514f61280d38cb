"""The HTTP plumbing the CI fakes share: a loopback server, request records and statistics.

A fake subclasses :class:`FakeApiServer` and implements :meth:`FakeApiServer._route`, which
maps one GET to a :class:`Reply` while the fake's lock is held. Everything else lives here:
the background thread, the optional per-request latency (slept before the lock is taken,
so slow requests overlap the way real ones do), the record of every request and the peak
number of requests in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, Self

LOOPBACK = "127.0.0.1"
UNMATCHED = "unmatched"
"""The endpoint name of a request that no route of the fake matched."""


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers and body bytes (empty for a 304)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        """A JSON reply; ``payload`` is serialised compactly, as the real APIs do."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, all_headers, body)

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, {"Content-Type": "text/plain", **(headers or {})}, text.encode())


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake answered."""

    endpoint: str
    """The fake's name for the route, e.g. ``get-workflow-run``; ``unmatched`` for none."""
    method: str
    path: str
    """The path as sent, percent-encoding kept (``/api/v4/projects/a%2Fb/...``)."""
    status: int
    conditional: bool
    """The request carried ``If-None-Match``."""
    at: float
    """The fake's clock when it was answered."""


@dataclass(frozen=True)
class FakeStats:
    """Counts since the fake started or since :meth:`FakeApiServer.reset_stats`."""

    requests: Mapping[str, int]
    """Requests per endpoint name."""
    not_modified: int
    """Requests answered ``304 Not Modified``."""
    by_status: Mapping[int, int]
    peak_in_flight: int
    """The most requests the fake was handling at the same moment."""

    @property
    def total(self) -> int:
        return sum(self.requests.values())


class FakeApiServer(ABC):
    """A ``ThreadingHTTPServer`` on a free loopback port, run on a background thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. All control methods
    of a subclass take ``self._lock``, so tests may change state while requests are served.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, latency: float = 0.0) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._latency = latency
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._log: list[RecordedRequest] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        self._errors: list[tuple[int, str]] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        server = _Server((LOOPBACK, 0), _handler_for(self))
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- control -----------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds (real time) each request waits before it is answered."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency cannot be negative: {seconds}")
        with self._lock:
            self._latency = seconds

    def inject_error(
        self, status: int = 500, message: str = "Server Error", *, times: int = 1
    ) -> None:
        """Answer the next ``times`` authenticated requests ``status`` with
        ``{"message": message}`` (uncounted by the rate limits)."""
        with self._lock:
            self._errors = [(status, message)] * times

    def stats(self) -> FakeStats:
        with self._lock:
            log = list(self._log)
            peak = self._peak_in_flight
        return FakeStats(
            requests=MappingProxyType(dict(Counter(r.endpoint for r in log))),
            not_modified=sum(1 for r in log if r.status == 304),
            by_status=MappingProxyType(dict(Counter(r.status for r in log))),
            peak_in_flight=peak,
        )

    def requests(self, endpoint: str | None = None) -> tuple[RecordedRequest, ...]:
        """Every request answered so far, in order; only ``endpoint``'s when given."""
        with self._lock:
            return tuple(r for r in self._log if endpoint is None or r.endpoint == endpoint)

    def reset_stats(self) -> None:
        """Forget the recorded requests and the in-flight peak (state stays as it is)."""
        with self._lock:
            self._log.clear()
            self._peak_in_flight = self._in_flight

    # -- for subclasses ----------------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    def _injected_error(self) -> Reply | None:
        """The next error :meth:`inject_error` queued, if any (call with the lock held)."""
        if not self._errors:
            return None
        status, message = self._errors.pop(0)
        return Reply.json(status, {"message": message})

    @abstractmethod
    def _route(self, method: str, path: str, headers: Mapping[str, str]) -> tuple[str, Reply]:
        """The endpoint name and the reply for one request. Called with ``self._lock`` held.

        ``path`` is the raw request target without its query string; ``headers`` has
        lower-case names.
        """

    # -- called by the handler ---------------------------------------------------------

    def _serve(self, method: str, target: str, headers: Mapping[str, str]) -> Reply:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            latency = self._latency
        try:
            if latency:
                time.sleep(latency)
            path = target.split("?", 1)[0]
            with self._lock:
                endpoint, reply = self._route(method, path, headers)
                self._log.append(
                    RecordedRequest(
                        endpoint=endpoint,
                        method=method,
                        path=path,
                        status=reply.status,
                        conditional="if-none-match" in headers,
                        at=self._now(),
                    )
                )
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """Room for a burst of concurrent clients (the default 5 makes the sixth retry its SYN)."""


def _handler_for(fake: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reaper-ci-fake"
        sys_version = ""

        def _answer(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake._serve(self.command, self.path, headers)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 304:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and reply.status != 304 and self.command != "HEAD":
                self.wfile.write(reply.body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read :meth:`FakeApiServer.requests` instead."""

    return Handler
