"""A moto HTTP server in a child process, with a client for reaper's control endpoints.

The child (:mod:`reaper.sandbox._moto_main`) serves moto's real HTTP API plus
``/_reaper/*`` endpoints that age resources in moto's backend state. It exits on its
own if this process dies, so a killed test run leaves no server behind.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_LOOPBACK = "127.0.0.1"
_POLL_SECONDS = 0.05
_STOP_GRACE_SECONDS = 5.0
_START_ATTEMPTS = 3
_LOG_TAIL_BYTES = 4000
# Control requests go straight to loopback, never through an HTTP(S)_PROXY from the env.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoControlError(RuntimeError):
    """A control request was refused; ``status`` is the HTTP code, ``payload`` the JSON body."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        super().__init__(f"moto control request failed with HTTP {status}: {payload}")
        self.status = status
        self.payload = payload


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _iso_utc(value: datetime) -> str:
    """ISO-8601 with an explicit offset; naive datetimes are taken to be UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


class MotoServer:
    """Owns one moto server child process on a free loopback port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._tmpdir: Path | None = None

    @property
    def endpoint_url(self) -> str:
        """Base URL for boto3's ``endpoint_url``, e.g. ``http://127.0.0.1:54321``."""
        if self._port is None or self._process is None:
            raise RuntimeError("MotoServer is not running; call start() first")
        return f"http://{_LOOPBACK}:{self._port}"

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when not started."""
        return None if self._process is None else self._process.pid

    @property
    def log_path(self) -> Path | None:
        """The child's combined stdout/stderr log (removed by :meth:`stop`)."""
        return None if self._tmpdir is None else self._tmpdir / "moto.log"

    def start(self) -> None:
        """Launch the child and block until it answers its health check."""
        if self._process is not None:
            raise RuntimeError("MotoServer is already running")
        self._tmpdir = Path(tempfile.mkdtemp(prefix="reaper-moto-"))
        last_error: RuntimeError | None = None
        # The port is free when picked but could be taken before the child binds it.
        for _ in range(_START_ATTEMPTS):
            try:
                self._launch()
                return
            except _ChildExited as exc:
                last_error = exc
                self._reap()
            except BaseException:
                self.stop()
                raise
        self.stop()
        assert last_error is not None
        raise last_error

    def _launch(self) -> None:
        assert self._tmpdir is not None
        port = _free_loopback_port()
        env = dict(os.environ)
        # The child must import this very `reaper`, even if it is not installed.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        log_path = self._tmpdir / "moto.log"
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "reaper.sandbox._moto_main",
                    "--port",
                    str(port),
                    "--host",
                    _LOOPBACK,
                    "--parent-pid",
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._port = port
        self._wait_until_healthy(log_path)

    def _wait_until_healthy(self, log_path: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout
        url = f"{self.endpoint_url}/_reaper/health"
        while True:
            code = self._process.poll()
            if code is not None:
                raise _ChildExited(
                    f"moto server exited with code {code} during startup; "
                    f"log tail:\n{_tail(log_path)}"
                )
            try:
                with _OPENER.open(url, timeout=1.0) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"moto server did not become healthy within {self._startup_timeout:g}s; "
                    f"log tail:\n{_tail(log_path)}"
                )
            time.sleep(_POLL_SECONDS)

    def _reap(self) -> None:
        """Terminate the child (if any) and wait for it: SIGTERM, then SIGKILL."""
        process, self._process, self._port = self._process, None, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        """Stop the child and delete its temp dir. Safe to call more than once."""
        self._reap()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def reset(self) -> None:
        """Wipe all moto state (moto's own ``POST /moto-api/reset``).

        IAM enforcement is not part of that state: see :meth:`iam_enforced`.
        """
        self._request("POST", "/moto-api/reset", None)

    @contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Within the block, every AWS request must be signed by an IAM user's (or an
        assumed role's) keys and is authorized by its policies.

        moto reads ``INITIAL_NO_AUTH_ACTION_COUNT`` once, when the server process starts:
        the first N AWS requests, of any service and account, go unauthenticated, then IAM
        is enforced. The count is one counter for the whole server, which seeding and
        ``/moto-api/reset`` do not reset, so a fixed N is brittle. ``POST
        /moto-api/reset-auth`` with a number sets N afresh and zeroes the counter: this
        sets it to 0 on entry and back to unlimited on exit. Control requests
        (``/moto-api/*``, ``/_reaper/*``) are never authenticated. What moto evaluates,
        and what the sandbox adds, is in :mod:`reaper.sandbox._moto_iam`.
        """
        self._request_raw("/moto-api/reset-auth", b"0")
        try:
            yield
        finally:
            self._request_raw("/moto-api/reset-auth", b"inf")

    def _request_raw(self, path: str, body: bytes) -> None:
        # Not form-encoded (urllib's default), or werkzeug parses the body away.
        request = urllib.request.Request(
            self.endpoint_url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        try:
            with _OPENER.open(request, timeout=30.0) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            raise MotoControlError(
                exc.code, {"error": exc.read().decode(errors="replace")}
            ) from None

    def age_instances(
        self, account_id: str, region: str, launch_times: Mapping[str, datetime]
    ) -> int:
        """Set EC2 instances' LaunchTime; all-or-nothing. Returns the number updated.

        Raises :class:`MotoControlError` (status 404, ``payload["missing"]``) if any id
        is unknown. Naive datetimes are taken to be UTC.
        """
        body = {
            "account_id": account_id,
            "region": region,
            "launch_times": {rid: _iso_utc(ts) for rid, ts in launch_times.items()},
        }
        return int(self._request("POST", "/_reaper/age-instances", body)["updated"])

    def set_instance_states(self, account_id: str, region: str, states: Mapping[str, str]) -> int:
        """Put EC2 instances in a state by name (``stopping``, say), which moto otherwise
        passes through at once; all-or-nothing. 404 if any id is unknown."""
        body = {"account_id": account_id, "region": region, "states": dict(states)}
        return int(self._request("POST", "/_reaper/set-instance-states", body)["updated"])

    def age_clusters(self, account_id: str, region: str, created_at: Mapping[str, datetime]) -> int:
        """Set EKS clusters' createdAt (by name); all-or-nothing. 404 if any is unknown."""
        body = {
            "account_id": account_id,
            "region": region,
            "created_at": {n: _iso_utc(ts) for n, ts in created_at.items()},
        }
        return int(self._request("POST", "/_reaper/age-clusters", body)["updated"])

    def age_images(
        self,
        account_id: str,
        region: str,
        creation_dates: Mapping[str, datetime],
        deprecation_times: Mapping[str, datetime] | None = None,
    ) -> int:
        """Set AMIs' CreationDate (and optionally DeprecationTime); all-or-nothing.

        Returns the number of AMIs updated. DescribeImages shows CreationDate to the
        second. Raises :class:`MotoControlError` (404) if any id is unknown.
        """
        body: dict[str, Any] = {
            "account_id": account_id,
            "region": region,
            "creation_dates": {rid: _iso_utc(ts) for rid, ts in creation_dates.items()},
        }
        if deprecation_times:
            body["deprecation_times"] = {rid: _iso_utc(ts) for rid, ts in deprecation_times.items()}
        return int(self._request("POST", "/_reaper/age-images", body)["updated"])

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.endpoint_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=30.0) as resp:
                raw: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                payload = json.loads(text)
            except json.JSONDecodeError:
                payload = {"error": text}
            raise MotoControlError(exc.code, payload) from None
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return raw.decode(errors="replace")

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


class _ChildExited(RuntimeError):
    """The child died during startup (possibly lost the race for its port)."""


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _LOG_TAIL_BYTES))
            return f.read().decode(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
