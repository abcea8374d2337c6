"""Pure parts of the many-rooms bench: the mix, acks, the seed, the figures and verdicts."""

from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.chat import bulkseed, manyrooms, mix, roomlist, roomlist_load
from bench.chat.wsclient import Dialect

from confab.adapters.sql.migrate import upgrade_to_head

# -- the mix ---------------------------------------------------------------------------------


def test_parse_mix_normalises_and_refuses_nonsense() -> None:
    assert mix.parse_mix("send=3,react=1") == {"send": 0.75, "react": 0.25}
    for bad in ("post=1", "send=-1", "send=0", "send"):
        with pytest.raises(ValueError):
            mix.parse_mix(bad)


def test_each_client_writes_in_its_own_room() -> None:
    work = mix.Workload(["a", "b", "c"], 10, {"send": 1.0})
    assert work.clients == 30
    assert [work.room_of(i) for i in (0, 9, 10, 29)] == ["a", "a", "b", "c"]
    drawn = [work.next() for _ in range(200)]
    assert all(op.room == work.room_of(op.client) for op in drawn)
    assert len({op.client for op in drawn}) > 20  # random writers
    op = work.next(client=12)
    assert (op.kind, op.room, op.client) == ("send", "b", 12)


def test_reactions_and_reads_wait_for_something_to_act_on() -> None:
    work = mix.Workload(["a"], 2, {"react": 0.5, "read": 0.5}, seed=3)
    first = [work.next(client=0).kind for _ in range(20)]
    assert set(first) == {"send"}  # no message yet, the room's seq is 0
    send = work.next(client=0)
    work.acked(send, message_id=7, seq=1)
    kinds = Counter(work.next(client=1).kind for _ in range(200))
    assert set(kinds) == {"react", "read"} and min(kinds.values()) > 50


def test_a_reaction_toggles_and_a_read_marker_only_moves_forward() -> None:
    work = mix.Workload(["a"], 1, {"react": 1.0}, seed=1)
    work.acked(mix.Op("send", 0, "a"), message_id=5, seq=1)
    on = work.next(client=0)
    assert on.kind == "react" and on.target == 5 and on.emoji in mix.EMOJI
    work.acked(on, None, 2)
    again = [work.next(client=0) for _ in range(30)]
    same = [op for op in again if op.emoji == on.emoji]
    assert same and all(op.kind == "unreact" for op in same)
    reader = mix.Workload(["a"], 1, {"read": 1.0})
    reader.acked(mix.Op("send", 0, "a"), message_id=1, seq=4)
    read = reader.next(client=0)
    assert (read.kind, read.seq) == ("read", 4)
    reader.acked(read, None, 5)  # the read event took seq 5
    assert reader.next(client=0) == mix.Op("read", 0, "a", seq=5)  # 5 > its marker 4
    reader.acked(mix.Op("read", 0, "a", seq=5), None, None)
    assert reader.next(client=0).kind == "send"  # nothing new to read


def test_acks_and_client_ids_round_trip() -> None:
    cid = mix.client_id(12.5, 42)
    assert mix.number_of(cid) == 42
    assert mix.number_of("c1") is None and mix.number_of("@@x@@y") is None
    send = json.dumps({"type": "ack", "client_id": cid, "id": 9, "seq": 3}).encode()
    assert mix.parse_ack(send) == (cid, 9, 3)
    idle = json.dumps({"type": "ack", "client_id": cid, "seq": None}).encode()
    assert mix.parse_ack(idle) == (cid, None, None)


def test_react_and_read_frames_follow_the_protocol() -> None:
    dialect = Dialect()
    react = json.loads(dialect.react("r", 5, "\U0001f44d", "c", on=True))
    assert react == {
        "type": "react",
        "room": "r",
        "target": 5,
        "emoji": "\U0001f44d",
        "client_id": "c",
    }
    assert json.loads(dialect.react("r", 5, "x", "c", on=False))["type"] == "unreact"
    assert json.loads(dialect.read("r", 8, "c")) == {
        "type": "read",
        "room": "r",
        "seq": 8,
        "client_id": "c",
    }


# -- the seed ---------------------------------------------------------------------------------


def test_plan_puts_users_in_rooms_with_one_owner_each() -> None:
    seed = bulkseed.plan(30, 10)
    assert len(seed.users) == len(seed.tokens) == 30 and len(set(seed.tokens)) == 30
    assert len(seed.rooms) == 3
    members = list(seed.memberships())
    assert [m for m in members if m[2]] == [(1, 1, True), (2, 11, True), (3, 21, True)]
    assert Counter(room for room, _, _ in members) == {1: 10, 2: 10, 3: 10}
    with pytest.raises(ValueError):
        bulkseed.plan(25, 10)


