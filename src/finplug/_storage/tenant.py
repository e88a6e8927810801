"""One tenant's storage: connections and sessions that reach only its data.

A :class:`TenantStorage` is made once per tenant by the platform (which
decides its URL and schema, see :mod:`finplug._placement`) and opens nothing
until first used. On PostgreSQL every transaction sets ``search_path`` to the
tenant's schema, and tables declared without a schema are mapped to it; with
tenant roles, its connections log in as the tenant's own role, which is set
up on first use (:class:`~finplug._storage.postgres.TenantSchema`). On SQLite
it is one file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, RootTransaction
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from finplug._storage.engines import EngineCache
from finplug._storage.postgres import (
    TenantRoles,
    TenantSchema,
    server_identity,
    set_search_path,
    tenant_role_name,
)
from finplug._storage.urls import (
    Location,
    StorageError,
    default_schema,
    pg_place,
    redact_url,
    resolved_sqlite,
    schema_refusal,
    sqlite_file,
)

__all__ = ["TenantStorage"]


class TenantStorage:
    """One tenant's database: connections and sessions that reach only its data.

    With ``roles`` (PostgreSQL, the platform's database) the tenant gets a
    role of its own (:attr:`role`): ``url`` is then the platform's URL,
    whose role creates the tenant's role and schema, and every connection of
    the tenant's runtime logs in as the tenant's role. Without ``roles``
    (SQLite, a tenant's own URL, or single-role mode) ``url`` is used as is.
    """

    def __init__(
        self,
        tenant_id: str,
        url: str,
        engines: EngineCache,
        schema: str | None = None,
        *,
        roles: TenantRoles | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        try:
            parsed = make_url(url.replace("{tenant}", tenant_id))
        except ArgumentError:
            raise StorageError(f"tenant {tenant_id!r}: the database URL cannot be parsed") from None
        self._engines = engines
        self.dialect = parsed.get_backend_name()
        self.schema: str | None = None
        """The tenant's PostgreSQL schema (``None`` on SQLite)."""
        self.role: str | None = None
        """The tenant's own PostgreSQL role, or ``None`` when it uses its URL's role."""
        self._admin_url: URL | None = None
        # Checked on every backend, so a config valid on SQLite stays valid on PostgreSQL.
        refusal = schema_refusal(schema or default_schema(tenant_id), tenant_id)
        if refusal is not None:
            raise StorageError(f"tenant {tenant_id!r}: {refusal}")
        if self.dialect == "sqlite":
            parsed = resolved_sqlite(parsed)
        elif self.dialect == "postgresql":
            self.schema = schema or default_schema(tenant_id)
            if roles is not None:
                self._admin_url = parsed
                self.role = tenant_role_name(parsed.database or "", tenant_id)
                parsed = parsed.set(username=self.role, password=roles.password(self.role))
        self._url = parsed
        self._engine: Engine | None = None
        self._postgres = (
            None
            if self.schema is None
            else TenantSchema(
                tenant_id, self.schema, self.role, roles, self._admin_url or parsed, engines
            )
        )

    # -- where ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL the tenant's runtime connects with, its password masked."""
        return redact_url(self._url)

    @property
    def location(self) -> tuple[str, str | None]:
        """Where the data lives, for people: (URL with the password masked, schema)."""
        return (self.url, self.schema)

    @property
    def identity(self) -> Location:
        """Where the data lives, for the no-sharing check: no credentials in it."""
        if self.dialect == "sqlite":
            return Location("sqlite", sqlite_file(self._url) or ":memory:")
        if self.dialect == "postgresql":
            return Location("postgresql", pg_place(self._url), self.schema)
        shown = self._url.set(username=None, password=None)
        return Location(self.dialect, redact_url(shown), self.schema)

    def server_identity(self) -> str:
        """The PostgreSQL server's own name for this tenant's database (connects once)."""
        return server_identity(self._admin_url or self._url)

    # -- connections ------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The tenant's engine (its own role's pool on PostgreSQL), schema translated in.

        On first use in a process, a tenant role that does not exist yet is
        created, and a schema an earlier finplug made for the tenant under
        the platform's role is handed to it; nothing else is touched.
        """
        engine = self._engine
        if engine is None:
            if self.role is not None and self.role not in self._engines.provisioned:
                assert self._postgres is not None  # a tenant role exists only on PostgreSQL
                self._postgres.provision(schema=False)
            base = self._engines.get(self._url)
            if self.schema is not None:
                base = base.execution_options(schema_translate_map={None: self.schema})
            engine = self._engine = base
        return engine

    def ensure_schema(self) -> None:
        """Create the tenant's PostgreSQL schema (and role) if missing (no-op on SQLite).

        Refuses (:class:`StorageError`) a schema that exists but is not this
        tenant's: owned by another role, marked for another tenant, or
        holding tables finplug did not make. A schema an earlier finplug made
        for this tenant under the platform's role is handed to the tenant's
        role (its objects too). With a role secret, the role's password is
        set again, so a changed secret takes effect here.
        """
        if self._postgres is not None:
            self._postgres.provision(schema=True)

    def create_all(self, metadata: MetaData) -> None:
        """Create ``metadata``'s tables in this tenant's storage (schema first), as its role."""
        self.ensure_schema()
        with self.begin() as conn:
            metadata.create_all(conn)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            if self.schema is not None:
                set_search_path(conn, self.schema)
            yield conn

    def open_transaction(self) -> tuple[Connection, RootTransaction]:
        """A new connection and its begun transaction; the caller commits or rolls back, and closes.

        What :class:`finplug.UnitOfWork` is built on; prefer it (or
        :meth:`begin`) to calling this directly.
        """
        conn = self.engine.connect()
        try:
            tx = conn.begin()
            if self.schema is not None:
                set_search_path(conn, self.schema)
        except BaseException:
            conn.close()
            raise
        return conn, tx

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in a transaction on this tenant's storage."""
        with self.begin() as conn, Session(bind=conn) as session:
            yield session
            session.flush()

    def drop(self) -> None:
        """Delete all of this tenant's data: its schema (and role) or its SQLite file.

        Never drops a reserved schema or one that is not this tenant's (see
        :meth:`ensure_schema`): that raises :class:`StorageError` and drops
        nothing. On PostgreSQL with tenant roles the role goes too.
        """
        postgres = self._postgres
        if postgres is None:
            self._drop_file()
            return
        refusal = schema_refusal(postgres.schema, self.tenant_id)
        if refusal is not None:  # unreachable through __init__; kept as the last guard
            raise StorageError(f"tenant {self.tenant_id!r}: refusing to drop: {refusal}")
        if self.role is not None:  # the tenant's own pool: close it before its role goes
            self._engines.discard(self._url)
            self._engine = None
        postgres.drop()

    def _drop_file(self) -> None:
        database = sqlite_file(self._url) if self.dialect == "sqlite" else None
        self._engines.discard(self._url)
        self._engine = None
        if database is not None:
            # The file, SQLite's WAL companions, and the event dispatcher's lock file.
            for suffix in ("", "-wal", "-shm", "-journal", "-events-lock"):
                Path(database + suffix).unlink(missing_ok=True)

    def __repr__(self) -> str:
        where = f" schema={self.schema!r}" if self.schema else ""
        return f"<TenantStorage {self.tenant_id!r} {self.url}{where}>"
