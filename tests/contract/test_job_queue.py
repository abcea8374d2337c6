"""Every JobQueue passes the same contract; process isolation is the pool's extra."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from confab.adapters.jobs_pool import LocalProcessPool
from confab.core.errors import NotFound, Unprocessable, UpstreamTimeout
from confab.core.memory import InlineJobQueue
from confab.core.ports import JobQueue
from tests.contract.tasks import TEST_TASKS
from tests.contract.worker_probe import PROBE_TASKS


@pytest.fixture(params=["inline", "pool"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    jobs: JobQueue
    if request.param == "pool":
        jobs = LocalProcessPool(TEST_TASKS, processes=2, recycle_after=50)
    else:
        jobs = InlineJobQueue(TEST_TASKS)
    yield jobs
    await jobs.close()


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
    heavy = {"pytest", "_pytest", "pydantic", "pydantic_settings"}
    heavy |= {"starlette", "uvicorn", "prometheus_client", "sqlalchemy", "confab.cli"}
    assert not modules & heavy
