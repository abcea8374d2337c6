"""unread counters: rooms.message_count and memberships.unread_offset

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 03:00:00

The room list read its unread counts by counting index rows per room (up to 1,000 each);
now unread = rooms.message_count - memberships.unread_offset, kept exact by the writes.
Existing rows are filled from the messages: the count of each room's messages, and for
each member the offset that gives today's count (messages by others, not deleted, with
seq > read_seq), uncapped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the counters and fill them from the stored messages."""
    op.add_column(
        "rooms", sa.Column("message_count", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column(
        "memberships",
        sa.Column("unread_offset", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE rooms SET message_count ="
        " (SELECT count(*) FROM messages WHERE messages.room_id = rooms.id)"
    )
    op.execute(
        "UPDATE memberships SET unread_offset ="
        " (SELECT message_count FROM rooms WHERE rooms.id = memberships.room_id)"
        " - (SELECT count(*) FROM messages WHERE messages.room_id = memberships.room_id"
        " AND messages.seq > memberships.read_seq"
        " AND messages.author_id <> memberships.user_id"
        " AND messages.deleted = false)"
    )


def downgrade() -> None:
    """Drop the counters."""
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("unread_offset")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("message_count")
