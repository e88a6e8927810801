"""Schema migrations with Alembic: the kernel and each plugin own their tables and history.

An *owner* is the kernel or a plugin whose :attr:`PluginMeta.migrations` names
a package of Alembic revision scripts. Each owner has one linear history and
its own version table (``alembic_version_<owner>``) in each tenant's schema
(PostgreSQL) or file (SQLite), so owners never see each other's revisions and
a plugin can be added to, or left out of, a tenant at any time.

Upgrading a tenant runs the kernel's history first, then each enabled plugin
that has one, in the tenant's plugin order (dependencies first). Each owner's
upgrade is one transaction on the tenant's storage: it reaches head
completely or not at all. If it fails, the owners before it stay upgraded
and :class:`MigrationError` names the tenant, the owner and the revision.

Alembic is driven directly (:class:`~alembic.script.ScriptDirectory` reads an
owner's package, :class:`~alembic.runtime.migration.MigrationContext` runs it
on the tenant's connection), not through ``alembic.command`` and an
``env.py``: a plugin ships only its revision scripts, no ``alembic.ini`` and
no environment script, and the kernel keeps the connection, the transaction
and the version table in its own hands.

A revision script is an ordinary Alembic one: a module-level ``revision``
(any string unique within the owner), ``down_revision`` (the previous one, or
``None`` for the first) and an ``upgrade()`` using :mod:`alembic.op`. Declare
tables without a schema; the tenant's schema is mapped in. finplug only
upgrades (``downgrade()`` is never called), so a change is undone by a new
revision.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from alembic.operations import Operations
from alembic.runtime.migration import (
    MigrationContext,
    MigrationInfo,
    MigrationStep,
    RevisionStep,
)
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from finplug._errors import FinplugError

if TYPE_CHECKING:
    from finplug._runtime import TenantPlan
    from finplug._storage import TenantStorage

__all__ = [
    "KERNEL_MIGRATIONS",
    "KERNEL_OWNER",
    "MigrationError",
    "MigrationOwner",
    "OwnerUpgrade",
    "migration_owners",
    "upgrade_owner",
    "upgrade_tenant",
    "upgrade_tenants",
    "version_table_name",
]

#: The owner name of the kernel's own tables (the ledger, later the event outbox).
KERNEL_OWNER: Final = "kernel"
#: The package holding the kernel's revision scripts.
KERNEL_MIGRATIONS: Final = "finplug.migrations"

_VERSION_TABLE_PREFIX: Final = "alembic_version_"
_MAX_IDENTIFIER: Final = 63  # PostgreSQL silently truncates longer names
_UNSAFE = re.compile(r"[^a-z0-9_]")

# Operations.context() installs the module-global ``alembic.op`` proxy, so one
# owner is migrated at a time per process.
_ALEMBIC_LOCK = threading.Lock()


def version_table_name(owner: str) -> str:
    """The name of ``owner``'s version table: ``alembic_version_<owner>``, a valid identifier.

    Characters other than lower-case letters, digits and ``_`` become ``_``
    (plugin names may contain ``-``). A name longer than PostgreSQL's 63
    characters is shortened and given a hash suffix so it stays unique.
    """
    name = _VERSION_TABLE_PREFIX + _UNSAFE.sub("_", owner.lower())
    if len(name) > _MAX_IDENTIFIER:
        digest = hashlib.blake2b(owner.encode(), digest_size=4).hexdigest()
        name = f"{name[: _MAX_IDENTIFIER - 9]}_{digest}"
    return name


@dataclass(frozen=True, slots=True)
class MigrationOwner:
    """The kernel or a plugin: a name and the package holding its revision scripts."""

    name: str
    """``kernel`` or the plugin's name."""
    package: str
    """Dotted name of the package of revision scripts, e.g. ``finplug_example.migrations``."""

    @property
    def version_table(self) -> str:
        """The table recording this owner's revision in each tenant."""
        return version_table_name(self.name)


@dataclass(frozen=True, slots=True)
class OwnerUpgrade:
    """What upgrading one owner did in one tenant."""

    tenant: str
    owner: str
    before: str | None
    """The revision before the upgrade (``None``: never migrated)."""
    after: str | None
    """The revision after it: the owner's head (``None`` only if it has no revisions)."""
    applied: tuple[str, ...] = ()
    """The revisions run, oldest first (empty when already at head)."""

    @property
    def changed(self) -> bool:
        """Whether any revision ran."""
        return bool(self.applied)

    def __str__(self) -> str:
        before = self.before or "(none)"
        if not self.changed:
            return f"{self.tenant} {self.owner}: {before} (at head)"
        return f"{self.tenant} {self.owner}: {before} → {self.after}"


