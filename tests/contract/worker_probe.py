"""Tasks that probe the local pool's workers (kept free of heavy imports)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROBE_TASKS = {
    "modules": "tests.contract.worker_probe:loaded_modules",
    "environ": "tests.contract.worker_probe:environ",
    "shout": "tests.contract.worker_probe:shout",
    "unpicklable": "tests.contract.worker_probe:unpicklable",
    "nap": "tests.contract.worker_probe:nap",
    "memory": "tests.contract.worker_probe:memory",
    "hoard": "tests.contract.worker_probe:hoard",
    "die": "tests.contract.worker_probe:die",
    "grab": "tests.contract.worker_probe:grab",
    "marked_nap": "tests.contract.worker_probe:marked_nap",
}


def loaded_modules() -> list[str]:
    """The names of the modules loaded in this process."""
    return sorted(sys.modules)


def environ(name: str) -> str | None:
    """An environment variable of this process."""
    return os.environ.get(name)


def shout(text: str) -> str:
    """Print to stdout (and to fd 1 directly), then return `text`."""
    print(text * 1000)
    os.write(1, b"raw bytes on fd 1\n")
    return text


def unpicklable() -> Callable[[], None]:
    """A result that cannot cross the process boundary."""
    return lambda: None


def nap(seconds: float) -> int:
    """Sleep, then return this process's id."""
    time.sleep(seconds)
    return os.getpid()


def memory() -> dict[str, int]:
    """This worker's pid, resident size and peak resident size (bytes), from /proc."""
    fields: dict[str, int] = {"pid": os.getpid()}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
    return fields


def hoard(mib: int) -> int:
    """Keep `mib` MiB after returning (a leak no trimming gives back); the block count."""
    blocks = [bytearray(64 * 1024) for _ in range(mib * 16)]
    _KEPT.extend(blocks)
    return len(blocks)


def die(signal_number: int) -> None:
    """Kill this worker with a signal (what the kernel's OOM killer or an abort does)."""
    os.kill(os.getpid(), signal_number)


def grab(mib: int) -> int:
    """Hold `mib` MiB at once (past a heap cap: MemoryError)."""
    return len(bytearray(mib * 1024 * 1024))


_KEPT: list[bytearray] = []


def marked_nap(marker: str, seconds: float) -> int:
    """Write `marker` on starting (a test then knows the job runs), then `nap`."""
    Path(marker).write_text(str(os.getpid()))
    return nap(seconds)
