"""The chat schema as SQLAlchemy Core tables (the migrations create it; see migrations/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Stable constraint names: Alembic needs them to alter tables later (SQLite batch mode).
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit ids on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type: values are stored as naive UTC text, whose
    lexicographic order is their time order.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(32), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

rooms = sa.Table(
    "rooms",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("topic", sa.String(256), nullable=False, server_default=""),
    sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("owner_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    # The seq counter: bumped under the row lock in the transaction that inserts.
    sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"),
    # Messages ever stored in the room (deleted ones included): the unread counters' base.
    sa.Column("message_count", sa.BigInteger(), nullable=False, server_default="0"),
    # Rows in `memberships` for this room: moved by every insert and delete of one.
    sa.Column("member_count", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # "room" or "dm"; a DM's unique name is derived from its participants (dm_name).
    sa.Column("kind", sa.String(8), nullable=False, server_default="room"),
    sa.Column("title", sa.String(128), nullable=False, server_default=""),
    # The room list's public rooms (kind "room", not private), by name, without a scan of
    # every room and DM.
    sa.Index("ix_rooms_public", "kind", "private", "name"),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("room_id", BigId, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id",
        BigId,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    sa.Column("joined_at", UTCDateTime(), nullable=False),
    sa.Column("role", sa.String(16), nullable=False, server_default="member"),
    # The member's read marker: a seq of this room's log.
    sa.Column("read_seq", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("notify", sa.String(8), nullable=False, server_default="all"),
    # unread = rooms.message_count - unread_offset: the exact count of messages by others,
    # not deleted, past read_seq, with no row written per member on a message. Only the
    # author's own row moves on a send; deletions, read markers and joins adjust it.
    sa.Column("unread_offset", sa.BigInteger(), nullable=False, server_default="0"),
    # The member's rows in `mentions` of this room with seq > read_seq: +1 for each new
    # mention of them, -1 when a mentioned message they had not read is deleted, minus the
    # mentions a read marker passes; a join starts it at all their mentions in the room.
    sa.Column("mention_count", sa.BigInteger(), nullable=False, server_default="0"),
)

bans = sa.Table(
    "bans",
    metadata,
    sa.Column("room_id", BigId, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("banned_at", UTCDateTime(), nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("room_id", BigId, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("author_id", BigId, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("edited_at", UTCDateTime(), nullable=True),
    sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("attachments", sa.JSON(), nullable=False),
    sa.Column("previews", sa.JSON(), nullable=False),
    # Replies and threads: no foreign key (a room's messages go together with the room).
    sa.Column("reply_to", BigId, nullable=True),
    sa.Column("thread_root", BigId, nullable=True),
    sa.Column("reply_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_reply_at", UTCDateTime(), nullable=True),
    # The usernames mentioned explicitly (for display; counting uses `mentions`); NULL: none.
    sa.Column("mentions", sa.JSON(), nullable=True),
    sa.Column("mentions_room", sa.Boolean(), nullable=False, server_default=sa.false()),
    # Also the history index: (room_id, seq) ranges.
    sa.UniqueConstraint("room_id", "seq"),
    # Idempotent sends; NULL client ids never collide.
    sa.UniqueConstraint("author_id", "client_id"),
    # Unread counts read this index alone (no table row): a range of seqs in one room,
    # skipping the reader's own and deleted messages.
    sa.Index("ix_messages_unread", "room_id", "seq", "author_id", "deleted"),
    sa.Index(
        "ix_messages_thread",
        "thread_root",
        "seq",
        sqlite_where=sa.text("thread_root IS NOT NULL"),
        postgresql_where=sa.text("thread_root IS NOT NULL"),
    ),
)

# The room log: every durable change, stored as the frame that was published.
events = sa.Table(
    "events",
    metadata,
    sa.Column("room_id", BigId, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("type", sa.String(32), nullable=False),
    # The username a membership, role, reaction or read event is about.
    sa.Column("subject", sa.String(32), nullable=True),
    # The message whose content the event carries (message_edited, previews_set): deleting
    # that message redacts them.
    sa.Column("target", BigId, nullable=True),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index(
        "ix_events_target",
        "target",
        sqlite_where=sa.text("target IS NOT NULL"),
        postgresql_where=sa.text("target IS NOT NULL"),
    ),
)

reactions = sa.Table(
    "reactions",
    metadata,
    sa.Column(
        "message_id", BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("emoji", sa.String(64), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # The seq of its reaction_added event: orders emojis and the users who reacted.
    sa.Column("seq", sa.BigInteger(), nullable=False),
)

# One row per (mentioned user, message); the room list reads `memberships.mention_count`,
# the writes that move it read ranges of this primary key.
mentions = sa.Table(
    "mentions",
    metadata,
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("room_id", BigId, sa.ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column(
        "message_id",
        BigId,
        sa.ForeignKey("messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)
