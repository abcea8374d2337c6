"""The room list of a user in 500 rooms, on a database of 1,000,000 events: p50/p99.

    python bench/chat/roomlist.py [--engines sqlite,postgres] [--requests 1000] [--repeat N]

Per engine: a fresh database migrated by `confab migrate`, filled with plain SQL
(`roomlist_load.py`: the reader in 500 rooms of 10 with 2,000 events each, 1% of the
messages mentioning the reader, read markers spread over the logs, 100 more public rooms),
then one `confab up` node on it, pinned to one core. `GET /api/rooms` with the reader's
token, one request at a time over one keep-alive connection: a warm-up, then `--requests`
timed ones (wall time from request to the parsed body). The unread and mention counts of
the answer are checked against the ones the shape implies. The node's CPU time per timed
request and the time it sat runnable waiting for a core (schedstat) are reported beside the
latencies: on a shared machine the second tells a slow server from a starved one. Target
(issue 14, part 3): p99 < 20 ms. Figures go to bench/.work/chat/roomlist-<stamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench.chat import report, roomlist_load, stats  # noqa: E402
from bench.chat.manyrooms import ENGINES, database  # noqa: E402
from bench.chat.run import cores  # noqa: E402
from bench.chat.sched import tree_wait_seconds  # noqa: E402
from bench.chat.servers import Confab  # noqa: E402
from bench.media.procstats import tree_cpu_seconds  # noqa: E402
from bench.procs import cleanup_on_sigterm  # noqa: E402
from bench.store.pgcpu import BackendCpu  # noqa: E402

WORK = ROOT / "bench" / ".work" / "chat"
TARGET_P99_MS = 20.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--events-per-room", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)
    args.engines = [e for e in args.engines.split(",") if e]
    if set(args.engines) - set(ENGINES):
        parser.error(f"engines: {', '.join(ENGINES)}")
    return args


def load(url: str, shape: roomlist_load.Shape, token: str) -> float:
    """Fill the migrated database at `url`; the seconds it took."""
    began = time.monotonic()
    moment = datetime.now(UTC)
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            db.execute("BEGIN")
            for statement in roomlist_load.statements("sqlite", shape, token, moment):
                db.execute(statement)
            db.execute("COMMIT")
        finally:
            db.close()
    else:
        asyncio.run(_load_postgres(url, shape, token, moment))
    return time.monotonic() - began


async def _load_postgres(url: str, shape: roomlist_load.Shape, token: str, now: datetime) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for statement in roomlist_load.statements("postgres", shape, token, now):
                await conn.execute(statement)
    finally:
        await conn.close()


def check(body: dict[str, Any], shape: roomlist_load.Shape) -> list[str]:
    """What the listing got wrong against the shape (empty: all right)."""
    expected = roomlist_load.expected_counts(shape)
    rooms = {room["name"]: room for room in body.get("rooms", [])}
    problems = []
    if len(rooms) != shape.rooms + shape.public_extra:
        problems.append(f"{len(rooms)} rooms listed, {shape.rooms + shape.public_extra} expected")
    for number, (unread, mentions) in expected.items():
        room = rooms.get(f"rlroom{number}")
        if room is None:
            problems.append(f"rlroom{number} missing")
        elif (room.get("unread"), room.get("mentions")) != (unread, mentions):
            problems.append(
                f"rlroom{number}: unread/mentions {room.get('unread')}/{room.get('mentions')},"
                f" expected {unread}/{mentions}"
            )
        if len(problems) > 5:
            break
    return problems


@dataclass
class Timed:
    """What the timed requests gave: latencies (s), the last body, and the server's CPU
    time and run-queue wait (s) over them (NaN without a pid)."""

    latencies: list[float]
    body: Any
    server_cpu_s: float = math.nan
    server_wait_s: float = math.nan
    database_cpu_s: float = math.nan


def time_requests(
    base: str,
    token: str,
    warmup: int,
    requests: int,
    server_pid: int | None = None,
    postgres_url: str | None = None,
) -> Timed:
    """`requests` sequential GET /api/rooms after `warmup`. With `server_pid`, the server
    tree's CPU time and the time it was runnable but waiting for a core, over the timed
    requests: on a shared machine the wait tells a slow server from a starved one. With
    `postgres_url`, the CPU time of that database's backends too."""
    headers = {"Authorization": f"Bearer {token}"}
    timed = Timed([], None)
    cpu = wait = 0.0
    backends = BackendCpu(postgres_url) if postgres_url else None
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for index in range(warmup + requests):
            if index == warmup and server_pid is not None:
                cpu, wait = tree_cpu_seconds(server_pid), tree_wait_seconds(server_pid)
            if index == warmup and backends is not None:
                asyncio.run(backends.start())
            began = time.perf_counter()
            response = client.get("/api/rooms")
            timed.body = response.json()
            elapsed = time.perf_counter() - began
            if response.status_code != 200:
                raise RuntimeError(f"GET /api/rooms answered {response.status_code}: {timed.body}")
            if index >= warmup:
                timed.latencies.append(elapsed)
    if server_pid is not None:
        timed.server_cpu_s = tree_cpu_seconds(server_pid) - cpu
        timed.server_wait_s = tree_wait_seconds(server_pid) - wait
    if backends is not None:
        timed.database_cpu_s = asyncio.run(backends.stop())
    return timed


