"""Every JobQueue passes the same contract; process isolation is the pool's extra.

The Celery queues run the contract against real workers (subprocesses) on Redis and on
RabbitMQ; their own extras (redelivery after a lost worker, retries, warm shutdown) are in
tests/contract/test_job_queue_celery.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confab.adapters.jobs_pool import LocalProcessPool
from confab.core.errors import NotFound, Unprocessable, UpstreamTimeout
from confab.core.memory import InlineJobQueue
from confab.core.ports import JobQueue
from tests.contract.celery_fleet import CeleryTarget
from tests.contract.tasks import TEST_TASKS, Described, Label
from tests.contract.worker_probe import PROBE_TASKS
from tests.polling import until


@pytest.fixture(params=["inline", "pool", "celery-redis", "celery-rabbitmq"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    jobs: JobQueue
    target: CeleryTarget | None = None
    if request.param == "pool":
        jobs = LocalProcessPool(TEST_TASKS, processes=2, recycle_after=50)
    elif request.param.startswith("celery-"):
        target = request.getfixturevalue(f"{request.param.removeprefix('celery-')}_target")
        jobs = target.job_queue()
    else:
        jobs = InlineJobQueue(TEST_TASKS)
    yield jobs
    await jobs.close()
    if target is not None:
        # Every call cleans up its blobs, whatever its outcome.
        assert target.leftover_blobs() == []


async def test_runs_a_task_and_returns_its_result(queue: JobQueue) -> None:
    assert await queue.call("add", 2, 3) == 5
    results = await asyncio.gather(*(queue.call("add", i, i) for i in range(20)))
    assert results == [2 * i for i in range(20)]


async def test_expected_errors_come_back_with_their_reason(queue: JobQueue) -> None:
    with pytest.raises(Unprocessable) as caught:
        await queue.call("fail", "corrupt_image")
    assert caught.value.reason == "corrupt_image"


async def test_unknown_task_is_refused(queue: JobQueue) -> None:
    with pytest.raises(NotFound):
        await queue.call("nope")


async def test_bytes_and_dataclasses_cross_the_queue(queue: JobQueue) -> None:
    data = bytes(range(256)) * 64
    result = await queue.call("describe", data, Label("x", (1, 2)), timeout=20)
    assert result == Described(label=Label("x", (1, 2)), data=data[::-1], length=len(data))


async def test_task_past_its_timeout_fails_clearly(queue: JobQueue) -> None:
    with pytest.raises(UpstreamTimeout) as caught:
        await queue.call("sleep", 1.0, timeout=0.2)
    assert caught.value.reason == "job_timeout"


async def test_pool_kills_a_stuck_worker_and_keeps_serving() -> None:
    pool = LocalProcessPool(TEST_TASKS, processes=1)
    try:
        with pytest.raises(UpstreamTimeout):
            await pool.call("sleep", 30.0, timeout=0.3)
        assert await pool.call("add", 1, 1, timeout=10) == 2
    finally:
        await pool.close()


async def test_pool_survives_a_crashing_worker() -> None:
    pool = LocalProcessPool(TEST_TASKS, processes=2)
    try:
        with pytest.raises(Unprocessable) as caught:
            await pool.call("crash")
        assert caught.value.reason == "worker_crashed"
        results = await asyncio.gather(*(pool.call("add", i, 1) for i in range(10)))
        assert results == [i + 1 for i in range(10)]
    finally:
        await pool.close()


async def test_pool_recycles_workers_after_n_tasks() -> None:
    pool = LocalProcessPool(TEST_TASKS, processes=1, recycle_after=3)
    try:
        pids = [await pool.call("pid") for _ in range(7)]
        assert len(set(pids)) >= 3
    finally:
        await pool.close()


async def test_pool_workers_stay_lean() -> None:
    # A worker must not re-run the parent's main module (here pytest's script; for the
    # server, the `confab` CLI with pydantic and the batch command) nor load the server's
    # framework, settings or metrics: each of those is resident once per worker.
    pool = LocalProcessPool(PROBE_TASKS, processes=1)
    try:
        modules = set(await pool.call("modules", timeout=30))
    finally:
        await pool.close()
    assert "tests.contract.worker_probe" in modules
    heavy = {"pytest", "_pytest", "pydantic", "pydantic_settings", "asyncio", "ssl"}
    heavy |= {"starlette", "uvicorn", "prometheus_client", "sqlalchemy", "confab.cli"}
    assert not modules & heavy


async def test_pool_workers_get_the_malloc_settings() -> None:
    pool = LocalProcessPool(PROBE_TASKS, processes=1)
    try:
        assert await pool.call("environ", "MALLOC_ARENA_MAX", timeout=30) == "1"
    finally:
        await pool.close()


async def test_what_a_task_prints_does_not_break_the_pool() -> None:
    pool = LocalProcessPool(PROBE_TASKS, processes=1)
    try:
        assert await pool.call("shout", "x", timeout=30) == "x"
        assert await pool.call("environ", "NOPE_NOT_SET", timeout=30) is None
    finally:
        await pool.close()


async def test_an_unpicklable_result_fails_only_its_call() -> None:
    pool = LocalProcessPool(PROBE_TASKS, processes=1)
    try:
        with pytest.raises(TypeError, match="unpicklable"):
            await pool.call("unpicklable", timeout=30)
        assert await pool.call("environ", "NOPE_NOT_SET", timeout=30) is None
    finally:
        await pool.close()


async def test_a_cancelled_call_stops_its_worker_and_the_pool_goes_on(tmp_path: Path) -> None:
    pool = LocalProcessPool(PROBE_TASKS, processes=1)
    marker = tmp_path / "running"
    try:
        first = await pool.call("nap", 0.0, timeout=30)
        call = asyncio.ensure_future(pool.call("marked_nap", str(marker), 30.0))
        await until(marker.exists, 30, "the job running")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await pool.call("nap", 0.0, timeout=30) != first  # a new worker
    finally:
        await pool.close()


async def test_close_lets_running_tasks_finish_and_refuses_new_ones(tmp_path: Path) -> None:
    pool = LocalProcessPool(PROBE_TASKS, processes=2)
    markers = [tmp_path / f"job{i}" for i in range(3)]
    running = [
        asyncio.ensure_future(pool.call("marked_nap", str(m), 0.5, timeout=30)) for m in markers
    ]
    await until(lambda: sum(m.exists() for m in markers) == 2, 30, "two jobs running")
    await pool.close()
    assert all(isinstance(pid, int) for pid in await asyncio.gather(*running[:2]))
    with pytest.raises(RuntimeError, match="closed"):
        await running[2]  # was waiting for a worker when the pool closed
    with pytest.raises(RuntimeError, match="closed"):
        await pool.call("nap", 0.0)


async def test_a_worker_that_died_while_idle_is_replaced() -> None:
    pool = LocalProcessPool(PROBE_TASKS, processes=1)
    try:
        pid = await pool.call("nap", 0.0, timeout=30)
        os.kill(pid, signal.SIGKILL)
        # The pool sees the death once the child is reaped (asyncio's child watcher).
        await until(lambda: all(w.process.returncode is not None for w in pool._idle), 10, "reaped")
        assert await pool.call("nap", 0.0, timeout=30) != pid
    finally:
        await pool.close()
