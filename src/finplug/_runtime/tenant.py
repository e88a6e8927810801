"""Building a tenant: instantiate its planned plugins and register them, then serve it.

Building creates a pluggy manager that holds only this tenant's plugin
instances. It adds the specs of the hooks those plugins implement (a hook no
plugin implements is answered by a shared empty caller), and registers each
plugin with the implementation table computed once at discovery, so that a
tenant costs a few dozen microseconds and a few kilobytes. The built
:class:`Tenant` looks components up by socket or name, runs the
cross-plugin checks and opens units of work on the tenant's storage.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import pluggy

from finplug._config import TenantConfig
from finplug._errors import AssemblyError, ComponentNotEnabledError, ConfigIssue, HookCallError
from finplug._plugin import Plugin, PluginContext, _RuntimeView
from finplug._registry import KERNEL_HOOKSPECS
from finplug._runtime.plan import TenantPlan
from finplug._runtime.relay import (
    HookRelay,
    TenantPluginManager,
    hook_implementations,
    spec_namespace,
)
from finplug._socket import Socket
from finplug._sources import parse_loc
from finplug._storage import TenantStorage
from finplug._uow import UnitOfWork
from finplug.components import COMPONENTS

if TYPE_CHECKING:
    from finplug.components import EventsAPI, IdempotencyAPI, LedgerAPI
    from finplug.hookspecs import Hooks

__all__ = ["Tenant", "build_tenant"]

C = TypeVar("C")


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
        self._pm = TenantPluginManager(impl_tables, specs, self.id)
        implemented: set[str] = set()
        for record in plan.order:
            implemented.update(record.impls)
        if implemented:
            self._pm.add_hookspecs(spec_namespace(plan.hookspec_modules, frozenset(implemented)))
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
            HookRelay(
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

    def implementations(self, hook: str) -> list[tuple[str, Callable[..., Any]]]:
        """(plugin name, bound implementation) of ``hook``, in the order pluggy calls them.

        ``tryfirst`` implementations come first and ``trylast`` last; wrappers
        are left out. For hooks whose failure policy is *report*, which the
        kernel calls one implementation at a time.
        """
        return hook_implementations(getattr(self._pm.hook, hook, None))

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
        for plugin_name, function in self.implementations(hook):
            try:
                batch = function()
            except Exception as exc:
                error = HookCallError(self.id, hook, plugin_name, exc)
                yield [
                    ConfigIssue(
                        None,
                        None,
                        f"plugins.{plugin_name}",
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
