"""The room list with unread and mention counts for a user in 500 rooms, on a database of
1 million events: latency of `SqlChatStore.list_rooms`, SQLite and PostgreSQL.

    .venv/bin/python bench/store/roomlist.py                  # both engines
    .venv/bin/python bench/store/roomlist.py --engines sqlite --calls 500

Seeded in SQL (a numbers table cross-joined with itself): ROOMS rooms of PER_ROOM messages,
each with its `message` event (ROOMS x PER_ROOM events), 10 members per room; the reader is
a member of MEMBER_ROOMS of them, author of one message in 10, mentioned in one in 20. Their
read markers: a tenth of their rooms never read (unread stops at the 1,000 cap there),
the rest read up to 0-39 messages before the end. Target: p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.chat.runtime import run_loop
from bench.store.pgcpu import BackendCpu
from bench.store.writes import database_url

from confab.adapters.sql.chatstore import SqlChatStore
from confab.adapters.sql.engine import Database
from confab.adapters.sql.rooms import RECOUNT_COUNTERS

READER = 1


def _seed_sql(rooms: int, per_room: int, member_rooms: int, pg: bool) -> list[str]:
    false = "false" if pg else "0"
    payload = "'\\x7b7d'::bytea" if pg else "x'7b7d'"
    return [
        "CREATE TEMP TABLE n (i INTEGER PRIMARY KEY)",
        f"INSERT INTO n (i) SELECT a.i * 100 + b.i FROM"
        f" (SELECT 0 AS i {' '.join(f'UNION ALL SELECT {k}' for k in range(1, 100))}) a,"
        f" (SELECT 0 AS i {' '.join(f'UNION ALL SELECT {k}' for k in range(1, 100))}) b",
        "INSERT INTO users (id, username, password_hash, created_at)"
        " SELECT i + 1, 'u' || (i + 1), 'x', '2026-01-01 00:00:00+00' FROM n WHERE i < 20",
        "INSERT INTO rooms (id, name, topic, private, owner_id, last_seq, created_at, kind, title)"
        f" SELECT i + 1, 'room' || (i + 1), '', {false}, 2, {per_room},"
        f" '2026-01-01 00:00:00+00', 'room', '' FROM n WHERE i < {rooms}",
        # 10 members per room (users 2..11), and the reader in the first MEMBER_ROOMS.
        "INSERT INTO memberships (room_id, user_id, joined_at, role, read_seq, notify)"
        " SELECT r.i + 1, m.i + 2, '2026-01-01 00:00:00+00', 'member', 0, 'all'"
        f" FROM n r, n m WHERE r.i < {rooms} AND m.i < 10",
        "INSERT INTO memberships (room_id, user_id, joined_at, role, read_seq, notify)"
        f" SELECT i + 1, {READER}, '2026-01-01 00:00:00+00', 'member',"
        f" CASE WHEN i % 10 = 0 THEN 0 ELSE {per_room} - (i % 40) END, 'all'"
        f" FROM n WHERE i < {member_rooms}",
        "INSERT INTO messages (id, room_id, seq, author_id, text, client_id, created_at,"
        " deleted, attachments, previews, reply_count, mentions_room)"
        f" SELECT r.i * {per_room} + k.i + 1, r.i + 1, k.i + 1,"
        f" CASE WHEN k.i % 10 = 0 THEN {READER} ELSE 2 + (k.i % 10) END,"
        f" 'message text', NULL, '2026-01-01 00:00:00+00', {false}, '[]', '[]', 0, {false}"
        f" FROM n r, n k WHERE r.i < {rooms} AND k.i < {per_room}",
        "INSERT INTO events (room_id, seq, type, subject, target, payload, created_at)"
        f" SELECT r.i + 1, k.i + 1, 'message', NULL, NULL, {payload}, '2026-01-01 00:00:00+00'"
        f" FROM n r, n k WHERE r.i < {rooms} AND k.i < {per_room}",
        "INSERT INTO mentions (user_id, room_id, seq, message_id)"
        f" SELECT {READER}, r.i + 1, k.i + 1, r.i * {per_room} + k.i + 1"
        f" FROM n r, n k WHERE r.i < {member_rooms} AND k.i < {per_room} AND k.i % 20 = 5",
        "DROP TABLE n",
        *RECOUNT_COUNTERS,  # the rows went in behind the store's back
    ]


async def seed(url: str, rooms: int, per_room: int, member_rooms: int) -> float:
    """Fill the database; seconds it took."""
    database = Database(url, pooled=False)
    started = time.perf_counter()

    def run(conn: Connection) -> None:
        for statement in _seed_sql(rooms, per_room, member_rooms, not database.sqlite):
            conn.execute(text(statement))
        if not database.sqlite:
            for table in ("users", "rooms", "messages"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100000000)")
                )

    try:
        await database.write(run)
        if database.sqlite:
            await database.write(lambda conn: conn.execute(text("ANALYZE")))
        else:
            # What autovacuum does on a live database: statistics and the visibility map
            # (without it the index-only scans of the counts read the table too).
            import asyncpg

            conn = await asyncpg.connect(url)
            try:
                await conn.execute("VACUUM ANALYZE")
            finally:
                await conn.close()
    finally:
        await database.close()
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    print(f"load before: {os.getloadavg()}  cpus: {os.cpu_count()}", flush=True)
    for engine in args.engines.split(","):
        async with database_url(engine) as url:
            took = await seed(url, args.rooms, args.per_room, args.member_rooms)
            store = SqlChatStore.open(url, pool_size=1)
            try:
                listed = await store.list_rooms(READER)
                mine = [s for s in listed if s.member]
                unread = sum(s.unread for s in mine)
                mentions = sum(s.mentions for s in mine)
                for _ in range(10):  # warm up
                    await store.list_rooms(READER)
                times = []
                server = BackendCpu(url) if engine == "postgresql" else None
                if server is not None:
                    await server.start()
                cpu = time.process_time()
                for _ in range(args.calls):
                    started = time.perf_counter()
                    await store.list_rooms(READER)
                    times.append((time.perf_counter() - started) * 1000)
                client_ms = (time.process_time() - cpu) / args.calls * 1000
                server_ms = (await server.stop()) / args.calls * 1000 if server else 0.0
            finally:
                await store.close()
            times.sort()
            p50 = statistics.median(times)
            p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
            events = args.rooms * args.per_room
            print(
                f"{engine:10} {events} events (seeded in {took:.0f} s), {len(listed)} rooms"
                f" listed, {len(mine)} member rooms, unread {unread}, mentions {mentions}:"
                f" p50 {p50:.1f} ms, p99 {p99:.1f} ms over {args.calls} calls"
                f" (CPU per call: this process {client_ms:.1f} ms, database server"
                f" {server_ms:.1f} ms);"
                f" target p99 < 20 ms: {'met' if p99 < 20 else 'NOT met'}",
                flush=True,
            )
    print(f"load after: {os.getloadavg()}", flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--per-room", type=int, default=1000)
    parser.add_argument("--member-rooms", type=int, default=500)
    parser.add_argument("--calls", type=int, default=200)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run_loop(main(parse()))
