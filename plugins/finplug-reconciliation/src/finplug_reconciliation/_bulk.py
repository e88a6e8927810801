"""Many rows at once, on the driver's cursor: polars frames in and out of the tenant's tables.

A run reads a million statement lines and ledger postings and writes a
million matches with their items; row by row through SQLAlchemy that is
most of its time. On the two drivers finplug's storage runs on, rows go
straight between the driver and columns (polars frames, lists), inside
the caller's transaction:

* SQLite (``sqlite3``): reads come as one value of JSON lines that SQLite
  writes and polars parses (no Python object per value; through the
  cursor in pages past SQLite's largest value, 1 GB); writes are one
  ``executemany`` of the columns zipped, values stored exactly as
  SQLAlchemy stores them (each column type's bind processor; constants
  written into the statement), with a bigger page cache while many rows
  go in;
* PostgreSQL (``psycopg``): reads are ``COPY (SELECT …) TO STDOUT`` as CSV,
  which polars parses; writes are ``COPY … FROM STDIN`` of the CSV polars
  writes.

Driver errors are raised as SQLAlchemy's (``IntegrityError`` …), as if the
statement had gone through the connection. Other drivers get ``None`` from
:func:`bulk_driver`: their callers use Core statements instead.
"""

from __future__ import annotations

import io
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

import polars as pl
from sqlalchemy import Connection, Table

from finplug import FastSQL, as_utc, driver_cursor

__all__ = [
    "BulkDriver",
    "bulk_driver",
    "driver_cursor",
    "driver_table",
    "read_frame",
    "roomy_cache",
    "write_columns",
]

#: The drivers read from and written to in bulk.
BulkDriver = Literal["sqlite", "postgresql"]
#: Rows fetched at a time from SQLite's cursor.
_FETCH: Final = 100_000
#: SQLite: from this many rows on, a write gets a page cache of :data:`_CACHE_KIB`.
_MANY: Final = 50_000
_CACHE_KIB: Final = 65_536
_EPOCH_DAY: Final = date(1970, 1, 1)


def bulk_driver(conn: Connection) -> BulkDriver | None:
    """Which bulk path ``conn``'s driver takes (``sqlite3``, ``psycopg``), or None (Core)."""
    dialect = conn.dialect
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        return "sqlite"
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return "postgresql"
    return None


def driver_table(conn: Connection, table: Table) -> str:
    """``table``'s name in driver SQL: quoted, in the tenant's schema where it has one."""
    prep = conn.dialect.identifier_preparer
    schema = FastSQL.of(conn).schema
    name = prep.quote(table.name)
    return f"{prep.quote_schema(schema)}.{name}" if schema else name


def read_frame(
    conn: Connection,
    driver: BulkDriver,
    sql: str,
    params: Sequence[Any],
    schema: Mapping[str, Any],
) -> pl.DataFrame:
    """The rows of ``sql`` (marks: ``?`` for SQLite, ``%s`` for psycopg) as a frame of ``schema``.

    ``sql`` names its columns as ``schema`` does. On PostgreSQL each value
    comes as CSV text, on SQLite as JSON: select dates and times as the
    text ``schema`` expects (``to_char`` on PostgreSQL).
    """
    with driver_cursor(conn) as cursor:
        if driver == "postgresql":
            buffer = io.BytesIO()
            with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
                for block in copy:
                    buffer.write(block)
            if not buffer.tell():
                return pl.DataFrame(schema=schema)
            buffer.seek(0)
            return pl.read_csv(buffer, has_header=False, schema=schema)
        # SQLite writes the rows as JSON lines itself, into one value that polars parses:
        # no Python object per value. Past SQLite's largest value (1 GB), or without its
        # JSON functions, the rows come through the cursor in pages instead.
        quote = conn.dialect.identifier_preparer.quote
        fields = ", ".join(f"'{name}', {quote(name)}" for name in schema)
        lines = f"SELECT CAST(group_concat(json_object({fields}), char(10)) AS BLOB) FROM ({sql})"
        try:
            (data,) = cursor.execute(lines, tuple(params)).fetchone()
        except sqlite3.Error:
            data = False
        if data is None:
            return pl.DataFrame(schema=schema)
        if data is not False:
            return pl.read_ndjson(io.BytesIO(data), schema=schema)
        cursor.execute(sql, tuple(params))
        pages = []
        while rows := cursor.fetchmany(_FETCH):
            pages.append(pl.DataFrame(rows, schema=schema, orient="row"))
    return pl.concat(pages) if pages else pl.DataFrame(schema=schema)


