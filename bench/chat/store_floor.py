"""What storing the many-rooms mix costs with no network: the floor under a node's CPU per event.

    python bench/chat/store_floor.py [--engines sqlite,postgres] [--events 20000] [--repeat 3]

`manyrooms.py` measures a whole node: frames in, rows stored, acks and fan-out out. This
bench takes the network away and measures the storage alone, in two writers of the same
mix (`bench/chat/mix.py`) on the same freshly migrated and seeded database (the set-up of
`manyrooms.py`: 10,000 users in 1,000 rooms of 10), each in this process, pinned to one
core:

- **confab store**: `SqlChatStore` as a node runs it (group commit, every write
  acknowledged after COMMIT), with `--in-flight` writes waiting at once, as a loaded node
  has them;
- **driver floor**: only the rows that store changes for each event, written straight on
  the driver (sqlite3 or asyncpg), one `executemany` per statement and one transaction
  per `--batch` events: the room's seq counter, the message, reaction or read marker, the
  author's unread counter, the event row with a payload of Confab's size. Nothing is read,
  checked or encoded; seqs and message ids are counted here (the only writer). Whatever
  code keeps these rows in this schema, with this durability (SQLite WAL with
  synchronous=FULL; a PostgreSQL commit), pays at least this.

It prints events/s and this process's CPU per event (user and kernel), and on PostgreSQL
also the CPU of the server's processes per event (every `postgres` process on the machine:
run it on a quiet one). `--ceiling` also ramps `manyrooms.py`'s bare websockets broadcast
(it stores nothing); with it, this bounds what one node on one core can hold: the bare
broadcast's best passing rate, scaled by its CPU per event over that plus the floor's.
Figures go to bench/.work/chat/store-floor-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chat import bulkseed, manyrooms, mix, report  # noqa: E402
from bench.chat.manyrooms import (  # noqa: E402
    ENGINES,
    Target,
    database,
    database_cpu_seconds,
    prepare,
)
from bench.procs import cleanup_on_sigterm  # noqa: E402

WORK = ROOT / "bench" / ".work" / "chat"
BUDGET_US = 1e6 / 5000.0  # one core's CPU per event at issue 14's 5,000 events/s


@dataclass(frozen=True)
class Cost:
    """One writer's run: events stored, seconds, CPU seconds of this process (user,
    system) and of the database server's processes (PostgreSQL; 0 for SQLite)."""

    events: int
    seconds: float
    user: float
    system: float
    server: float

    def figures(self) -> dict[str, float]:
        """events/s and µs of CPU per event."""
        per = 1e6 / self.events if self.events else float("nan")
        return {
            "events_per_s": self.events / self.seconds if self.seconds else float("nan"),
            "cpu_us": (self.user + self.system) * per,
            "user_us": self.user * per,
            "system_us": self.system * per,
            "server_us": self.server * per,
        }


async def timed(engine: str, run: Callable[[], Awaitable[int]]) -> Cost:
    """Run `run` (it returns the events it stored) and what it cost."""

    usage = resource.getrusage(resource.RUSAGE_SELF)
    server0, began = database_cpu_seconds(engine), time.monotonic()
    events = await run()
    seconds = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    return Cost(
        events,
        seconds,
        after.ru_utime - usage.ru_utime,
        after.ru_stime - usage.ru_stime,
        database_cpu_seconds(engine) - server0,
    )


def message_text(number: int) -> str:
    """The text of message `number` (both writers store the same)."""
    return f"message {number} of the many-rooms mix"


def workload(seed: bulkseed.Seed, weights: Mapping[str, float]) -> mix.Workload:
    """The generator's own choices, so both writers store what a node stores."""
    return mix.Workload(seed.rooms, seed.room_size, weights)


# -- the confab store --------------------------------------------------------------


