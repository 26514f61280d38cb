"""A loopback reverse proxy in front of the sandbox that counts, slows and breaks AWS calls.

Point boto3's ``endpoint_url`` at :attr:`CountingProxy.endpoint_url` instead of the moto
server's and every request goes through the proxy, which

* counts requests by ``(service, region, operation)``, read from the request itself: the
  SigV4 credential scope (``Credential=AKID/DATE/REGION/SERVICE/aws4_request``) of the
  Authorization header or of a presigned URL, and the operation from ``Action=`` in the
  form body or query string (EC2, STS, IAM: query APIs) or from the ``X-Amz-Target``
  header (JSON APIs). Other requests count under their HTTP method;
* optionally waits a fixed time before forwarding (``latency``, seconds), and longer for
  the operations given a delay of their own (:meth:`CountingProxy.delay`);
* times each forwarded request from sending it upstream until the whole answer is read
  (:meth:`CountingProxy.server_times`), the server's share of the request's time;
* answers with an AWS error document instead of forwarding when a fault rule matches
  (:meth:`CountingProxy.add_fault`), or with a body no client can parse
  (:meth:`CountingProxy.add_unparseable`), optionally only the first N times, optionally
  only for requests whose body contains some bytes (one account's ``RoleArn``);
* optionally throttles like EC2 (:meth:`CountingProxy.throttle`): a token bucket per
  access key and region (so per account: reaper assumes one role per account), refusing
  requests past it with ``RequestLimitExceeded`` (:meth:`CountingProxy.throttled`).

Faulted requests are counted too: a throttled call that botocore retries three times
counts four. Standard library only; one upstream connection per client connection.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

_LOOPBACK = "127.0.0.1"
_UPSTREAM_TIMEOUT = 60.0
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones the proxy sets itself.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
_CREDENTIAL = re.compile(
    r"Credential=(?P<akid>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[^/\s,]+)/"
    r"(?P<service>[^/\s,]+)/aws4_request"
)
# Known error codes -> default messages, for documents that look like AWS's own.
_DEFAULT_MESSAGES = {
    "UnauthorizedOperation": "You are not authorized to perform this operation.",
    "RequestLimitExceeded": "Request limit exceeded.",
    "Throttling": "Rate exceeded",
    "ThrottlingException": "Rate exceeded",
    "InternalError": "An internal error has occurred.",
    "ServiceUnavailable": "The service is unavailable.",
}

UNPARSEABLE_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse><reservationSet>'
)
"""What :meth:`CountingProxy.add_unparseable` answers by default: a document cut short."""
_JSON_TYPE = "application/x-amz-json-1.1"

CountKey = tuple[str, str, str]
"""``(service, region, operation)``, e.g. ``("ec2", "us-east-1", "DescribeInstances")``."""


@dataclass(frozen=True)
class RequestInfo:
    """What the proxy reads from one request to count it and match fault rules."""

    service: str
    """From the SigV4 credential scope (``ec2``, ``sts``); empty for unsigned requests."""
    region: str
    """From the SigV4 credential scope; empty for unsigned requests."""
    operation: str
    """``Action=`` of query APIs, the part of ``X-Amz-Target`` after the last dot for JSON
    APIs, otherwise the HTTP method (``GET``, ``PUT``...)."""
    protocol: str
    """``ec2``, ``query``, ``json`` or ``rest``: which error document shape fits."""
    access_key: str = ""
    """The access key id of the SigV4 credential scope; empty for unsigned requests."""

    @property
    def key(self) -> CountKey:
        return (self.service, self.region, self.operation)


@dataclass
class Fault:
    """One fault-injection rule. Match fields that are None match anything."""

    region: str | None
    """Region of the credential scope to break, or None for every region."""
    operation: str | None
    """Operation to break (``DescribeInstances``), or None for every operation."""
    status: int
    """HTTP status of the error answer: 403 for UnauthorizedOperation, 503 for throttling."""
    error_code: str
    """AWS error code put in the document (``UnauthorizedOperation``)."""
    message: str = ""
    """The error message; a stock one for the code when empty."""
    service: str | None = None
    """Service of the credential scope (``ec2``), or None for every service."""
    times: int | None = None
    """Answer with the fault only this many times, then forward again; None is forever."""
    served: int = 0
    """How many requests this rule has answered so far (updated under the proxy's lock)."""
    body_contains: bytes | None = None
    """Only requests whose raw body contains these bytes (form-encoded for query APIs:
    ``RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Freaper``); None: any body."""
    body: bytes | None = None
    """Answer with this body as it is instead of an error document (``error_code`` and
    ``message`` unused): a reply the client cannot parse."""

    def matches(self, info: RequestInfo, body: bytes = b"") -> bool:
        return (
            (self.body_contains is None or self.body_contains in body)
            and (self.region is None or self.region == info.region)
            and (self.operation is None or self.operation == info.operation)
            and (self.service is None or self.service == info.service)
            and (self.times is None or self.served < self.times)
        )


def parse_request(method: str, target: str, headers: Message[str, str], body: bytes) -> RequestInfo:
    """Read service, region and operation from a raw request. Pure."""
    query = urlsplit(target).query
    query_params = parse_qs(query, keep_blank_values=True)
    service = region = ""
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    if match is None:
        presigned = query_params.get("X-Amz-Credential", [""])[0]
        match = _CREDENTIAL.search(f"Credential={presigned}")
    access_key = ""
    if match is not None:
        service, region, access_key = match["service"], match["region"], match["akid"]
    amz_target = headers.get("X-Amz-Target")
    if amz_target:
        return RequestInfo(service, region, amz_target.rsplit(".", 1)[-1], "json", access_key)
    action = query_params.get("Action", [""])[0]
    content_type = headers.get("Content-Type", "")
    if not action and body and "application/x-www-form-urlencoded" in content_type:
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        action = form.get("Action", [""])[0]
    if action:
        protocol = "ec2" if service == "ec2" else "query"
        return RequestInfo(service, region, action, protocol, access_key)
    return RequestInfo(service, region, method.upper(), "rest", access_key)


def error_document(info: RequestInfo, code: str, message: str) -> tuple[str, bytes]:
    """The content type and body of an AWS error answer in the request's protocol. Pure."""
    request_id = str(uuid.uuid4())
    if info.protocol == "json":
        payload = {"__type": code, "message": message}
        return _JSON_TYPE, json.dumps(payload).encode()
    code_x, message_x = escape(code), escape(message)
    if info.protocol == "ec2":
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code_x}</Code><Message>{message_x}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif info.protocol == "query":
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code_x}</Code>"
            f"<Message>{message_x}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    else:
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code_x}</Code><Message>{message_x}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    return "text/xml", text.encode()


