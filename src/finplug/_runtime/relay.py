"""The hook call path of a tenant: its pluggy manager, the relay behind ``tenant.hooks``, views.

A tenant's :class:`TenantPluginManager` registers plugins with the
implementation tables computed once at discovery (no attribute scanning) and
turns an implementation's error into a :class:`HookCallError` naming tenant,
plugin and hook. The :class:`HookRelay` holds one plain attribute per hook
spec: pluggy's caller for the hooks the tenant's plugins implement, a shared
empty caller for the rest, so a call costs what a raw pluggy call costs.
:class:`HookView` types the relay for one spec module (a socket's or a
plugin's own hooks).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

import pluggy

from finplug._errors import HookCallError
from finplug._plugin import PROJECT
from finplug._registry import HookSpec, module_specs, spec_table

__all__ = [
    "HookRelay",
    "HookView",
    "TenantPluginManager",
    "hook_implementations",
    "spec_namespace",
]


def hook_implementations(caller: object) -> list[tuple[str, Callable[..., Any]]]:
    """(plugin name, implementation) behind one hook caller, in the order pluggy calls them.

    ``caller`` is an attribute of a tenant's relay or of a :class:`HookView`
    (``payments_hooks.of(hooks).finplug_payment_booked``). ``tryfirst``
    implementations come first and ``trylast`` last; wrappers are left out.
    For hooks whose failure policy wants each implementation called on its
    own (report, retry later), so that one failing never stops the others.
    """
    get = getattr(caller, "get_hookimpls", None)
    impls = reversed(get()) if get is not None else []
    return [(i.plugin_name, i.function) for i in impls if not (i.hookwrapper or i.wrapper)]


class TenantPluginManager(pluggy.PluginManager):
    """A pluggy manager that reads hook tables computed at discovery.

    Overrides the two documented parsing hooks of :class:`pluggy.PluginManager`
    so that registering a plugin instance does no attribute scanning of its own.
    """

    def __init__(
        self,
        impl_tables: Mapping[type, Mapping[str, Mapping[str, Any]]],
        specs: Mapping[str, HookSpec],
        tenant: str,
    ) -> None:
        super().__init__(PROJECT)
        self._impl_tables = impl_tables
        self._specs = specs
        self._tenant = tenant

    # pluggy has no public extension point that sees an implementation's error
    # without its own per-call wrapping (add_hookcall_monitoring builds a Result per
    # call); every HookCaller calls its manager's ``_hookexec``, so the guard lives
    # here and costs nothing on success. pluggy is pinned to <2, and
    # tests/test_hook_failures.py fails if this ever stops being called.
    def _hookexec(
        self,
        hook_name: str,
        methods: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
        firstresult: bool,
    ) -> object | list[object]:
        try:
            return self._inner_hookexec(hook_name, methods, kwargs, firstresult)
        except HookCallError:
            raise
        except Exception as exc:
            plugin = _culprit(exc, methods)
            if plugin is None:
                raise
            raise HookCallError(self._tenant, hook_name, plugin, exc) from exc

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        """The options of ``plugin``'s implementation ``name``, from its class's table."""
        table = self._impl_tables.get(type(plugin))
        return None if table is None else table.get(name)

    def parse_hookspec_opts(self, module_or_class: object, name: str) -> Any:
        """The options of spec ``name``, from the tenant's spec table."""
        spec = self._specs.get(name)
        return None if spec is None else spec.options


_SPEC_NAMESPACES: dict[tuple[frozenset[str], frozenset[str]], type] = {}
_SPEC_LOCK = threading.Lock()


def spec_namespace(modules: frozenset[str], names: frozenset[str]) -> type:
    """A class holding just the specs in ``names`` (cached per set of modules and names)."""
    key = (modules, names)
    namespace = _SPEC_NAMESPACES.get(key)
    if namespace is None:
        with _SPEC_LOCK:
            table = spec_table(modules)
            namespace = type(
                "FinplugSpecs", (), {n: staticmethod(table[n].function) for n in sorted(names)}
            )
            _SPEC_NAMESPACES[key] = namespace
    return namespace


