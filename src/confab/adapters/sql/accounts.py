"""Accounts and session tokens on SQL: operations `fn(connection, ...)` for `Database`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from confab.adapters.sql.tables import tokens, users
from confab.core.chatstore import TokenRecord, UserRecord

# Any row of any width (SQLAlchemy 2.1 types rows by their columns).
AnyRow = sa.Row[*tuple[Any, ...]]
_B = sa.bindparam

# Built once with bound parameters: SQLAlchemy then memoizes their cache keys, and an
# authentication spends its time in the database, not in constructing SQL.
_USER_FOR_TOKEN = (
    sa.select(users)
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash == _B("token_hash"), tokens.c.expires_at > _B("now"))
)
_NAMES = sa.select(users.c.id, users.c.username).where(users.c.id.in_(_B("ids", expanding=True)))


def user_record(row: AnyRow) -> UserRecord:
    """A `users` row as a record."""
    return UserRecord(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        created_at=row.created_at,
    )


def rowcount(conn: Connection, statement: sa.Executable) -> int:
    """Run a statement; how many rows it touched."""
    return int(conn.execute(statement).rowcount)


def create_user(conn: Connection, username: str, password_hash: str, now: datetime) -> int:
    """Insert an account; its id."""
    insert = users.insert().values(username=username, password_hash=password_hash, created_at=now)
    return int(conn.execute(insert.returning(users.c.id)).scalar_one())


def get_user(conn: Connection, username: str) -> UserRecord | None:
    """The account named `username`, or None."""
    row = conn.execute(users.select().where(users.c.username == username)).first()
    return None if row is None else user_record(row)


def users_named(conn: Connection, usernames: Sequence[str]) -> dict[str, int]:
    """The ids of the known accounts among `usernames`."""
    if not usernames:
        return {}
    query = sa.select(users.c.username, users.c.id).where(users.c.username.in_(list(usernames)))
    return {row.username: int(row.id) for row in conn.execute(query)}


def names(conn: Connection, *user_ids: int) -> dict[int, str]:
    """The usernames of these user ids (unknown ones left out)."""
    rows = conn.execute(_NAMES, {"ids": list(set(user_ids))})
    return {int(row.id): str(row.username) for row in rows}


def user_for_token(conn: Connection, token_hash: str, now: datetime) -> UserRecord | None:
    """The account holding an unexpired token with this hash, or None."""
    row = conn.execute(_USER_FOR_TOKEN, {"token_hash": token_hash, "now": now}).first()
    return None if row is None else user_record(row)


_TOKEN_SELECT = sa.select(
    tokens.c.token_hash,
    tokens.c.user_id,
    users.c.username,
    tokens.c.created_at,
    tokens.c.expires_at,
).join(users, users.c.id == tokens.c.user_id)


# Looked up for every WebSocket ticket (issued, then redeemed): built once, as above.
_TOKEN_BY_HASH = _TOKEN_SELECT.where(
    tokens.c.token_hash == _B("token_hash"), tokens.c.expires_at > _B("now")
)


def _token_record(row: AnyRow) -> TokenRecord:
    return TokenRecord(row.token_hash, row.user_id, row.username, row.created_at, row.expires_at)


def token_by_hash(conn: Connection, token_hash: str, now: datetime) -> TokenRecord | None:
    """The unexpired token with this hash, or None."""
    row = conn.execute(_TOKEN_BY_HASH, {"token_hash": token_hash, "now": now}).first()
    return None if row is None else _token_record(row)


def tokens_where(conn: Connection, where: sa.ColumnElement[bool]) -> list[TokenRecord]:
    """The tokens matching `where`, oldest first."""
    query = _TOKEN_SELECT.where(where).order_by(tokens.c.created_at, tokens.c.token_hash)
    return [_token_record(row) for row in conn.execute(query)]


def delete_user_tokens(conn: Connection, user_id: int) -> list[str]:
    """Forget every token of a user; their hashes."""
    where = tokens.c.user_id == user_id
    hashes = [str(h) for h in conn.execute(sa.select(tokens.c.token_hash).where(where)).scalars()]
    conn.execute(tokens.delete().where(where))
    return hashes