class ConfabStore:
    """Writes through `SqlChatStore`, `in_flight` waiting at once, as a node's sessions do."""

    def __init__(
        self, url: str, seed: bulkseed.Seed, weights: Mapping[str, float], in_flight: int
    ) -> None:
        from confab.adapters.sql.chatstore import SqlChatStore

        self.store = SqlChatStore.open(url, pool_size=4)
        self.seed, self.in_flight = seed, in_flight
        self.plan = workload(seed, weights)
        self.room_ids = seed.room_ids()
        self.number = 0

    async def _one(self) -> bool:
        """The next operation of the mix; whether it stored an event."""
        from confab.core.chatstore import NewMessage

        op, self.number = self.plan.next(), self.number + 1
        room_id, user_id, now = self.room_ids[op.room], op.client + 1, datetime.now(UTC)
        message_id: int | None = None
        if op.kind == "send":
            new = NewMessage(
                room_id=room_id,
                room=op.room,
                author_id=user_id,
                author=self.seed.users[op.client],
                text=message_text(self.number),
                client_id=mix.client_id(time.time(), self.number),
                attachments=(),
                created_at=now,
            )
            record, event = await self.store.append_message(new)
            message_id = record.id
        elif op.kind == "react":
            event = await self.store.add_reaction(room_id, op.target, user_id, op.emoji, now)
        elif op.kind == "unreact":
            event = await self.store.remove_reaction(room_id, op.target, user_id, op.emoji, now)
        else:
            event = await self.store.mark_read(room_id, user_id, op.seq, now)
        if event is None:
            return False
        self.plan.acked(op, message_id, event.seq)
        return True

    async def run(self, events: int) -> int:
        """Store `events` operations; the events stored (a no-op stores none)."""
        left, stored = events, 0

        async def writer() -> None:
            nonlocal left, stored
            while left > 0:
                left -= 1
                done = await self._one()  # not `stored += await`: it reads before waiting
                stored += done

        await asyncio.gather(*(writer() for _ in range(self.in_flight)))
        return stored

    async def close(self) -> None:
        """Close the store's connections and threads."""
        await self.store.close()


# -- the driver floor --------------------------------------------------------------


