"""The worker side of the local process pool: how workers start, and all they run of ours.

Kept small on purpose. A worker imports this module, pebble and the modules of the tasks
it runs, and nothing of the server (web framework, settings, metrics, database drivers):
every module imported here is resident once per worker. (The process class below is
pickled to the worker by reference, which is why it lives here and not in `jobs_pool`.)
"""

from __future__ import annotations

import importlib
import threading
from multiprocessing import context, popen_spawn_posix, spawn
from typing import Any

from confab.core.malloc import tune_malloc
from confab.core.tasks import resolve_task

# One malloc arena: a worker renders on one thread at a time (libvips runs with
# concurrency 1 there), so per-thread arenas buy no speed and each would keep its own
# freed memory. Measured on 12 MP JPEG renders: peak RSS 36 MiB against 43 MiB with
# glibc's default arenas, the same CPU per render.
WORKER_MALLOC_ARENAS = 1

_worker_tasks: dict[str, str] = {}

# Set on the thread that is launching one of our workers (see `_preparation_data`).
_launching = threading.local()
_stock_preparation_data = spawn.get_preparation_data


def _preparation_data(name: str) -> dict[str, Any]:
    """multiprocessing's start-up data for a child, minus the main module for our workers.

    A spawned child re-runs the parent's main module (for `confab`, the console script,
        which imports the whole CLI: settings, pydantic, the batch command) so that objects
        defined in `__main__` unpickle. Our workers unpickle nothing from `__main__` (tasks
        are named by module path), so they skip it: ~18 MiB less per worker. Other processes
        started from this process keep the stock behaviour.
    """
    data = _stock_preparation_data(name)
    if getattr(_launching, "worker", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


class _WorkerPopen(popen_spawn_posix.Popen):
    def _launch(self, process_obj: Any) -> None:
        _launching.worker = True
        try:
            super()._launch(process_obj)  # type: ignore[misc]  # not in typeshed
        finally:
            _launching.worker = False


class _WorkerProcess(context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _WorkerPopen:
        return _WorkerPopen(process_obj)


class WorkerContext(context.SpawnContext):
    """The spawn context, starting processes that do not re-import `__main__`.

    Spawn rather than a fork server: a fork server that preloads nothing saves only the
    interpreter's start-up (~20 ms per worker, once per `recycle_after` tasks) and is one
    more resident process (~13 MiB RSS); one that preloads the image library would share
    its pages with the workers but count them again in its own RSS.
    """

    Process = _WorkerProcess

    def __init__(self) -> None:
        # Built by the pool's constructor: the hook goes in then, never at import time.
        install_preparation_hook()


def install_preparation_hook() -> None:
    """Route multiprocessing's start-up data through `_preparation_data` (idempotent)."""
    if spawn.get_preparation_data is not _preparation_data:
        spawn.get_preparation_data = _preparation_data


def init_worker(tasks: dict[str, str], initializer: str | None, initargs: tuple[Any, ...]) -> None:
    """Set up one worker process: malloc, the task table, then the queue's initializer."""
    tune_malloc(WORKER_MALLOC_ARENAS)
    _worker_tasks.update(tasks)
    if initializer:
        module_name, _, attr = initializer.partition(":")
        getattr(importlib.import_module(module_name), attr)(*initargs)


def run(name: str, args: tuple[Any, ...]) -> Any:
    """Run the task called `name` with `args` (only names in the table are allowed)."""
    return resolve_task(_worker_tasks, name)(*args)