class CountingProxy:
    """A reverse proxy on a free loopback port in front of ``target`` (a base URL).

    Use as a context manager, or call :meth:`start` and :meth:`stop`. All methods are
    thread-safe; rules and latency may be changed while requests are in flight.
    """

    def __init__(self, target: str, *, latency: float = 0.0) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"target must be an http:// base URL, got {target!r}")
        self._target_host = parts.hostname
        self._target_port = parts.port or 80
        self._target_prefix = parts.path.rstrip("/")
        self._lock = threading.Lock()
        self._counts: Counter[CountKey] = Counter()
        self._server_times: dict[CountKey, list[float]] = {}
        self._faults: list[Fault] = []
        self._latency = latency
        self._delays: dict[str, float] = {}
        self._throttle: _Throttle | None = None
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._throttled: Counter[CountKey] = Counter()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind a free loopback port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("CountingProxy is already running")
        server = _Server((_LOOPBACK, 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="counting-proxy",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every client connection. Safe to call more than once."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """Base URL for boto3's ``endpoint_url``, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("CountingProxy is not running; call start() first")
        port: int = self._server.server_address[1]
        return f"http://{_LOOPBACK}:{port}"

    # -- counters ----------------------------------------------------------------------

    def counts(self) -> dict[CountKey, int]:
        """Requests received so far (forwarded or faulted) by (service, region, operation)."""
        with self._lock:
            return dict(self._counts)

    def count(self, service: str, operation: str | None = None, region: str | None = None) -> int:
        """The number of requests of a service, optionally of one operation and region."""
        return sum(
            n
            for (s, r, o), n in self.counts().items()
            if s == service
            and (operation is None or o == operation)
            and (region is None or r == region)
        )

    def server_times(self) -> dict[CountKey, list[float]]:
        """Seconds from forwarding each request upstream until its answer was read, by
        (service, region, operation), in arrival order; faulted requests are not timed."""
        with self._lock:
            return {key: list(times) for key, times in self._server_times.items()}

    def reset_counts(self) -> None:
        """Forget the counts, the server times and the throttled counts."""
        with self._lock:
            self._counts.clear()
            self._server_times.clear()
            self._throttled.clear()

    def throttled(self) -> dict[CountKey, int]:
        """Requests refused by the throttle (also in :meth:`counts`), by key."""
        with self._lock:
            return dict(self._throttled)

    # -- latency and faults ------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds added before every request is forwarded or faulted."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must not be negative, got {seconds}")
        with self._lock:
            self._latency = seconds

    def delay(self, operation: str, seconds: float) -> None:
        """Wait ``seconds`` more (besides :attr:`latency`) before forwarding or faulting
        each request of ``operation`` (``TerminateInstances``); 0 removes the delay. Set
        before the client sends the call, it holds that call and no other."""
        if seconds < 0:
            raise ValueError(f"delay must not be negative, got {seconds}")
        with self._lock:
            if seconds:
                self._delays[operation] = seconds
            else:
                self._delays.pop(operation, None)

    def add_fault(
        self,
        region: str | None,
        operation: str | None,
        status: int,
        error_code: str,
        *,
        message: str = "",
        service: str | None = None,
        times: int | None = None,
        body_contains: bytes | None = None,
    ) -> Fault:
        """Answer matching requests with an AWS error document instead of forwarding them.

        ``region``/``operation``/``service`` None match anything; ``times`` limits the rule
        to its first N matches; ``body_contains`` to requests whose body has those bytes.
        The first matching rule wins. Returns the rule, whose
        ``served`` field counts the requests it answered.
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        fault = Fault(
            region=region,
            operation=operation,
            status=status,
            error_code=error_code,
            message=message or _DEFAULT_MESSAGES.get(error_code, error_code),
            service=service,
            times=times,
            body_contains=body_contains,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def add_unparseable(
        self,
        region: str | None,
        operation: str | None,
        *,
        body: bytes = UNPARSEABLE_XML,
        status: int = 200,
        service: str | None = None,
        times: int | None = None,
        body_contains: bytes | None = None,
    ) -> Fault:
        """Answer matching requests with ``body`` as it is, in the request's protocol's
        content type: by default a truncated XML document, which botocore cannot parse.

        Matching as for :meth:`add_fault`, whose rules it shares (the first match wins).
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        fault = Fault(
            region,
            operation,
            status,
            "",
            service=service,
            times=times,
            body=body,
            body_contains=body_contains,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def throttle(self, rate: float, burst: int, service: str | None = "ec2") -> None:
        """Refuse requests past a token bucket per (access key, region), as EC2 does.

        Each bucket holds up to ``burst`` tokens and gains ``rate`` a second; a request
        takes one, or is answered ``503 RequestLimitExceeded`` when there is none. Only
        requests of ``service`` (None: every service). ``rate=0`` turns throttling off.
        """
        if rate < 0 or burst < 1:
            raise ValueError(f"rate must be >= 0 and burst >= 1, got {rate} and {burst}")
        with self._lock:
            self._throttle = _Throttle(rate, burst, service) if rate > 0 else None
            self._buckets.clear()

    # -- called by the handler ---------------------------------------------------------

    def _admit(self, info: RequestInfo, body: bytes = b"") -> tuple[float, Fault | None]:
        """Count a request; pick the fault (or the throttle) that answers it, if any."""
        with self._lock:
            self._counts[info.key] += 1
            latency = self._latency + self._delays.get(info.operation, 0.0)
            for fault in self._faults:
                if fault.matches(info, body):
                    fault.served += 1
                    return latency, fault
            if self._throttle is not None and not self._take_token(info, self._throttle):
                self._throttled[info.key] += 1
                return latency, _REQUEST_LIMIT
            return latency, None

    def _take_token(self, info: RequestInfo, throttle: _Throttle) -> bool:
        """Called with the lock held."""
        if throttle.service is not None and info.service != throttle.service:
            return True
        now = time.monotonic()
        bucket = self._buckets.setdefault((info.access_key, info.region), [throttle.burst, now])
        tokens = min(throttle.burst, bucket[0] + (now - bucket[1]) * throttle.rate)
        bucket[1] = now
        if tokens < 1:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1
        return True

    def _timed(self, info: RequestInfo, seconds: float) -> None:
        with self._lock:
            self._server_times.setdefault(info.key, []).append(seconds)

    def _upstream(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            self._target_host, self._target_port, timeout=_UPSTREAM_TIMEOUT
        )


@dataclass(frozen=True)
class _Throttle:
    rate: float
    burst: int
    service: str | None


_REQUEST_LIMIT = Fault(None, None, 503, "RequestLimitExceeded", "Request limit exceeded.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive client connections would make server_close() wait for their threads.
    block_on_close = False
    proxy: CountingProxy

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look up the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is normal for a proxy; anything else is shown.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects
    server: _Server
    _upstream_conn: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)
            if self._upstream_conn is not None:
                self._upstream_conn.close()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the counters are the record."""

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    def _handle(self) -> None:
        body = self._read_body()
        if body is None:
            return
        proxy = self.server.proxy
        info = parse_request(self.command, self.path, self.headers, body)
        latency, fault = proxy._admit(info, body)
        if latency > 0:
            time.sleep(latency)
        if fault is not None:
            if fault.body is not None:
                content_type = _JSON_TYPE if info.protocol == "json" else "text/xml"
                document = fault.body
            else:
                content_type, document = error_document(info, fault.error_code, fault.message)
            self._answer(
                fault.status,
                [("Content-Type", content_type), ("x-amzn-RequestId", str(uuid.uuid4()))],
                document,
            )
            return
        try:
            sent = time.perf_counter()
            status, headers, answer = self._forward(body)
            proxy._timed(info, time.perf_counter() - sent)
        except (OSError, http.client.HTTPException) as err:
            if self._upstream_conn is not None:
                self._upstream_conn.close()
                self._upstream_conn = None
            message = f"upstream {proxy._target_host}:{proxy._target_port} failed: {err}"
            self._answer(502, [("Content-Type", "text/plain")], message.encode())
            return
        self._answer(status, headers, answer)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            try:
                return self._read_chunked()
            except ValueError:
                self.send_error(400, "bad chunked encoding")
                return None
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip trailers up to the empty line.
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream (reusing this connection's upstream connection)."""
        proxy = self.server.proxy
        while True:
            reused = self._upstream_conn is not None
            conn = self._upstream_conn or proxy._upstream()
            self._upstream_conn = conn
            try:
                # The Host header is signed by SigV4: pass the client's through unchanged.
                conn.putrequest(
                    self.command,
                    proxy._target_prefix + self.path,
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                for name, value in self.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
                answer = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                # A kept-alive upstream connection may have been closed under us: then
                # retry on a fresh one. A fresh connection's failure is the answer.
                conn.close()
                self._upstream_conn = None
                if not reused:
                    raise
                continue
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            if self.command == "HEAD":
                # A HEAD answer has no body but announces the length of the GET's.
                length = response.getheader("Content-Length")
                if length is not None:
                    headers.append(("Content-Length", length))
            if response.will_close:
                conn.close()
                self._upstream_conn = None
            return response.status, headers, answer

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        # Not send_response(): it would add a second Server and Date to upstream's.
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()


__all__ = [
    "UNPARSEABLE_XML",
    "CountKey",
    "CountingProxy",
    "Fault",
    "RequestInfo",
    "error_document",
    "parse_request",
]
