"""GCS in tests: gcp-storage-emulator (from PyPI) in a child process, a client for it, and
a fake bucket that honours ``if_generation_match``, which the emulator ignores.

The ``gcs_emulator`` fixture (``tests/conftest.py``) starts one emulator per session; a
``reaper`` process reaches it through ``STORAGE_EMULATOR_HOST``, as ``gsutil`` would.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator, in memory, on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gcp_storage_emulator", "start"),
            *("--host", "127.0.0.1", "--port", str(port), "--in-memory", "--quiet"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                opener.open(f"{url}/storage/v1/b", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gcp-storage-emulator did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def storage_client(url: str) -> Any:
    """A google-cloud-storage client of the emulator at ``url``, without credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )


class CreateOnlyBucket:
    """What reaper uses of a google-cloud-storage client and bucket, honouring
    ``if_generation_match=0`` with the library's own 412 error.

    gcp-storage-emulator ignores the precondition (``test_audit_sinks.py`` shows it), so
    create-only logic is tested here; the emulator tests the rest over HTTP.
    """

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()  # one upload at a time, as GCS checks a precondition
        self.preconditions: list[object] = []
        self.options: list[dict[str, Any]] = []
        """The keyword arguments of every upload."""
        self.downloads: list[str] = []
        """The key of every download, in order."""
        self.listings: list[str] = []
        """The prefix of every listing, in order."""

    def bucket(self, name: str) -> CreateOnlyBucket:
        return self

    def blob(self, key: str) -> Any:
        bucket = self

        class Blob:
            name = key

            def upload_from_string(self, body: bytes, **options: Any) -> None:
                from google.api_core.exceptions import PreconditionFailed

                with bucket._lock:
                    bucket.preconditions.append(options.get("if_generation_match"))
                    bucket.options.append(options)
                    if options.get("if_generation_match") == 0 and key in bucket.objects:
                        raise PreconditionFailed(
                            "At least one of the pre-conditions you specified did not hold."
                        )
                    bucket.objects[key] = body

            def download_as_bytes(self, **options: Any) -> bytes:
                bucket.downloads.append(key)
                return bucket.objects[key]

        return Blob()

    def list_blobs(self, bucket: str, prefix: str, **options: Any) -> list[Any]:
        self.listings.append(prefix)
        return [self.blob(k) for k in sorted(self.objects) if k.startswith(prefix)]
