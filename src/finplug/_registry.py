"""Discovering plugins (stevedore over entry points) and checking them against the specs.

Each plugin is loaded and validated on its own: a plugin that fails to import
or to validate is reported with its name and reason and skipped; the others
load. Validation happens once per plugin class per process, and leaves behind
what per-tenant assembly needs (the hook implementation table), so that
assembling a tenant does no introspection.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from finplug import hookspecs
from finplug._plugin import API_VERSION, PROJECT, Plugin, PluginMeta

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginRecord",
    "check_plugin",
    "discover_plugins",
    "spec_names",
]

log = logging.getLogger("finplug.plugins")

#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "finplug.plugins"


@functools.cache
def _spec_table() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Hook name -> (spec function, spec options), read once from the hookspecs module."""
    table: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name in hookspecs.__all__:
        fn = getattr(hookspecs, name)
        opts = getattr(fn, f"{PROJECT}_spec", None)
        if opts is not None:
            table[name] = (fn, dict(opts))
    return table


def spec_names() -> frozenset[str]:
    """Names of every hook specification."""
    return frozenset(_spec_table())


@dataclass(frozen=True, slots=True)
class PluginRecord:
    """What discovery learned about one plugin: loaded (with its class) or failed."""

    name: str
    status: Literal["loaded", "failed"]
    plugin_class: type[Plugin[Any]] | None = None
    error: str | None = None
    distribution: str | None = None
    impls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Hook name -> pluggy implementation options, for per-tenant registration."""

    @property
    def meta(self) -> PluginMeta | None:
        """The plugin's metadata, when it loaded."""
        return self.plugin_class.meta if self.plugin_class is not None else None

    @property
    def hooks(self) -> tuple[str, ...]:
        """Names of the hooks this plugin implements, sorted."""
        return tuple(sorted(self.impls))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``finplug plugins --json`` prints)."""
        meta = self.meta
        return {
            "name": self.name,
            "version": meta.version if meta else None,
            "summary": meta.summary if meta else None,
            "components": sorted(meta.components) if meta else [],
            "requires_plugins": sorted(meta.requires_plugins) if meta else [],
            "requires_components": sorted(meta.requires_components) if meta else [],
            "hooks": list(self.hooks),
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
        }


class _ValidationManager(pluggy.PluginManager):
    """A throw-away manager used only to let pluggy check a plugin class."""


def check_plugin(obj: object, *, expected_name: str | None = None) -> PluginRecord:
    """Validate a plugin class against finplug's specs and return its record.

    Checks: it is a :class:`Plugin` subclass with a :class:`PluginMeta`; its
    name matches the entry point; it supports this finplug API version; every
    hook implementation names an existing spec with compatible arguments
    (pluggy's own validation); wrappers are generators; a plugin declaring
    components implements ``finplug_register_components``.

    Never raises for a bad plugin: the record's ``status`` is ``"failed"`` and
    ``error`` says why. Plugin authors call this from their tests (see
    :func:`finplug.testing.assert_valid_plugin`).
    """
    name = expected_name or getattr(getattr(obj, "meta", None), "name", None) or repr(obj)
    try:
        impls = _validate(obj, expected_name)
    except _InvalidPluginError as exc:
        return PluginRecord(name=name, status="failed", error=str(exc))
    assert isinstance(obj, type)
    return PluginRecord(name=name, status="loaded", plugin_class=obj, impls=impls)


class _InvalidPluginError(Exception):
    pass


def _validate(obj: object, expected_name: str | None) -> dict[str, dict[str, Any]]:
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        raise _InvalidPluginError(f"entry point must name a finplug.Plugin subclass, got {obj!r}")
    meta = obj.__dict__.get("meta")
    if not isinstance(meta, PluginMeta):
        raise _InvalidPluginError(f"{obj.__qualname__} has no `meta = PluginMeta(...)` of its own")
    if expected_name is not None and meta.name != expected_name:
        raise _InvalidPluginError(
            f"entry point is named {expected_name!r} but the plugin's meta.name is {meta.name!r}"
        )
    if not meta.supports_api(API_VERSION):
        raise _InvalidPluginError(
            f"supports finplug API {meta.api!r}, but this finplug provides API {API_VERSION}"
        )
    specs = _spec_table()
    impls: dict[str, dict[str, Any]] = {}
    for attr in dir(obj):
        fn = getattr(obj, attr, None)
        opts = getattr(fn, f"{PROJECT}_impl", None)
        if opts is None:
            if attr.startswith("finplug_") and callable(fn):
                raise _InvalidPluginError(
                    f"method {attr}() looks like a hook but is not marked @hookimpl"
                )
            continue
        if attr not in specs:
            raise _InvalidPluginError(f"implements unknown hook {attr!r} (no such specification)")
        impls[attr] = dict(opts)
    pm = _ValidationManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(obj, name=meta.name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise _InvalidPluginError(f"hook validation failed: {exc}") from None
    if meta.components and "finplug_register_components" not in impls:
        raise _InvalidPluginError(
            f"declares components {sorted(meta.components)} but does not implement"
            " finplug_register_components"
        )
    return impls


def _distribution_of(entry_point: Any) -> str | None:
    dist = getattr(entry_point, "dist", None)
    name = getattr(dist, "name", None)
    return name if isinstance(name, str) else None


def discover_plugins(
    *, allow: Iterable[str] | None = None, group: str = ENTRY_POINT_GROUP
) -> tuple[PluginRecord, ...]:
    """Load every plugin registered in the entry-point ``group``, each in isolation.

    ``allow`` (plugin names) limits what may load: any other installed plugin
    is not imported at all and is reported as failed with the reason, and so
    is an allowed name that no installed distribution registers. Results
    are sorted by name. :meth:`finplug.Platform.discover` caches this per
    process.
    """
    from stevedore import ExtensionManager, NamedExtensionManager

    failures: dict[str, str] = {}
    dists: dict[str, str | None] = {}

    def on_failure(_manager: object, entry_point: Any, exc: BaseException) -> None:
        name = str(getattr(entry_point, "name", entry_point))
        failures[name] = f"failed to import: {type(exc).__name__}: {exc}"
        dists[name] = _distribution_of(entry_point)
        log.warning("plugin %r failed to load: %s", name, failures[name])

    manager: ExtensionManager[Any]
    if allow is None:
        manager = ExtensionManager(
            namespace=group, invoke_on_load=False, on_load_failure_callback=on_failure
        )
    else:
        allowed = sorted(set(allow))
        manager = NamedExtensionManager(
            namespace=group,
            names=allowed,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
        installed = set()
        for ep in manager.list_entry_points():
            installed.add(ep.name)
            if ep.name not in allowed:
                failures[ep.name] = "not in the platform's allow list; not loaded"
                dists[ep.name] = _distribution_of(ep)
        for name in allowed:
            if name not in installed:  # a typo, or a distribution not installed
                failures[name] = (
                    f"in the platform's allow list, but no installed distribution registers"
                    f" it in {group!r}"
                )
    # stevedore's cached entry points may not know their distribution; ask once.
    owners = {ep.name: _distribution_of(ep) for ep in importlib.metadata.entry_points(group=group)}
    records: dict[str, PluginRecord] = {}
    for ext in manager.extensions:
        dist = _distribution_of(ext.entry_point) or owners.get(ext.name)
        if ext.name in records:
            records[ext.name] = PluginRecord(
                name=ext.name,
                status="failed",
                error=f"entry point registered twice (by {records[ext.name].distribution}"
                f" and {dist}); neither is loaded",
                distribution=dist,
            )
            continue
        record = _with_distribution(check_plugin(ext.plugin, expected_name=ext.name), dist)
        if record.status == "failed":
            log.warning("plugin %r failed validation: %s", record.name, record.error)
        records[ext.name] = record
    for name, reason in failures.items():
        records[name] = PluginRecord(
            name=name,
            status="failed",
            error=reason,
            distribution=dists.get(name) or owners.get(name),
        )
    return tuple(records[name] for name in sorted(records))


def _with_distribution(record: PluginRecord, dist: str | None) -> PluginRecord:
    return PluginRecord(
        name=record.name,
        status=record.status,
        plugin_class=record.plugin_class,
        error=record.error,
        distribution=dist,
        impls=record.impls,
    )
