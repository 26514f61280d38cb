"""glibc's malloc arenas, capped for a process that runs many API workers at once.

glibc gives each thread that finds the arenas busy an arena of its own, up to 8 per core.
Python objects come from pymalloc, but what is larger than 512 bytes (HTTP bodies, XML
text, big dicts and lists while a page of instances is parsed) comes from malloc: freed
in one thread's arena, that memory serves only the threads of that arena. With 32 workers
parsing pages of hundreds of instances, the organization benchmark measured 40 MB more
peak RSS on 8,566 instances than with two arenas (see the README's Benchmark section),
at no measurable cost in time: the workers mostly wait on the network, and the parsing
holds the interpreter lock anyway.
"""

from __future__ import annotations

import ctypes
import logging
import platform
from collections.abc import Mapping

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""``mallopt``'s parameter number for the arena cap (glibc's malloc.h)."""
ARENAS = 2


def cap_malloc_arenas(environ: Mapping[str, str]) -> bool:
    """Cap glibc's malloc arenas at ``ARENAS``, before the first worker thread starts;
    whether it was done. Left alone where the operator set ``MALLOC_ARENA_MAX`` (glibc
    read it at start) and where the C library is not glibc."""
    if "MALLOC_ARENA_MAX" in environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, ARENAS))
    if not done:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", ARENAS)
    return done
