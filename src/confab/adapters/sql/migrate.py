"""Schema migrations (Alembic, shipped in the package) run from code.

`upgrade_to_head` brings a database to the newest schema (embedded mode does it at start,
`confab migrate` on demand); `check_schema_current` lets a node refuse to start on a
schema that is behind (or ahead of) its code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from confab.adapters.sql.engine import Database
from confab.core.errors import Unavailable

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant: nodes migrating one PostgreSQL database at once take turns on it.
_PG_MIGRATION_LOCK = 0x636F6E666162


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations; `connection` is used by env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migration"
    return head


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def upgrade_to_head(url: str) -> None:
    """Apply every pending migration to the database at `url`, in one transaction."""
    database = Database(url, pooled=False)
    try:
        await database.write(_upgrade)
    except CommandError as error:
        # e.g. the database was migrated by a newer confab than this one.
        raise Unavailable(
            f"cannot migrate the database schema: {error}", code="schema_unknown"
        ) from error
    finally:
        await database.close()


async def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None: never migrated)."""
    database = Database(url, pooled=False)
    try:
        heads = await database.read(_current)
    finally:
        await database.close()
    return heads[0] if len(heads) == 1 else (",".join(heads) or None)


async def check_schema_current(url: str) -> None:
    """Raise `Unavailable("schema_out_of_date")` unless the schema is at this code's head."""
    current = await current_revision(url)
    head = head_revision()
    if current != head:
        found = current or "empty (never migrated)"
        raise Unavailable(
            f"the database schema is {found} but this version of confab needs {head}: "
            "run `confab migrate` against this database, then start the node again",
            code="schema_out_of_date",
        )
