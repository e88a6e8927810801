"""The composition root: discovered plugins, tenant configs, tenant runtimes."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from finplug._config import TenantConfig, collect_config_files
from finplug._default_plugins import DEFAULT_PLUGINS
from finplug._errors import ConfigError, ConfigIssue, FinplugError, TenantNotFoundError
from finplug._migrations import OwnerUpgrade, upgrade_tenants
from finplug._placement import ROLE_SECRET_ENV, ROLES_ENV, Placement
from finplug._plugin import Plugin
from finplug._registry import ENTRY_POINT_GROUP, PluginRecord, check_plugin, discover_plugins
from finplug._runtime import Tenant, TenantPlan, build_tenant, plan_tenant
from finplug._sources import ConfigLimits
from finplug._storage import DEFAULT_DATABASE_URL, DatabaseRoles
from finplug._time import utc_now

__all__ = ["ROLES_ENV", "ROLE_SECRET_ENV", "Platform"]

ConfigInput = TenantConfig | Mapping[str, Any] | str | os.PathLike[str]


_CHECKED: dict[type, PluginRecord] = {}


def _checked_once(cls: type[Plugin[Any]]) -> PluginRecord:
    """Validate a built-in plugin class once per process."""
    record = _CHECKED.get(cls)
    if record is None:
        record = _CHECKED[cls] = check_plugin(cls)
    return record


@functools.lru_cache(maxsize=8)
def _discover_once(group: str, allow: frozenset[str] | None) -> tuple[PluginRecord, ...]:
    return discover_plugins(allow=allow, group=group)


class Platform:
    """Holds the installed plugins and the tenant configs; hands out tenant runtimes.

    Build it with :meth:`discover` (entry points) or directly from plugin
    classes (tests, embedded use). Nothing is global: two platforms in one
    process share nothing but the discovery cache.

    >>> platform = Platform.discover()                         # doctest: +SKIP
    >>> platform.load_tenants("examples/tenants")              # doctest: +SKIP
    >>> platform.tenant("acme").component(RISK).assess(ctx)    # doctest: +SKIP
    """

    def __init__(
        self,
        plugins: Iterable[PluginRecord | type[Plugin[Any]]] = (),
        *,
        allow: Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        database_url: str = DEFAULT_DATABASE_URL,
        clock: Callable[[], datetime] | None = None,
        default_plugins: Iterable[type[Plugin[Any]]] | None = None,
        database_roles: DatabaseRoles | None = None,
        role_secret: str | SecretStr | None = None,
        config_limits: ConfigLimits | None = None,
    ) -> None:
        """Create a platform from plugin classes or discovery records.

        ``allow`` limits which plugins tenants may use; others are recorded as
        failed. ``environ`` is where ``${VAR}`` references in configs are looked
        up (default: the process environment at load time). ``database_url``
        is where tenants without a database of their own keep their data: a
        PostgreSQL URL (a schema per tenant) or an SQLite URL with a
        ``{tenant}`` placeholder (a file per tenant). Nothing is opened until a
        tenant first uses its storage. ``clock`` (default: UTC now) is the time
        source every plugin gets; tests pass a controllable one.
        ``default_plugins`` (default: the kernel's, i.e. the ledger) are enabled
        in every tenant whether or not its config lists them.

        On PostgreSQL, ``database_roles`` says how tenants log in:
        ``"per-tenant"`` (the default) gives each tenant a role of its own,
        owner of its schema and nothing else, created by the platform's role
        (which needs CREATEROLE and CREATE on the database); ``"single"`` runs
        every tenant as the platform's role, kept apart by ``search_path``
        only (for managed databases that allow no role creation; weaker: a
        plugin's own SQL can reach other tenants). ``role_secret`` (at least
        16 characters) derives each tenant role's password; without one,
        tenant roles have no password and log in only where the server trusts
        them otherwise. Both default to the environment's
        ``FINPLUG_DATABASE_ROLES`` and ``FINPLUG_ROLE_SECRET`` (looked up in
        ``environ``). A PostgreSQL URL with a password and no secret is
        refused in per-tenant mode: its tenants could not log in. See
        ``docs/storage.md``.

        ``config_limits`` bounds what reading a tenant config may cost (file
        and secret-file sizes, nesting, TOML dotted keys; default
        :data:`~finplug._sources.DEFAULT_LIMITS`, see
        ``docs/composing-tenants.md``).

        Raises :class:`~finplug._storage.StorageError` (a ``ValueError``) for a
        URL that cannot isolate tenants: an SQLite one without ``{tenant}`` in
        its path or with ``..`` in it.
        """
        self._placement = Placement(
            database_url,
            environ=environ,
            database_roles=database_roles,
            role_secret=role_secret,
        )
        allowed = None if allow is None else frozenset(allow)
        records: dict[str, PluginRecord] = {}
        defaults: tuple[type[Plugin[Any]], ...] = tuple(
            DEFAULT_PLUGINS if default_plugins is None else default_plugins
        )
        for cls in defaults:
            record = _checked_once(cls)
            if record.status != "loaded":
                raise ValueError(f"default plugin {record.name!r} is invalid: {record.error}")
            records[record.name] = record
        self._defaults = tuple(cls.meta.name for cls in defaults)
        self._clock = clock or utc_now
        for item in plugins:
            record = item if isinstance(item, PluginRecord) else check_plugin(item)
            if allowed is not None and record.name not in allowed:
                record = PluginRecord(
                    name=record.name,
                    status="failed",
                    error="not in the platform's allow list; not loaded",
                    distribution=record.distribution,
                )
            if record.name in records:
                if record.name in self._defaults:
                    continue  # installed and also built in: the kernel's copy wins
                raise ValueError(f"two plugins are named {record.name!r}")
            records[record.name] = record
        self._plugins: dict[str, PluginRecord] = dict(sorted(records.items()))
        self._impl_tables = {
            r.plugin_class: r.impls for r in self._plugins.values() if r.plugin_class is not None
        }
        self._environ = environ
        self._config_limits = config_limits
        self._lock = threading.RLock()
        self._plans: dict[str, TenantPlan] = {}
        self._tenants: dict[str, Tenant] = {}

    @classmethod
    def discover(
        cls,
        *,
        allow: Iterable[str] | None = None,
        group: str = ENTRY_POINT_GROUP,
        environ: Mapping[str, str] | None = None,
        database_url: str = DEFAULT_DATABASE_URL,
        database_roles: DatabaseRoles | None = None,
        role_secret: str | SecretStr | None = None,
        config_limits: ConfigLimits | None = None,
    ) -> Platform:
        """A platform over the plugins installed in the entry-point ``group``.

        Entry points are scanned and loaded once per process (per group and
        allow list); later calls reuse the result. The other arguments are
        :class:`Platform`'s.
        """
        records = _discover_once(group, None if allow is None else frozenset(allow))
        return cls(
            records,
            environ=environ,
            database_url=database_url,
            database_roles=database_roles,
            role_secret=role_secret,
            config_limits=config_limits,
        )

    @property
    def database_roles(self) -> DatabaseRoles:
        """How tenants log in to PostgreSQL: ``per-tenant`` roles or a ``single`` one."""
        return self._placement.database_roles

    # -- plugins ----------------------------------------------------------

    @property
    def plugins(self) -> tuple[PluginRecord, ...]:
        """Every known plugin, loaded or failed, sorted by name."""
        return tuple(self._plugins.values())

    def plugin(self, name: str) -> PluginRecord:
        """The record of one plugin; :class:`KeyError` if unknown."""
        return self._plugins[name]

    # -- tenant configs ---------------------------------------------------

    def _config(self, item: ConfigInput) -> TenantConfig:
        if isinstance(item, TenantConfig):
            return item
        if isinstance(item, Mapping):
            return TenantConfig.from_dict(item, environ=self._environ, limits=self._config_limits)
        return TenantConfig.from_file(item, environ=self._environ, limits=self._config_limits)

    def validate(self, config: ConfigInput) -> TenantPlan:
        """Validate a config against this platform's plugins without adding it."""
        return plan_tenant(self._config(config), self._plugins, self._defaults)

    def add_tenant(self, config: ConfigInput, *, replace: bool = False) -> TenantConfig:
        """Validate and add a tenant config (a model, a mapping or a file path).

        Raises :class:`ConfigError` with every problem found; nothing is added
        then. Adding an id that exists is an error unless ``replace`` is true
        (prefer :meth:`reload` for a running tenant).
        """
        plan = self.validate(config)
        with self._lock:
            existing = self._plans.get(plan.tenant_id)
            if existing is not None and not replace:
                raise ConfigError(
                    [
                        plan.config.issue(
                            ("tenant",),
                            f"tenant {plan.tenant_id!r} is already configured"
                            f" (by {existing.config.source or 'a config built in code'})",
                        )
                    ]
                )
            storage = self._placement.storage_for(plan.config)
            self._placement.check(plan, storage)
            self._plans[plan.tenant_id] = plan
            self._placement.place(plan.tenant_id, storage)
            self._tenants.pop(plan.tenant_id, None)
        return plan.config

    def load_tenants(self, *paths: str | os.PathLike[str]) -> list[str]:
        """Add every tenant config in the given files and folders, all or nothing.

        Returns the tenant ids added. On any problem raises one
        :class:`ConfigError` listing every issue in every file, and adds none.
        """
        plans = self._plan_files(paths)
        with self._lock:
            clashes = [p for p in plans if p.tenant_id in self._plans]
            if clashes:
                raise ConfigError(
                    p.config.issue(("tenant",), f"tenant {p.tenant_id!r} is already configured")
                    for p in clashes
                )
            storages = {p.tenant_id: self._placement.storage_for(p.config) for p in plans}
            self._placement.check_all(plans, storages)
            for plan in plans:
                self._plans[plan.tenant_id] = plan
                self._placement.place(plan.tenant_id, storages[plan.tenant_id])
        return [p.tenant_id for p in plans]

    def check(self, *paths: str | os.PathLike[str]) -> list[ConfigIssue]:
        """Validate config files and folders; return every issue (empty if all good).

        Each config is validated against the plugins' settings models; each
        valid one is then assembled (storage untouched) and put to the
        plugins' cross-plugin checks (``finplug_check_tenant``), so a routing
        rule naming a channel no plugin registers is reported here, with its
        file and line, rather than at the first payment.
        """
        try:
            plans, issues = self._plan_files_and_issues(paths)
        except ConfigError as exc:
            return list(exc.issues)
        for plan in plans:
            try:
                storage = self._placement.storage_for(plan.config)  # refused while planning
                runtime = build_tenant(plan, self._impl_tables, storage, self._clock)
                issues.extend(runtime.check())
            except FinplugError as exc:  # a plugin that cannot even be assembled
                issues.append(plan.config.issue(("plugins",), str(exc)))
        if not issues:
            return []
        return list(ConfigError(issues).issues)

    def _plan_files(self, paths: Sequence[str | os.PathLike[str]]) -> list[TenantPlan]:
        plans, issues = self._plan_files_and_issues(paths)
        if issues:
            raise ConfigError(issues)
        return plans

    def _plan_files_and_issues(
        self, paths: Sequence[str | os.PathLike[str]]
    ) -> tuple[list[TenantPlan], list[ConfigIssue]]:
        files = collect_config_files(paths)
        issues: list[ConfigIssue] = []
        plans: list[TenantPlan] = []
        seen: dict[str, str] = {}
        if not files:
            raise ConfigError(
                [ConfigIssue(", ".join(map(str, paths)), None, "", "no tenant config files found")]
            )
        for path in files:
            try:
                plan = self.validate(Path(path))
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            if plan.tenant_id in seen:
                issues.append(
                    plan.config.issue(
                        ("tenant",),
                        f"tenant id {plan.tenant_id!r} is also used by {seen[plan.tenant_id]}",
                    )
                )
                continue
            seen[plan.tenant_id] = str(path)
            try:
                self._placement.storage_for(plan.config)  # a schema or file it may not use
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            plans.append(plan)
        return plans, issues

    @property
    def tenant_ids(self) -> tuple[str, ...]:
        """Ids of the configured tenants, sorted."""
        return tuple(sorted(self._plans))

    # -- runtimes ---------------------------------------------------------

    def tenant(self, tenant_id: str) -> Tenant:
        """The runtime of ``tenant_id``, assembled on first use and cached."""
        tenant = self._tenants.get(tenant_id)
        if tenant is not None:
            return tenant
        with self._lock:
            tenant = self._tenants.get(tenant_id)
            if tenant is None:
                plan = self._plans.get(tenant_id)
                if plan is None:
                    raise TenantNotFoundError(tenant_id, self._plans)
                storage = self._placement.storage(tenant_id)
                tenant = build_tenant(plan, self._impl_tables, storage, self._clock)
                self._tenants[tenant_id] = tenant
            return tenant

    def reload(self, tenant_id: str, config: ConfigInput | None = None) -> Tenant:
        """Swap a tenant's runtime for one built from a new config, atomically.

        Without ``config`` the tenant's config file is read again (a config
        built in code is re-validated as it is). The new runtime is fully
        built before the swap; if anything fails, the old one stays and the
        error is raised. Calls already running on the old runtime finish on it.
        """
        with self._lock:
            current = self._plans.get(tenant_id)
        if current is None:
            raise TenantNotFoundError(tenant_id, self._plans)
        if config is None:
            source = current.config.source
            config = Path(source) if source is not None else current.config
        plan = self.validate(config)
        if plan.tenant_id != tenant_id:
            raise ConfigError(
                [
                    plan.config.issue(
                        ("tenant",),
                        f"reload of {tenant_id!r} got a config for tenant {plan.tenant_id!r}",
                    )
                ]
            )
        storage = self._placement.storage_for(plan.config)
        with self._lock:
            self._placement.check(plan, storage)
        tenant = build_tenant(plan, self._impl_tables, storage, self._clock)
        with self._lock:
            self._plans[tenant_id] = plan
            self._placement.place(tenant_id, storage)
            self._tenants[tenant_id] = tenant
        return tenant

    def remove_tenant(self, tenant_id: str) -> None:
        """Forget a tenant; runtimes already handed out keep working."""
        with self._lock:
            if self._plans.pop(tenant_id, None) is None:
                raise TenantNotFoundError(tenant_id, self._plans)
            self._placement.remove(tenant_id)
            self._tenants.pop(tenant_id, None)

    # -- migrations -------------------------------------------------------

    def upgrade(self, tenant_id: str | None = None) -> dict[str, dict[str, OwnerUpgrade]]:
        """Bring a tenant's tables (or every configured tenant's) to head.

        For each tenant, in id order: the kernel's migrations first, then those
        of each enabled plugin that declares :attr:`PluginMeta.migrations`, in
        the tenant's plugin order. Returns tenant id -> owner name ->
        :class:`~finplug._migrations.OwnerUpgrade` (revision before and after).
        Running it again changes nothing.

        Each owner's upgrade is its own transaction. On failure it raises
        :class:`~finplug._migrations.MigrationError` naming the tenant, owner
        and revision; that owner's upgrade is rolled back, while owners and
        tenants upgraded before it stay upgraded (listed in its ``completed``).
        """
        with self._lock:
            if tenant_id is not None and tenant_id not in self._plans:
                raise TenantNotFoundError(tenant_id, self._plans)
            ids = sorted(self._plans) if tenant_id is None else [tenant_id]
            targets = [(self._plans[i], self._placement.storage(i)) for i in ids]
        return upgrade_tenants(targets)

    def close(self) -> None:
        """Close every database connection pool the platform opened."""
        self._placement.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        loaded = sum(1 for r in self._plugins.values() if r.status == "loaded")
        return f"<Platform plugins={loaded}/{len(self._plugins)} tenants={len(self._plans)}>"
