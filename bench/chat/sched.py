"""Who else used the cores: run-queue wait of a process tree, foreign work on a core (Linux).

On a shared 2-core machine a pinned server can be runnable yet not running, because other
work took its core: its latency then grows with no CPU shown. schedstat's second field is
the time every thread spent waiting on a run queue; its delta over a step, next to the CPU
time, tells a saturated server from a starved one.

`CoreNoise` measures the other side of it: the CPU time other processes (and the
hypervisor, as steal time) took on the server's core and on the generator's core during a
window: a core's user+nice+system time from /proc/stat minus our own process's CPU time.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bench.chat.stats import foreign_cores
from bench.media.procstats import CLOCK_TICKS, tree_cpu_seconds, tree_pids

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


def tree_wait_seconds(root: int, children: dict[int, list[int]] | None = None) -> float:
    """Seconds the tree's live threads spent runnable but waiting for a CPU."""
    return sum(_task_wait_ns(pid) for pid in tree_pids(root, children)) / 1e9


def self_wait_seconds() -> float:
    """Run-queue wait of this process's threads."""
    return _task_wait_ns(int(Path("/proc/self").resolve().name)) / 1e9


def cpu_stat_ticks(label: str) -> list[int] | None:
    """The clock-tick counters of one /proc/stat line since boot (`cpu`: every core,
    `cpu0`: one), in the kernel's order (user, nice, system, idle, iowait, irq, softirq,
    steal, ...); None if there is no such line."""
    prefix = f"{label} "
    try:
        lines = (_PROC / "stat").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(prefix):
            return [int(value) for value in line.split()[1:]]
    return None


def core_times(core: int) -> tuple[float, float]:
    """(user+nice+system seconds, steal seconds) of one core since boot; NaN if unknown."""
    fields = cpu_stat_ticks(f"cpu{core}")
    if fields is None:
        return math.nan, math.nan
    steal = fields[7] if len(fields) > 7 else 0
    return (fields[0] + fields[1] + fields[2]) / CLOCK_TICKS, steal / CLOCK_TICKS


class CoreNoise:
    """Foreign work on the server's core and the generator's core over a window (in cores)."""

    def __init__(self, server_pid: int | None, server_core: int | None, own_core: int | None):
        self.server_pid = server_pid
        self.server_core = server_core
        self.own_core = own_core
        self._start: tuple[float, ...] = ()

    @property
    def enabled(self) -> bool:
        """Only meaningful when both processes are pinned and the server pid is known."""
        return None not in (self.server_pid, self.server_core, self.own_core)

    def _read(self) -> tuple[float, ...]:
        assert self.server_pid is not None and self.server_core is not None
        assert self.own_core is not None
        usage = os.times()
        return (
            *core_times(self.server_core),
            tree_cpu_seconds(self.server_pid),
            *core_times(self.own_core),
            usage.user + usage.system,
        )

    def start(self) -> None:
        """Begin a window."""
        if self.enabled:
            self._start = self._read()

    def stop(self, seconds: float) -> tuple[float, float]:
        """(foreign cores on the server's core, on the generator's) since `start`."""
        if not self.enabled or not self._start:
            return math.nan, math.nan
        end = self._read()
        d = [b - a for a, b in zip(self._start, end, strict=True)]
        return (
            foreign_cores(d[0], d[1], d[2], seconds),
            foreign_cores(d[3], d[4], d[5], seconds),
        )
