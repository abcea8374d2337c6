"""The media half: thumbnails/s with one `confab worker --concurrency 1`, then with two.

Celery on a private Redis (CONFAB_JOBS_URL), one shared CONFAB_BLOBS_URL folder. The load is
`confab thumbs --jobs-url` over a folder of bench/media's corpus (hard links, so each copy is
its own source and is rendered again), into a fresh output folder every run. The figure is
the command's own rate (its JSON report: thumbnails done / seconds of the batch).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cgroups import CpuQuota
from bench.media.corpus import build_corpus
from bench.procs import Process, RedisServer, start_worker
from bench.scale.cores import Allocation, affinity, pin_tree
from bench.scale.cpu import Meter, machine_share, usage

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "bench" / ".work" / "corpus"
SIZE = "320x240"


@dataclass
class MediaSettings:
    """How much to render and how many renders the driver keeps in flight."""

    copies: int
    processes: int = 2  # `thumbs --processes`: with --jobs-url, twice this in flight
    timeout: float = 900.0


def source_folder(work: Path, copies: int) -> tuple[Path, int]:
    """A folder with `copies` hard links of every corpus image; (folder, image count)."""
    files = build_corpus(CORPUS)
    folder = work / f"sources-x{copies}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for copy in range(copies):
        for item in files:
            target = folder / f"c{copy:02d}-{item.name}"
            try:
                os.link(CORPUS / item.name, target)
            except OSError:  # another filesystem: a copy does as well
                shutil.copyfile(CORPUS / item.name, target)
    return folder, copies * len(files)


def _wait_ready(worker: Process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log()[-2000:]}")
        if "worker ready" in worker.log():
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker not ready in {timeout}s:\n{worker.log()[-2000:]}")


@contextmanager
def workers(
    work: Path,
    env: dict[str, str],
    count: int,
    alloc: Allocation,
    node_cpu: float | None = None,
    node_weight: float = 1.0,
) -> Iterator[tuple[list[Process], dict[str, CpuQuota]]]:
    """`count` workers, each pinned (its pool child too) as `alloc` says, or each in a
    cgroup with a quota of `node_cpu` cores weighing `node_weight` processes; stopped at
    the end. Yields the workers and the cgroup of each (by name; none without `node_cpu`)."""
    with ExitStack() as stack:
        started = []
        quotas: dict[str, CpuQuota] = {}
        for index in range(count):
            name = f"worker{index}"
            quota = None
            if node_cpu is not None:
                quota = CpuQuota(name, node_cpu, weight=node_weight)
            if quota is not None:
                stack.callback(quota.close)
            worker = start_worker(work, env, name)
            stack.callback(worker.kill)  # after the measurement nothing is worth waiting for
            _wait_ready(worker)
            if quota is not None:
                quota.add_tree(worker.pid)  # the worker and its pool process
                quotas[name] = quota
            pin_tree(worker.pid, alloc.of(name))
            started.append(worker)
        yield started, quotas


def measure_media(
    work: Path,
    redis: RedisServer,
    count: int,
    alloc: Allocation,
    settings: MediaSettings,
    node_cpu: float | None = None,
    node_weight: float = 1.0,
) -> dict[str, Any]:
    """One configuration: `count` workers render the source folder; rate and CPU."""
    sources, total = source_folder(work, settings.copies)
    run = work / f"workers{count}"
    if run.exists():
        shutil.rmtree(run)
    blobs = run / "blobs"
    blobs.mkdir(parents=True)
    jobs_url = f"{redis.url}/1"
    env = {
        "CONFAB_JOBS_URL": jobs_url,
        "CONFAB_BLOBS_URL": blobs.as_uri(),
        "CONFAB_LOG_LEVEL": "INFO",  # the worker says "worker ready"
    }
    report = run / "report.json"
    with workers(run, env, count, alloc, node_cpu, node_weight) as (started, quotas):
        roots = {f"worker{i}": worker.pid for i, worker in enumerate(started)}
        roots["redis"] = redis.pid
        pinned = {name: affinity(pid) for name, pid in roots.items()}
        meter = Meter(
            roots, {f"{name}~throttled": quota.throttled_seconds for name, quota in quotas.items()}
        )
        cmd = [
            sys.executable, "-m", "confab.cli", "thumbs", str(sources),
            "-o", str(run / "out"), "--size", SIZE,
            "--jobs-url", jobs_url, "--processes", str(max(settings.processes, count)),
            f"--json={report}",
        ]  # fmt: skip
        before = meter.read()
        began = time.monotonic()
        with open(run / "thumbs.log", "wb") as log:
            process = subprocess.Popen(
                cmd, env={**os.environ, **env, "CONFAB_LOG_LEVEL": "WARNING"},
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        pin_tree(process.pid, alloc.of("thumbs"))
        pinned["thumbs"] = alloc.of("thumbs") or []
        try:
            code, driver_cpu = _wait_with_cpu(process, settings.timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        seconds = time.monotonic() - began
        after = meter.read()
    if code != 0 or not report.exists():
        tail = (run / "thumbs.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"confab thumbs exited {code}:\n{tail}")
    summary = json.loads(report.read_text())["summary"]
    # Shares of a core over the batch itself (the command's start-up is idle for the rest).
    elapsed = float(summary["elapsed"]) or seconds
    cpu = usage(before, after, elapsed)
    cpu["thumbs"] = {"cpu_s": driver_cpu, "cores": driver_cpu / elapsed}
    # The machine over the whole command (its start-up included, where the others ran).
    whole = usage(before, after, seconds)
    whole["thumbs"] = {"cpu_s": driver_cpu, "cores": driver_cpu / seconds}
    machine = machine_share(whole, len(os.sched_getaffinity(0)))
    done = int(summary["ok"])
    worker_cpu = sum(v["cpu_s"] for k, v in cpu.items() if k.startswith("worker") and "~" not in k)
    return {
        "workers": count,
        "sources": total,
        "ok": done,
        "failed": int(summary["failed"]),
        "elapsed_s": float(summary["elapsed"]),
        "thumbnails_per_s": float(summary["thumbnails_per_second"]),
        "cpu": cpu,
        "machine": machine,
        "pinned": pinned,
        "worker_cpu_ms_per_thumbnail": 1e3 * worker_cpu / done if done else None,
    }


def _wait_with_cpu(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for `process` (bounded); (exit code, its CPU seconds with its reaped children)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, _seconds(rusage)
        time.sleep(0.05)
    raise RuntimeError(f"confab thumbs still running after {timeout:.0f} s")


def _seconds(usage_: resource.struct_rusage) -> float:
    return float(usage_.ru_utime + usage_.ru_stime)
