"""Engines: one per database URL, shared by the tenants that use it; SQLite set up per file.

An :class:`EngineCache` lives on the platform and creates each engine on
first use (assembling a tenant opens nothing). SQLite files run in WAL mode
with foreign keys on, a 30-second busy timeout and ``synchronous=NORMAL``
unless the URL asks for another level, and every transaction takes the
write lock up front (``BEGIN IMMEDIATE``). Their WAL checkpoints run in a
background thread (:mod:`finplug._storage.checkpoint`), not in a commit. The
cache also remembers which PostgreSQL tenant roles it has checked or keyed,
so that is done once.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from finplug._storage.checkpoint import FALLBACK_PAGES, checkpointer
from finplug._storage.urls import StorageError, redact_url, sqlite_file

__all__ = ["SQLITE_SYNCHRONOUS", "EngineCache"]

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
        cursor.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
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


class EngineCache:
    """Creates each engine once per URL and shares it between tenants."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._files: dict[str, str] = {}  # engine key -> SQLite file the checkpointer has
        self._lock = threading.Lock()
        self.provisioned: set[str] = set()
        """PostgreSQL tenant roles checked or created through this cache."""
        self.keyed: set[str] = set()
        """Tenant roles whose password was set through this cache."""

    @staticmethod
    def _key(url: str | URL) -> str:
        return url if isinstance(url, str) else url.render_as_string(hide_password=False)

    def get(self, url: str | URL) -> Engine:
        """The engine for ``url``, created on first use."""
        key = self._key(url)
        engine = self._engines.get(key)
        if engine is None:
            with self._lock:
                engine = self._engines.get(key)
                if engine is None:
                    engine, database = self._create(make_url(url))
                    self._engines[key] = engine
                    if database is not None:
                        self._files[key] = database
        return engine

    def discard(self, url: str | URL) -> None:
        """Close and forget the engine for ``url``, if there is one."""
        key = self._key(url)
        with self._lock:
            engine = self._engines.pop(key, None)
            database = self._files.pop(key, None)
        if engine is not None:
            engine.dispose()
        if database is not None:
            checkpointer.forget(database)

    @staticmethod
    def _create(parsed: URL) -> tuple[Engine, str | None]:
        """The engine, and the SQLite file the checkpointer now has (``None``: none)."""
        if parsed.get_backend_name() == "sqlite":
            synchronous = str(parsed.query.get("synchronous", "normal")).lower()
            if synchronous not in SQLITE_SYNCHRONOUS:
                raise StorageError(
                    f"{redact_url(parsed)}: synchronous must be one of"
                    f" {', '.join(SQLITE_SYNCHRONOUS)}, got {synchronous!r}"
                )
            parsed = parsed.difference_update_query(["synchronous"])
            database = sqlite_file(parsed)
            if database is not None:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_connector(synchronous))
            event.listen(engine, "begin", _sqlite_begin)
            if database is None:
                return engine, None
            path = str(Path(database).resolve())
            checkpointer.register(path)
            event.listen(engine, "commit", lambda _conn: checkpointer.mark_dirty(path))
            return engine, path
        return create_engine(parsed, pool_pre_ping=True), None

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            files, self._files = list(self._files.values()), {}
        for database in files:
            checkpointer.forget(database)
        with self._lock:
            self.provisioned.clear()
            self.keyed.clear()
