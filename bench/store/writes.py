"""Stored-and-acked room events per second through `SqlChatStore`, one transaction per
event against group commit, side by side in one run, on SQLite and on PostgreSQL.

    .venv/bin/python bench/store/writes.py                       # both engines, both modes
    .venv/bin/python bench/store/writes.py --engines sqlite --repeat 3 --duration 10

The database is seeded once per engine (ROOMS rooms of MEMBERS members, inserted in bulk),
then for each mode a fresh store runs CLIENTS closed-loop clients for DURATION seconds:
each picks a random room and one of its members, and sends a message (60 %), reacts to one
of the room's recent messages (25 %) or moves its read marker to the end (15 %), awaiting
the store (i.e. the commit) before the next. Counted: calls that stored an event. Printed:
events/s, p50/p99 latency of a call, this process's CPU per event, the ratio grouped/single.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.chat.runtime import run_loop  # noqa: E402
from bench.procs import postgres_database  # noqa: E402
from bench.store.pgcpu import BackendCpu  # noqa: E402

from confab.adapters.sql.chatstore import SqlChatStore  # noqa: E402
from confab.adapters.sql.engine import Database  # noqa: E402
from confab.adapters.sql.migrate import upgrade_to_head  # noqa: E402
from confab.adapters.sql.tables import memberships, rooms, users  # noqa: E402
from confab.core.chatstore import NewMessage  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EMOJIS = ("👍", "🎉", "❤️", "😂")


@dataclass
class Seed:
    """The seeded rooms: (room id, room name, member ids) and usernames by id."""

    rooms: list[tuple[int, str, list[int]]]
    names: dict[int, str]


@dataclass
class Result:
    """One measured run."""

    engine: str
    mode: str
    events: int
    seconds: float
    cpu: float
    server_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


@asynccontextmanager
async def database_url(engine: str) -> AsyncIterator[str]:
    """A fresh database of `engine`, migrated."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="confab-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'chat.db'}"
            await upgrade_to_head(url)
            yield url
        return
    async with postgres_database("confab_bench") as url:
        await upgrade_to_head(url)
        yield url


async def seed(url: str, room_count: int, members: int) -> Seed:
    """ROOMS rooms of MEMBERS members each (members are distinct users), in bulk."""
    database = Database(url, pooled=False)
    user_count = room_count * members

    def insert(conn: Connection) -> None:
        conn.execute(
            users.insert(),
            [
                {"id": i, "username": f"u{i:06}", "password_hash": "x", "created_at": NOW}
                for i in range(1, user_count + 1)
            ],
        )
        conn.execute(
            rooms.insert(),
            [
                {
                    "id": r,
                    "name": f"room{r:05}",
                    "topic": "",
                    "private": False,
                    "owner_id": (r - 1) * members + 1,
                    "last_seq": 0,
                    "created_at": NOW,
                    "kind": "room",
                    "title": "",
                }
                for r in range(1, room_count + 1)
            ],
        )
        conn.execute(
            memberships.insert(),
            [
                {
                    "room_id": r,
                    "user_id": (r - 1) * members + m,
                    "joined_at": NOW,
                    "role": "owner" if m == 1 else "member",
                }
                for r in range(1, room_count + 1)
                for m in range(1, members + 1)
            ],
        )

    try:
        await database.write(insert)
        if not database.sqlite:
            # Ids were given: move the sequences past them.
            await database.write(
                lambda conn: [
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), 10000000)"
                    )
                    for t in ("users", "rooms")
                ]
            )
    finally:
        await database.close()
    room_list = [
        (r, f"room{r:05}", [(r - 1) * members + m for m in range(1, members + 1)])
        for r in range(1, room_count + 1)
    ]
    return Seed(room_list, {i: f"u{i:06}" for i in range(1, user_count + 1)})


async def measure(
    url: str, engine: str, mode: str, seeded: Seed, clients: int, duration: float, pool: int
) -> Result:
    """CLIENTS closed-loop clients on a fresh store for DURATION seconds."""
    store = SqlChatStore.open(url, pool_size=pool, group_commit=mode == "grouped")
    recent: dict[int, list[int]] = {}
    rng = random.Random(14)
    result = Result(engine, mode, 0, 0.0, 0.0)
    deadline = 0.0

    async def client(index: int) -> None:
        counter = 0
        while time.perf_counter() < deadline:
            room_id, name, member_ids = rng.choice(seeded.rooms)
            user_id = rng.choice(member_ids)
            roll = rng.random()
            targets = recent.get(room_id)
            started = time.perf_counter()
            if roll < 0.6 or not targets:
                counter += 1
                new = NewMessage(
                    room_id,
                    name,
                    user_id,
                    seeded.names[user_id],
                    f"hello {counter}",
                    f"c{index}-{counter}-{mode}",
                    (),
                    NOW,
                )
                message, event = await store.append_message(new)
                recent.setdefault(room_id, []).append(message.id)
                del recent[room_id][:-5]
            elif roll < 0.85:
                emoji = rng.choice(EMOJIS)
                event = await store.add_reaction(room_id, rng.choice(targets), user_id, emoji, NOW)
            else:
                event = await store.mark_read(room_id, user_id, 10**9, NOW)
            if time.perf_counter() < deadline:
                result.latencies.append(time.perf_counter() - started)
                result.events += event is not None

    try:
        # Warm up the pool and the statement cache.
        await store.list_rooms(seeded.rooms[0][2][0])
        server = BackendCpu(url) if engine == "postgresql" else None
        if server is not None:
            await server.start()
        cpu = time.process_time()
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(client(i) for i in range(clients)))
        result.seconds = duration
        result.cpu = time.process_time() - cpu
        if server is not None:
            result.server_cpu = await server.stop()
    finally:
        await store.close()
    return result


def show(result: Result) -> None:
    """One line per run."""
    cpu_us = result.cpu / max(1, result.events) * 1e6
    server_us = result.server_cpu / max(1, result.events) * 1e6
    print(
        f"{result.engine:10} {result.mode:8} {result.rate:8.0f} events/s"
        f"  p50 {result.p(0.5):6.1f} ms  p99 {result.p(0.99):6.1f} ms"
        f"  CPU/event: process {cpu_us:5.0f} us, PostgreSQL {server_us:5.0f} us",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    print(f"load before: {os.getloadavg()}  cpus: {os.cpu_count()}", flush=True)
    for engine in args.engines.split(","):
        async with database_url(engine) as url:
            seeded = await seed(url, args.rooms, args.members)
            runs: dict[str, list[Result]] = {"single": [], "grouped": []}
            for repeat in range(args.repeat):
                order = ["single", "grouped"] if repeat % 2 == 0 else ["grouped", "single"]
                for mode in order:
                    result = await measure(
                        url, engine, mode, seeded, args.clients, args.duration, args.pool
                    )
                    runs[mode].append(result)
                    show(result)
            single = statistics.median(r.rate for r in runs["single"])
            grouped = statistics.median(r.rate for r in runs["grouped"])
            p99 = statistics.median(r.p(0.99) for r in runs["grouped"])
            met = "met" if grouped >= 5000 and p99 < 100 else "NOT met"
            print(
                f"{engine}: median single {single:.0f}/s, grouped {grouped:.0f}/s"
                f" (p99 {p99:.1f} ms), ratio grouped/single {grouped / single:.2f}x;"
                f" target >= 5000/s at p99 < 100 ms: {met}",
                flush=True,
            )
    print(f"load after: {os.getloadavg()}", flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--pool", type=int, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run_loop(main(parse()))
