"""Hot-path statements run straight on the DBAPI cursor.

The write path (a message, a reaction, a read marker) runs three or four small statements
per event. Through `Connection.execute` each costs about 30 µs of CPU in SQLAlchemy's
execution machinery (cache-key lookup, execution context, result wrapping) against about
5 µs for the statement itself on SQLite (measured on one core: 32.5 µs against 4.8 µs for
the room-seq UPDATE ... RETURNING). SQLAlchemy documents working with the DBAPI cursor
for such cases; this module does only that:

- the SQL is still a SQLAlchemy Core statement, compiled once per dialect by SQLAlchemy
  (qmark for sqlite3, `$n` for asyncpg), with the literal values it binds itself;
- parameters go through each bind's own type processor (so datetimes and JSON are stored
  exactly as `Connection.execute` stores them);
- driver errors are wrapped as SQLAlchemy wraps them, so `errors.translated` maps them.

Rows come back as plain tuples, without result processing: only use it for statements
whose columns need none (integers, text; booleans read as truthy integers on SQLite).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import Executable

_NO_VALUE = object()


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for one dialect: its SQL and how to build its parameters."""

    sql: str
    # (bind name, its literal value or _NO_VALUE, the type's bind processor or None)
    binds: tuple[tuple[str, Any, Any], ...]

    def parameters(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, literal, process in self.binds:
            value = params[name] if literal is _NO_VALUE else literal
            out.append(value if process is None else process(value))
        return tuple(out)


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if not dialect.positional or compiled.positiontup is None:
        raise TypeError(f"{dialect.name}: only positional paramstyles are supported")
    binds = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        literal = _NO_VALUE if bind.required else bind.value
        if bind.callable is not None or bind.expanding:
            raise TypeError(f"bind {name!r}: callables and expanding binds are not supported")
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        binds.append((name, literal, process))
    return _Compiled(compiled.string, tuple(binds))


class Prepared:
    """One statement, compiled on first use per dialect, executed on the DBAPI cursor of
    the transaction's connection."""

    __slots__ = ("_by_dialect", "_statement")

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self._statement, dialect)
        return compiled

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Run the statement with `params` (by bind name); every row it returns."""
        compiled = self._compiled(conn.dialect)
        return self._execute(conn, compiled.sql, compiled.parameters(params), many=False)

    def run_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per parameter set, in one `executemany` (no rows back)."""
        compiled = self._compiled(conn.dialect)
        self._execute(conn, compiled.sql, [compiled.parameters(one) for one in params], True)

    @staticmethod
    def _execute(
        conn: Connection, sql: str, parameters: Any, many: bool
    ) -> Sequence[Sequence[Any]]:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if many:
                cursor.executemany(sql, parameters)
                return []
            cursor.execute(sql, parameters)
            return cursor.fetchall() if cursor.description is not None else []
        except conn.dialect.loaded_dbapi.Error as error:
            raise sa_exc.DBAPIError.instance(
                sql, parameters, error, conn.dialect.loaded_dbapi.Error
            ) from error
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Sequence[Any] | None:
        """Run the statement; its first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None
