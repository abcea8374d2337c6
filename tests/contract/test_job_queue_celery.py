"""What the Celery job queue adds to the contract: lost workers, retries, time limits.

Real workers (subprocesses) on the machine's Redis and RabbitMQ; see celery_fleet.py.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from confab.core.errors import Unavailable, Unprocessable, UpstreamFailed, UpstreamTimeout
from tests.conftest import free_port, skip_or_fail
from tests.contract.celery_fleet import (
    CeleryTarget,
    Worker,
    delete_queue,
    make_target,
)
from tests.polling import until, wait_until

BROKERS = ["redis", "rabbitmq"]
REDIS_SERVER = "/usr/bin/redis-server"


async def _wait_for(path: Path, timeout: float = 15.0) -> None:
    await until(lambda: asyncio.to_thread(path.exists), timeout, f"{path.name} appearing")


@pytest.mark.parametrize("kind", BROKERS)
async def test_a_killed_worker_loses_no_job(kind: str, tmp_path: Path) -> None:
    target = make_target(kind, f"kill-{kind}", tmp_path / "blobs")
    first = Worker(target, tmp_path / "first.log").start().wait_ready()
    second = Worker(target, tmp_path / "second.log")
    jobs = target.job_queue()
    try:
        calls = [
            asyncio.create_task(
                jobs.call("mark_then_sleep", str(tmp_path / f"m{i}"), 0.5, timeout=10)
            )
            for i in range(8)
        ]
        await _wait_for(tmp_path / "m0")  # the first worker is busy with jobs
        first.kill()
        assert len(first.jobs()) < 8
        second.start()
        results = await asyncio.wait_for(asyncio.gather(*calls), 45)
        assert results == ["slept"] * 8
        # The jobs the killed worker was running were run again (their second run).
        assert any(line["run"] == 2 for line in second.jobs())
        finished = [line for line in first.jobs() + second.jobs() if line["outcome"] == "ok"]
        assert len({line["job_id"] for line in finished}) == 8
    finally:
        await jobs.close()
        first.stop()
        second.stop()
        delete_queue(target)
    assert target.leftover_blobs() == []


async def test_sigterm_is_a_warm_shutdown(tmp_path: Path) -> None:
    target = make_target("redis", "sigterm", tmp_path / "blobs")
    worker = Worker(target, tmp_path / "worker.log").start().wait_ready()
    jobs = target.job_queue()
    try:
        call = asyncio.create_task(
            jobs.call("mark_then_sleep", str(tmp_path / "started"), 1.0, timeout=10)
        )
        await _wait_for(tmp_path / "started")
        code = await asyncio.to_thread(worker.terminate, 20)
        assert code == 0
        assert await call == "slept"  # the running job finished before the exit
        assert [line["outcome"] for line in worker.jobs()] == ["ok"]
    finally:
        await jobs.close()
        worker.stop()
        delete_queue(target)


async def test_transient_failures_are_retried(redis_target: CeleryTarget, tmp_path: Path) -> None:
    jobs = redis_target.job_queue()
    try:
        assert await jobs.call("flaky", str(tmp_path / "runs"), timeout=10) == 2
    finally:
        await jobs.close()
    outcomes = [line["outcome"] for line in redis_target.worker_jobs() if line["task"] == "flaky"]
    assert outcomes == ["retry", "ok"]


async def test_an_unexpected_error_is_a_job_failure_without_its_details(
    rabbitmq_target: CeleryTarget,
) -> None:
    jobs = rabbitmq_target.job_queue()
    try:
        with pytest.raises(UpstreamFailed) as caught:
            await jobs.call("boom", timeout=10)
        assert caught.value.reason == "job_failed"
        assert "internal detail" not in str(caught.value)
    finally:
        await jobs.close()
    assert rabbitmq_target.worker_jobs()[-1]["outcome"] == "error"


async def test_a_job_that_kills_its_worker_is_refused_after_a_few_runs(
    redis_target: CeleryTarget,
) -> None:
    jobs = redis_target.job_queue()
    try:
        with pytest.raises(Unprocessable) as caught:
            await jobs.call("crash", timeout=10)
        assert caught.value.reason == "worker_crashed"
        results = await asyncio.gather(*(jobs.call("add", i, 1, timeout=10) for i in range(6)))
        assert results == [i + 1 for i in range(6)]
    finally:
        await jobs.close()


async def test_a_task_ignoring_its_soft_limit_is_killed(redis_target: CeleryTarget) -> None:
    jobs = redis_target.job_queue()
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as caught:
            await jobs.call("stubborn", 30.0, timeout=0.3)
        assert caught.value.reason == "job_timeout"
        assert time.monotonic() - started < 10
        assert await jobs.call("add", 1, 1, timeout=10) == 2
    finally:
        await jobs.close()


async def test_an_unreachable_broker_is_unavailable(tmp_path: Path) -> None:
    target = CeleryTarget(f"redis://127.0.0.1:{free_port()}/0", "nowhere", tmp_path)
    jobs = target.job_queue()
    try:
        with pytest.raises(Unavailable) as caught:
            await asyncio.wait_for(jobs.call("add", 1, 1, timeout=5), 30)
        assert caught.value.reason == "jobs_unavailable"
    finally:
        await jobs.close()


async def test_the_worker_logs_one_line_per_job(
    redis_target: CeleryTarget,
) -> None:
    jobs = redis_target.job_queue()
    try:
        await jobs.call("add", 40, 2, timeout=10)
    finally:
        await jobs.close()
    line = [j for j in redis_target.worker_jobs() if j["task"] == "add"][-1]
    assert line["outcome"] == "ok"
    assert line["duration_ms"] >= 0
    assert line["level"] == "info"


async def test_a_late_worker_skips_expired_jobs_then_recycles_its_processes(
    tmp_path: Path,
) -> None:
    target = make_target("redis", "late", tmp_path / "blobs")
    worker = Worker(
        target,
        tmp_path / "worker.log",
        argv=[sys.executable, "-m", "tests.contract.celery_worker", "1"],
    )
    jobs = target.job_queue(queue_wait=0.3)
    patient = target.job_queue()
    try:
        # Nobody consumes the queue: the job expires before the worker below starts.
        call = asyncio.create_task(jobs.call("add", 1, 2, timeout=5))
        await asyncio.sleep(0.5)
        worker.start(env={**target.env(), "CONFAB_MEDIA_RENDER_RECYCLE_AFTER": "2"})
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as caught:
            await call
        assert caught.value.reason == "job_timeout"
        assert time.monotonic() - started < 8  # told by the worker, not by our deadline
        # One process, replaced after 2 jobs.
        pids = [await patient.call("pid", timeout=10) for _ in range(3)]
        assert pids[0] == pids[1] != pids[2]
    finally:
        await jobs.close()
        await patient.close()
        worker.stop()
        delete_queue(target)


def _start_redis(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    wait_until(answers, 10, "redis-server started")
    return process


async def test_callers_and_workers_recover_from_a_redis_restart(tmp_path: Path) -> None:
    if shutil.which(REDIS_SERVER) is None:
        skip_or_fail(f"no {REDIS_SERVER}")
    port = free_port()
    redis = _start_redis(port, tmp_path)
    target = CeleryTarget(f"redis://127.0.0.1:{port}/0", "restart", tmp_path / "blobs")
    worker = Worker(target, tmp_path / "worker.log").start().wait_ready()
    jobs = target.job_queue()
    try:
        assert await jobs.call("add", 1, 1, timeout=10) == 2
        redis.terminate()
        redis.wait(timeout=10)
        redis = _start_redis(port, tmp_path)  # empty: what was queued is gone
        # The first calls may meet connections still broken; then all is well again.
        deadline = time.monotonic() + 30
        while True:
            try:
                assert await jobs.call("add", 2, 2, timeout=5) == 4
                break
            except (Unavailable, UpstreamTimeout):
                assert time.monotonic() < deadline, "no recovery after the restart"
        results = await asyncio.gather(*(jobs.call("add", i, i, timeout=10) for i in range(5)))
        assert results == [2 * i for i in range(5)]
    finally:
        await jobs.close()
        worker.stop()
        redis.kill()
        redis.wait(timeout=10)
