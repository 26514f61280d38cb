"""Starting the benchmark's child processes as modules of this package.

A child runs as ``python -m bench.<module>`` with the repository root as its working
directory, so ``bench`` and ``reaper`` import the same way they do in the parent, and no
child needs a path of its own on ``sys.path``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The directory that holds the ``bench`` package."""


def run_module(
    module: str, args: Sequence[str], *, check: bool, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args`` in this interpreter and return its captured output."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )
