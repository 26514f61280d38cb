"""A reaper command run by the organization benchmark, reporting its own peak RSS.

``python -m bench.org_child HWM_FILE reaper-args...`` runs ``reaper reaper-args...`` in this
process and, as it exits, writes its peak resident set (``VmHWM`` of /proc/self/status,
in KB) to HWM_FILE. The parent cannot read it afterwards: ``ru_maxrss`` of a child on Linux
carries over the parent's peak through fork and exec.
"""

from __future__ import annotations

import atexit
import sys
from pathlib import Path


def _peak_kb() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    target = Path(sys.argv[1])
    atexit.register(lambda: target.write_text(str(_peak_kb()), encoding="ascii"))
    sys.argv = ["reaper", *sys.argv[2:]]
    from reaper.cli import main as reaper_main

    reaper_main()


if __name__ == "__main__":
    main()
