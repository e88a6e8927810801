"""Per-tenant storage with physical isolation.

Where a tenant's data lives is decided once, from the platform's default
database URL and the tenant's own ``database`` config:

* **PostgreSQL**: one schema per tenant (``t_<tenant id>``) in the shared
  database. Tables are declared without a schema and mapped to the tenant's
  schema by SQLAlchemy's ``schema_translate_map``; each transaction also sets
  ``search_path`` to that schema only, so even raw SQL reaches nothing else.
* **SQLite** (the embedded default): one database file per tenant. The URL
  names a file pattern with ``{tenant}``, e.g. ``sqlite:///data/{tenant}.db``.
  Files run in WAL mode with ``synchronous=NORMAL`` by default: a commit is
  safe against a crash or kill of the process (the database is never
  corrupt and no committed transaction of a live OS is lost), while a power
  loss or OS crash may roll back the last transactions before the WAL was
  synced. Add ``?synchronous=full`` to the URL to sync every commit (about
  ten times slower per commit on a typical disk). PostgreSQL is the
  production target and syncs every commit.
* **A URL per tenant**: a tenant config may name its own database
  (``database: {url: ...}``), which then holds only that tenant.

Engines are created lazily and shared per URL, so tenants on one PostgreSQL
server share one connection pool and assembling a tenant opens nothing.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from finplug._fastsql import driver_cursor

__all__ = ["DEFAULT_DATABASE_URL", "DatabaseSettings", "EngineCache", "TenantStorage"]

#: The embedded default: one SQLite file per tenant under ``./finplug-data``.
DEFAULT_DATABASE_URL = "sqlite:///finplug-data/{tenant}.db"

_SCHEMA_SAFE = re.compile(r"[^a-z0-9_]")


class DatabaseSettings(BaseModel):
    """The optional ``database`` section of a tenant config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr | None = Field(
        default=None,
        description="This tenant's own database URL (may hold a password: kept secret).",
    )
    schema_name: str | None = Field(
        default=None,
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema for this tenant (default: t_<tenant id>).",
    )

    @field_validator("url")
    @classmethod
    def _parseable(cls, url: SecretStr | None) -> SecretStr | None:
        """Refuse what SQLAlchemy cannot parse now, not when the tenant first connects."""
        if url is not None:
            try:
                make_url(url.get_secret_value())
            except ArgumentError:
                # The value may hold a password: the message never repeats it.
                raise ValueError(
                    "expected a database URL such as sqlite:///data/acme.db or"
                    " postgresql+psycopg://user@host/db"
                ) from None
        return url


def redact_url(url: str) -> str:
    """The URL with any password masked, safe for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


#: SQLite ``synchronous`` levels a URL may ask for with ``?synchronous=``.
SQLITE_SYNCHRONOUS = ("normal", "full", "extra")


def _sqlite_connector(synchronous: str) -> Any:
    def connect(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy's "begin" event own transactions (pysqlite's own BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()

    return connect


def _sqlite_begin(conn: Connection) -> None:
    # Take the write lock up front: two writers can never both read, then deadlock
    # on the upgrade, and a read-then-write transaction sees no lost update.
    # On the driver's connection: this runs for every transaction, and a Core
    # statement's machinery costs more than the BEGIN itself.
    try:
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc


def _set_search_path(conn: Connection, schema: str) -> None:
    """``SET LOCAL search_path`` on the driver's cursor (every PostgreSQL transaction runs it)."""
    with driver_cursor(conn) as cursor:
        cursor.execute(f'SET LOCAL search_path TO "{schema}"')


class EngineCache:
    """Creates each engine once per URL and shares it between tenants."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Engine:
        """The engine for ``url``, created on first use."""
        engine = self._engines.get(url)
        if engine is None:
            with self._lock:
                engine = self._engines.get(url)
                if engine is None:
                    engine = self._create(url)
                    self._engines[url] = engine
        return engine

    @staticmethod
    def _create(url: str) -> Engine:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            synchronous = str(parsed.query.get("synchronous", "normal")).lower()
            if synchronous not in SQLITE_SYNCHRONOUS:
                raise ValueError(
                    f"{redact_url(url)}: synchronous must be one of"
                    f" {', '.join(SQLITE_SYNCHRONOUS)}, got {synchronous!r}"
                )
            parsed = parsed.difference_update_query(["synchronous"])
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_connector(synchronous))
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(url, pool_pre_ping=True)

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class TenantStorage:
    """One tenant's database: connections and sessions that reach only its data."""

    def __init__(
        self, tenant_id: str, url: str, engines: EngineCache, schema: str | None = None
    ) -> None:
        self.tenant_id = tenant_id
        self._url = url.replace("{tenant}", tenant_id)
        self._engines = engines
        self.dialect = make_url(self._url).get_backend_name()
        self.schema: str | None = None
        if self.dialect == "postgresql":
            self.schema = schema or "t_" + _SCHEMA_SAFE.sub("_", tenant_id.lower())
        self._engine: Engine | None = None

    @property
    def location(self) -> tuple[str, str | None]:
        """Where the data lives: (URL, schema). No two tenants may share one."""
        return (self._url, self.schema)

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return redact_url(self._url)

    @property
    def engine(self) -> Engine:
        """The tenant's engine: the shared one, with its schema translated in."""
        engine = self._engine
        if engine is None:
            base = self._engines.get(self._url)
            if self.schema is not None:
                base = base.execution_options(schema_translate_map={None: self.schema})
            engine = self._engine = base
        return engine

    def ensure_schema(self) -> None:
        """Create the tenant's PostgreSQL schema if missing (no-op on SQLite)."""
        if self.schema is None:
            return
        with self._engines.get(self._url).begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))

    def create_all(self, metadata: MetaData) -> None:
        """Create ``metadata``'s tables in this tenant's storage (schema first)."""
        self.ensure_schema()
        with self.begin() as conn:
            metadata.create_all(conn)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            if self.schema is not None:
                _set_search_path(conn, self.schema)
            yield conn

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in a transaction on this tenant's storage."""
        with self.begin() as conn, Session(bind=conn) as session:
            yield session
            session.flush()

    def drop(self) -> None:
        """Delete all of this tenant's data: drop its schema or its SQLite file."""
        if self.schema is not None:
            with self._engines.get(self._url).begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            return
        database = make_url(self._url).database
        self._engines.get(self._url).dispose()
        if database and database != ":memory:":
            # The file, SQLite's WAL companions, and the event dispatcher's lock file.
            for suffix in ("", "-wal", "-shm", "-journal", "-events-lock"):
                Path(database + suffix).unlink(missing_ok=True)

    def __repr__(self) -> str:
        where = f" schema={self.schema!r}" if self.schema else ""
        return f"<TenantStorage {self.tenant_id!r} {self.url}{where}>"