class _EmptyCaller:
    """Answers a hook that no plugin of the tenant implements."""

    __slots__ = ("argnames", "firstresult", "name")

    def __init__(self, name: str, argnames: tuple[str, ...], firstresult: bool) -> None:
        self.name = name
        self.argnames = argnames
        self.firstresult = firstresult

    def __call__(self, **kwargs: object) -> object:
        unknown = set(kwargs) - set(self.argnames)
        if unknown:
            raise TypeError(f"{self.name}() got unexpected arguments {sorted(unknown)}")
        return None if self.firstresult else []

    def get_hookimpls(self) -> list[pluggy.HookImpl]:
        """No implementations (mirrors :meth:`pluggy.HookCaller.get_hookimpls`)."""
        return []


_EMPTY_CALLERS: dict[tuple[str, str], _EmptyCaller] = {}


def _empty_caller(spec: HookSpec) -> _EmptyCaller:
    """The shared caller answering ``spec`` when no enabled plugin implements it."""
    key = (spec.module, spec.name)
    caller = _EMPTY_CALLERS.get(key)
    if caller is None:
        argnames = tuple(inspect.signature(spec.function).parameters)
        caller = _EMPTY_CALLERS[key] = _EmptyCaller(spec.name, argnames, spec.firstresult)
    return caller


def _culprit(exc: BaseException, methods: Sequence[pluggy.HookImpl]) -> str | None:
    """The plugin whose implementation raised ``exc``: the outermost traceback frame of one.

    Only called on failure. An error pluggy raises itself (no implementation
    frame) gives ``None`` and passes through unchanged; a
    :class:`HookCallError` from a nested hook call is never re-wrapped, so the
    innermost culprit is the one named.
    """
    codes = {}
    for impl in methods:
        function = getattr(impl.function, "__func__", impl.function)
        code = getattr(function, "__code__", None)
        if code is not None:
            codes[code] = impl.plugin_name
    tb = exc.__traceback__
    while tb is not None:
        plugin = codes.get(tb.tb_frame.f_code)
        if plugin is not None:
            return plugin
        tb = tb.tb_next
    return None


class HookRelay:
    """The run-time object behind ``tenant.hooks`` (typed as :class:`Hooks`).

    Every spec is a plain instance attribute: pluggy's own hook caller for the
    hooks this tenant's plugins implement (its manager turns an
    implementation's error into a :class:`HookCallError`), a shared empty
    caller for the rest. No ``__getattr__``, so attribute reads stay on
    CPython's fast path and a call costs what a raw pluggy call costs.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        implemented: frozenset[str],
        specs: Mapping[str, HookSpec],
        modules: frozenset[str] = frozenset(),
    ) -> None:
        self._finplug_views: frozenset[str] = modules
        """Spec modules whose every hook is an attribute (a :class:`HookView` checks once)."""
        for name, spec in specs.items():
            caller = getattr(pm.hook, name) if name in implemented else _empty_caller(spec)
            setattr(self, name, caller)


H = TypeVar("H")


class HookView(Generic[H]):
    """A typed view of a tenant's hook relay for the hooks of one spec module.

    ``tenant.hooks`` is typed with the kernel's hooks only. A module that
    declares hook specifications (a socket, or a plugin's own extension
    points) also declares a :class:`typing.Protocol` of their callers and a
    view over it, so that callers are checked by mypy like the kernel's::

        # my_plugin/hookspecs.py
        class MyHooks(Protocol):
            finplug_my_parsers: _ParsersCaller

        my_hooks: HookView[MyHooks] = HookView("my_plugin.hookspecs")

        # in the plugin
        parsers = my_hooks.of(self.context.hooks).finplug_my_parsers()

    :meth:`of` answers every spec of the module, implemented or not: a hook
    no enabled plugin implements gets the shared empty caller (``[]``), so
    "nobody plugged in" needs no special case.
    """

    __slots__ = ("module",)

    def __init__(self, module: str) -> None:
        self.module = module

    def of(self, hooks: object) -> H:
        """``hooks`` (a tenant's or a plugin context's relay) typed as this module's hooks."""
        if not isinstance(hooks, HookRelay):
            raise TypeError(f"expected a tenant's hook relay (tenant.hooks), got {hooks!r}")
        if self.module not in hooks._finplug_views:
            for name, spec in module_specs(self.module).items():
                if name not in vars(hooks):
                    setattr(hooks, name, _empty_caller(spec))
            hooks._finplug_views = hooks._finplug_views | {self.module}
        return cast("H", hooks)

    def __repr__(self) -> str:
        return f"HookView({self.module!r})"
