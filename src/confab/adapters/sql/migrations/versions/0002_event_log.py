"""event log: events, reactions, mentions; rooms, members and messages for DMs, roles,
read markers and threads

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 00:00:00

Existing databases keep their messages: each becomes a `message` event at its own seq
(redacted if the message was deleted), so `resume` and gap repair work on old rooms and
`rooms.last_seq` (the newest message's seq) stays the newest event's seq. Every existing
member starts with everything read (read_seq = last_seq) and the room's owner gets the
"owner" role.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types of this revision (never import the live tables here).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BATCH = 2000


def _when(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _iso(moment: datetime) -> str:
    # Frozen copy of confab.core.roomlog.iso as of this revision.
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _message_frame(row: Any, room: str, author: str) -> bytes:
    """The `message` event of a stored message, as roomlog.message_posted makes it."""
    deleted = bool(row.deleted)
    return orjson.dumps(
        {
            "type": "message",
            "id": row.id,
            "room": room,
            "seq": row.seq,
            "author": author,
            "text": "" if deleted else row.text,
            "created_at": _iso(row.created_at),
            "edited_at": None if row.edited_at is None else _iso(row.edited_at),
            "deleted": deleted,
            "attachments": [] if deleted else list(row.attachments or ()),
            "previews": [] if deleted else list(row.previews or ()),
            "client_id": row.client_id,
            "reply_to": None,
            "thread_root": None,
            "reply_count": 0,
            "last_reply_at": None,
            "reactions": [],
            "mentions": [],
            "mentions_room": False,
        }
    )


def _add_columns() -> None:
    op.add_column("rooms", sa.Column("kind", sa.String(8), server_default="room", nullable=False))
    op.add_column("rooms", sa.Column("title", sa.String(128), server_default="", nullable=False))
    op.add_column(
        "memberships", sa.Column("role", sa.String(16), server_default="member", nullable=False)
    )
    op.add_column(
        "memberships", sa.Column("read_seq", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column(
        "memberships", sa.Column("notify", sa.String(8), server_default="all", nullable=False)
    )
    op.add_column("messages", sa.Column("reply_to", BigId, nullable=True))
    op.add_column("messages", sa.Column("thread_root", BigId, nullable=True))
    op.add_column(
        "messages", sa.Column("reply_count", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("messages", _when("last_reply_at", nullable=True))
    op.add_column("messages", sa.Column("mentions", sa.JSON(), nullable=True))
    op.add_column(
        "messages",
        sa.Column("mentions_room", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index("ix_messages_unread", "messages", ["room_id", "seq", "author_id", "deleted"])
    op.create_index(
        "ix_messages_thread",
        "messages",
        ["thread_root", "seq"],
        sqlite_where=sa.text("thread_root IS NOT NULL"),
        postgresql_where=sa.text("thread_root IS NOT NULL"),
    )


def _create_tables() -> None:
    op.create_table(
        "events",
        sa.Column("room_id", BigId, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(32), nullable=True),
        sa.Column("target", BigId, nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name="fk_events_room_id_rooms", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", "seq", name="pk_events"),
    )
    op.create_index(
        "ix_events_target",
        "events",
        ["target"],
        sqlite_where=sa.text("target IS NOT NULL"),
        postgresql_where=sa.text("target IS NOT NULL"),
    )
    op.create_table(
        "reactions",
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("emoji", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_reactions_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_reactions_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "emoji", "user_id", name="pk_reactions"),
    )
    op.create_table(
        "mentions",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("room_id", BigId, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_mentions_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name="fk_mentions_room_id_rooms", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_mentions_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "room_id", "seq", name="pk_mentions"),
    )
    op.create_index("ix_mentions_message_id", "mentions", ["message_id"])


def _backfill(conn: sa.Connection) -> None:
    """One `message` event per stored message, in batches by id; members' roles and
    read markers."""
    meta = sa.MetaData()
    rooms = sa.Table("rooms", meta, autoload_with=conn)
    users = sa.Table("users", meta, autoload_with=conn)
    messages = sa.Table("messages", meta, autoload_with=conn)
    memberships = sa.Table("memberships", meta, autoload_with=conn)
    events = sa.Table("events", meta, autoload_with=conn)
    query = (
        sa.select(messages, rooms.c.name.label("room"), users.c.username.label("author"))
        .join(rooms, rooms.c.id == messages.c.room_id)
        .join(users, users.c.id == messages.c.author_id)
        .order_by(messages.c.id)
        .limit(_BATCH)
    )
    last_id = 0
    while True:
        rows = conn.execute(query.where(messages.c.id > last_id)).all()
        if not rows:
            break
        conn.execute(
            events.insert(),
            [
                {
                    "room_id": row.room_id,
                    "seq": row.seq,
                    "type": "message",
                    "subject": None,
                    "target": None,
                    "payload": _message_frame(row, row.room, row.author),
                    "created_at": row.created_at,
                }
                for row in rows
            ],
        )
        last_id = rows[-1].id
    owner_of_room = sa.select(rooms.c.id).where(
        rooms.c.id == memberships.c.room_id, rooms.c.owner_id == memberships.c.user_id
    )
    conn.execute(memberships.update().where(owner_of_room.exists()).values(role="owner"))
    last_seq = (
        sa.select(rooms.c.last_seq).where(rooms.c.id == memberships.c.room_id).scalar_subquery()
    )
    conn.execute(memberships.update().values(read_seq=last_seq))


def upgrade() -> None:
    """Add the event log and the conversation features, and backfill the log."""
    _add_columns()
    _create_tables()
    _backfill(op.get_bind())


def downgrade() -> None:
    """Drop the log and the new columns (reactions, mentions and threads are lost)."""
    for table in ("mentions", "reactions", "events"):
        op.drop_table(table)
    op.drop_index("ix_messages_thread", "messages")
    op.drop_index("ix_messages_unread", "messages")
    columns = {
        "messages": (
            "reply_to",
            "thread_root",
            "reply_count",
            "last_reply_at",
            "mentions",
            "mentions_room",
        ),
        "memberships": ("role", "read_seq", "notify"),
        "rooms": ("kind", "title"),
    }
    for table, names in columns.items():
        with op.batch_alter_table(table) as batch:
            for name in names:
                batch.drop_column(name)
