"""Statements of the hot path, compiled once per database and run on the DB-API cursor.

SQLAlchemy spends about 0.1 ms of bookkeeping on every statement it executes (execution
context, result object, compiled-cache lookup), several times what SQLite needs to run
the statement. A self-report runs six statements, so `Prepared` runs them straight on
the connection's DB-API cursor instead, with what SQLAlchemy itself would have done:

- the SQL is SQLAlchemy's, compiled for the connection's dialect (qmark for SQLite,
  `$n` with casts for asyncpg);
- parameters go through the column types' bind processors (a datetime becomes SQLite
  text exactly as the ORM writes it) and the rows through their result processors (SQLite
  text back to a date);
- `before_cursor_execute` listeners still see the statement (the read-only guard of
  `bot.db`, the statement-count test);
- DB-API errors are raised as SQLAlchemy's `DBAPIError` subclasses, as usual.

It is a thin layer and knows no rule: the same statement gives the same rows either way
(`tests/test_prepared.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the positional parameters, in order
    fixed: dict[str, Any]  # values bound in the statement itself (literals)
    binders: tuple[Callable[[Any], Any] | None, ...]
    readers: tuple[Callable[[Any], Any] | None, ...] | None  # None: no column to process


class Prepared:
    """`stmt`, run with `run(conn, params)`; `keys` names the columns an INSERT is given."""

    def __init__(self, stmt: Executable, *, keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.keys = list(keys) if keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(f"{dialect.name}+{dialect.driver}")
        if found is not None:
            return found
        compiled = self.stmt.compile(dialect=dialect, column_keys=self.keys)
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        binders = tuple(binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        columns = getattr(self.stmt, "exported_columns", ())
        readers = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        found = _Compiled(
            sql=str(compiled),
            names=names,
            fixed={n: binds[n].value for n in names if binds[n].value is not None},
            binders=binders,
            readers=readers if any(readers) else None,
        )
        self._compiled[f"{dialect.name}+{dialect.driver}"] = found
        return found

    def run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[list[tuple], int]:
        """Execute once: (rows, rowcount)."""
        c = self._for(conn.dialect)
        values = []
        for name, bind in zip(c.names, c.binders, strict=True):
            value = params[name] if name in params else c.fixed.get(name)
            values.append(bind(value) if bind is not None and value is not None else value)
        args = tuple(values)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            conn.dispatch.before_cursor_execute(conn, cursor, c.sql, args, None, False)
            try:
                cursor.execute(c.sql, args)
                rows = cursor.fetchall() if cursor.description else []
                count = cursor.rowcount
            except conn.dialect.loaded_dbapi.Error as e:
                raise exc.DBAPIError.instance(
                    c.sql, args, e, conn.dialect.loaded_dbapi.Error
                ) from e
        finally:
            cursor.close()
        if c.readers is not None and rows:
            readers = c.readers
            rows = [
                tuple(
                    v if r is None or v is None else r(v) for r, v in zip(readers, row, strict=True)
                )
                for row in rows
            ]
        return rows, count

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple]:
        return self.run(conn, params)[0]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple | None:
        rows = self.run(conn, params)[0]
        return rows[0] if rows else None
