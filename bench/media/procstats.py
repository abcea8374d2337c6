"""CPU time and memory of a server's whole process tree, read from /proc (Linux).

CPU: the sum of utime+stime+cutime+cstime over every live process of the tree. A worker that
exits (recycling) is reaped by its parent in the tree, and its time then shows in the
parent's cutime/cstime, so a delta over a scenario still counts it.

Memory: the sum of RSS over the tree (what the issue asks: shared pages of forked workers
are counted once per process, for both servers alike) and the sum of PSS (shared pages
split between sharers: closer to the real footprint), sampled by a background thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in these per second
_PROC = Path("/proc")


def _stat(path: Path) -> tuple[str, list[str]] | None:
    """A process's or thread's `stat` file: (its name, the fields after the name), None if
    it is gone. The name is in parentheses and may hold spaces: split after the last ")"."""
    try:
        stat = path.read_text()
    except OSError:
        return None
    return stat[stat.find("(") + 1 : stat.rfind(")")], stat[stat.rfind(")") + 2 :].split()


def children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids for every process we can read (one scan of /proc: a
    caller that looks at several trees at once scans once and passes it on)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(entry / "stat")
        if stat is not None:
            children.setdefault(int(stat[1][1]), []).append(int(entry.name))
    return children


def tree_pids(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """`root` and all its live descendants (`children`: a `children_map` to reuse)."""
    children = children_map() if children is None else children
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def _cpu_ticks(pid: int) -> int:
    stat = _stat(_PROC / str(pid) / "stat")
    # utime, stime, cutime, cstime are fields 14-17 of stat(5); index 11-14 after the name.
    return 0 if stat is None else sum(int(value) for value in stat[1][11:15])


def tree_cpu_seconds(root: int, children: dict[int, list[int]] | None = None) -> float:
    """User + system CPU seconds of the tree, including reaped children."""
    return sum(_cpu_ticks(pid) for pid in tree_pids(root, children)) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of one process's threads: "main" (the first thread: an
    asyncio server's event loop), and the rest summed by their kernel name with trailing
    digits dropped, "other threads" where that is just the process's name (CPython before
    3.14 does not name its threads for the kernel). Empty if the process is gone."""
    out: dict[str, tuple[float, float]] = {}
    task = _PROC / str(pid) / "task"
    try:
        tids = [entry.name for entry in task.iterdir()]
        process_name = (_PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return out
    for tid in tids:
        stat = _stat(task / tid / "stat")
        if stat is None:
            continue  # the thread ended
        name, fields = stat
        if tid == str(pid):
            name = "main"
        elif name == process_name:
            name = "other threads"
        else:
            name = name.rstrip("0123456789")
        user, system = out.get(name, (0.0, 0.0))
        out[name] = (user + int(fields[11]) / CLOCK_TICKS, system + int(fields[12]) / CLOCK_TICKS)
    return out


def named_cpu_seconds(name: str) -> float:
    """User + system CPU seconds of every process we can read whose name is `name` (a
    server's own processes, such as PostgreSQL's, that are no child of ours)."""
    ticks = 0
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(entry / "stat")
            if stat is not None and stat[0] == name:
                ticks += int(stat[1][11]) + int(stat[1][12])
    return ticks / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (and its reaped children), no tree walk."""
    return _cpu_ticks(pid) / CLOCK_TICKS


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB from smaps_rollup, (0, 0) if the process is gone."""
    rss = pss = 0
    try:
        text = (_PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def tree_memory_mib(root: int) -> tuple[float, float]:
    """(RSS, PSS) of the whole tree, in MiB."""
    rss = pss = 0
    for pid in tree_pids(root):
        one_rss, one_pss = _memory_kib(pid)
        rss += one_rss
        pss += one_pss
    return rss / 1024, pss / 1024


@dataclass
class Peak:
    """Peak memory seen by a sampler."""

    rss_mib: float = 0.0
    pss_mib: float = 0.0
    samples: int = 0


class MemorySampler:
    """Samples the tree's memory every `interval` seconds in a thread; keeps the peak."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root = root
        self.interval = interval
        self.peak = Peak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        """Take one sample now."""
        rss, pss = tree_memory_mib(self.root)
        self.peak.rss_mib = max(self.peak.rss_mib, rss)
        self.peak.pss_mib = max(self.peak.pss_mib, pss)
        self.peak.samples += 1

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
