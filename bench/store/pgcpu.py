"""CPU time of the PostgreSQL backends serving one database (same machine), from /proc."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

_TICK = os.sysconf("SC_CLK_TCK")


async def backend_pids(url: str) -> set[int]:
    """The pids of the backends connected to `url`'s database (this query's excluded)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {int(row["pid"]) for row in rows}


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    """User + system CPU seconds of each pid still alive."""
    found = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return found


class BackendCpu:
    """CPU the database's backends spent between `start` and `stop` (backends that
    connected in between count whole)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.before: dict[int, float] = {}

    async def start(self) -> None:
        self.before = cpu_seconds(await backend_pids(self.url))

    async def stop(self) -> float:
        after = cpu_seconds(await backend_pids(self.url) | set(self.before))
        return sum(after[pid] - self.before.get(pid, 0.0) for pid in after)
