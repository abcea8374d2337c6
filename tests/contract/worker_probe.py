"""A task that reports what a pool worker has imported (kept free of heavy imports)."""

from __future__ import annotations

import sys

PROBE_TASKS = {"modules": "tests.contract.worker_probe:loaded_modules"}


def loaded_modules() -> list[str]:
    """The names of the modules loaded in this process."""
    return sorted(sys.modules)
