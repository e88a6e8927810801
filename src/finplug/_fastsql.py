"""Hot-path statements on the DBAPI cursor: SQLAlchemy's types, without its per-call machinery.

On SQLite a Core ``conn.execute`` of a one-row statement costs several times
what SQLite spends running it (measured here: about 14 µs of Python around a
2 µs update). Components with a hot path (payments, the outbox) describe their
statements with the same :class:`~sqlalchemy.Table` objects they migrate, and
:class:`FastSQL` runs them on the connection's DBAPI cursor, inside the
caller's transaction:

* the SQL text is generated once per (dialect, driver, schema) and shape
  (table, columns), quoting names with the dialect's own preparer;
* values go through each column type's own bind processor (so an SQLite
  ``DateTime`` is stored exactly as SQLAlchemy stores it) and rows through its
  result processor, so Core and ``FastSQL`` read and write the same data;
* driver errors are raised as SQLAlchemy's (``IntegrityError`` …), as if the
  statement had gone through ``conn``.

Drivers other than ``sqlite3`` and ``psycopg`` (3) run the same calls as Core
statements, so callers need no second code path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Final

from sqlalchemy import Connection, Table, and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

__all__ = ["FastSQL", "Record", "driver_cursor"]

#: A row read by :class:`FastSQL`: attribute access by column name, mutable.
Record = SimpleNamespace

_Processor = Callable[[Any], Any] | None


def _bind(table: Table, names: Sequence[str], conn: Connection) -> list[_Processor]:
    dialect = conn.dialect
    return [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]


def _results(table: Table, names: Sequence[str], conn: Connection) -> list[_Processor]:
    dialect = conn.dialect
    return [table.c[n].type.dialect_impl(dialect).result_processor(dialect, None) for n in names]


def _values(processors: Sequence[_Processor], values: Sequence[Any]) -> Sequence[Any]:
    """``values`` through their processors (``None`` stays ``None``); as is if none has one."""
    out: list[Any] | None = None
    for i, processor in enumerate(processors):
        if processor is not None:
            value = values[i]
            if value is not None:
                if out is None:
                    out = list(values)
                out[i] = processor(value)
    return values if out is None else out


def _shape_of(where: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ``where`` part of a shape's key: names, and the length of tuple values."""
    return tuple((k, len(v) if isinstance(v, tuple) else -1) for k, v in where.items())


