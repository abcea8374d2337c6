"""The storage-floor bench: its rows fit the real schema, both writers store the mix, and
its verdicts add up."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.chat import bulkseed, store_floor

from confab.adapters.sql.migrate import upgrade_to_head

MIX = {"send": 0.6, "react": 0.25, "read": 0.15}


async def _seeded(tmp_path: Path, users: int = 40) -> tuple[str, bulkseed.Seed]:
    path = tmp_path / "chat.db"
    await upgrade_to_head(f"sqlite:///{path}")
    seed = bulkseed.plan(users, 10)
    bulkseed.seed_sqlite(path, seed, datetime(2026, 1, 2, tzinfo=UTC))
    return f"sqlite:///{path}", seed


def _log(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url.removeprefix("sqlite:///"))


def _assert_gap_free(db: sqlite3.Connection) -> None:
    """Every room's events are seqs 1..last_seq, and its counter says so."""
    rows = db.execute(
        "SELECT r.last_seq, count(e.seq), coalesce(max(e.seq), 0) FROM rooms r"
        " LEFT JOIN events e ON e.room_id = r.id GROUP BY r.id"
    ).fetchall()
    assert rows and all(last == count == top for last, count, top in rows)


def test_placeholders_become_asyncpg_numbers() -> None:
    assert (
        store_floor.dollar("UPDATE t SET a = ? WHERE b = ?") == "UPDATE t SET a = $1 WHERE b = $2"
    )
    assert store_floor.dollar("SELECT 1") == "SELECT 1"
    # `dollar` knows no quoting: the floor's statements hold no "?" inside a literal.
    assert all("'?" not in sql and "?'" not in sql for sql in store_floor.SQL.values())


def test_floor_batches_count_seqs_and_ids_and_never_touch_a_reaction_twice() -> None:
    seed = bulkseed.plan(4, 2)  # few targets: reactions toggle, and often in one batch
    batches = store_floor.FloorBatches(seed, MIX, "2026-01-02 00:00:00.000000")
    seqs: dict[int, list[int]] = {}
    message_ids: list[int] = []
    kinds: set[str] = set()
    for _ in range(30):
        rows = batches.batch(16)
        assert len(rows.events) == 16
        assert len(rows.seq_message) == len(rows.messages) == len(rows.own_unread)
        assert len(rows.seq_other) == len(rows.react) + len(rows.unreact) + len(rows.read)
        keys = [(m, e, u) for m, e, u, *_ in rows.react] + list(rows.unreact)
        assert len(keys) == len(set(keys))
        message_ids += [row[0] for row in rows.messages]
        for room_id, seq, kind, *_ in rows.events:
            seqs.setdefault(room_id, []).append(seq)
            kinds.add(kind)
    assert message_ids == list(range(1, len(message_ids) + 1))
    assert all(got == list(range(1, len(got) + 1)) for got in seqs.values())
    assert kinds == {"send", "react", "unreact", "read"}


async def test_the_driver_floor_writes_rows_the_schema_takes(tmp_path: Path) -> None:
    url, seed = await _seeded(tmp_path)
    floor = store_floor.SqliteFloor(url, seed, MIX, batch=16)
    try:
        assert await floor.run(300) == 300
    finally:
        await floor.close()
    db = _log(url)
    try:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (300,)
        sends = db.execute("SELECT count(*) FROM events WHERE type = 'send'").fetchone()[0]
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (sends,)
        assert db.execute("SELECT sum(message_count) FROM rooms").fetchone() == (sends,)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        _assert_gap_free(db)
    finally:
        db.close()


async def test_the_confab_store_writer_stores_the_mix(tmp_path: Path) -> None:
    url, seed = await _seeded(tmp_path)
    writer = store_floor.ConfabStore(url, seed, MIX, in_flight=8)
    try:
        stored = await writer.run(200)
    finally:
        await writer.close()
    db = _log(url)
    try:
        assert 0 < stored <= 200
        assert db.execute("SELECT count(*) FROM events").fetchone() == (stored,)
        types = {row[0] for row in db.execute("SELECT DISTINCT type FROM events")}
        assert {"message", "reaction_added", "read"} <= types
        _assert_gap_free(db)
    finally:
        db.close()


def test_cost_figures_are_per_event() -> None:
    cost = store_floor.Cost(events=2000, seconds=0.5, user=0.06, system=0.02, server=0.1)
    figures = cost.figures()
    assert figures["events_per_s"] == 4000
    assert figures["cpu_us"] == pytest.approx(40.0)
    assert figures["system_us"] == pytest.approx(10.0)
    assert figures["server_us"] == pytest.approx(50.0)
    assert math.isnan(store_floor.Cost(0, 0.0, 0.0, 0.0, 0.0).figures()["cpu_us"])


def test_verdicts_bound_one_core_with_the_bare_broadcast() -> None:
    results = {
        "sqlite/confab store": {"cpu_us": 150.0},
        "sqlite/driver floor": {"cpu_us": 40.0},
    }
    alone = store_floor.verdicts(results, ["sqlite", "postgres"])
    assert alone[0].startswith("sqlite: confab store 150 us per event = 3.75x")
    assert "floor takes 40 of it, leaving 160 us" in alone[1]
    assert len(alone) == 2  # postgres was not measured
    slow = store_floor.verdicts(results, ["sqlite"], {"events_per_s": 4800, "cpu_us": 160.0})
    assert slow[0].startswith("bare websockets broadcast (stores nothing): 4800 events/s")
    assert slow[-1].endswith("holds at most 3840 events/s (below 5,000)")  # 4800 * 160 / 200
    fast = store_floor.verdicts(results, ["sqlite"], {"events_per_s": 7000, "cpu_us": 160.0})
    assert fast[-1].endswith("holds at most 5600 events/s (above 5,000)")
