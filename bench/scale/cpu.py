"""CPU seconds of named process trees (and of a database's PostgreSQL backends) from /proc."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from bench.media.procstats import tree_cpu_seconds

Snapshot = dict[str, float]


class Meter:
    """Reads the CPU of each named process tree; `extra` adds named readers (PostgreSQL)."""

    def __init__(
        self,
        roots: Mapping[str, int],
        extra: Mapping[str, Callable[[], float]] | None = None,
    ) -> None:
        self.roots = dict(roots)
        self.extra = dict(extra or {})

    def read(self) -> Snapshot:
        """CPU seconds so far, per name."""
        got = {name: tree_cpu_seconds(pid) for name, pid in self.roots.items()}
        got.update({name: reader() for name, reader in self.extra.items()})
        return got


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
        return sum(tree_cpu_seconds(pid) for pid in self.pids)
