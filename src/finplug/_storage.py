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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import Connection, Engine, MetaData, RootTransaction, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from finplug._errors import FinplugError
from finplug._fastsql import driver_cursor

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

#: The embedded default: one SQLite file per tenant under ``./finplug-data``.
DEFAULT_DATABASE_URL = "sqlite:///finplug-data/{tenant}.db"

#: Schemas every user of a PostgreSQL database shares; no tenant may live in one.
#: Names starting with ``pg_`` (``pg_catalog``, ``pg_toast``, ``pg_temp_1`` …) are
#: PostgreSQL's own and refused as well.
RESERVED_SCHEMAS: Final = frozenset({"public", "information_schema"})

#: The prefix of tenants' default schemas (``t_<tenant id>``). A schema named
#: explicitly may not start with it unless it is the tenant's own default: any
#: other such name could be another tenant's, now or later.
TENANT_SCHEMA_PREFIX: Final = "t_"

#: How tenants reach PostgreSQL: ``per-tenant`` (a login role each, the
#: default) or ``single`` (the platform's role for all, ``search_path`` only).
DatabaseRoles = Literal["per-tenant", "single"]

_SCHEMA_SAFE = re.compile(r"[^a-z0-9_]")
_ROLE_PREFIX: Final = "fp_"
_MARK_PREFIX: Final = "finplug tenant "
_MAX_IDENTIFIER: Final = 63


class StorageError(FinplugError, ValueError):
    """A tenant's storage cannot be used as configured, or an operation on it was refused.

    Raised for a database URL or schema that would break isolation (a
    reserved schema, ``..`` in a path, a schema another role owns), and when
    :meth:`TenantStorage.drop` refuses to drop what is not the tenant's.
    Messages never repeat a password.
    """


def default_schema(tenant_id: str) -> str:
    """A tenant's default PostgreSQL schema: ``t_`` and its id, ``-`` becoming ``_``."""
    return TENANT_SCHEMA_PREFIX + _SCHEMA_SAFE.sub("_", tenant_id.lower())


def schema_refusal(schema: str, tenant_id: str | None = None) -> str | None:
    """Why ``schema`` may not hold a tenant's data, or ``None`` when it may.

    Refused: the shared schemas (``public``, ``information_schema``),
    PostgreSQL's own (``pg_*``) and, when ``tenant_id`` is given, a ``t_``
    name other than that tenant's default (it could be another tenant's).
    """
    if schema in RESERVED_SCHEMAS:
        return (
            f"schema {schema!r} is shared by every user of the database; a tenant needs a"
            " schema of its own (leave it out to get t_<tenant id>)"
        )
    if schema.startswith("pg_"):
        return f"schema {schema!r} is reserved: names starting with 'pg_' are PostgreSQL's own"
    if (
        tenant_id is not None
        and schema.startswith(TENANT_SCHEMA_PREFIX)
        and schema != default_schema(tenant_id)
    ):
        return (
            f"schema {schema!r} starts with {TENANT_SCHEMA_PREFIX!r}, the prefix of tenants'"
            f" default schemas (t_<tenant id>), so it could be another tenant's; choose a"
            f" name without it (tenant {tenant_id!r}'s own default is"
            f" {default_schema(tenant_id)!r})"
        )
    return None


def _dotdot(path: str) -> bool:
    return ".." in re.split(r"[/\\]", path)


def sqlite_url_refusal(url: URL) -> str | None:
    """Why an SQLite URL cannot name one tenant's file (``..``, URI filenames), or ``None``."""
    if _dotdot(url.database or ""):
        return "'..' is not allowed in an SQLite database path; write the path without it"
    if str(url.query.get("uri", "")).lower() in ("1", "true", "yes", "on"):
        return "SQLite URI filenames (?uri=true) are not supported; name the file by its path"
    return None


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
        description=(
            "PostgreSQL schema for this tenant (default: t_<tenant id>). Not public,"
            " information_schema or pg_*, and not starting with t_ unless it is the"
            " tenant's own default."
        ),
    )

    @field_validator("url")
    @classmethod
    def _parseable(cls, url: SecretStr | None) -> SecretStr | None:
        """Refuse what SQLAlchemy cannot parse now, not when the tenant first connects."""
        if url is not None:
            try:
                parsed = make_url(url.get_secret_value())
            except ArgumentError:
                # The value may hold a password: the message never repeats it.
                raise ValueError(
                    "expected a database URL such as sqlite:///data/acme.db or"
                    " postgresql+psycopg://user@host/db"
                ) from None
            if parsed.get_backend_name() == "sqlite":
                refusal = sqlite_url_refusal(parsed)
                if refusal is not None:
                    raise ValueError(refusal)
        return url

    @field_validator("schema_name")
    @classmethod
    def _not_reserved(cls, schema: str | None) -> str | None:
        """Refuse the schemas every user of the database shares, and PostgreSQL's own."""
        if schema is not None:
            refusal = schema_refusal(schema)
            if refusal is not None:
                raise ValueError(refusal)
        return schema


