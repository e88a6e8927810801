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
import inspect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from finplug._plugin import API_VERSION, FAILURE_POLICY_ATTR, PROJECT, Plugin, PluginMeta
from finplug._socket import Socket, SocketError, load_socket
from finplug._text import did_you_mean

__all__ = [
    "ENTRY_POINT_GROUP",
    "KERNEL_HOOKSPECS",
    "HookSpec",
    "HookSpecError",
    "PluginRecord",
    "check_plugin",
    "discover_plugins",
    "module_specs",
    "spec_names",
    "spec_table",
]

log = logging.getLogger("finplug.plugins")

#: The entry-point group plugins register under.
ENTRY_POINT_GROUP = "finplug.plugins"


#: The module of the kernel's own hook specifications, known to every tenant.
KERNEL_HOOKSPECS = "finplug.hookspecs"


class HookSpecError(Exception):
    """A hook specification module cannot be used (internal: becomes a failed plugin or issue)."""


@dataclass(frozen=True, slots=True)
class HookSpec:
    """One hook specification: its function, pluggy options and declaring module."""

    name: str
    function: Any
    options: Mapping[str, Any]
    module: str

    @property
    def firstresult(self) -> bool:
        """Whether the hook stops at the first non-``None`` answer."""
        return bool(self.options.get("firstresult"))


@functools.cache
def module_specs(module_name: str) -> Mapping[str, HookSpec]:
    """The hook specifications a module declares (cached per process), checked.

    Every spec must be named ``finplug_…`` and declare a failure policy
    (:func:`~finplug._plugin.failure_policy`). Raises :class:`HookSpecError`
    naming the module and the problem.
    """
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HookSpecError(
            f"hook spec module {module_name!r} cannot be imported: {type(exc).__name__}: {exc}"
        ) from None
    names = getattr(module, "__all__", None) or sorted(vars(module))
    table: dict[str, HookSpec] = {}
    for name in names:
        fn = getattr(module, name, None)
        opts = getattr(fn, f"{PROJECT}_spec", None)
        if opts is None:
            continue
        if not name.startswith("finplug_"):
            raise HookSpecError(f"hook spec {module_name}.{name} must be named finplug_…")
        if getattr(fn, FAILURE_POLICY_ATTR, None) is None:
            raise HookSpecError(
                f"hook spec {module_name}.{name} declares no failure policy; put"
                " @failure_policy(HookFailurePolicy.…) under @hookspec"
            )
        table[name] = HookSpec(name, fn, dict(opts), module_name)
    if not table and module_name != KERNEL_HOOKSPECS:
        raise HookSpecError(f"module {module_name!r} declares no hook specifications")
    return table


@functools.cache
def spec_table(modules: frozenset[str] = frozenset()) -> Mapping[str, HookSpec]:
    """Hook name -> spec for the kernel's specs plus those of ``modules`` (cached per set).

    Raises :class:`HookSpecError` when two modules declare the same hook name.
    """
    table: dict[str, HookSpec] = {}
    for module_name in (KERNEL_HOOKSPECS, *sorted(modules - {KERNEL_HOOKSPECS})):
        for name, spec in module_specs(module_name).items():
            other = table.get(name)
            if other is not None and other.module != spec.module:
                raise HookSpecError(
                    f"hook {name!r} is declared by both {other.module!r} and {spec.module!r}"
                )
            table[name] = spec
    return table


def spec_names(modules: frozenset[str] = frozenset()) -> frozenset[str]:
    """Names of the kernel's hook specifications (plus those of ``modules``)."""
    return frozenset(spec_table(modules))


