"""One log line and the job metrics per job-queue call, whatever the queue."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confab.core.errors import ConfabError
from confab.core.metrics import Metrics

log = logging.getLogger("confab.jobs")


@contextmanager
def recorded_job(metrics: Metrics | None, task: str, **fields: str) -> Iterator[None]:
    """Time the block; its outcome is "ok", the ConfabError's reason, or "error"."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except ConfabError as exc:
        outcome = exc.reason
        raise
    except BaseException:
        outcome = "error"
        raise
    finally:
        elapsed = time.perf_counter() - started
        if metrics is not None:
            metrics.jobs.labels(task, outcome).inc()
            metrics.job_seconds.labels(task).observe(elapsed)
        log.info(
            "job",
            extra={
                "task": task,
                **fields,
                "outcome": outcome,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
