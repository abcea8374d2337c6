"""glibc malloc settings for long-running processes (a no-op elsewhere).

Python's allocator takes large blocks (request bodies, image buffers, encoded outputs)
from the C library's malloc. glibc's defaults trade memory for speed in ways that do not
pay here: up to 8 arenas per core (each thread may get its own, which keeps its own freed
memory), and an mmap threshold that rises after the first large block is freed (so later
large blocks come from the heap, which rarely shrinks). `tune_malloc` caps the arenas and
fixes the threshold, so large blocks go back to the system when freed.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt() parameters (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

# Blocks this large or larger are mmap()ed, and unmapped when freed.
MMAP_THRESHOLD = 256 * 1024


def tune_malloc(arenas: int, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap malloc arenas at `arenas` and fix the mmap threshold; True if glibc took both.

    Takes effect for arenas created afterwards: call it at process start, before threads.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to load, or no mallopt in it
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    capped = mallopt(_M_ARENA_MAX, arenas)
    fixed = mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    return bool(capped and fixed)