def _csv_constant(value: object) -> str:
    """A constant as PostgreSQL's CSV input reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return str(value)


@contextmanager
def roomy_cache(conn: Connection, rows: int) -> Iterator[None]:
    """SQLite: a page cache of at least :data:`_CACHE_KIB` while ``rows`` (many) are written.

    Each index of a table grows where its keys fall; with SQLite's default
    2 MB cache, pages go back and forth between the cache and the WAL file
    all along a big insert. The connection's own setting is back
    afterwards. Other databases: nothing.
    """
    if rows < _MANY or bulk_driver(conn) != "sqlite":
        yield
        return
    with driver_cursor(conn) as cursor:
        (before,) = cursor.execute("PRAGMA cache_size").fetchone()
        (page,) = cursor.execute("PRAGMA page_size").fetchone()
    if (before * page if before >= 0 else -before * 1024) >= _CACHE_KIB * 1024:
        yield
        return
    with driver_cursor(conn) as cursor:
        cursor.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    try:
        yield
    finally:
        with driver_cursor(conn) as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")


def write_columns(
    conn: Connection,
    driver: BulkDriver,
    table: Table,
    columns: Mapping[str, Sequence[Any] | pl.Series],
    constants: Mapping[str, object] | None = None,
) -> None:
    """Rows into ``table``: the n-th value of each of ``columns``, and ``constants``, in each.

    The columns (lists, or polars series) have one length; their names and
    the constants' are ``table``'s columns. A ``pl.Date`` series is
    written as dates.
    """
    given = dict(constants or {})
    names = [*columns, *given]
    quote = conn.dialect.identifier_preparer.quote
    listed = ", ".join(quote(n) for n in names)
    if driver == "postgresql":
        frame = pl.DataFrame(
            [
                c.alias(n) if isinstance(c, pl.Series) else pl.Series(n, c)
                for n, c in columns.items()
            ]
        ).with_columns(**{k: pl.lit(_csv_constant(v), dtype=pl.Utf8) for k, v in given.items()})
        data = frame.write_csv(include_header=False, date_format="%Y-%m-%d")
        sql = f"COPY {driver_table(conn, table)} ({listed}) FROM STDIN (FORMAT csv)"
        with driver_cursor(conn) as cursor, cursor.copy(sql) as copy:
            copy.write(data.encode())
        return
    dialect = conn.dialect
    values: list[Iterable[Any]] = []
    for name, column in columns.items():
        if isinstance(column, pl.Series) and column.dtype == pl.Date:
            # As SQLAlchemy stores each distinct day (its type's bind processor).
            processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            days = column.to_physical().to_list()
            stored = {d: _stored_day(d, processor) for d in set(days)}
            values.append([stored[d] for d in days])
        else:
            values.append(column.to_list() if isinstance(column, pl.Series) else column)
    marks = ["?"] * len(columns)
    for name, value in given.items():
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        bound = value if processor is None else processor(value)
        literal = _sqlite_literal(bound)
        if literal is None:
            values.append(itertools.repeat(bound))
            marks.append("?")
        else:  # written into the statement: a million rows bind a million values less
            marks.append(literal)
    sql = f"INSERT INTO {driver_table(conn, table)} ({listed}) VALUES ({', '.join(marks)})"
    with driver_cursor(conn) as cursor:
        cursor.executemany(sql, zip(*values, strict=False))


def _sqlite_literal(value: object) -> str | None:
    """``value`` as an SQLite literal, where it is a plain int or text; else None."""
    if type(value) is int:
        return str(value)
    if type(value) is str and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


def _stored_day(days: int | None, processor: Any) -> Any:
    """Day ``days`` (since 1970-01-01) as ``processor`` binds it; None stays None."""
    if days is None:
        return None
    day = _EPOCH_DAY + timedelta(days=days)
    return day if processor is None else processor(day)
