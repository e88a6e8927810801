"""Where each tenant keeps its data: the platform's database, tenant roles, one place each.

:class:`Placement` is the storage half of :class:`~finplug.Platform`: it checks
the platform's database URL and role settings once, builds each tenant's
:class:`~finplug._storage.TenantStorage` (refusing a schema or file the tenant
may not use), and refuses a second tenant in a place that one already keeps
its data in, however its URL spells it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from finplug._config import TenantConfig
from finplug._errors import ConfigError
from finplug._runtime import TenantPlan
from finplug._storage import (
    DatabaseRoles,
    EngineCache,
    Location,
    StorageError,
    TenantRoles,
    TenantStorage,
    default_schema,
    redact_url,
    schema_refusal,
    sqlite_pattern,
    sqlite_url_refusal,
)

__all__ = ["ROLES_ENV", "ROLE_SECRET_ENV", "Placement"]

#: Where :class:`~finplug.Platform` looks for the tenant roles' secret when none is passed.
ROLE_SECRET_ENV = "FINPLUG_ROLE_SECRET"
#: Where :class:`~finplug.Platform` looks for ``database_roles`` when none is passed.
ROLES_ENV = "FINPLUG_DATABASE_ROLES"
_ROLE_MODES: tuple[DatabaseRoles, ...] = ("per-tenant", "single")
_MIN_SECRET = 16


def _checked_url(database_url: str) -> str:
    """The platform's database URL, or :class:`StorageError` saying why it cannot be one."""
    try:
        parsed = make_url(database_url)
    except ArgumentError:
        raise StorageError(
            "database_url: expected a database URL such as sqlite:///data/{tenant}.db or"
            " postgresql+psycopg://user@host/db"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return parsed.get_backend_name()
    if "{tenant}" not in (parsed.database or ""):
        raise StorageError(
            "an SQLite database_url must contain '{tenant}' in its file path so that each"
            f" tenant gets its own file; got {redact_url(database_url)}"
        )
    refusal = sqlite_url_refusal(parsed)
    if refusal is not None:
        raise StorageError(f"database_url {redact_url(database_url)}: {refusal}")
    return "sqlite"


class _Places:
    """Which tenant keeps its data where: exact locations, and PostgreSQL schemas."""

    def __init__(self) -> None:
        self.exact: dict[Location, str] = {}
        self.by_schema: dict[str, dict[str, TenantStorage]] = {}

    def copy(self) -> _Places:
        other = _Places()
        other.exact = dict(self.exact)
        other.by_schema = {k: dict(v) for k, v in self.by_schema.items()}
        return other

    def add(self, tenant_id: str, storage: TenantStorage) -> None:
        location = storage.identity
        self.exact[location] = tenant_id
        if location.backend == "postgresql" and location.schema is not None:
            self.by_schema.setdefault(location.schema, {})[tenant_id] = storage

    def remove(self, tenant_id: str, storage: TenantStorage) -> None:
        location = storage.identity
        if self.exact.get(location) == tenant_id:
            del self.exact[location]
        if location.schema is not None:
            self.by_schema.get(location.schema, {}).pop(tenant_id, None)


class Placement:
    """The storage of a platform's tenants: the default database, and where each tenant is.

    Built from :class:`~finplug.Platform`'s ``database_url``,
    ``database_roles`` and ``role_secret`` (see there), which it checks at
    once. Not thread-safe: the platform calls :meth:`check`,
    :meth:`check_all`, :meth:`place` and :meth:`remove` under its lock;
    :meth:`storage_for` touches no tenant's place and may run outside it.
    """

    def __init__(
        self,
        database_url: str,
        *,
        environ: Mapping[str, str] | None,
        database_roles: DatabaseRoles | None,
        role_secret: str | SecretStr | None,
    ) -> None:
        backend = _checked_url(database_url)
        env: Mapping[str, str] = os.environ if environ is None else environ
        mode = database_roles or env.get(ROLES_ENV) or "per-tenant"
        if mode not in _ROLE_MODES:
            raise StorageError(
                f"database_roles must be one of {', '.join(_ROLE_MODES)}, got {mode!r}"
            )
        self._database_roles: DatabaseRoles = "single" if mode == "single" else "per-tenant"
        secret = role_secret if role_secret is not None else (env.get(ROLE_SECRET_ENV) or None)
        if isinstance(secret, str):
            secret = SecretStr(secret)
        if secret is not None and len(secret.get_secret_value()) < _MIN_SECRET:
            raise StorageError(
                f"role_secret must have at least {_MIN_SECRET} characters (for example"
                " python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self._roles: TenantRoles | None = None
        if backend == "postgresql" and self._database_roles == "per-tenant":
            if make_url(database_url).password and secret is None:
                raise StorageError(
                    f"database_url {redact_url(database_url)} logs in with a password, so"
                    " tenant roles need one too: pass role_secret (or set"
                    f" {ROLE_SECRET_ENV}), or database_roles='single'"
                )
            self._roles = TenantRoles(secret)
        self._database_url = database_url
        self._engines = EngineCache()
        self._storages: dict[str, TenantStorage] = {}
        self._places = _Places()  # where data lives -> tenant
        self._server_ids: dict[str, str] = {}  # PostgreSQL place -> the server's own identity

    @property
    def database_roles(self) -> DatabaseRoles:
        """How tenants log in to PostgreSQL: ``per-tenant`` roles or a ``single`` one."""
        return self._database_roles

    def storage_for(self, config: TenantConfig) -> TenantStorage:
        """The tenant's storage, or a located :class:`ConfigError` for a place it may not use."""
        own = config.database.url
        url = own.get_secret_value() if own is not None else self._database_url
        schema = config.database.schema_name
        refusal = schema_refusal(schema or default_schema(config.tenant), config.tenant)
        if refusal is not None:
            raise ConfigError([config.issue(("database", "schema"), refusal)])
        try:
            storage = TenantStorage(
                config.tenant,
                url,
                self._engines,
                schema,
                roles=self._roles if own is None else None,
            )
        except StorageError as exc:
            message = str(exc).removeprefix(f"tenant {config.tenant!r}: ")
            raise ConfigError([config.issue(("database", "url"), message)]) from None
        # Resolved now, as the tenants' own files are: relative paths meet in one directory.
        pattern = sqlite_pattern(self._database_url) if own is not None else None
        if pattern is not None and storage.dialect == "sqlite":
            taken = pattern.fullmatch(storage.identity.place)
            if taken is not None and taken["t"] != config.tenant:
                raise ConfigError(
                    [
                        config.issue(
                            ("database", "url"),
                            "this is the file the platform's database URL gives tenant"
                            f" {taken['t']!r}; a tenant's own SQLite file must lie outside"
                            " that pattern",
                        )
                    ]
                )
        return storage

    def storage(self, tenant_id: str) -> TenantStorage:
        """The storage of a placed tenant; :class:`KeyError` if it has none."""
        return self._storages[tenant_id]

    def place(self, tenant_id: str, storage: TenantStorage) -> None:
        """Record that ``tenant_id`` keeps its data in ``storage`` (instead of where it did)."""
        old = self._storages.get(tenant_id)
        if old is not None:
            self._places.remove(tenant_id, old)
        self._storages[tenant_id] = storage
        self._places.add(tenant_id, storage)

    def remove(self, tenant_id: str) -> None:
        """Forget where ``tenant_id`` keeps its data (nothing is deleted)."""
        storage = self._storages.pop(tenant_id, None)
        if storage is not None:
            self._places.remove(tenant_id, storage)

    def check(self, plan: TenantPlan, storage: TenantStorage) -> None:
        """Refuse ``storage`` for ``plan``'s tenant if another tenant keeps its data there.

        The same place is the same resolved SQLite file, or the same
        PostgreSQL schema in the same database: two URLs that spell one
        database differently (``localhost`` and ``127.0.0.1``, a socket) are
        told apart by asking both servers which database they are. Raises a
        :class:`ConfigError` located at the config's ``database``.
        """
        self._check(plan, storage, self._places)

    def check_all(self, plans: Iterable[TenantPlan], storages: Mapping[str, TenantStorage]) -> None:
        """:meth:`check` each plan's storage against the placed tenants' and the ones before it."""
        places = self._places.copy()
        for plan in plans:
            storage = storages[plan.tenant_id]
            self._check(plan, storage, places)
            places.add(plan.tenant_id, storage)

    def _check(self, plan: TenantPlan, storage: TenantStorage, places: _Places) -> None:
        location = storage.identity
        other_id = places.exact.get(location)
        problem = None
        if other_id is None and location.backend == "postgresql" and location.schema:
            for candidate, other in places.by_schema.get(location.schema, {}).items():
                if candidate == plan.tenant_id:
                    continue
                try:
                    same = self._server_id(storage) == self._server_id(other)
                except StorageError as exc:
                    problem = (
                        f"cannot tell whether this is the database of tenant {candidate!r}"
                        f" (schema {location.schema}): {exc}"
                    )
                    break
                if same:
                    other_id = candidate
                    break
        if other_id is not None and other_id != plan.tenant_id:
            problem = (
                f"tenant {plan.tenant_id!r} would share its storage with tenant {other_id!r}"
                f" ({location}); every tenant needs its own"
            )
        if problem is not None:
            raise ConfigError([plan.config.issue(("database",), problem)])

    def _server_id(self, storage: TenantStorage) -> str:
        place = storage.identity.place
        found = self._server_ids.get(place)
        if found is None:
            found = self._server_ids[place] = storage.server_identity()
        return found

    def close(self) -> None:
        """Close every database connection pool the tenants' storages opened."""
        self._engines.dispose()
