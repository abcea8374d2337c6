"""Job round trips: the local pool against Celery on Redis and on RabbitMQ.

    .venv/bin/python bench/jobs/roundtrip.py [--calls 300] [--burst 1000]

For each queue: the latency of one trivial job at a time (median and p99 of `--calls`),
and the throughput of `--burst` trivial jobs sent at once; then the same for a job that
carries 256 KiB each way (bytes through the blob store on Celery, pickled in the pool).
Celery runs one worker (`tests.contract.celery_worker`, 2 processes) on a queue of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.contract.celery_fleet import (
    delete_queue,
    make_target,
    running_worker,
)
from tests.contract.tasks import TEST_TASKS, Label

from confab.adapters.jobs_pool import LocalProcessPool
from confab.core.ports import JobQueue

PAYLOAD = bytes(range(256)) * 1024


async def measure(jobs: JobQueue, calls: int, burst: int) -> dict[str, float]:
    """Latency (ms) of sequential calls and throughput (jobs/s) of a burst."""
    await jobs.call("add", 0, 0, timeout=30)  # warm up: connections, worker processes

    async def timed(call: Callable[[], Awaitable[object]]) -> list[float]:
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - started) * 1000)
        return sorted(samples)

    small = await timed(lambda: jobs.call("add", 1, 2, timeout=30))
    large = await timed(lambda: jobs.call("describe", PAYLOAD, Label("x", (1,)), timeout=30))
    started = time.perf_counter()
    await asyncio.gather(*(jobs.call("add", i, i, timeout=60) for i in range(burst)))
    rate = burst / (time.perf_counter() - started)
    return {
        "p50_ms": statistics.median(small),
        "p99_ms": small[int(len(small) * 0.99) - 1],
        "256k_p50_ms": statistics.median(large),
        "burst_jobs_per_s": rate,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    pool = LocalProcessPool(TEST_TASKS, processes=2)
    try:
        results["pool (2 processes)"] = await measure(pool, args.calls, args.burst)
    finally:
        await pool.close()
    for kind in ("redis", "rabbitmq"):
        with tempfile.TemporaryDirectory() as folder:
            target = make_target(kind, f"bench-{kind}", Path(folder) / "blobs")
            try:
                with running_worker(target, Path(folder) / "worker.log"):
                    jobs = target.job_queue()
                    try:
                        results[f"celery on {kind} (1 worker, 2 processes)"] = await measure(
                            jobs, args.calls, args.burst
                        )
                    finally:
                        await jobs.close()
            finally:
                delete_queue(target)
    print(f"{'queue':42} {'p50 ms':>8} {'p99 ms':>8} {'256K p50':>9} {'burst/s':>9}")
    for name, row in results.items():
        print(
            f"{name:42} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
            f"{row['256k_p50_ms']:9.2f} {row['burst_jobs_per_s']:9.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