def redact_url(url: str | URL) -> str:
    """The URL with any password masked, safe for logs and errors."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    # A platform URL's placeholder shows as written, not percent-encoded.
    return parsed.render_as_string(hide_password=True).replace("%7Btenant%7D", "{tenant}")


def _secret_free(message: str, url: URL) -> str:
    """``message`` with the URL's password (if any) cut out, on one line."""
    if url.password:
        message = message.replace(str(url.password), "***")
    lines = message.strip().splitlines()
    return lines[0] if lines else ""


# ----------------------------------------------------------------- SQLite


#: SQLite ``synchronous`` levels a URL may ask for with ``?synchronous=``.
SQLITE_SYNCHRONOUS = ("normal", "full", "extra")


def _sqlite_file(url: URL) -> str | None:
    """The file an SQLite URL names, or ``None`` for an in-memory database."""
    database = url.database
    if not database or database == ":memory:":
        return None
    return database


def _resolved_sqlite(url: URL) -> URL:
    """``url`` with its file made absolute, normalised and its symbolic links resolved."""
    refusal = sqlite_url_refusal(url)
    if refusal is not None:
        raise StorageError(f"{redact_url(url)}: {refusal}")
    database = _sqlite_file(url)
    if database is None:
        return url
    return url.set(database=str(Path(database).resolve()))


def sqlite_pattern(url: str) -> re.Pattern[str] | None:
    """The resolved files a ``{tenant}`` SQLite URL gives tenants, as a regex (group ``t``).

    ``None`` when ``url`` is not such a URL. Used to refuse a tenant's own
    SQLite URL that names the file the platform keeps for another tenant.
    """
    parsed = make_url(url.replace("{tenant}", "\0"))
    database = _sqlite_file(parsed)
    if parsed.get_backend_name() != "sqlite" or database is None or "\0" not in database:
        return None
    parts = Path(database).parts
    first = next(i for i, part in enumerate(parts) if "\0" in part)
    base = str(Path(*parts[:first]).resolve()) if first else str(Path().resolve())
    pieces: list[str] = []
    named = False
    for part in parts[first:]:
        chunks = part.split("\0")
        out = re.escape(chunks[0])
        for chunk in chunks[1:]:
            out += "(?P=t)" if named else "(?P<t>[a-z][a-z0-9_-]*)"
            named = True
            out += re.escape(chunk)
        pieces.append(out)
    return re.compile(re.escape(base.rstrip("/")) + "/" + "/".join(pieces))


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


# ----------------------------------------------------------------- PostgreSQL


def _set_search_path(conn: Connection, schema: str) -> None:
    """``SET LOCAL search_path`` on the driver's cursor (every PostgreSQL transaction runs it)."""
    with driver_cursor(conn) as cursor:
        cursor.execute(f'SET LOCAL search_path TO "{schema}"')


def tenant_role_name(database: str, tenant_id: str) -> str:
    """The PostgreSQL role of ``tenant_id`` in ``database``: ``fp_<id>_<hash>``.

    Roles are shared by every database of a server, so the name carries a
    hash of the database and the exact tenant id: the same tenant in two
    databases (staging and production on one server) gets two roles, and
    ``a-b`` and ``a_b`` never share one. At most 56 characters.
    """
    digest = hashlib.blake2b(f"{database}\0{tenant_id}".encode(), digest_size=6).hexdigest()
    return f"{_ROLE_PREFIX}{_SCHEMA_SAFE.sub('_', tenant_id.lower())[:40]}_{digest}"