#: Results of an upgrade: tenant id -> owner name -> what happened, in run order.
UpgradeReport = dict[str, dict[str, OwnerUpgrade]]


class MigrationError(FinplugError):
    """A tenant's migration failed; that owner's upgrade was rolled back.

    Owners (and tenants) upgraded before the failing one stay upgraded; they
    are listed in :attr:`completed`.
    """

    def __init__(
        self,
        tenant: str,
        owner: str,
        revision: str | None,
        reason: str,
        *,
        completed: Mapping[str, Mapping[str, OwnerUpgrade]] | None = None,
    ) -> None:
        self.tenant = tenant
        """The tenant being migrated."""
        self.owner = owner
        """The owner whose upgrade failed (``kernel`` or a plugin name)."""
        self.revision = revision
        """The revision that failed, or ``None`` if none had started."""
        self.reason = reason
        """What went wrong, in one line."""
        self.completed: UpgradeReport = {t: dict(o) for t, o in (completed or {}).items()}
        """Upgrades that finished (and stay applied) before the failure."""
        where = f"tenant {tenant!r}, owner {owner!r}"
        if revision is not None:
            where += f", revision {revision!r}"
        super().__init__(f"{where}: {reason}")


# ---------------------------------------------------------------- owners


def migration_owners(plan: TenantPlan) -> list[MigrationOwner]:
    """The owners of a tenant's tables, in upgrade order: the kernel, then plugins.

    Plugins come in the tenant's plugin order (:attr:`TenantPlan.order`, so a
    plugin's dependencies come first); plugins without migrations are left out.
    """
    owners = [MigrationOwner(KERNEL_OWNER, KERNEL_MIGRATIONS)]
    for record in plan.order:
        cls = record.plugin_class
        package = cls.meta.migrations if cls is not None else None
        if package is not None:
            owners.append(MigrationOwner(record.name, package))
    tables: dict[str, MigrationOwner] = {}
    packages: dict[str, MigrationOwner] = {}
    for owner in owners:
        for seen, key, what in (
            (tables, owner.version_table, "version table"),
            (packages, owner.package, "migrations package"),
        ):
            other = seen.setdefault(key, owner)
            if other is not owner:
                raise MigrationError(
                    plan.tenant_id,
                    owner.name,
                    None,
                    f"plugin {owner.name!r} cannot have the {what} {key!r}: it is already"
                    f" {_describe(other)}'s; every owner needs its own",
                )
    return owners


def _describe(owner: MigrationOwner) -> str:
    return "the kernel" if owner.package == KERNEL_MIGRATIONS else f"plugin {owner.name!r}"


@lru_cache(maxsize=256)
def _script_directory(package: str) -> ScriptDirectory:
    """The revision scripts in ``package`` (loaded once per process)."""
    module = importlib.import_module(package)
    locations = list(getattr(module, "__path__", ()))
    if len(locations) != 1 or not Path(locations[0]).is_dir():
        raise ValueError(f"{package!r} must be a package that is a directory on disk")
    where = str(Path(locations[0]).resolve())
    # The revision scripts sit in the package itself, next to its __init__.py
    # (which Alembic skips); there is no env.py and no versions/ folder.
    return ScriptDirectory(where, version_locations=[where])


def _load(tenant: str, owner: MigrationOwner) -> tuple[ScriptDirectory, frozenset[str]]:
    """The owner's scripts and revision ids, or a :class:`MigrationError` saying why not."""
    try:
        script = _script_directory(owner.package)
        revisions = frozenset(s.revision for s in script.walk_revisions())
        heads = script.get_heads()
    except Exception as exc:
        raise MigrationError(
            tenant,
            owner.name,
            None,
            f"cannot load the revision scripts in {owner.package!r}: {_one_line(exc)}",
        ) from exc
    if len(heads) > 1:
        raise MigrationError(
            tenant,
            owner.name,
            None,
            f"the revision scripts in {owner.package!r} have {len(heads)} heads"
            f" ({', '.join(sorted(heads))}); each owner needs one linear history",
        )
    return script, revisions


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


