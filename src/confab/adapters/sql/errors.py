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


# SQLSTATE classes a server answers a connection with when it will not serve it: bad
# credentials (28), no such database (3D), too many connections (53), shutting down (57P).
_REFUSED_SQLSTATES = ("28", "3D", "53", "57P")


def _refusal(error: sa_exc.DBAPIError) -> str | None:
    """The server's message when it refused the connection (not a query error), else None."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_REFUSED_SQLSTATES):
        cause = error.orig.__cause__ if error.orig is not None else None
        return str(cause or error.orig).strip()
    return None


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
        refused = _refusal(error)
        if refused is not None:
            log.warning("database refused the connection", extra={"error": refused})
            raise Unavailable(
                f"the database refused the connection: {refused}", code="database_unavailable"
            ) from error
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
