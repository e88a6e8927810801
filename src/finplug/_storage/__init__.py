"""Per-tenant storage with physical isolation.

Where a tenant's data lives is decided once, from the platform's default
database URL and the tenant's own ``database`` config:

* **PostgreSQL**: one schema per tenant (``t_<tenant id>``) in the shared
  database, owned by a database role of the tenant's own. The tenant's
  runtime logs in *as that role*, which has no rights on any other schema,
  so even SQL a plugin writes itself reaches nothing else. The platform's
  role only creates (and drops) tenant roles and schemas. Tables are
  declared without a schema and mapped to the tenant's schema by
  SQLAlchemy's ``schema_translate_map``; each transaction also sets
  ``search_path`` to that schema only. A platform that may not create roles
  (some managed databases) runs in *single-role mode*: every tenant uses
  the platform's role and ``search_path`` alone keeps them apart, which a
  plugin's raw SQL can step around (see ``docs/storage.md``).
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
  (``database: {url: ...}``), which then holds only that tenant; it is used
  with the credentials it names.

Two tenants never share a place, whatever the spelling: SQLite paths are
compared resolved (absolute, symbolic links followed, query ignored) and
PostgreSQL databases by the server's own identity (see :class:`Location`).

Engines are created lazily and shared per URL (per tenant role on
PostgreSQL), and assembling a tenant opens nothing.

The names above are imported from this package; its modules have one job each:

* :mod:`~finplug._storage.urls`: where a tenant's data may live, database URLs and schema
  names, what is refused (:class:`StorageError`), passwords masked, :class:`Location`;
* :mod:`~finplug._storage.engines`: :class:`EngineCache`, one engine per URL shared by
  tenants, and how each SQLite file is set up;
* :mod:`~finplug._storage.postgres`: tenant roles (:class:`TenantRoles`,
  :func:`tenant_role_name`), the server's identity, and setting up and dropping a
  tenant's schema and role as the platform's role;
* :mod:`~finplug._storage.tenant`: :class:`TenantStorage`, one tenant's connections,
  transactions and sessions.
"""

from __future__ import annotations

from finplug._storage.engines import EngineCache
from finplug._storage.postgres import (
    DatabaseRoles,
    TenantRoles,
    server_identity,
    tenant_role_name,
)
from finplug._storage.tenant import TenantStorage
from finplug._storage.urls import (
    DEFAULT_DATABASE_URL,
    RESERVED_SCHEMAS,
    TENANT_SCHEMA_PREFIX,
    DatabaseSettings,
    Location,
    StorageError,
    default_schema,
    redact_url,
    schema_refusal,
    sqlite_pattern,
    sqlite_url_refusal,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "RESERVED_SCHEMAS",
    "TENANT_SCHEMA_PREFIX",
    "DatabaseRoles",
    "DatabaseSettings",
    "EngineCache",
    "Location",
    "StorageError",
    "TenantRoles",
    "TenantStorage",
    "default_schema",
    "redact_url",
    "schema_refusal",
    "server_identity",
    "sqlite_pattern",
    "sqlite_url_refusal",
    "tenant_role_name",
]