def measure(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    """One engine: migrate, load, serve, time."""
    shape = roomlist_load.Shape(rooms=args.rooms, events_per_room=args.events_per_room)
    token = secrets.token_urlsafe(32)
    server_core, _ = cores(args.no_pin)
    work = WORK / "roomlist" / engine
    with database(engine, work / "db") as url:
        env = {**os.environ, "CONFAB_DATA_DIR": str(work / "migrate-data")}
        confab = Path(sys.executable).parent / "confab"
        done = subprocess.run(
            [str(confab), "migrate", "--database-url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(f"confab migrate failed: {done.stderr[-1500:]}")
        seconds = load(url, shape, token)
        print(f"    loaded {shape.events} events in {seconds:.1f} s", flush=True)
        server = Confab(work, server_core)
        server.extra_env = {"CONFAB_DATABASE_URL": url}
        try:
            server.start(timeout=180)
            postgres = None if url.startswith("sqlite") else url
            timed = time_requests(
                server.base, token, args.warmup, args.requests, server.pid, postgres
            )
        finally:
            server.stop()
    summary = stats.latency_summary(timed.latencies)
    body = timed.body
    problems = check(body, shape)
    count = len(timed.latencies)
    return {
        "engine": engine,
        "events": shape.events,
        "rooms_listed": len(body.get("rooms", [])),
        "load_seconds": seconds,
        "requests": count,
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "max_ms": summary["max_ms"],
        # The node's own CPU (the database server's is not in it on PostgreSQL).
        "server_cpu_ms_per_request": timed.server_cpu_s * 1000 / max(1, count),
        "server_wait_ms_per_request": timed.server_wait_s * 1000 / max(1, count),
        # PostgreSQL's backends for this database (on SQLite the queries run in the node).
        "database_cpu_ms_per_request": timed.database_cpu_s * 1000 / max(1, count),
        "body_bytes": len(json.dumps(body)),
        "problems": problems,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Every engine `--repeat` times; medians of p50/p99."""
    args = parse_args(argv)
    cleanup_on_sigterm()
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    for index in range(args.repeat):
        for engine in args.engines if index % 2 == 0 else list(reversed(args.engines)):
            print(f"\n== repeat {index + 1}/{args.repeat}: {engine}", flush=True)
            try:
                got = measure(engine, args)
            except (RuntimeError, OSError) as err:
                notes.append(f"{engine} not measured: {str(err).splitlines()[0]}")
                print(f"    ! {notes[-1]}")
                continue
            print(
                f"    p50 {got['p50_ms']:.1f} ms  p99 {got['p99_ms']:.1f} ms"
                f"  server CPU {got['server_cpu_ms_per_request']:.2f} ms/request"
                f" (waited for a core {got['server_wait_ms_per_request']:.2f} ms/request)"
                + (
                    f"  PostgreSQL CPU {got['database_cpu_ms_per_request']:.2f} ms/request"
                    if engine == "postgres"
                    else ""
                )
                + f"  ({got['rooms_listed']} rooms, {got['body_bytes']} bytes)"
                + (f"  WRONG COUNTS: {got['problems'][:2]}" if got["problems"] else "")
            )
            runs.setdefault(engine, []).append(got)
    print(f"\n== results (median of {args.repeat}; load at start {load_start})")
    for engine, got in runs.items():
        p50 = sorted(g["p50_ms"] for g in got)[(len(got) - 1) // 2]
        p99 = sorted(g["p99_ms"] for g in got)[(len(got) - 1) // 2]
        cpu = sorted(g["server_cpu_ms_per_request"] for g in got)[(len(got) - 1) // 2]
        database = sorted(g["database_cpu_ms_per_request"] for g in got)[(len(got) - 1) // 2]
        correct = all(not g["problems"] for g in got)
        verdict = "met" if p99 < TARGET_P99_MS and correct else "NOT met"
        print(
            f"  {engine:9} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (target p99 < {TARGET_P99_MS:.0f}"
            f" ms: {verdict}){'' if correct else '  counts WRONG'}  server CPU {cpu:.2f} ms/request"
            + (f" + PostgreSQL {database:.2f} ms" if engine == "postgres" else "")
        )
    for note in notes:
        print(f"  - {note}")
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / f"roomlist-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    saved = {
        "command": " ".join(["bench/chat/roomlist.py", *(argv or sys.argv[1:])]),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "runs": runs,
        "notes": notes,
    }
    out.write_text(json.dumps(report.jsonable(saved), indent=1))
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