def _flat(where: Mapping[str, Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for value in where.values():
        if isinstance(value, tuple):
            out.extend(value)
        else:
            out.append(value)
    return tuple(out)


def _where_names(where: Mapping[str, Any]) -> tuple[str, ...]:
    """One column name per bound value of ``where`` (a tuple binds one per item)."""
    out: list[str] = []
    for name, value in where.items():
        out.extend([name] * (len(value) if isinstance(value, tuple) else 1))
    return tuple(out)


def _core_where(table: Table, where: Mapping[str, Any]) -> Any:
    return and_(
        *(table.c[k].in_(v) if isinstance(v, tuple) else table.c[k] == v for k, v in where.items())
    )


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """A DBAPI cursor on ``conn``'s connection (in its transaction), closed after use.

    Driver errors leave as SQLAlchemy's, as if the statement had gone through
    ``conn``: callers see one family of database errors.
    """
    cursor: Any = conn.connection.cursor()
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield cursor
    except dbapi.Error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()


class _Shape:
    """One statement shape: its driver SQL (``None`` on the Core fallback) and processors."""

    __slots__ = ("binds", "names", "processed", "results", "sql")

    def __init__(
        self,
        sql: str | None,
        binds: list[_Processor],
        names: tuple[str, ...] = (),
        results: list[_Processor] | None = None,
    ) -> None:
        self.sql = sql
        self.binds = binds
        self.names = names
        self.results = results or []
        self.processed = any(p is not None for p in self.results)


class FastSQL:
    """Simple one-table statements for one (dialect, driver, schema), run on the DBAPI cursor.

    Get one with :meth:`of` inside a transaction on a tenant's storage::

        fast = FastSQL.of(conn)
        fast.insert(conn, notes, {"id": 1, "body": "hello"})
        row = fast.select_one(conn, notes, {"id": 1})   # row.body == "hello"

    ``where`` mappings are equality tests joined by ``AND`` (a tuple value
    tests ``IN`` its items). The statement's shape (which columns) is the
    cache key, so pass the same keys in the same order on a hot path. On the
    Core fallback each call builds its statement (SQLAlchemy caches the
    compiled form).
    """

    def __init__(self, dialect_name: str, driver: str, schema: str | None, raw: bool) -> None:
        self.dialect_name = dialect_name
        """The SQLAlchemy dialect's name (``sqlite``, ``postgresql`` …)."""
        self.schema = schema
        """The schema the tenant's tables live in (PostgreSQL), else ``None``."""
        self._raw = raw
        self._mark = "?" if dialect_name == "sqlite" else "%s"
        self._shapes: dict[tuple[Any, ...], _Shape] = {}

    @classmethod
    def of(cls, conn: Connection) -> FastSQL:
        """The runner for ``conn``'s dialect, driver and translated schema.

        Runners are kept for the :data:`RUNNERS_KEPT` most recently used
        (dialect, driver, schema) triples, so a process serving many tenants
        holds the SQL of its busy ones and memory does not grow with the
        number of tenants; an evicted tenant's statements are built again on
        its next use (microseconds each).
        """
        dialect = conn.dialect
        translate = conn.get_execution_options().get("schema_translate_map") or {}
        return _runner(dialect.name, dialect.driver, translate.get(None))

    # -- SQL text ---------------------------------------------------------

    def _table(self, conn: Connection, table: Table) -> str:
        prep = conn.dialect.identifier_preparer
        name = prep.quote(table.name)
        return f"{prep.quote_schema(self.schema)}.{name}" if self.schema else name

    @staticmethod
    def _cols(conn: Connection, names: Sequence[str]) -> list[str]:
        quote = conn.dialect.identifier_preparer.quote
        return [quote(n) for n in names]

    def _where(self, conn: Connection, where: Mapping[str, Any]) -> str:
        """``col = ?`` per key, or ``col IN (?, …)`` where the value is a tuple."""
        tests = []
        for col, value in zip(self._cols(conn, tuple(where)), where.values(), strict=True):
            if isinstance(value, tuple):
                tests.append(f"{col} IN ({', '.join([self._mark] * len(value))})")
            else:
                tests.append(f"{col} = {self._mark}")
        return " AND ".join(tests)

    # -- running ----------------------------------------------------------

    def _run(self, conn: Connection, shape: _Shape, values: Sequence[Any]) -> int:
        params = _values(shape.binds, values)
        with driver_cursor(conn) as cursor:
            cursor.execute(shape.sql, params)
            return int(cursor.rowcount)

    def _insert_sql(self, conn: Connection, table: Table, names: Sequence[str]) -> str | None:
        """``INSERT INTO t (names) VALUES (...)`` for the driver, ``None`` on the Core fallback."""
        if not self._raw:
            return None
        cols = ", ".join(self._cols(conn, names))
        marks = ", ".join([self._mark] * len(names))
        return f"INSERT INTO {self._table(conn, table)} ({cols}) VALUES ({marks})"

    def insert(self, conn: Connection, table: Table, values: Mapping[str, Any]) -> None:
        """``INSERT`` one row (every column the table needs must be given)."""
        key = ("insert", table.name, *values)
        shape = self._shapes.get(key)
        if shape is None:
            names = tuple(values)
            sql = self._insert_sql(conn, table, names)
            shape = self._shapes.setdefault(key, _Shape(sql, _bind(table, names, conn)))
        if shape.sql is None:
            conn.execute(insert(table), dict(values))
            return
        self._run(conn, shape, tuple(values.values()))

    def insert_returning(
        self, conn: Connection, table: Table, values: Mapping[str, Any], column: str
    ) -> Any:
        """``INSERT`` one row and return its ``column`` (an autoincrement id, say).

        ``INSERT … RETURNING`` on both drivers (SQLite 3.35 and later).
        """
        key = ("insert_returning", table.name, column, *values)
        shape = self._shapes.get(key)
        if shape is None:
            names = tuple(values)
            sql = self._insert_sql(conn, table, names)
            if sql is not None:
                (returned,) = self._cols(conn, (column,))
                sql += f" RETURNING {returned}"
            shape = _Shape(
                sql, _bind(table, names, conn), (column,), _results(table, (column,), conn)
            )
            shape = self._shapes.setdefault(key, shape)
        if shape.sql is None:
            return conn.execute(insert(table).returning(table.c[column]), dict(values)).scalar_one()
        params = _values(shape.binds, tuple(values.values()))
        with driver_cursor(conn) as cursor:
            cursor.execute(shape.sql, params)
            row = cursor.fetchone()
        return _values(shape.results, row)[0] if shape.processed else row[0]

    def insert_new(
        self, conn: Connection, table: Table, values: Mapping[str, Any], conflict: Sequence[str]
    ) -> bool:
        """``INSERT`` one row unless one with the same ``conflict`` columns exists.

        ``conflict`` names the columns of a unique key; returns whether the row
        was written. Other constraint violations still raise.
        """
        key = ("insert_new", table.name, tuple(conflict), *values)
        shape = self._shapes.get(key)
        if shape is None:
            names = tuple(values)
            sql = None
            if self._raw:
                cols = ", ".join(self._cols(conn, names))
                marks = ", ".join([self._mark] * len(names))
                target = ", ".join(self._cols(conn, conflict))
                sql = (
                    f"INSERT INTO {self._table(conn, table)} ({cols}) VALUES ({marks})"
                    f" ON CONFLICT ({target}) DO NOTHING"
                )
            shape = self._shapes.setdefault(key, _Shape(sql, _bind(table, names, conn)))
        if shape.sql is None:
            dialect_insert = pg_insert if self.dialect_name == "postgresql" else sqlite_insert
            stmt = (
                dialect_insert(table)
                .on_conflict_do_nothing(index_elements=list(conflict))
                # Some drivers report no row count for a Core insert: ask for a row back.
                .returning(table.c[conflict[0]])
            )
            return conn.execute(stmt, dict(values)).first() is not None
        return self._run(conn, shape, tuple(values.values())) == 1

    def update(
        self,
        conn: Connection,
        table: Table,
        values: Mapping[str, Any],
        where: Mapping[str, Any],
    ) -> int:
        """``UPDATE`` the rows matching ``where`` (equalities) with ``values``; the row count."""
        key = ("update", table.name, *values, None, *_shape_of(where))
        shape = self._shapes.get(key)
        if shape is None:
            names = (*values, *_where_names(where))
            sql = None
            if self._raw:
                sets = ", ".join(f"{c} = {self._mark}" for c in self._cols(conn, tuple(values)))
                sql = (
                    f"UPDATE {self._table(conn, table)} SET {sets} WHERE {self._where(conn, where)}"
                )
            shape = self._shapes.setdefault(key, _Shape(sql, _bind(table, names, conn)))
        if shape.sql is None:
            stmt = update(table).where(_core_where(table, where)).values(**values)
            return int(conn.execute(stmt).rowcount)
        return self._run(conn, shape, (*values.values(), *_flat(where)))

    def increment(
        self, conn: Connection, table: Table, column: str, where: Mapping[str, Any]
    ) -> int | None:
        """Add 1 to ``column`` of the row matching ``where`` and return the new value.

        One statement (``UPDATE … RETURNING``): on PostgreSQL it also locks the
        row until the transaction ends. ``None`` if no row matches.
        """
        key = ("increment", table.name, column, *_shape_of(where))
        shape = self._shapes.get(key)
        if shape is None:
            sql = None
            if self._raw:
                col = self._cols(conn, (column,))[0]
                sql = (
                    f"UPDATE {self._table(conn, table)} SET {col} = {col} + 1"
                    f" WHERE {self._where(conn, where)} RETURNING {col}"
                )
            binds = _bind(table, _where_names(where), conn)
            shape = self._shapes.setdefault(key, _Shape(sql, binds))
        if shape.sql is None:
            stmt = (
                update(table)
                .where(_core_where(table, where))
                .values({column: table.c[column] + 1})
                .returning(table.c[column])
            )
            found = conn.execute(stmt).scalar()
            return None if found is None else int(found)
        params = _values(shape.binds, _flat(where))
        with driver_cursor(conn) as cursor:
            cursor.execute(shape.sql, params)
            row = cursor.fetchone()
        return None if row is None else int(row[0])

    def select(
        self,
        conn: Connection,
        table: Table,
        where: Mapping[str, Any],
        *,
        order_by: Sequence[str] = (),
        for_update: bool = False,
    ) -> list[Record]:
        """Every column of the rows matching ``where``, in ``order_by`` order.

        ``for_update`` locks the rows until the transaction ends (PostgreSQL;
        an SQLite transaction of finplug's storage already holds the write lock).
        """
        key = ("select", table.name, tuple(order_by), for_update, *_shape_of(where))
        shape = self._shapes.get(key)
        if shape is None:
            names = tuple(c.name for c in table.c)
            sql = None
            if self._raw:
                order = ""
                if order_by:
                    order = " ORDER BY " + ", ".join(self._cols(conn, order_by))
                lock = " FOR UPDATE" if for_update and self.dialect_name == "postgresql" else ""
                sql = (
                    f"SELECT {', '.join(self._cols(conn, names))} FROM {self._table(conn, table)}"
                    f" WHERE {self._where(conn, where)}{order}{lock}"
                )
            binds = _bind(table, _where_names(where), conn)
            shape = _Shape(sql, binds, names, _results(table, names, conn))
            shape = self._shapes.setdefault(key, shape)
        if shape.sql is None:
            stmt = select(table).where(_core_where(table, where))
            if order_by:
                stmt = stmt.order_by(*(table.c[c] for c in order_by))
            if for_update:
                stmt = stmt.with_for_update()
            return [Record(**r._asdict()) for r in conn.execute(stmt)]
        params = _values(shape.binds, _flat(where))
        with driver_cursor(conn) as cursor:
            cursor.execute(shape.sql, params)
            rows = cursor.fetchall()
        names, results = shape.names, shape.results
        if shape.processed:
            rows = [_values(results, row) for row in rows]
        return [Record(**dict(zip(names, row, strict=True))) for row in rows]

    def select_one(
        self, conn: Connection, table: Table, where: Mapping[str, Any], *, for_update: bool = False
    ) -> Record | None:
        """The row matching ``where`` (a unique key), or ``None``."""
        rows = self.select(conn, table, where, for_update=for_update)
        return rows[0] if rows else None


#: How many (dialect, driver, schema) runners :meth:`FastSQL.of` keeps, least recently used out.
RUNNERS_KEPT: Final = 256


@functools.lru_cache(maxsize=RUNNERS_KEPT)
def _runner(dialect_name: str, driver: str, schema: str | None) -> FastSQL:
    raw = (dialect_name == "sqlite" and driver == "pysqlite") or (
        dialect_name == "postgresql" and driver == "psycopg"
    )
    return FastSQL(dialect_name, driver, schema, raw)
