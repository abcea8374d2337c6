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


def marked_nap(marker: str, seconds: float) -> int:
    """Write `marker` on starting (a test then knows the job runs), then `nap`."""
    Path(marker).write_text(str(os.getpid()))
    return nap(seconds)
