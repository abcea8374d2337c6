"""Job queue on a local pool of worker processes (pebble).

A task past its timeout has its worker killed; a worker that dies (a decoder crash)
fails only its own task; workers are recycled after N tasks to bound memory. The pool
replaces lost workers by itself, so the server keeps serving.

Workers are fresh interpreters (multiprocessing's spawn: the event loop's process, with
its threads and sockets, is never forked) and stay lean: they import `jobs_pool_worker`
and their tasks' modules only (see `WorkerContext`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Mapping
from typing import Any

import pebble

from confab.adapters.jobs_pool_worker import WorkerContext, init_worker, run
from confab.core.errors import ConfabError, Unprocessable, UpstreamTimeout
from confab.core.metrics import Metrics

log = logging.getLogger("confab.jobs")


class LocalProcessPool:
    """JobQueue on `processes` local worker processes."""

    def __init__(
        self,
        tasks: Mapping[str, str],
        *,
        processes: int,
        recycle_after: int = 1000,
        initializer: str | None = None,
        initargs: tuple[Any, ...] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._pool = pebble.ProcessPool(
            max_workers=processes,
            max_tasks=recycle_after,
            initializer=init_worker,
            initargs=(dict(tasks), initializer, initargs),
            context=WorkerContext(),
        )
        self.processes = processes

    async def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            future = self._pool.schedule(run, args=(task, args), timeout=timeout)
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError:
            outcome = "timeout"
            raise UpstreamTimeout(
                f"task {task} ran past its {timeout}s limit and was stopped", code="job_timeout"
            ) from None
        except pebble.ProcessExpired as exc:
            outcome = "crashed"
            raise Unprocessable(
                f"the worker running {task} died (exit code {exc.exitcode})",
                code="worker_crashed",
            ) from None
        except ConfabError as exc:
            outcome = exc.reason
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            elapsed = time.perf_counter() - started
            if self._metrics is not None:
                self._metrics.jobs.labels(task, outcome).inc()
                self._metrics.job_seconds.labels(task).observe(elapsed)
            log.info(
                "job",
                extra={"task": task, "outcome": outcome, "duration_ms": round(elapsed * 1000, 2)},
            )

    async def close(self) -> None:
        self._pool.close()  # type: ignore[no-untyped-call]
        await asyncio.to_thread(self._pool.join)
