"""Helpers for running ``reaper`` as a subprocess against the moto sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from reaper.sandbox.environment import sandbox_environ

CLI_TIMEOUT = 120


def reaper_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m reaper``."""
    script = shutil.which("reaper", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "reaper"]


def sandbox_env(endpoint_url: str | None, region: str = "us-east-1") -> dict[str, str]:
    """The sandbox's environment (:func:`sandbox_environ`) with its endpoint and a region.

    ``endpoint_url=None`` sets no endpoint (for a command that starts its own sandbox).
    ``REAPER_CONFIG`` is dropped so only the config a test passes is read.
    """
    env = sandbox_environ(os.environ)
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env["AWS_DEFAULT_REGION"] = region
    env.pop("REAPER_CONFIG", None)
    return env


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A failed run's exit code and output, for an assertion message."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