@dataclass
class Rows:
    """One batch's rows per statement of `SQL` (positional parameters)."""

    seq_message: list[tuple[Any, ...]]
    seq_other: list[tuple[Any, ...]]
    messages: list[tuple[Any, ...]]
    own_unread: list[tuple[Any, ...]]
    react: list[tuple[Any, ...]]
    unreact: list[tuple[Any, ...]]
    read: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]

    def statements(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """(SQL, rows) for every statement with rows, in `SQL`'s order (messages before
        the reactions to them, a reaction's insert before its removal)."""
        return [(SQL[name], getattr(self, name)) for name in SQL if getattr(self, name)]


SQL = {
    "seq_message": "UPDATE rooms SET last_seq = last_seq + 1,"
    " message_count = message_count + 1 WHERE id = ?",
    "seq_other": "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ?",
    "messages": "INSERT INTO messages (id, room_id, seq, author_id, text, client_id,"
    " created_at, deleted, attachments, previews, reply_count, mentions_room)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, FALSE, '[]', '[]', 0, FALSE)",
    "own_unread": "UPDATE memberships SET unread_offset = unread_offset + 1"
    " WHERE room_id = ? AND user_id = ?",
    "react": "INSERT INTO reactions (message_id, emoji, user_id, seq) VALUES (?, ?, ?, ?)",
    "unreact": "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?",
    "read": "UPDATE memberships SET read_seq = ?, unread_offset = unread_offset + ?"
    " WHERE room_id = ? AND user_id = ?",
    "events": "INSERT INTO events (room_id, seq, type, subject, target, payload, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)",
}


def dollar(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...`."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


class FloorBatches:
    """The floor's rows, a batch at a time, from the same workload as the store's."""

    # Bytes of Confab's event payloads of each kind (its frames, as stored).
    PAYLOAD = {"send": 390, "react": 100, "unreact": 100, "read": 75}

    def __init__(self, seed: bulkseed.Seed, weights: Mapping[str, float], stamp: Any) -> None:
        self.plan = workload(seed, weights)
        self.room_ids = seed.room_ids()
        self.seqs: dict[str, int] = {}  # the seeded rooms start at seq 0, ids at 1
        self.messages = 0
        self.stamp = stamp  # created_at, as the engine takes it
        self.payloads = {kind: b"x" * size for kind, size in self.PAYLOAD.items()}

    def _op(self, reacted: set[tuple[int, int, str]]) -> mix.Op:
        """The next operation, but not a second change to a reaction of this batch (the
        batch's statements run grouped by kind, not in order)."""
        while True:
            op = self.plan.next()
            key = (op.client, op.target, op.emoji)
            if op.kind not in ("react", "unreact") or key not in reacted:
                reacted.add(key)
                return op

    def batch(self, size: int) -> Rows:
        """The next `size` events' rows."""
        rows = Rows([], [], [], [], [], [], [], [])
        reacted: set[tuple[int, int, str]] = set()
        for _ in range(size):
            op = self._op(reacted)
            room_id, user_id = self.room_ids[op.room], op.client + 1
            seq = self.seqs[op.room] = self.seqs.get(op.room, 0) + 1
            message_id: int | None = None
            if op.kind == "send":
                self.messages += 1
                message_id = self.messages
                rows.seq_message.append((room_id,))
                rows.messages.append(
                    (message_id, room_id, seq, user_id, message_text(message_id),
                     mix.client_id(time.time(), message_id), self.stamp)
                )  # fmt: skip
                rows.own_unread.append((room_id, user_id))
            else:
                rows.seq_other.append((room_id,))
                if op.kind == "react":
                    rows.react.append((op.target, op.emoji, user_id, seq))
                elif op.kind == "unreact":
                    rows.unreact.append((op.target, op.emoji, user_id))
                else:
                    rows.read.append((op.seq, 1, room_id, user_id))
            rows.events.append(
                (room_id, seq, op.kind, None, None, self.payloads[op.kind], self.stamp)
            )
            self.plan.acked(op, message_id, seq)
        return rows


class SqliteFloor:
    """The floor on sqlite3, with the node's PRAGMAs."""

    def __init__(self, url: str, seed: bulkseed.Seed, weights: Mapping[str, float], batch: int):
        import sqlite3

        self.db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            self.db.execute(f"PRAGMA {pragma}")
        self.rows = FloorBatches(seed, weights, bulkseed.sqlite_time(datetime.now(UTC)))
        self.size = batch

    async def run(self, events: int) -> int:
        """Write `events` events' rows, a batch per transaction."""
        for first in range(0, events, self.size):
            rows = self.rows.batch(min(self.size, events - first))
            self.db.execute("BEGIN IMMEDIATE")
            for sql, params in rows.statements():
                self.db.executemany(sql, params)
            self.db.execute("COMMIT")
        return events

    async def close(self) -> None:
        """Close the connection."""
        self.db.close()


class PostgresFloor:
    """The floor on asyncpg: one connection, `executemany` per statement."""

    def __init__(self, url: str, seed: bulkseed.Seed, weights: Mapping[str, float], batch: int):
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")
        self.rows = FloorBatches(seed, weights, datetime.now(UTC))
        self.size = batch
        self.conn: Any = None

    async def run(self, events: int) -> int:
        """Write `events` events' rows, a batch per transaction."""
        import asyncpg

        if self.conn is None:
            self.conn = await asyncpg.connect(self.url)
        for first in range(0, events, self.size):
            rows = self.rows.batch(min(self.size, events - first))
            async with self.conn.transaction():
                for sql, params in rows.statements():
                    await self.conn.executemany(dollar(sql), params)
        return events

    async def close(self) -> None:
        """Close the connection."""
        if self.conn is not None:
            await self.conn.close()


# -- the run -----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--mix", default="send=0.6,react=0.25,read=0.15")
    parser.add_argument("--events", type=int, default=20_000, help="events per writer")
    parser.add_argument("--warmup", type=int, default=5_000, help="events before measuring")
    parser.add_argument("--batch", type=int, default=64, help="driver floor: events per COMMIT")
    parser.add_argument("--in-flight", type=int, default=64, help="confab store: writes at once")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also the bare websockets broadcast of manyrooms.py (stores nothing): its CPU"
        " per event plus the floor's bounds what one core can hold",
    )
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    unknown = set(args.engines) - set(ENGINES)
    if unknown or not args.engines:
        parser.error(f"engines: a list of {', '.join(ENGINES)}")
    if args.events <= 0 or args.batch <= 0 or args.in_flight <= 0 or args.warmup < 0:
        parser.error("--events, --batch and --in-flight must be positive, --warmup >= 0")
    args.mix = mix.parse_mix(args.mix)
    return args


WRITERS = ("confab store", "driver floor")


def measure(engine: str, writer: str, args: argparse.Namespace, seed: bulkseed.Seed) -> Cost:
    """One writer on a fresh database: `--warmup` events, then `--events` measured (on
    uvloop, as a node runs)."""
    import uvloop

    work = WORK / "store-floor" / f"{engine}-{writer.replace(' ', '-')}"
    target = Target("eventlog", Path(sys.executable).parent / "confab", engine, args.mix)
    with database(engine, work / "db") as url:
        prepare(target, url, seed, work)
        with pinned(not args.no_pin), asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop:
            return loop.run(_measure(url, engine, writer, args, seed))


@contextlib.contextmanager
def pinned(pin: bool) -> Iterator[None]:
    """This process (its threads too) on the first core for a while, as a node is pinned
    in manyrooms.py."""
    before = os.sched_getaffinity(0)
    if pin:
        os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def ceiling(args: argparse.Namespace, seed: bulkseed.Seed) -> dict[str, float]:
    """The bare websockets broadcast under manyrooms.py's ramp: events/s and the server's
    CPU µs per event at its best passing step."""
    ramp = manyrooms.parse_args(["--ramp-start", "2000", "--ramp-factor", "1.25"])
    ramp.no_pin = args.no_pin
    target = Target(manyrooms.CEILING, Path(sys.executable), "none", args.mix)
    got = manyrooms.measure(target, ramp, seed)
    return {
        "events_per_s": float(got.get("stored_per_s", 0.0)),
        "cpu_us": 1000.0 * float(got.get("server_cpu_ms_per_event", math.nan)),
    }


async def _measure(
    url: str, engine: str, writer: str, args: argparse.Namespace, seed: bulkseed.Seed
) -> Cost:
    runner: ConfabStore | SqliteFloor | PostgresFloor
    if writer == "confab store":
        runner = ConfabStore(url, seed, args.mix, args.in_flight)
    elif engine == "sqlite":
        runner = SqliteFloor(url, seed, args.mix, args.batch)
    else:
        runner = PostgresFloor(url, seed, args.mix, args.batch)
    try:
        await runner.run(args.warmup)
        return await timed(engine, lambda: runner.run(args.events))
    finally:
        await runner.close()


def table(results: Mapping[str, Mapping[str, float]]) -> str:
    """One line per engine and writer."""
    lines = [
        f"{'engine/writer':26} {'events/s':>9} {'CPU/event':>10} {'user':>7} {'kernel':>7}"
        f" {'db server':>10}"
    ]
    for label, f in results.items():
        lines.append(
            f"{label:26} {f['events_per_s']:9.0f} {f['cpu_us']:8.1f}us {f['user_us']:5.1f}us"
            f" {f['system_us']:5.1f}us {f['server_us']:8.1f}us"
        )
    return "\n".join(lines)


def bound(bare: Mapping[str, float], floor_us: float) -> float:
    """The events/s of a node doing the bare broadcast's work plus the floor's storage, on
    the core the bare broadcast had and as busy as it was at its best passing step (its
    rate scaled by the CPU per event: an upper bound, since frames, checks and acks cost
    more than the bare peer's)."""
    return bare["events_per_s"] * bare["cpu_us"] / (bare["cpu_us"] + floor_us)


def verdicts(
    results: Mapping[str, Mapping[str, float]],
    engines: Sequence[str],
    bare: Mapping[str, float] | None = None,
) -> list[str]:
    """The store against its floor, and what one core can hold at best: the budget per
    event at 5,000 events/s, less the floor (and the bare broadcast's CPU, if measured)."""
    lines = []
    if bare:
        lines.append(
            f"bare websockets broadcast (stores nothing): {bare['events_per_s']:.0f} events/s on"
            f" one core at {bare['cpu_us']:.0f} us per event"
        )
    for engine in engines:
        store, floor = results.get(f"{engine}/confab store"), results.get(f"{engine}/driver floor")
        if not store or not floor:
            continue
        ratio = report.ratio(store["cpu_us"], floor["cpu_us"])
        lines.append(
            f"{engine}: confab store {store['cpu_us']:.0f} us per event = {ratio:.2f}x the"
            f" driver floor's {floor['cpu_us']:.0f} us"
        )
        left = BUDGET_US - floor["cpu_us"]
        line = (
            f"{engine}: at 5,000 events/s one core has {BUDGET_US:.0f} us per event; the driver"
            f" floor takes {floor['cpu_us']:.0f} of it, leaving {left:.0f} us for frames,"
            " checks, acks and fan-out"
        )
        if bare:
            best = bound(bare, floor["cpu_us"])
            line += (
                f"; the bare broadcast needs {bare['cpu_us']:.0f}: its work plus the floor's"
                f" holds at most {best:.0f} events/s ({'above' if best >= 5000 else 'below'}"
                " 5,000)"
            )
        lines.append(line)
    return lines


def run_all(args: argparse.Namespace) -> int:
    """Every engine and writer `--repeat` times; medians."""
    load_start = os.getloadavg()
    seed = bulkseed.plan(args.users, args.room_size)
    runs: dict[str, list[dict[str, float]]] = {}
    for index in range(args.repeat):
        if args.ceiling:
            print(f"  repeat {index + 1}: the bare broadcast's ramp", flush=True)
            runs.setdefault("bare broadcast", []).append(ceiling(args, seed))
        for engine in args.engines:
            order = WRITERS if index % 2 == 0 else WRITERS[::-1]
            for writer in order:
                cost = measure(engine, writer, args, seed)
                figures = cost.figures()
                runs.setdefault(f"{engine}/{writer}", []).append(figures)
                print(
                    f"  repeat {index + 1}: {engine}/{writer}: {figures['events_per_s']:.0f}"
                    f" events/s, {figures['cpu_us']:.1f} us CPU per event"
                    f" ({figures['system_us']:.1f} kernel),"
                    f" db server {figures['server_us']:.1f} us",
                    flush=True,
                )
    results = {
        label: {key: statistics.median(run[key] for run in got) for key in got[0]}
        for label, got in runs.items()
    }
    print(f"\n== medians of {args.repeat} (load at start {load_start})")
    bare = results.pop("bare broadcast", None)
    print(table(results))
    print("\n".join(verdicts(results, args.engines, bare)))
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / f"store-floor-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    saved = {
        "command": " ".join(["bench/chat/store_floor.py", *sys.argv[1:]]),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "results": results,
        "bare_broadcast": bare,
        "runs": runs,
    }
    out.write_text(json.dumps(report.jsonable(saved), indent=1))
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    return run_all(args)


if __name__ == "__main__":
    raise SystemExit(main())
