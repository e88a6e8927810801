"""The kernel's hook specifications: components, events and cross-plugin checks.

Business hooks live with their sockets (:mod:`finplug.sockets.risk`,
:mod:`finplug.sockets.fees`, :mod:`finplug.sockets.payments.hookspecs`) and
a plugin's own extension points in its own module (``meta.hookspecs``); they
follow the same rules.

Each spec says how pluggy combines the results of its implementations
(*collect all*: a list with one entry per implementation that did not return
``None``; *first result*: the first non-``None`` answer; any hook may also be
wrapped by a ``@hookimpl(wrapper=True)`` implementation) and what a caller
gets when no enabled plugin implements it.

Hooks are called through the tenant's typed relay, :class:`Hooks`, so that
mypy checks argument names and types at every call site::

    issues = tenant.hooks.finplug_check_tenant()

:class:`Hooks` mirrors the specs below; ``tests/test_hookspecs.py`` fails if
the two drift apart, and ``tests/test_docs.py`` fails if a hook has no
section in ``docs/hooks.md`` or no ``test_hook_<name>`` test.
"""

from __future__ import annotations

from typing import Protocol

from finplug._errors import ConfigIssue
from finplug._events import Event
from finplug._plugin import HookFailurePolicy, failure_policy, hookspec

__all__ = [
    "ComponentRegistrar",
    "Hooks",
    "finplug_check_tenant",
    "finplug_on_event",
    "finplug_register_components",
]


class ComponentRegistrar(Protocol):
    """The ``register`` callback handed to :func:`finplug_register_components`."""

    def __call__(self, name: str, implementation: object) -> None:
        """Register ``implementation`` as this tenant's ``name`` component."""


# ---------------------------------------------------------------- specs


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_register_components(register: ComponentRegistrar) -> None:
    """Provide the component implementations this plugin declared in its meta.

    Called once per tenant, the first time any component of that tenant is
    asked for. Call ``register(name, implementation)`` once for each name in
    ``meta.components``; registering an undeclared name, or leaving a declared
    one out, is an :class:`~finplug.AssemblyError`. The kernel calls each
    implementation with a ``register`` bound to that plugin, so wrappers of
    this hook are not applied.

    Combination: collect all (return values are ignored).
    Nobody implements it: the tenant has no components; asking for one raises
    :class:`~finplug.ComponentNotEnabledError`.

    Failure policy: propagate. Asking for a component raises
    :class:`~finplug.HookCallError` naming the plugin; nothing is cached, so
    the next request tries again.

    Example::

        @hookimpl
        def finplug_register_components(self, register):
            register("risk", RiskService(self.settings, self.context))
    """


@hookspec
@failure_policy(HookFailurePolicy.RETRY_LATER)
def finplug_on_event(event: Event) -> None:
    """React to a domain event after the transaction that emitted it committed.

    The tenant's ``events`` component calls it from ``dispatch()``, once per
    event, in outbox position order: commit order, so in order per aggregate.
    Delivery is at least once: raise to refuse the event, which then stays
    undelivered and is delivered again (to every listener) by a later
    dispatch, while later events of its aggregate wait for it. A crash after
    the call but before the delivery is recorded also redelivers, so
    deduplicate by ``event.dedupe_key``.

    Combination: collect all (return values are ignored); an exception from
    one implementation stops the call and leaves the event undelivered.
    Nobody implements it: the call returns ``[]``; dispatch records each event
    as delivered all the same (events are not replayed to listeners enabled
    later).

    Failure policy: retry later. The event stays undelivered and is
    offered again by a later ``dispatch()``; the error is logged with
    tenant, plugin and hook.

    Example::

        @hookimpl
        def finplug_on_event(self, event):
            if event.type == "payment.captured" and self.first_time(event.dedupe_key):
                self.notify_merchant(event.payload["merchant_id"])
    """


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_check_tenant() -> list[ConfigIssue] | None:
    """Check settings that only make sense together with the tenant's other plugins.

    Each plugin's settings model validates its own section of a tenant config;
    what refers to another plugin (a routing rule naming a channel that a
    channel plugin registers) can only be checked once the tenant is
    assembled. ``Platform.check`` (and so ``finplug check``) assembles each
    valid tenant, without touching its storage, and calls this hook. Return
    one :class:`~finplug.ConfigIssue` per problem with ``path`` set to the
    field path from the config's root (``plugins.payments.routing.priority[1]``);
    leave ``source`` and ``line`` empty: the kernel fills them in from the
    config file.

    Combination: collect all; the caller flattens the lists and locates each
    issue in the tenant's config file.
    Nobody implements it: the call returns ``[]``; per-plugin validation is
    all there is.

    Failure policy: report. ``Platform.check`` turns a raising
    implementation into one issue located at the tenant's ``plugins``
    section, naming the plugin, and goes on with the other plugins' checks
    and the other files.

    Example::

        @hookimpl
        def finplug_check_tenant(self):
            hooks = payments_hooks.of(self.context.hooks)
            known = {c.info.name for batch in payments_hooks.of(hooks).finplug_register_channels()
                     for c in batch}
            return [ConfigIssue(None, None, f"plugins.payments.routing.priority[{i}]",
                                f"unknown channel {name!r}")
                    for i, name in enumerate(self.settings.routing.priority) if name not in known]
    """


# ---------------------------------------------------------------- typed relay


class _RegisterComponentsCaller(Protocol):
    def __call__(self, *, register: ComponentRegistrar) -> list[None]: ...


class _OnEventCaller(Protocol):
    def __call__(self, *, event: Event) -> list[None]: ...


class _CheckTenantCaller(Protocol):
    def __call__(self) -> list[list[ConfigIssue]]: ...


class Hooks(Protocol):
    """The typed view of a tenant's hook relay (``tenant.hooks``).

    At run time this is a thin relay over pluggy's hook callers, so a call
    costs what a raw pluggy call costs; at type-check time every hook is a
    keyword-only callable with the spec's parameters and combined result.
    """

    finplug_register_components: _RegisterComponentsCaller
    finplug_check_tenant: _CheckTenantCaller
    finplug_on_event: _OnEventCaller
