"""Translation of driver and SQLAlchemy errors into `confab.core.errors` at the boundary."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from confab.core.errors import ConfabError, Conflict, Unavailable

log = logging.getLogger("confab.sql")

DUPLICATE = "duplicate"


def _is_unique_violation(error: sa_exc.IntegrityError) -> bool:
    # SQLite: "UNIQUE constraint failed"; PostgreSQL: "duplicate key value violates ..."
    text = str(error.orig).lower()
    return "unique" in text or "duplicate key" in text


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise database failures as ConfabError; ConfabErrors pass through.

    A unique violation becomes `Conflict` with reason `DUPLICATE`, for callers to rename.
    """
    try:
        yield
    except ConfabError:
        raise
    except sa_exc.IntegrityError as error:
        if _is_unique_violation(error):
            raise Conflict("already exists", code=DUPLICATE) from error
        raise Conflict("the change conflicts with stored data", code="constraint") from error
    except sa_exc.DBAPIError as error:
        operational = isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
        if not (operational or error.connection_invalidated):
            raise  # a programming error: let it surface as a bug
        if "database is locked" in str(error.orig):
            log.warning("database busy", extra={"error": str(error.orig)})
            raise Unavailable("the database is busy, retry", code="database_busy") from error
        log.warning("database error", extra={"error": str(error.orig)})
        raise Unavailable("the database is unavailable", code="database_unavailable") from error
    except sa_exc.TimeoutError as error:
        raise Unavailable("no database connection free", code="database_busy") from error
    except OSError as error:
        # asyncpg raises plain OSError (refused, unreachable) while connecting.
        log.warning("database unreachable", extra={"error": str(error)})
        raise Unavailable("the database is unreachable", code="database_unavailable") from error