@dataclass(frozen=True, slots=True)
class PluginRecord:
    """What discovery learned about one plugin: loaded (with its class) or failed."""

    name: str
    """The plugin's name (its entry point's name)."""
    status: Literal["loaded", "failed"]
    """``"loaded"``, or ``"failed"`` with the reason in :attr:`error`."""
    plugin_class: type[Plugin[Any]] | None = None
    """The plugin class, when it loaded."""
    error: str | None = None
    """Why it failed, one line; ``None`` when it loaded."""
    distribution: str | None = None
    """The installed distribution that registered it, when known."""
    impls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Hook name -> pluggy implementation options, for per-tenant registration."""
    sockets: Mapping[str, Socket[Any]] = field(default_factory=dict)
    """The sockets the plugin declares, loaded and version-checked."""
    spec_modules: frozenset[str] = frozenset()
    """Hook spec modules beyond the kernel's: its sockets' and its own ``meta.hookspecs``."""

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
        impls, sockets, modules = _validate(obj, expected_name)
    except _InvalidPluginError as exc:
        return PluginRecord(name=name, status="failed", error=str(exc))
    assert isinstance(obj, type)
    return PluginRecord(
        name=name,
        status="loaded",
        plugin_class=obj,
        impls=impls,
        sockets=sockets,
        spec_modules=modules,
    )


class _InvalidPluginError(Exception):
    pass


def _validate(
    obj: object, expected_name: str | None
) -> tuple[dict[str, dict[str, Any]], dict[str, Socket[Any]], frozenset[str]]:
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
    sockets: dict[str, Socket[Any]] = {}
    for socket_name, supported in sorted(meta.sockets.items()):
        try:
            sockets[socket_name] = load_socket(socket_name, supported)
        except SocketError as exc:
            raise _InvalidPluginError(str(exc)) from None
    for component in sorted(meta.components - set(sockets)):
        # A component named like a socket is that socket's, so its interface is checked.
        try:
            sockets[component] = load_socket(component)
        except SocketError:
            continue
    modules = frozenset(
        [*meta.hookspecs, *(s.hookspecs for s in sockets.values() if s.hookspecs is not None)]
    )
    try:
        specs = spec_table(modules)
    except HookSpecError as exc:
        raise _InvalidPluginError(str(exc)) from None
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
            hint = did_you_mean(attr, specs)
            raise _InvalidPluginError(
                f"implements unknown hook {attr!r} (no such specification{hint}; a hook"
                " another plugin declares needs that module in meta.hookspecs)"
            )
        _check_arguments(attr, fn, specs[attr])
        impls[attr] = dict(opts)
    pm = _ValidationManager(PROJECT)
    for module_name in sorted({spec.module for spec in specs.values()}):
        pm.add_hookspecs(importlib.import_module(module_name))
    try:
        pm.register(obj, name=meta.name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        # pluggy's message spans lines; a failed record's error is one line.
        lines = (line.strip() for line in str(exc).splitlines())
        raise _InvalidPluginError(
            f"hook validation failed: {'; '.join(filter(None, lines))}"
        ) from None
    if meta.components and "finplug_register_components" not in impls:
        raise _InvalidPluginError(
            f"declares components {sorted(meta.components)} but does not implement"
            " finplug_register_components"
        )
    return impls, sockets, modules


def _argument_names(fn: Any) -> tuple[list[str], list[str]]:
    """A hook function's argument names: (without defaults, with defaults), ``self`` left out."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [], []
    named = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name != "self"
    ]
    return [p.name for p in named if p.default is p.empty], [
        p.name for p in named if p.default is not p.empty
    ]


def _check_arguments(name: str, impl: Any, spec: HookSpec) -> None:
    """Reject an implementation taking an argument its spec does not pass, in one line.

    pluggy checks the same (an implementation may take any subset of the
    spec's arguments) but says so in three lines; this names the hook, the
    unknown arguments and the spec's arguments.
    """
    required, _ = _argument_names(impl)
    spec_required, spec_optional = _argument_names(spec.function)
    offered = [*spec_required, *spec_optional]
    unknown = [arg for arg in required if arg not in offered]
    if unknown:
        shown = []
        for arg in unknown:
            hint = did_you_mean(arg, offered).removeprefix("; ")
            shown.append(f"{arg!r} ({hint})" if hint else repr(arg))
        raise _InvalidPluginError(
            f"hook validation failed: {name}() takes {', '.join(shown)}, which its spec does"
            f" not pass; the spec's arguments are ({', '.join(offered)})"
        )


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
        sockets=record.sockets,
        spec_modules=record.spec_modules,
    )