async def test_the_seed_loads_into_the_migrated_schema(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    await upgrade_to_head(f"sqlite:///{path}")
    seed = bulkseed.plan(20, 10)
    bulkseed.seed_sqlite(path, seed, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT count(*) FROM memberships").fetchone() == (20,)
        # The member counter the store keeps is filled for rows it never saw.
        assert db.execute("SELECT member_count FROM rooms ORDER BY id").fetchall() == [
            (10,),
            (10,),
        ]
        token_user = db.execute(
            "SELECT u.username FROM tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = ?",
            (bulkseed.token_hash(seed.tokens[13]),),
        ).fetchone()
        assert token_user == (seed.users[13],)
        room = db.execute("SELECT r.name FROM rooms r WHERE r.owner_id = 11").fetchone()
        assert room == (seed.rooms[1],)
        assert db.execute("SELECT created_at FROM users WHERE id = 1").fetchone() == (
            "2026-01-02 03:04:05.000000",
        )
    finally:
        db.close()


# -- figures ----------------------------------------------------------------------------------


def _step(rate: float, stored: float, passed: bool) -> dict[str, object]:
    return {
        "rate": rate,
        "stored_per_s": stored,
        "passed": passed,
        "ack_p50_ms": 5.0,
        "ack_p99_ms": 50.0,
        "client_cpu_pct": 30.0,
        "stored_by_kind": {"send": stored},
    }


def test_figures_take_the_best_passing_step_and_cpu_per_event() -> None:
    steps = [_step(500, 500, True), _step(1000, 990, True), _step(1500, 1200, False)]
    marks = {
        "step0:start": (0.0, 0.0, 0.0),
        "step0:end": (1.0, 5.0, 0.0),
        "step1:start": (10.0, 10.0, 0.0),
        "step1:end": (14.95, 15.0, 0.5),
        "step2:start": (20.0, 20.0, 0.0),
    }
    threads = manyrooms.ThreadSplit(pid=0)
    threads.marks = {
        "step1:start": {"main": (1.0, 1.0), "other threads": (0.5, 0.0)},
        "step1:end": {"main": (3.0, 2.0), "other threads": (1.0, 0.5)},
    }
    got = manyrooms.figures(steps, marks, threads)
    assert got["stored_per_s"] == 990 and got["offered_rate"] == 1000
    assert got["server_cores"] == pytest.approx(0.99)
    assert got["server_cpu_ms_per_event"] == pytest.approx(1.0)
    assert manyrooms.one_core_bound(got) == pytest.approx(1000.0)
    assert math.isnan(manyrooms.one_core_bound({}))
    assert got["peak_stored_per_s"] == 1200
    assert math.isnan(steps[2]["server_cores"])  # its window was never closed
    # 990 events/s over the 5 s window: 4,950 events.
    split = got["thread_us_per_event"]
    assert split["main"]["user"] == pytest.approx(2e6 / 4950)
    assert split["main"]["system"] == pytest.approx(1e6 / 4950)
    assert split["other threads"]["system"] == pytest.approx(0.5e6 / 4950)
    assert steps[0]["thread_us_per_event"] == {}  # no thread marks for that window
    (line,) = manyrooms.thread_lines({"eventlog/sqlite/send": got})
    assert line.startswith("eventlog/sqlite/send: CPU per event by thread at 990/s: main 606 us")
    assert manyrooms.figures([_step(500, 400, False)], {}, threads)["stored_per_s"] == 0.0
    # The generator's 30% of a core at 990 events/s; no database server on SQLite.
    assert got["generator_us_per_event"] == pytest.approx(0.3e6 / 990)
    assert got["database_us_per_event"] == 0.0


def test_admission_is_the_join_phases_time_and_node_cpu_per_client() -> None:
    marks = {"join:start": (3.0, 100.0, 0.0), "join:end": (23.0, 125.0, 0.0)}
    got = manyrooms.admission(marks, 10_000)
    assert got == {"join_seconds": 25.0, "join_cpu_ms_per_client": pytest.approx(2.0)}
    assert manyrooms.admission({}, 10_000) == {}  # a generator that marked nothing
    assert manyrooms.admission(marks, 0) == {}  # nobody got in
    lines = manyrooms.verdicts({"eventlog/sqlite/send": {**got, "connected": 10_000}})
    assert (
        "eventlog/sqlite/send: 10000 clients got in (ticket, handshake, join) in 25 s,"
        " 2.00 ms of node CPU each" in lines
    )


def test_the_database_servers_cpu_counts_per_event_and_in_the_machine_budget() -> None:
    steps = [_step(1000, 1000, True)]
    marks = {"step0:start": (0.0, 0.0, 0.0), "step0:end": (1.0, 2.0, 0.0)}  # half a core
    database_cpu = manyrooms.DatabaseCPU("postgres")
    database_cpu.marks = {"step0:start": 7.0, "step0:end": 7.4}
    got = manyrooms.figures(steps, marks, manyrooms.ThreadSplit(pid=0), database_cpu)
    # 0.4 s of PostgreSQL's CPU over 2,000 events.
    assert got["database_us_per_event"] == pytest.approx(200.0)
    assert got["server_cpu_ms_per_event"] == pytest.approx(0.5)
    need = manyrooms.machine_cores_needed(got, 5000.0)
    assert need["node"] == pytest.approx(2.5)
    assert need["generator"] == pytest.approx(1.5)  # 30% of a core at 1,000/s
    assert need["database"] == pytest.approx(1.0)
    assert need["total"] == pytest.approx(5.0)
    lines = manyrooms.verdicts({"eventlog/postgres/send+react+read": got})
    assert any(
        "keeps 5.00 cores busy (node 2.50, generator 1.50, database server 1.00)" in line
        for line in lines
    )
    # SQLite has no server to read, and a window never opened counts nothing.
    sqlite = manyrooms.DatabaseCPU("sqlite")
    sqlite.on_mark("step0:start")
    assert sqlite.marks == {} and sqlite.per_event_us("step0", 1000.0) == 0.0


def test_median_run_keeps_one_runs_figures_together() -> None:
    runs = [{"stored_per_s": v, "tag": v} for v in (300.0, 100.0, 200.0)]
    chosen = manyrooms.median_run(runs)
    assert chosen["tag"] == 200.0 and chosen["all_stored_per_s"] == [300.0, 100.0, 200.0]
    assert manyrooms.median_run([]) == {}


def test_verdicts_check_the_target_and_compare_versions() -> None:
    results = {
        "eventlog/sqlite/send+react+read": {"stored_per_s": 5200.0},
        "eventlog/postgres/send+react+read": {"stored_per_s": 4100.0},
        "eventlog/sqlite/send": {"stored_per_s": 6000.0},
        "current/sqlite/send": {"stored_per_s": 1500.0},
    }
    lines = manyrooms.verdicts(results)
    assert any("sqlite/send+react+read: 5200" in line and "met" in line for line in lines)
    assert any("postgres" in line and "NOT met" in line for line in lines)
    assert "sqlite, sends only: event log / current = 4.00x" in lines
    assert "sqlite" in manyrooms.table(results).splitlines()[1]


def test_targets_add_the_current_version_sends_only() -> None:
    args = manyrooms.parse_args(["--engines", "sqlite", "--current", "/old/confab"])
    labels = [t.label for t in manyrooms.targets(args)]
    assert labels == [
        "eventlog/sqlite/send+react+read",
        "eventlog/sqlite/send",
        "current/sqlite/send",
    ]
    with pytest.raises(SystemExit):
        manyrooms.parse_args(["--engines", "oracle"])


# -- the room-list database ---------------------------------------------------------------------


def test_the_room_list_shape_spreads_markers_and_authors() -> None:
    shape = roomlist_load.Shape(rooms=20, events_per_room=100, members=4, others=5)
    assert shape.events == 2000
    markers = {shape.read_seq(room) for room in range(1, 21)}
    assert min(markers) >= 0 and max(markers) <= 100 and len(markers) > 10
    assert shape.author(3, 12) == 1 and 2 <= shape.author(3, 13) <= 6  # 1 in 4 is the reader
    counts = roomlist_load.expected_counts(shape, cap=30)
    assert max(unread for unread, _ in counts.values()) == 30  # capped
    assert any(mentions for _, mentions in counts.values())
    with pytest.raises(ValueError):
        roomlist_load.Shape(members=10, others=8)  # a writer would be in a room twice


async def test_the_loader_writes_the_counts_it_promises(tmp_path: Path) -> None:
    path = tmp_path / "list.db"
    await upgrade_to_head(f"sqlite:///{path}")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "events" not in tables:
            pytest.skip("the event-log schema (migration 0002) is not on this branch yet")
        shape = roomlist_load.Shape(rooms=6, events_per_room=300, others=12, public_extra=3)
        db.execute("BEGIN")
        for statement in roomlist_load.statements("sqlite", shape, "tok", datetime.now(UTC)):
            db.execute(statement)
        db.execute("COMMIT")
        assert db.execute("SELECT count(*) FROM events").fetchone() == (shape.events,)
        got = {}
        for room in range(1, shape.rooms + 1):
            (marker,) = db.execute(
                "SELECT read_seq FROM memberships WHERE room_id = ? AND user_id = 1", (room,)
            ).fetchone()
            (unread,) = db.execute(
                "SELECT count(*) FROM messages WHERE room_id = ? AND seq > ?"
                " AND author_id <> 1 AND deleted = 0",
                (room, marker),
            ).fetchone()
            (mentions,) = db.execute(
                "SELECT count(*) FROM mentions WHERE user_id = 1 AND room_id = ? AND seq > ?",
                (room, marker),
            ).fetchone()
            got[room] = (min(unread, 1000), mentions)
        assert got == roomlist_load.expected_counts(shape)
        listing = {
            "rooms": [
                {"name": f"rlroom{r}", "unread": u, "mentions": m} for r, (u, m) in got.items()
            ]
            + [{"name": f"rlroom{r}", "unread": 0, "mentions": 0} for r in range(7, 10)]
        }
        assert roomlist.check(listing, shape) == []
        listing["rooms"][0]["unread"] += 1
        (unread, mentions) = got[1]
        assert roomlist.check(listing, shape) == [
            f"rlroom1: unread/mentions {unread + 1}/{mentions}, expected {unread}/{mentions}"
        ]
    finally:
        db.close()
