"""Bulk seeding of a migrated Confab database with plain SQL: users, tokens, rooms, members.

The many-rooms bench needs 10,000 signed-in users in 1,000 rooms; through the API that is
10,000 sign-ups and sign-ins (argon2, rate limits) and 9,000 joins, minutes of set-up for
one measured run. Rows written straight into the tables take a second. Only the columns
of the first schema are written (the event-log schema adds columns with defaults), so the
same seed loads into the current version and into the event-log one; where `memberships`
has a `role` column the owners get "owner".

Nobody signs in with a password (the hash is not one argon2 accepts); the bench connects
with the tokens returned here, whose SHA-256 is stored as Confab stores its own tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confab.adapters.sql.rooms import RECOUNT_COUNTERS

NO_PASSWORD = "!bench-seeded: no password signs in"


@dataclass(frozen=True)
class Seed:
    """What a seed holds: user i is `users[i]` with `tokens[i]`, in room `i // room_size`."""

    users: list[str]
    tokens: list[str]
    rooms: list[str]
    room_size: int

    def room_ids(self) -> dict[str, int]:
        """Room name -> its id (ids from 1, in `rooms` order)."""
        return {name: index + 1 for index, name in enumerate(self.rooms)}

    def memberships(self) -> Iterator[tuple[int, int, bool]]:
        """(room id, user id, is owner), ids from 1; the first user of a room owns it."""
        for index in range(len(self.users)):
            room = index // self.room_size
            yield room + 1, index + 1, index % self.room_size == 0


def plan(users: int, room_size: int, prefix: str = "mr") -> Seed:
    """`users` users (a multiple of `room_size`) in rooms of `room_size`, fresh tokens."""
    if users <= 0 or room_size <= 0 or users % room_size:
        raise ValueError("users must be a positive multiple of room_size")
    return Seed(
        users=[f"{prefix}{i:05d}" for i in range(users)],
        tokens=[secrets.token_urlsafe(32) for _ in range(users)],
        rooms=[f"{prefix}room{r:04d}" for r in range(users // room_size)],
        room_size=room_size,
    )


def token_hash(token: str) -> str:
    """What Confab stores for a token (see confab.chat.services.accounts.token_hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def sqlite_time(moment: datetime) -> str:
    """A UTC datetime as Confab's SQLite columns hold it (naive UTC text, SQLAlchemy's form)."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def rows(seed: Seed, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The rows per table (datetimes aware; each engine converts them)."""
    expires = now + timedelta(days=30)
    owners = {room: user for room, user, owner in seed.memberships() if owner}
    return {
        "users": [(i + 1, name, NO_PASSWORD, now) for i, name in enumerate(seed.users)],
        "tokens": [(token_hash(t), i + 1, now, expires) for i, t in enumerate(seed.tokens)],
        "rooms": [
            (room, name, "", False, owners[room], 0, now) for name, room in seed.room_ids().items()
        ],
        "memberships": [(room, user, now) for room, user, _ in seed.memberships()],
    }


COLUMNS = {
    "users": ("id", "username", "password_hash", "created_at"),
    "tokens": ("token_hash", "user_id", "created_at", "expires_at"),
    "rooms": ("id", "name", "topic", "private", "owner_id", "last_seq", "created_at"),
    "memberships": ("room_id", "user_id", "joined_at"),
}


def seed_sqlite(path: Path, seed: Seed, now: datetime | None = None) -> None:
    """Write `seed` into the migrated SQLite database at `path`, in one transaction."""
    moment = now or datetime.now(UTC)
    data = rows(seed, moment)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        for table, columns in COLUMNS.items():
            marks = ", ".join("?" for _ in columns)
            converted = [
                tuple(sqlite_time(v) if isinstance(v, datetime) else v for v in row)
                for row in data[table]
            ]
            db.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", converted
            )
        names = {row[1] for row in db.execute("PRAGMA table_info(memberships)")}
        if "role" in names:
            db.execute(
                "UPDATE memberships SET role = 'owner' WHERE EXISTS (SELECT 1 FROM rooms"
                " WHERE rooms.id = memberships.room_id AND rooms.owner_id = memberships.user_id)"
            )
        if "member_count" in {row[1] for row in db.execute("PRAGMA table_info(rooms)")}:
            for statement in RECOUNT_COUNTERS:  # schema 0004 on: the rows bypassed them
                db.execute(statement)
        db.execute("COMMIT")
    finally:
        db.close()


async def seed_postgres(url: str, seed: Seed, now: datetime | None = None) -> None:
    """Write `seed` into the migrated PostgreSQL database at `url` (COPY, one transaction)."""
    import asyncpg

    moment = now or datetime.now(UTC)
    data = rows(seed, moment)
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for table, columns in COLUMNS.items():
                await conn.copy_records_to_table(table, records=data[table], columns=columns)
            has_role = await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'memberships' AND column_name = 'role'"
            )
            if has_role:
                await conn.execute(
                    "UPDATE memberships m SET role = 'owner' FROM rooms r"
                    " WHERE r.id = m.room_id AND r.owner_id = m.user_id"
                )
            has_member_count = await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'rooms' AND column_name = 'member_count'"
            )
            if has_member_count:  # schema 0004 on: the rows bypassed the counters
                for statement in RECOUNT_COUNTERS:
                    await conn.execute(statement)
            for table in ("users", "rooms"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
    finally:
        await conn.close()
