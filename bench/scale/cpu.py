"""CPU seconds of named process trees (and of a database's PostgreSQL backends) from /proc.

Besides each tree's CPU, a snapshot holds what tells an idle process from a starved one
(names with a `~`, left out of the CPU columns):
- `<name>~wait`: seconds the tree's threads were runnable but not running (schedstat;
  a quota'd process waits there while its cgroup is throttled too);
- `<name>~throttled`: seconds its cgroup was held back by its quota (cpu.stat);
- `machine~busy`: CPU seconds of the whole machine (/proc/stat, every core, steal
  included): what the bench's processes did not use of it is other people's work.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping

from bench.chat.sched import cpu_stat_ticks, tree_wait_seconds
from bench.media.procstats import (
    CLOCK_TICKS,
    children_map,
    process_cpu_seconds,
    tree_cpu_seconds,
)

Snapshot = dict[str, float]
MACHINE = "machine~busy"


def machine_busy_seconds() -> float:
    """Busy CPU seconds of every core since boot (all but idle and iowait), steal included."""
    fields = cpu_stat_ticks("cpu")
    if fields is None:
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest and guest_nice (fields 9, 10) are already counted in user and nice.
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


class Meter:
    """Reads the CPU and run-queue wait of each named process tree, the machine's busy
    time, and named extra readers (PostgreSQL's backends, a cgroup's throttled time)."""

    def __init__(
        self,
        roots: Mapping[str, int],
        extra: Mapping[str, Callable[[], float]] | None = None,
    ) -> None:
        self.roots = dict(roots)
        self.extra = dict(extra or {})

    def read(self) -> Snapshot:
        """Seconds so far, per name (see the module docstring for the `~` names).

        Cheap on purpose (one scan of /proc): a snapshot taken late shifts the window
        it closes or opens.
        """
        tree = children_map()
        got = {name: tree_cpu_seconds(pid, tree) for name, pid in self.roots.items()}
        got.update(
            {f"{name}~wait": tree_wait_seconds(pid, tree) for name, pid in self.roots.items()}
        )
        got.update({name: reader() for name, reader in self.extra.items()})
        got[MACHINE] = machine_busy_seconds()
        return got


def machine_share(cpu: Mapping[str, Mapping[str, float]], cores: int) -> dict[str, float]:
    """The machine over a window, in cores: busy, the bench's processes, everyone else's."""
    busy = cpu.get(MACHINE, {}).get("cores", float("nan"))
    ours = sum(v["cores"] for name, v in cpu.items() if "~" not in name)
    return {"cores": float(cores), "busy": busy, "ours": ours, "others": max(0.0, busy - ours)}


def usage(before: Snapshot, after: Snapshot, seconds: float) -> dict[str, dict[str, float]]:
    """Per name: CPU seconds used between two snapshots and the share of one core."""
    out = {}
    for name, start in before.items():
        used = max(0.0, after.get(name, start) - start)
        out[name] = {"cpu_s": used, "cores": used / seconds if seconds > 0 else 0.0}
    return out


class PostgresBackends:
    """CPU of the PostgreSQL backends serving one database (pids from pg_stat_activity).

    Backends come and go with the pools: the pid list is refreshed at every `start()`, and
    a window's figure is the change over the backends alive at its start.
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self.pids: list[int] = []

    def refresh(self) -> None:
        """Re-read which backends serve the database (empty on any error)."""
        try:
            self.pids = asyncio.run(self._pids())
        except Exception:
            self.pids = []

    async def _pids(self) -> list[int]:
        from bench.procs import postgres_admin

        admin, _ = await postgres_admin()
        try:
            rows = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database
            )
        finally:
            await admin.close()
        return [int(row["pid"]) for row in rows]

    def __call__(self) -> float:
        # A backend has no children of its own: no tree walk (a scan of /proc each).
        return sum(process_cpu_seconds(pid) for pid in self.pids)