# ---------------------------------------------------------------- upgrading


def _lock(conn: Connection, storage: TenantStorage, owner: MigrationOwner) -> None:
    """Serialise concurrent upgrades of one owner in one tenant (PostgreSQL).

    A transaction-scoped advisory lock: a second ``finplug db upgrade`` waits,
    then finds the owner at head. SQLite needs none: ``BEGIN IMMEDIATE``
    already holds the file's write lock.
    """
    if conn.dialect.name != "postgresql":
        return
    name = f"finplug-migrations:{storage.schema}:{owner.name}".encode()
    key = int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def upgrade_owner(storage: TenantStorage, owner: MigrationOwner) -> OwnerUpgrade:
    """Bring one owner to head in one tenant's storage, in one transaction.

    On PostgreSQL the tenant's schema is created first and the migration runs
    inside :meth:`TenantStorage.begin` (``search_path`` and the schema map set,
    the version table in that schema); on SQLite it runs on the tenant's file.
    Raises :class:`MigrationError` (the transaction rolled back) on failure.
    """
    tenant = storage.tenant_id
    script, known = _load(tenant, owner)
    planned: list[str] = []
    applied: list[str] = []
    steps: list[RevisionStep] = []
    before: str | None = None

    def record(*, step: MigrationInfo, **_: object) -> None:
        applied.extend(step.up_revision_ids)

    def planned_steps(_heads: object, _context: object) -> list[RevisionStep]:
        return steps

    try:
        storage.ensure_schema()
        with _ALEMBIC_LOCK, storage.begin() as conn:
            _lock(conn, storage, owner)
            context = MigrationContext.configure(
                connection=conn,
                opts={
                    "version_table": owner.version_table,
                    "version_table_schema": storage.schema,
                    "fn": planned_steps,
                    "on_version_apply": (record,),
                },
            )
            heads = context.get_current_heads()
            before = heads[0] if heads else None
            if len(heads) > 1 or set(heads) - known:
                raise MigrationError(
                    tenant,
                    owner.name,
                    None,
                    f"the database is at revision {', '.join(heads)}, which is not one head"
                    f" known to the scripts in {owner.package!r} (was this tenant migrated"
                    " by a newer version of the code?)",
                )
            path = reversed(list(script.iterate_revisions("heads", heads, implicit_base=True)))
            for found in path:
                steps.append(MigrationStep.upgrade_from_script(script.revision_map, found))
                planned.append(found.revision)
            with Operations.context(context):
                context.run_migrations()
            after = context.get_current_revision()
    except MigrationError:
        raise
    except Exception as exc:
        failed = planned[len(applied)] if len(applied) < len(planned) else None
        stays = f"it stays at {before!r}" if before is not None else "it stays unmigrated"
        raise MigrationError(
            tenant,
            owner.name,
            failed,
            f"migration failed, {_one_line(exc)}; this owner's upgrade was rolled back ({stays})",
        ) from exc
    return OwnerUpgrade(tenant, owner.name, before, after, tuple(applied))


def upgrade_tenant(
    plan: TenantPlan, storage: TenantStorage, *, completed: UpgradeReport | None = None
) -> dict[str, OwnerUpgrade]:
    """Bring every owner of one tenant to head: the kernel, then its plugins in order.

    Each owner is its own transaction. On failure the owners before it stay
    upgraded and :class:`MigrationError` lists them in ``completed`` (with
    whatever the caller passed in ``completed``, e.g. other tenants).
    """
    done: dict[str, OwnerUpgrade] = {}
    report: UpgradeReport = dict(completed or {})
    try:
        for owner in migration_owners(plan):
            done[owner.name] = upgrade_owner(storage, owner)
    except MigrationError as exc:
        if done:
            report[plan.tenant_id] = done
        raise MigrationError(
            exc.tenant, exc.owner, exc.revision, exc.reason, completed=report
        ) from exc.__cause__
    return done


def upgrade_tenants(targets: Iterable[tuple[TenantPlan, TenantStorage]]) -> UpgradeReport:
    """Upgrade each tenant in turn (see :func:`upgrade_tenant`); stop at the first failure."""
    report: UpgradeReport = {}
    for plan, storage in targets:
        report[plan.tenant_id] = upgrade_tenant(plan, storage, completed=report)
    return report
