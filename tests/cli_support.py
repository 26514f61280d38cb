"""Helpers for running ``reaper`` as a subprocess against the moto sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from reaper.sandbox.estate import SANDBOX_KEY_ID, SANDBOX_SECRET

CLI_TIMEOUT = 120


def reaper_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m reaper``."""
    script = shutil.which("reaper", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "reaper"]


def sandbox_env(endpoint_url: str | None, region: str = "us-east-1") -> dict[str, str]:
    """This environment minus any AWS setting, plus the sandbox's.

    No ambient credentials, profile, config file or instance metadata can reach a real
    account; ``endpoint_url=None`` sets no endpoint (for a command that starts its own
    sandbox). ``REAPER_CONFIG`` is dropped so only the config a test passes is read.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(
        AWS_ACCESS_KEY_ID=SANDBOX_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SANDBOX_SECRET,
        AWS_DEFAULT_REGION=region,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    env.pop("REAPER_CONFIG", None)
    return env


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """A failed run's exit code and output, for an assertion message."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
