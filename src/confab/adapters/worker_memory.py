"""A job worker's memory: a hard cap while it works, and a check after each task.

- The cap is RLIMIT_DATA (heap and private anonymous mappings, which is where decoded
  pixels live; code and mapped files are not counted). An allocation past it fails
  inside the task: libvips reports "out of memory" and Python raises MemoryError, which
  the task turns into an expected error, instead of the machine's OOM killer choosing
  some process later. (RLIMIT_AS would also count address space reserved and never
  touched, which libraries reserve generously.)
- After each task, a worker whose resident memory is above `ratio` x its idle size first
  hands freed heap back to the system (glibc keeps freed small blocks for reuse; one
  render of 256 animation frames leaves ~200 MiB of them, which `malloc_trim` returns);
  if it is still above, it retires, so no input leaves a worker holding memory.

Linux only (/proc, glibc); elsewhere the checks do nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """`limit_bytes`: RLIMIT_DATA of a worker (0: none). `recycle_ratio`: a worker whose
    resident size stays above this multiple of its idle size after a task retires."""

    limit_bytes: int = 0
    recycle_ratio: float = 2.0


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def apply_limit(limit_bytes: int) -> None:
    """Cap this process's data segment (never raises the hard limit it was given)."""
    if limit_bytes <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, hard))


def release_free_heap() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


class MemoryWatch:
    """Decides, after each task, whether this worker should retire to give memory back."""

    def __init__(self, policy: MemoryPolicy) -> None:
        self.policy = policy
        self.idle = 0

    def start(self) -> None:
        """Note the idle size (call once set up) and apply the cap."""
        release_free_heap()
        self.idle = resident_bytes()
        apply_limit(self.policy.limit_bytes)

    def should_retire(self) -> bool:
        """Whether the resident size is over `ratio` x idle even after trimming the heap."""
        if self.idle <= 0:
            return False
        bound = self.policy.recycle_ratio * self.idle
        # Trim only when over the bound: malloc_trim walks the heap, a few ms when large.
        if resident_bytes() <= bound:
            return False
        release_free_heap()
        return resident_bytes() > bound
