"""Assembling one tenant's runtime: plan (validate, order) then build (instantiate, register).

Planning is pure and cheap: it validates each enabled plugin's settings with
the plugin's model, checks requirements and component providers, and orders
plugins by dependencies and ``before``/``after``. Every problem it finds is a
located :class:`ConfigIssue`, so ``finplug check`` reports them with file and
line, and a tenant that plans cleanly cannot fail on these at call time.

Building creates a pluggy manager that holds only this tenant's plugin
instances. It adds the specs of the hooks those plugins implement (a hook no
plugin implements is answered by a shared empty caller), and registers each
plugin with the implementation table computed once at discovery, so that a
tenant costs a few dozen microseconds and a few kilobytes.
"""

from __future__ import annotations

import heapq
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

import pluggy
from pydantic import BaseModel, ValidationError

from finplug._config import TenantConfig, pydantic_issues
from finplug._errors import (
    AssemblyError,
    ComponentNotEnabledError,
    ConfigError,
    ConfigIssue,
    HookCallError,
)
from finplug._plugin import PROJECT, Plugin, PluginContext, _RuntimeView
from finplug._registry import (
    KERNEL_HOOKSPECS,
    HookSpec,
    HookSpecError,
    PluginRecord,
    module_specs,
    spec_table,
)
from finplug._socket import Socket
from finplug._sources import from_mapping, parse_loc
from finplug._storage import TenantStorage
from finplug._text import did_you_mean
from finplug._uow import UnitOfWork
from finplug.components import COMPONENTS

if TYPE_CHECKING:
    from finplug.components import EventsAPI, IdempotencyAPI, LedgerAPI
    from finplug.hookspecs import Hooks

__all__ = ["HookView", "Tenant", "TenantPlan", "build_tenant", "plan_tenant"]


@dataclass(frozen=True, slots=True)
class TenantPlan:
    """A tenant config validated against the installed plugins, ready to build."""

    config: TenantConfig
    order: tuple[PluginRecord, ...]
    """Enabled plugins in hook-call order: the first one's implementations run first."""
    settings: Mapping[str, BaseModel]
    """Validated settings per plugin name."""
    components: Mapping[str, str]
    """Component name -> name of the plugin providing it."""
    hookspec_modules: frozenset[str] = frozenset()
    """Hook spec modules beyond the kernel's that the enabled plugins declare."""
    sockets: Mapping[str, Socket[Any]] = field(default_factory=dict)
    """The sockets the enabled plugins plug into, by name."""

    @property
    def specs(self) -> Mapping[str, HookSpec]:
        """Every hook specification this tenant knows: the kernel's and its plugins'."""
        return spec_table(self.hookspec_modules)

    @property
    def tenant_id(self) -> str:
        """The tenant's id."""
        return self.config.tenant


def plan_tenant(
    config: TenantConfig,
    plugins: Mapping[str, PluginRecord],
    defaults: tuple[str, ...] = (),
) -> TenantPlan:
    """Validate ``config`` against ``plugins`` and compute the plugin order.

    Raises :class:`ConfigError` listing every problem, each located in the
    config's file when it has one.
    """
    issues: list[ConfigIssue] = []
    enabled: dict[str, PluginRecord] = {}
    settings: dict[str, BaseModel] = {}
    document = config.document or from_mapping({})
    wanted: dict[str, dict[str, Any] | None] = dict.fromkeys(defaults)
    wanted.update(config.resolved_plugins())
    for name, raw in wanted.items():
        loc = ("plugins", name)
        record = plugins.get(name)
        if record is None:
            hint = did_you_mean(name, plugins)
            known = ", ".join(sorted(n for n, r in plugins.items() if r.status == "loaded"))
            detail = hint or f" (loaded: {known or 'none'})"
            issues.append(config.issue(loc, f"no plugin named {name!r} is installed{detail}"))
            continue
        if record.plugin_class is None:
            issues.append(config.issue(loc, f"plugin {name!r} is not available: {record.error}"))
            continue
        model = record.plugin_class.meta.settings
        try:
            settings[name] = model.model_validate(raw or {})
        except ValidationError as exc:
            issues.extend(pydantic_issues(exc, document, prefix=loc, model=model))
            continue
        enabled[name] = record

    components: dict[str, str] = {}
    for name, record in enabled.items():
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        for component in sorted(meta.components):
            other = components.get(component)
            if other is not None:
                issues.append(
                    config.issue(
                        ("plugins", name),
                        f"component {component!r} is provided by both {other!r} and {name!r};"
                        " a tenant enables exactly one provider per component",
                    )
                )
            else:
                components[component] = name
    for name, record in enabled.items():
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        for needed in sorted(meta.requires_plugins):
            if needed not in wanted:
                issues.append(
                    config.issue(
                        ("plugins", name),
                        f"plugin {name!r} requires plugin {needed!r}, which this tenant does"
                        " not enable",
                    )
                )
        for component in sorted(meta.requires_components):
            if component not in components:
                issues.append(
                    config.issue(
                        ("plugins", name),
                        f"plugin {name!r} requires a {component!r} component, which no plugin"
                        " enabled by this tenant provides",
                    )
                )
    modules = frozenset(m for record in enabled.values() for m in record.spec_modules)
    sockets = {name: sk for record in enabled.values() for name, sk in record.sockets.items()}
    try:
        spec_table(modules)
    except HookSpecError as exc:
        issues.append(config.issue(("plugins",), f"the enabled plugins' hook specs clash: {exc}"))
    if issues:
        raise ConfigError(issues)
    order = _order(enabled, config)
    return TenantPlan(
        config=config,
        order=tuple(enabled[n] for n in order),
        settings=settings,
        components=components,
        hookspec_modules=modules,
        sockets=sockets,
    )