def _scram_verifier(password: str, salt: bytes, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (RFC 5802, 7677).

    Sent to the server instead of the password, so the password itself never
    reaches a statement log.
    """
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True, slots=True)
class TenantRoles:
    """How tenant roles authenticate: passwords derived from the platform's secret.

    A tenant role's password is ``HMAC-SHA256(secret, role name)`` (hex),
    given to the role when the platform creates it (and again by
    :meth:`TenantStorage.ensure_schema`, so changing the secret and running
    an upgrade re-keys every role). Without a secret, tenant roles have no
    password and log in only where the server trusts them otherwise
    (``trust``, ``peer``, client certificates).
    """

    secret: SecretStr | None = None

    def _mac(self, purpose: str, role: str) -> bytes | None:
        if self.secret is None:
            return None
        key = self.secret.get_secret_value().encode()
        return hmac.new(key, f"finplug {purpose}\0{role}".encode(), "sha256").digest()

    def password(self, role: str) -> str | None:
        """The password ``role`` logs in with (``None`` without a secret)."""
        mac = self._mac("tenant role password", role)
        return None if mac is None else mac.hex()

    def verifier(self, role: str) -> str | None:
        """The SCRAM verifier of :meth:`password`, with a salt derived per role."""
        password = self.password(role)
        salt = self._mac("tenant role salt", role)
        if password is None or salt is None:
            return None
        return _scram_verifier(password, salt[:16])


def _lock(conn: Connection, *names: str) -> None:
    """Transaction-scoped advisory locks on ``names``, in one round trip.

    Provisioning and dropping take them before reading the catalog, so two
    processes setting up one tenant run one after the other.
    """
    keys = [
        int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        for name in names
    ]
    calls = ", ".join(f"pg_advisory_xact_lock(:k{i})" for i in range(len(keys)))
    conn.execute(text(f"SELECT {calls}"), {f"k{i}": key for i, key in enumerate(keys)})


def _quoted(identifier: str) -> str:
    # Only names finplug derives reach DDL; they are [a-z0-9_] by construction.
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", identifier) or len(identifier) > _MAX_IDENTIFIER:
        raise StorageError(f"not a safe identifier: {identifier!r}")
    return f'"{identifier}"'


def _ddl(conn: Connection, statement: str) -> None:
    """Run a statement with names and literals inlined, on the driver's cursor.

    No bind parameters are parsed (a SCRAM verifier holds ``:``, a quoted
    name may hold ``%``); errors leave as SQLAlchemy's.
    """
    with driver_cursor(conn) as cursor:
        cursor.execute(statement)


def _literal(value: str) -> str:
    """``value`` as an SQL string literal (standard-conforming strings, PostgreSQL's default)."""
    return "'" + value.replace("'", "''") + "'"


def server_identity(url: URL) -> str:
    """Which PostgreSQL database ``url`` reaches, as the server itself says.

    ``<system identifier>/<database oid>``: the cluster's identifier from
    ``pg_control_system()`` (the same under every host name, address or
    socket that reaches it), else the server's own address and port as it
    sees them. Connects once, with the URL's credentials.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            try:
                server = str(
                    conn.execute(text("SELECT system_identifier FROM pg_control_system()")).scalar()
                )
            except DBAPIError:  # not allowed for this role, or not PostgreSQL itself
                conn.rollback()
                row = conn.execute(
                    text("SELECT inet_server_addr()::text, inet_server_port()")
                ).one()
                if row[0] is None:
                    raise StorageError(
                        f"{redact_url(url)}: cannot tell which server this is (no access to"
                        " pg_control_system() and connected over a socket)"
                    ) from None
                server = f"{row[0]}:{row[1]}"
            oid = conn.execute(
                text("SELECT oid FROM pg_database WHERE datname = current_database()")
            ).scalar()
    except DBAPIError as exc:
        raise StorageError(
            f"{redact_url(url)}: cannot reach the database to tell which one it is:"
            f" {type(exc.orig).__name__}: {_secret_free(str(exc.orig), url)}"
        ) from None
    finally:
        engine.dispose()
    return f"{server}/{oid}"


# ----------------------------------------------------------------- identity


@dataclass(frozen=True, slots=True)
class Location:
    """Where a tenant's data lives, with no credentials: what no two tenants may share.

    ``place`` is, for SQLite, the resolved file (``:memory:`` for an
    in-memory database); for PostgreSQL, ``host:port/database`` as the URL
    spells it (lower-cased host, default port filled in). Two PostgreSQL
    locations with the same schema and different spellings may still be one
    database: the platform then asks both servers (:func:`server_identity`).
    """

    backend: str
    place: str
    schema: str | None = None

    def __str__(self) -> str:
        return self.place + (f", schema {self.schema}" if self.schema else "")


def _pg_place(url: URL) -> str:
    host = url.host or str(url.query.get("host", "")) or "<local socket>"
    return f"{host.lower()}:{url.port or 5432}/{url.database or url.username or ''}"


# ----------------------------------------------------------------- engines


class EngineCache:
    """Creates each engine once per URL and shares it between tenants."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
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
                    engine = self._create(make_url(url))
                    self._engines[key] = engine
        return engine

    def discard(self, url: str | URL) -> None:
        """Close and forget the engine for ``url``, if there is one."""
        with self._lock:
            engine = self._engines.pop(self._key(url), None)
        if engine is not None:
            engine.dispose()

    @staticmethod
    def _create(parsed: URL) -> Engine:
        if parsed.get_backend_name() == "sqlite":
            synchronous = str(parsed.query.get("synchronous", "normal")).lower()
            if synchronous not in SQLITE_SYNCHRONOUS:
                raise StorageError(
                    f"{redact_url(parsed)}: synchronous must be one of"
                    f" {', '.join(SQLITE_SYNCHRONOUS)}, got {synchronous!r}"
                )
            parsed = parsed.difference_update_query(["synchronous"])
            database = _sqlite_file(parsed)
            if database is not None:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_connector(synchronous))
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(parsed, pool_pre_ping=True)

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            self.provisioned.clear()
            self.keyed.clear()


#: What a schema holds, as ``ALTER … <object>`` prefixes: relations (a sequence
#: that belongs to a column follows its table, an index its table), routines,
#: and types of their own (enums, domains, ranges).
_ADOPT_OBJECTS: Final = """
SELECT 'ALTER TABLE ' || c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = to_regnamespace(:s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
UNION ALL
SELECT 'ALTER ROUTINE ' || p.oid::regprocedure::text FROM pg_proc p
 WHERE p.pronamespace = to_regnamespace(:s)
UNION ALL
SELECT 'ALTER TYPE ' || t.oid::regtype::text FROM pg_type t
 WHERE t.typnamespace = to_regnamespace(:s) AND t.typtype IN ('e', 'd', 'r', 'm')
"""


# ----------------------------------------------------------------- storage


#: Everything provisioning and dropping need to know, in one round trip: the
#: platform's role, the tenant role (if any) and the schema (if it exists).
_STATE = """
SELECT current_user,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
       r.oid IS NOT NULL,
       r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls
         OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid),
       CASE WHEN r.oid IS NOT NULL THEN pg_has_role(current_user, r.oid, 'USAGE'){may_set} END,
       n.oid IS NOT NULL,
       pg_get_userbyid(n.nspowner),
       obj_description(n.oid, 'pg_namespace')
  FROM (SELECT 1) AS one
  LEFT JOIN pg_roles r ON r.rolname = :role
  LEFT JOIN pg_namespace n ON n.nspname = :schema
"""


@dataclass(frozen=True, slots=True)
class _State:
    """The catalog as the platform's role (``me``) sees it, for one tenant."""

    me: str
    me_super: bool
    role_exists: bool
    role_too_strong: bool
    role_held: bool
    """Whether the platform's role holds the tenant role's rights (and may SET it)."""
    exists: bool
    owner: str | None
    mark: str | None


def _state(conn: Connection, role: str | None, schema: str) -> _State:
    may_set = (
        " AND pg_has_role(current_user, r.oid, 'SET')"
        if (conn.dialect.server_version_info or (0,)) >= (16,)
        else ""
    )
    row = conn.execute(text(_STATE.format(may_set=may_set)), {"role": role, "schema": schema}).one()
    return _State(
        me=row[0],
        me_super=bool(row[1]),
        role_exists=bool(row[2]),
        role_too_strong=bool(row[3]),
        role_held=bool(row[4]),
        exists=bool(row[5]),
        owner=row[6],
        mark=row[7],
    )


#: Whether a schema is empty or holds an earlier finplug's tables (its kernel's
#: version table). Asked only of a schema that is neither the tenant's nor
#: marked: it scans ``pg_class``, which has no index on the schema alone.
_ADOPTABLE = """
SELECT NOT EXISTS (SELECT 1 FROM pg_class c
                   WHERE c.relnamespace = to_regnamespace(:s) AND c.relkind IN ('r', 'p'))
    OR to_regclass(quote_ident(:s) || '.alembic_version_kernel') IS NOT NULL
"""


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
        self._roles = roles
        # Checked on every backend, so a config valid on SQLite stays valid on PostgreSQL.
        refusal = schema_refusal(schema or default_schema(tenant_id), tenant_id)
        if refusal is not None:
            raise StorageError(f"tenant {tenant_id!r}: {refusal}")
        if self.dialect == "sqlite":
            parsed = _resolved_sqlite(parsed)
        elif self.dialect == "postgresql":
            self.schema = schema or default_schema(tenant_id)
            if roles is not None:
                self._admin_url = parsed
                self.role = tenant_role_name(parsed.database or "", tenant_id)
                parsed = parsed.set(username=self.role, password=roles.password(self.role))
        self._url = parsed
        self._engine: Engine | None = None

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
            return Location("sqlite", _sqlite_file(self._url) or ":memory:")
        if self.dialect == "postgresql":
            return Location("postgresql", _pg_place(self._url), self.schema)
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
                self._provision(schema=False)
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
        if self.schema is None:
            return
        self._provision(schema=True)

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
                _set_search_path(conn, self.schema)
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
                _set_search_path(conn, self.schema)
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
        if self.schema is None:
            self._drop_file()
            return
        refusal = schema_refusal(self.schema, self.tenant_id)
        if refusal is not None:  # unreachable through __init__; kept as the last guard
            raise StorageError(f"tenant {self.tenant_id!r}: refusing to drop: {refusal}")
        if self.role is not None:  # the tenant's own pool: close it before its role goes
            self._engines.discard(self._url)
            self._engine = None
        with self._engines.get(self._admin_url or self._url).begin() as conn:
            _lock(conn, *self._lock_names)
            state = _state(conn, self.role, self.schema)
            if state.exists and not self._mine(state, conn):
                raise StorageError(
                    f"tenant {self.tenant_id!r}: refusing to drop schema {self.schema!r}:"
                    f" {self._not_mine(state)}"
                )
            statements = []
            if state.exists:
                statements.append(f"DROP SCHEMA {_quoted(self.schema)} CASCADE")
            if self.role is not None and state.role_exists:
                role = _quoted(self.role)
                statements += [f"DROP OWNED BY {role}", f"DROP ROLE {role}"]
            if statements:
                _ddl(conn, "; ".join(statements))
        if self.role is not None:
            self._engines.provisioned.discard(self.role)
            self._engines.keyed.discard(self.role)

    def _drop_file(self) -> None:
        database = _sqlite_file(self._url) if self.dialect == "sqlite" else None
        self._engines.discard(self._url)
        self._engine = None
        if database is not None:
            # The file, SQLite's WAL companions, and the event dispatcher's lock file.
            for suffix in ("", "-wal", "-shm", "-journal", "-events-lock"):
                Path(database + suffix).unlink(missing_ok=True)

    # -- provisioning (PostgreSQL) ---------------------------------------

    @property
    def _mark(self) -> str:
        return _MARK_PREFIX + self.tenant_id

    @property
    def _lock_names(self) -> tuple[str, ...]:
        names = (f"finplug-schema:{self.schema}",)
        return names if self.role is None else (f"finplug-role:{self.role}", *names)

    def _mine(self, state: _State, conn: Connection) -> bool:
        """Whether an existing schema is this tenant's, or an unclaimed one finplug may adopt.

        The tenant role's own schema is the tenant's. Otherwise the schema
        must belong to the platform's role and carry this tenant's mark, or
        no mark and nothing but finplug's tables (made before schemas were
        marked).
        """
        if self.role is not None and state.owner == self.role:
            return True
        if state.owner != state.me:
            return False
        if state.mark is not None and state.mark.startswith(_MARK_PREFIX):
            return state.mark == self._mark
        return bool(conn.execute(text(_ADOPTABLE), {"s": self.schema}).scalar())

    def _not_mine(self, state: _State) -> str:
        mark = state.mark
        if mark is not None and mark.startswith(_MARK_PREFIX) and mark != self._mark:
            return f"it is marked as tenant {mark[len(_MARK_PREFIX) :]!r}'s"
        if state.owner != state.me:
            mine = f"the tenant's role {self.role!r}" if self.role else f"{state.me!r}"
            return (
                f"it belongs to role {state.owner!r}, not to {mine}; finplug takes over only"
                " a schema it made for this tenant"
            )
        return (
            "it holds tables finplug did not create for this tenant; to give it to the tenant,"
            f' run COMMENT ON SCHEMA "{self.schema}" IS {_literal(self._mark)}'
        )

    def _provision(self, *, schema: bool) -> None:
        """Create or check the tenant's role (and, with ``schema``, its schema).

        One transaction of the platform's role: locks, one catalog query,
        then at most one batch of DDL.
        """
        if self.schema is None:
            return
        admin = self._admin_url or self._url
        try:
            with self._engines.get(admin).begin() as conn:
                _lock(conn, *self._lock_names)
                state = _state(conn, self.role, self.schema)
                statements = self._role_statements(state, rekey=schema)
                if schema:
                    statements += self._schema_statements(state, conn)
                elif self._adoptable(state, conn):
                    # A schema an earlier finplug made: the tenant could not read its own
                    # tables until an upgrade ran, so it is handed over on first use too.
                    statements += self._schema_statements(state, conn)
                if statements:
                    _ddl(conn, "; ".join(statements))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
                raise
            needs = (
                "it needs CREATEROLE and CREATE on the database, or run the platform in"
                " single-role mode (database_roles='single')"
                if self.role is not None
                else "it needs CREATE on the database"
            )
            raise StorageError(
                f"tenant {self.tenant_id!r}: role {admin.username!r} may not set up the"
                f" tenant's {'role and ' if self.role else ''}schema"
                f" ({_secret_free(str(exc.orig), admin)}); {needs}"
            ) from exc
        if self.role is not None:
            self._engines.provisioned.add(self.role)
            if schema:
                self._engines.keyed.add(self.role)

    def _adoptable(self, state: _State, conn: Connection) -> bool:
        """Whether the schema exists, is not the tenant role's yet, and may be handed to it."""
        return (
            self.role is not None
            and state.exists
            and state.owner != self.role
            and self._mine(state, conn)
        )

    def _role_statements(self, state: _State, *, rekey: bool) -> list[str]:
        """DDL that creates the tenant's role, or sets its password again; [] if none."""
        if self.role is None or self._roles is None:
            return []
        role = _quoted(self.role)
        verifier = self._roles.verifier(self.role)
        password = f" PASSWORD {_literal(verifier)}" if verifier is not None else ""
        statements = []
        if not state.role_exists:
            statements.append(
                f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
                f" NOREPLICATION NOBYPASSRLS{password}"
            )
        elif state.role_too_strong:
            raise StorageError(
                f"tenant {self.tenant_id!r}: role {self.role!r} exists with more rights than"
                " a tenant role may have (superuser, createrole, createdb, replication,"
                " bypassrls, or membership of another role); finplug will not log in as it"
            )
        elif rekey and self.role not in self._engines.keyed and password:
            statements.append(f"ALTER ROLE {role}{password}")
        # The platform's role must hold the tenant role's rights (and, from PostgreSQL
        # 16, be allowed to SET it) to create and later drop the schema for it.
        if not state.me_super and not (state.role_exists and state.role_held):
            statements.append(f"GRANT {role} TO CURRENT_USER")
        return statements

    def _schema_statements(self, state: _State, conn: Connection) -> list[str]:
        """DDL that creates, marks or adopts the tenant's schema; [] if it is ready."""
        if self.schema is None:
            return []
        schema = _quoted(self.schema)
        mark = f"COMMENT ON SCHEMA {schema} IS {_literal(self._mark)}"
        if not state.exists:
            owner = f" AUTHORIZATION {_quoted(self.role)}" if self.role is not None else ""
            return [f"CREATE SCHEMA {schema}{owner}", mark]
        if not self._mine(state, conn):
            raise StorageError(
                f"tenant {self.tenant_id!r}: schema {self.schema!r} exists and is not this"
                f" tenant's: {self._not_mine(state)}"
            )
        statements = []
        if self.role is not None and state.owner != self.role:
            statements += self._adopt(conn, self.role, self.schema)
        if state.mark is None:
            statements.append(mark)
        return statements

    @staticmethod
    def _adopt(conn: Connection, name: str, schema: str) -> list[str]:
        """DDL that gives role ``name`` a schema an earlier finplug made under the platform's."""
        role = _quoted(name)
        objects = conn.execute(text(_ADOPT_OBJECTS), {"s": schema}).scalars()
        return [
            f"ALTER SCHEMA {_quoted(schema)} OWNER TO {role}",
            *(f"{prefix} OWNER TO {role}" for prefix in objects),
        ]

    def __repr__(self) -> str:
        where = f" schema={self.schema!r}" if self.schema else ""
        return f"<TenantStorage {self.tenant_id!r} {self.url}{where}>"
