"""CPU seconds spent by the sandbox's moto process and by this process, per phase.

The critical-path bound assumes every region is answered in parallel, as AWS's separate
regional endpoints would. Here one moto process answers them all, with one interpreter
lock, on a machine of few cores; its CPU time, and the CPU time of both processes shared
over the cores, are floors no client can go below.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0.0 where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # After the ")" that ends the command name: state is field 0, utime 11, stime 12.
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass(frozen=True)
class CpuReading:
    moto: float
    here: float


def read(moto_pid: int | None) -> CpuReading:
    return CpuReading(_process_cpu(moto_pid) if moto_pid else 0.0, time.process_time())


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds of one phase."""

    moto: float
    here: float
    """This process: reaper, the proxy thread and botocore's parsing."""
    cores: int

    @classmethod
    def between(cls, before: CpuReading, after: CpuReading) -> CpuUse:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return cls(after.moto - before.moto, after.here - before.here, cores or 1)

    @property
    def floor(self) -> float:
        """The least wall time this work could take here: moto's CPU (one interpreter
        lock), or both processes' CPU spread over every core, whichever is more."""
        return max(self.moto, (self.moto + self.here) / self.cores)