def _order(enabled: Mapping[str, PluginRecord], config: TenantConfig) -> list[str]:
    """Topological order: dependencies and ``after`` targets first; ties by name."""
    edges: dict[str, set[str]] = {name: set() for name in enabled}  # a -> b: a runs before b
    for name, record in enabled.items():
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        for dep in meta.requires_plugins | meta.after:
            if dep in enabled:
                edges[dep].add(name)
        for later in meta.before:
            if later in enabled:
                edges[name].add(later)
        for component in meta.requires_components:
            for other, rec in enabled.items():
                if other != name and component in rec.plugin_class.meta.components:  # type: ignore[union-attr]
                    edges[other].add(name)
    indegree = dict.fromkeys(enabled, 0)
    for targets in edges.values():
        for target in targets:
            indegree[target] += 1
    ready = [name for name, deg in indegree.items() if deg == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for target in edges[name]:
            indegree[target] -= 1
            if indegree[target] == 0:
                heapq.heappush(ready, target)
    if len(order) != len(enabled):
        cycle = _find_cycle({n: edges[n] for n in enabled if n not in order})
        raise ConfigError(
            [
                config.issue(
                    ("plugins", cycle[0]),
                    "plugin ordering has a cycle: "
                    + " -> ".join(cycle)
                    + " (from requires/before/after); break one of these constraints",
                )
            ]
        )
    return order


def _find_cycle(edges: Mapping[str, set[str]]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not place, closed (a -> b -> a).

    Every such node has a predecessor that is also unplaced, so walking
    predecessors must revisit a node; the walk's loop, reversed, is a cycle.
    """
    preds: dict[str, set[str]] = {n: set() for n in edges}
    for node, targets in edges.items():
        for target in targets:
            if target in preds:
                preds[target].add(node)
    node = min(edges)
    seen: dict[str, int] = {}
    walk: list[str] = []
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = min(preds[node])
    loop = walk[seen[node] :][::-1]
    start = loop.index(min(loop))
    loop = loop[start:] + loop[:start]
    return [*loop, loop[0]]


# ---------------------------------------------------------------- building


class _TenantPluginManager(pluggy.PluginManager):
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
        table = self._impl_tables.get(type(plugin))
        return None if table is None else table.get(name)

    def parse_hookspec_opts(self, module_or_class: object, name: str) -> Any:
        spec = self._specs.get(name)
        return None if spec is None else spec.options


_SPEC_NAMESPACES: dict[tuple[frozenset[str], frozenset[str]], type] = {}
_SPEC_LOCK = threading.Lock()


def _spec_namespace(modules: frozenset[str], names: frozenset[str]) -> type:
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


class _HookRelay:
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
C = TypeVar("C")


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
        if not isinstance(hooks, _HookRelay):
            raise TypeError(f"expected a tenant's hook relay (tenant.hooks), got {hooks!r}")
        if self.module not in hooks._finplug_views:
            for name, spec in module_specs(self.module).items():
                if name not in vars(hooks):
                    setattr(hooks, name, _empty_caller(spec))
            hooks._finplug_views = hooks._finplug_views | {self.module}
        return cast("H", hooks)

    def __repr__(self) -> str:
        return f"HookView({self.module!r})"


class Tenant(_RuntimeView):
    """One tenant's runtime: its plugins, hooks and components.

    Immutable once built; :meth:`finplug.Platform.reload` builds a new one and
    swaps it in, while callers holding this one finish on it.
    """

    def __init__(
        self,
        plan: TenantPlan,
        impl_tables: Mapping[type, Mapping[str, Mapping[str, Any]]],
        storage: TenantStorage,
        clock: Callable[[], datetime],
    ) -> None:
        self.plan = plan
        self.clock = clock
        """The platform's clock (UTC, timezone-aware)."""
        self.storage = storage
        """This tenant's database (its own schema or file); see :class:`TenantStorage`."""
        self.id: str = plan.tenant_id
        self._lock = threading.Lock()
        self._components: dict[str, object] | None = None
        self._defaults: dict[str, object] = {}
        self._instances: dict[str, Plugin[Any]] = {}
        specs = plan.specs
        self._pm = _TenantPluginManager(impl_tables, specs, self.id)
        implemented: set[str] = set()
        for record in plan.order:
            implemented.update(record.impls)
        if implemented:
            self._pm.add_hookspecs(_spec_namespace(plan.hookspec_modules, frozenset(implemented)))
        for record in plan.order:
            cls = record.plugin_class
            assert cls is not None
            context = PluginContext(self.id, record.name, self)
            try:
                self._instances[record.name] = cls(plan.settings[record.name], context)
            except Exception as exc:
                raise AssemblyError(
                    self.id, f"plugin {record.name!r} failed to start: {type(exc).__name__}: {exc}"
                ) from exc
        # pluggy calls the most recently registered implementation first.
        for record in reversed(plan.order):
            self._pm.register(self._instances[record.name], name=record.name)
        self.hooks: Hooks = cast(
            "Hooks",
            _HookRelay(
                self._pm,
                frozenset(implemented),
                specs,
                plan.hookspec_modules | {KERNEL_HOOKSPECS},
            ),
        )

    # -- introspection ----------------------------------------------------

    @property
    def config(self) -> TenantConfig:
        """The config this runtime was built from."""
        return self.plan.config

    @property
    def plugin_names(self) -> tuple[str, ...]:
        """Enabled plugins, in hook-call order."""
        return tuple(r.name for r in self.plan.order)

    def plugin(self, name: str) -> Plugin[Any]:
        """The instance of an enabled plugin; :class:`KeyError` if not enabled."""
        try:
            return self._instances[name]
        except KeyError:
            raise KeyError(f"tenant {self.id!r} does not enable plugin {name!r}") from None

    def plugins(self) -> Iterator[Plugin[Any]]:
        """Plugin instances in hook-call order."""
        return iter(self._instances[n] for n in self.plugin_names)

    @property
    def component_names(self) -> tuple[str, ...]:
        """Components this tenant has, sorted."""
        return tuple(sorted(self.plan.components))

    def has_component(self, name: str) -> bool:
        """Whether an enabled plugin provides component ``name``."""
        return name in self.plan.components

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: plugins, settings, components, hooks, storage.

        Settings are dumped in JSON mode, so ``SecretStr`` fields show as
        ``**********``; a secret kept in a plain ``str`` field would show, which
        is why plugin settings must type secrets as ``SecretStr``.
        """
        plugins = []
        for record in self.plan.order:
            meta = record.plugin_class.meta  # type: ignore[union-attr]
            plugins.append(
                {
                    "name": record.name,
                    "version": meta.version,
                    "components": sorted(meta.components),
                    "hooks": list(record.hooks),
                    "settings": self.plan.settings[record.name].model_dump(mode="json"),
                }
            )
        return {
            "tenant": self.id,
            "name": self.config.display_name,
            "source": self.config.source,
            "plugins": plugins,
            "components": dict(sorted(self.plan.components.items())),
            "storage": {"url": self.storage.url, "schema": self.storage.schema},
        }

    # -- components -------------------------------------------------------

    @overload
    def component(self, key: Socket[C]) -> C: ...

    @overload
    def component(self, key: str) -> object: ...

    def component(self, key: Socket[Any] | str) -> Any:
        """The tenant's component for a socket (typed) or a name.

        ``tenant.component(PAYMENTS)`` returns the ``PaymentsAPI`` of the
        enabled plugin that provides it; mypy knows the type. When no enabled
        plugin provides it, the socket's default (if it has one, e.g. risk:
        approve unless a rule objects) is built for this tenant once;
        otherwise :class:`ComponentNotEnabledError` names the tenant, the
        component and the enabled plugins.
        """
        name = key.name if isinstance(key, Socket) else key
        if name not in self.plan.components:
            socket = key if isinstance(key, Socket) else self.plan.sockets.get(name)
            if socket is not None and socket.default is not None:
                return self._default_component(socket)
            raise ComponentNotEnabledError(
                self.id,
                name,
                hint="enable a plugin that provides it in the tenant config"
                f" (enabled: {', '.join(self.plugin_names) or 'none'})",
            )
        components = self._components
        if components is None:
            components = self._register_components()
        return components[name]

    def _default_component(self, socket: Socket[C]) -> C:
        """The socket's default component for this tenant, built once."""
        found = self._defaults.get(socket.name)
        if found is None:
            assert socket.default is not None
            with self._lock:
                found = self._defaults.get(socket.name)
                if found is None:
                    context = PluginContext(self.id, f"{socket.name}-default", self)
                    found = self._defaults[socket.name] = socket.default(context)
        return cast("C", found)

    def _register_components(self) -> dict[str, object]:
        with self._lock:
            if self._components is not None:
                return self._components
            found: dict[str, object] = {}
            caller = getattr(self._pm.hook, "finplug_register_components", None)
            for impl in caller.get_hookimpls() if caller is not None else []:
                declared = self._instances[impl.plugin_name].meta.components
                self._call_registration(impl, declared, found)
            missing = sorted(set(self.plan.components) - set(found))
            if missing:
                raise AssemblyError(
                    self.id,
                    "plugins declared components they did not register: "
                    + ", ".join(f"{c!r} ({self.plan.components[c]})" for c in missing),
                )
            for name, obj in found.items():
                socket = self.plan.sockets.get(name)
                interface = COMPONENTS.get(name) or (socket.interface if socket else None)
                if interface is not None and not isinstance(obj, interface):
                    raise AssemblyError(
                        self.id,
                        f"plugin {self.plan.components[name]!r} registered a {name!r} component"
                        f" that does not satisfy {interface.__name__}",
                    )
            self._components = found
            return found

    def _call_registration(
        self, impl: pluggy.HookImpl, declared: frozenset[str], found: dict[str, object]
    ) -> None:
        plugin = impl.plugin_name

        def register(name: str, implementation: object) -> None:
            if name not in declared:
                raise AssemblyError(
                    self.id,
                    f"plugin {plugin!r} registered component {name!r}, which its meta"
                    " does not declare",
                )
            if name in found:
                raise AssemblyError(self.id, f"component {name!r} registered twice")
            found[name] = implementation

        try:
            impl.function(register=register)
        except (AssemblyError, HookCallError):
            raise
        except Exception as exc:
            raise HookCallError(self.id, "finplug_register_components", plugin, exc) from exc

    def check(self) -> list[ConfigIssue]:
        """Cross-plugin checks of this tenant's config (``finplug_check_tenant``), located.

        Returns every issue the plugins report, each with the config file and
        line of its field path; empty when all is well. Does not touch storage.
        """
        found: list[ConfigIssue] = []
        for batch in self._check_batches():
            for issue in batch:
                try:
                    loc = parse_loc(issue.path)
                except ValueError:
                    loc = ()
                located = self.plan.config.issue(loc, issue.message)
                found.append(located if loc else replace(located, path=issue.path))
        return found

    def _check_batches(self) -> Iterator[list[ConfigIssue]]:
        """Each plugin's ``finplug_check_tenant`` answer, in hook order; a raise is an issue.

        The hook's failure policy is *report*: each implementation is called
        on its own, so one that raises becomes an issue naming its plugin and
        the others still run.
        """
        hook = "finplug_check_tenant"
        caller = getattr(self._pm.hook, hook, None)
        for impl in reversed(caller.get_hookimpls() if caller is not None else []):
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                batch = impl.function()
            except Exception as exc:
                error = HookCallError(self.id, hook, impl.plugin_name, exc)
                yield [
                    ConfigIssue(
                        None,
                        None,
                        f"plugins.{impl.plugin_name}",
                        f"{error}; the plugin's cross-plugin check could not run",
                    )
                ]
                continue
            if batch is not None:
                yield batch

    @property
    def ledger(self) -> LedgerAPI:
        """The ledger component (every tenant has one: a kernel default plugin)."""
        return cast("LedgerAPI", self.component("ledger"))

    @property
    def events(self) -> EventsAPI:
        """The event outbox (every tenant has one: a kernel default plugin)."""
        return cast("EventsAPI", self.component("events"))

    def unit_of_work(self, scope: str = "host") -> UnitOfWork:
        """A new unit of work on this tenant's storage (enter it; commit explicitly).

        ``scope`` names the namespace of its idempotency keys; a plugin's own
        unit of work (:meth:`finplug.PluginContext.unit_of_work`) uses the
        plugin's name.
        """
        return UnitOfWork(
            self.storage,
            scope=scope,
            ledger=self.ledger,
            events=self.events,
            idempotency=cast("IdempotencyAPI", self.component("idempotency")),
        )

    def __repr__(self) -> str:
        return f"<Tenant {self.id!r} plugins={list(self.plugin_names)}>"


def build_tenant(
    plan: TenantPlan,
    impl_tables: Mapping[type, Mapping[str, Mapping[str, Any]]],
    storage: TenantStorage,
    clock: Callable[[], datetime],
) -> Tenant:
    """Instantiate and register a planned tenant's plugins.

    ``impl_tables`` maps each plugin class to its hook implementation options,
    as computed once by discovery (:attr:`PluginRecord.impls`).
    """
    return Tenant(plan, impl_tables, storage, clock)
