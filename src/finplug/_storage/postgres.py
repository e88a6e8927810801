"""PostgreSQL tenants: their roles, their schemas, and how the platform's role sets them up.

With tenant roles (the default), each tenant logs in as a role of its own,
named per database and tenant (:func:`tenant_role_name`), with a password
derived from the platform's secret (:class:`TenantRoles`) and no rights on
any other schema. The platform's role creates that role and the tenant's
schema, marks the schema as the tenant's, hands over a schema an earlier
finplug made under its own name, and drops both (:class:`TenantSchema`),
each in one transaction that holds advisory locks, reads the catalog once
and then runs at most one batch of DDL. In single-role mode the same is done
for the schema alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import SecretStr
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from finplug._fastsql import driver_cursor
from finplug._storage.engines import EngineCache
from finplug._storage.urls import UNSAFE_IN_NAMES, StorageError, redact_url, secret_free

__all__ = [
    "DatabaseRoles",
    "TenantRoles",
    "TenantSchema",
    "server_identity",
    "set_search_path",
    "tenant_role_name",
]

#: How tenants reach PostgreSQL: ``per-tenant`` (a login role each, the
#: default) or ``single`` (the platform's role for all, ``search_path`` only).
DatabaseRoles = Literal["per-tenant", "single"]

_ROLE_PREFIX: Final = "fp_"
_MARK_PREFIX: Final = "finplug tenant "
_MAX_IDENTIFIER: Final = 63


def set_search_path(conn: Connection, schema: str) -> None:
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
    return f"{_ROLE_PREFIX}{UNSAFE_IN_NAMES.sub('_', tenant_id.lower())[:40]}_{digest}"


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
            f" {type(exc.orig).__name__}: {secret_free(str(exc.orig), url)}"
        ) from None
    finally:
        engine.dispose()
    return f"{server}/{oid}"


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


@dataclass(frozen=True, slots=True)
class TenantSchema:
    """Sets up and drops one tenant's PostgreSQL schema (and role), as the platform's role.

    Used by :class:`~finplug.TenantStorage` on PostgreSQL; each operation is one
    transaction of :attr:`admin`'s role: advisory locks, one catalog query,
    then at most one batch of DDL.
    """

    tenant_id: str
    """The tenant whose schema this is."""
    schema: str
    """The tenant's schema."""
    role: str | None
    """The tenant's own role, or ``None`` when the tenant uses its URL's role."""
    roles: TenantRoles | None
    """How tenant roles authenticate (``None`` without tenant roles)."""
    admin: URL
    """The URL whose role creates and drops: the platform's (or the tenant's own URL)."""
    engines: EngineCache
    """The platform's engines, which also remember the roles already checked and keyed."""

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

    def provision(self, *, schema: bool) -> None:
        """Create or check the tenant's role (and, with ``schema``, its schema).

        One transaction of the platform's role: locks, one catalog query,
        then at most one batch of DDL.
        """
        admin = self.admin
        try:
            with self.engines.get(admin).begin() as conn:
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
                f" ({secret_free(str(exc.orig), admin)}); {needs}"
            ) from exc
        if self.role is not None:
            self.engines.provisioned.add(self.role)
            if schema:
                self.engines.keyed.add(self.role)

    def drop(self) -> None:
        """Drop the schema (and the tenant's role) if it is this tenant's; refuse otherwise.

        Raises :class:`StorageError` and drops nothing when the schema exists
        and is not this tenant's.
        """
        with self.engines.get(self.admin).begin() as conn:
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
            self.engines.provisioned.discard(self.role)
            self.engines.keyed.discard(self.role)

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
        if self.role is None or self.roles is None:
            return []
        role = _quoted(self.role)
        verifier = self.roles.verifier(self.role)
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
        elif rekey and self.role not in self.engines.keyed and password:
            statements.append(f"ALTER ROLE {role}{password}")
        # The platform's role must hold the tenant role's rights (and, from PostgreSQL
        # 16, be allowed to SET it) to create and later drop the schema for it.
        if not state.me_super and not (state.role_exists and state.role_held):
            statements.append(f"GRANT {role} TO CURRENT_USER")
        return statements

    def _schema_statements(self, state: _State, conn: Connection) -> list[str]:
        """DDL that creates, marks or adopts the tenant's schema; [] if it is ready."""
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
