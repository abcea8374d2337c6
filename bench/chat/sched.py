"""Run-queue wait of a process tree, from /proc/<pid>/task/<tid>/schedstat (Linux).

On a shared 2-core machine a pinned server can be runnable yet not running, because other
work took its core: its latency then grows with no CPU shown. schedstat's second field is
the time every thread spent waiting on a run queue; its delta over a step, next to the CPU
time, tells a saturated server from a starved one.
"""

from __future__ import annotations

from pathlib import Path

from bench.media.procstats import tree_pids

_PROC = Path("/proc")


def _task_wait_ns(pid: int) -> int:
    total = 0
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return 0
    for task in tasks:
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue
        if len(fields) >= 2:
            total += int(fields[1])
    return total


def tree_wait_seconds(root: int) -> float:
    """Seconds the tree's live threads spent runnable but waiting for a CPU."""
    return sum(_task_wait_ns(pid) for pid in tree_pids(root)) / 1e9


def self_wait_seconds() -> float:
    """Run-queue wait of this process's threads."""
    return _task_wait_ns(int(Path("/proc/self").resolve().name)) / 1e9
