"""Tokens never leave the lookup: not in logs, verdicts, errors, reprs, nor to another origin."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reaper.pipelines import (
    ApiRequestError,
    GithubSource,
    GitlabSource,
    RunLookup,
    RunRef,
    RunState,
    UnknownReason,
)
from reaper.pipelines import http as pipelines_http
from reaper.sandbox.ci import FakeClock, FakeGithub, FakeGitlab

GH_TOKEN = "ghp_fakeFAKEfake0123456789abcdefABCDEF01"
# A token of no recognisable shape: only the by-value masking can catch it.
PLAIN_TOKEN = "Zq7-plain-0d1f2e3c4b5a"
GL_TOKEN = "glpat-fakeFAKEfake0123456789"


def assert_no_token(text: str) -> None:
    for token in (GH_TOKEN, PLAIN_TOKEN, GL_TOKEN):
        assert token not in text


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_server_echoing_the_token_is_masked_in_verdicts_and_logs(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeGithub(clock=clock) as github, FakeGitlab(clock=clock) as gitlab:
        github.grant(PLAIN_TOKEN)
        gitlab.grant(GL_TOKEN)
        github.inject_error(
            500, f"token {PLAIN_TOKEN} is broken; Authorization: Bearer {PLAIN_TOKEN}"
        )
        gitlab.inject_error(403, f"PRIVATE-TOKEN: {GL_TOKEN} lacks read_api")
        lookup = RunLookup(
            {
                "app": GithubSource("acme/app", "GH_TOKEN", github.url),
                "infra": GitlabSource("platform/infra", gitlab.url, "GL_TOKEN"),
            },
            environ={"GH_TOKEN": PLAIN_TOKEN, "GL_TOKEN": GL_TOKEN},
            clock=clock,
        )

        with caplog.at_level(logging.DEBUG):
            result = lookup.lookup([RunRef("app", 1), RunRef("infra", 2)])

    assert result[RunRef("app", 1)].reason is UnknownReason.API_ERROR
    assert result[RunRef("infra", 2)].reason is UnknownReason.UNAUTHORIZED
    assert "***" in result[RunRef("app", 1)].detail
    assert_no_token(caplog.text)
    assert_no_token(repr(result))
    assert_no_token(repr(lookup))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_a_connection_failure_is_unknown_and_names_no_token(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    lookup = RunLookup(
        {"app": GithubSource("acme/app", "GH_TOKEN", f"http://127.0.0.1:{closed_port}")},
        environ={"GH_TOKEN": GH_TOKEN},
        clock=clock,
        timeout=2,
    )

    with caplog.at_level(logging.DEBUG):
        status = lookup.lookup([RunRef("app", 1)])[RunRef("app", 1)]

    assert status.reason is UnknownReason.API_ERROR
    assert f"127.0.0.1:{closed_port}/repos/acme/app/actions/runs/1" in status.detail
    assert_no_token(status.detail)
    assert_no_token(caplog.text)
    assert lookup.totals.requests == 1


def test_a_transport_error_raised_by_http_get_carries_no_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ApiRequestError) as caught:
        pipelines_http.get(
            pipelines_http.build_opener(),
            f"http://127.0.0.1:{port}/x",
            {"Authorization": f"Bearer {GH_TOKEN}", "PRIVATE-TOKEN": GL_TOKEN},
            timeout=2,
        )
    assert_no_token(str(caught.value))
    assert_no_token(repr(caught.value))


class _Recorder(BaseHTTPRequestHandler):
    """Redirects /redirect to the URL in the server's ``target``; records what it was sent."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        target = self.server.target  # type: ignore[attr-defined]
        if self.path.startswith("/repos/") and target:
            self.send_response(301)
            self.send_header("Location", f"{target}/moved/actions/runs/1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"id": 1, "status": "in_progress"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorders() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True) for s in servers]
    for server, thread in zip(servers, threads, strict=True):
        server.seen = []  # type: ignore[attr-defined]
        server.target = ""  # type: ignore[attr-defined]
        thread.start()
    yield servers[0], servers[1]
    for server in servers:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def test_a_redirect_to_another_origin_is_not_followed(
    clock: FakeClock, recorders: tuple[ThreadingHTTPServer, ThreadingHTTPServer]
) -> None:
    api, elsewhere = recorders
    api.target = _url(elsewhere)  # type: ignore[attr-defined]
    lookup = RunLookup(
        {"app": GithubSource("acme/app", "GH_TOKEN", _url(api))},
        environ={"GH_TOKEN": GH_TOKEN},
        clock=clock,
    )

    status = lookup.lookup([RunRef("app", 1)])[RunRef("app", 1)]

    assert status.reason is UnknownReason.API_ERROR
    assert status.detail.startswith("HTTP 301")
    assert elsewhere.seen == []  # type: ignore[attr-defined]


def test_a_redirect_within_the_origin_is_followed(
    clock: FakeClock, recorders: tuple[ThreadingHTTPServer, ThreadingHTTPServer]
) -> None:
    api, _ = recorders
    api.target = _url(api)  # type: ignore[attr-defined]
    lookup = RunLookup(
        {"app": GithubSource("acme/app", "GH_TOKEN", _url(api))},
        environ={"GH_TOKEN": GH_TOKEN},
        clock=clock,
    )

    status = lookup.lookup([RunRef("app", 1)])[RunRef("app", 1)]

    assert status.state is RunState.ACTIVE
    assert [path for path, _ in api.seen] == [  # type: ignore[attr-defined]
        "/repos/acme/app/actions/runs/1",
        "/moved/actions/runs/1",
    ]
