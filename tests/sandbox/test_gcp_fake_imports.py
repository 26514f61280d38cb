"""The GCP fake must run anywhere: it may import only the standard library and itself."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
before = set(sys.modules)
import reaper.sandbox.gcp
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_the_fake_loads_only_the_standard_library_and_itself() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)

    foreign = [
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith(("reaper.sandbox.gcp", "_sysconfigdata_"))
        and name not in ("reaper", "reaper.sandbox")
    ]

    assert "reaper.sandbox.gcp.fake" in loaded
    assert foreign == []
