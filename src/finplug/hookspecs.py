"""Every hook specification of finplug, in one module.

Each spec says how pluggy combines the results of its implementations
(*collect all*: a list with one entry per implementation that did not return
``None``; *first result*: the first non-``None`` answer; any hook may also be
wrapped by a ``@hookimpl(wrapper=True)`` implementation) and what a caller
gets when no enabled plugin implements it.

Hooks are called through the tenant's typed relay, :class:`Hooks`, so that
mypy checks argument names and types at every call site::

    decisions = tenant.hooks.finplug_assess_risk(context=ctx)

:class:`Hooks` mirrors the specs below; ``tests/test_hookspecs.py`` fails if
the two drift apart, and ``tests/test_docs.py`` fails if a hook has no
section in ``docs/hooks.md`` or no ``test_hook_<name>`` test.
"""

from __future__ import annotations

from typing import Protocol

from finplug._domain import Fee, FeeContext, RiskContext, RiskDecision
from finplug._errors import ConfigIssue
from finplug._events import Event
from finplug._payments import ChannelConnector, RoutingStrategy
from finplug._plugin import HookFailurePolicy, failure_policy, hookspec

__all__ = [
    "ComponentRegistrar",
    "Hooks",
    "finplug_assess_risk",
    "finplug_calculate_fees",
    "finplug_check_tenant",
    "finplug_on_event",
    "finplug_register_channels",
    "finplug_register_components",
    "finplug_routing_strategies",
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
@failure_policy(HookFailurePolicy.FAIL_CLOSED)
def finplug_assess_risk(context: RiskContext) -> RiskDecision | None:
    """Assess an operation (a payment, a top-up, an onboarding) for risk.

    Return a :class:`~finplug.RiskDecision`, or ``None`` to abstain.

    Combination: collect all; callers merge the answers with
    :func:`~finplug.combine_risk_decisions` (strictest verdict wins, reasons
    of every objection kept).
    Nobody implements it: the call returns ``[]``, which combines to approve,
    so a tenant without risk plugins still runs its payment flow.

    Failure policy: fail closed. :func:`~finplug.assess_risk` (which
    every caller uses) turns a raising implementation into a ``REVIEW``
    decision whose reason (``risk_check_failed``) names the plugin: the
    operation is held for a person, never let through unchecked, and the
    tenant's other operations go on.

    Example::

        @hookimpl
        def finplug_assess_risk(self, context):
            if context.country in self.settings.blocked_countries:
                return RiskDecision.decline(RiskReason("country_blocked", "…"))
            return None
    """


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_calculate_fees(context: FeeContext) -> list[Fee] | None:
    """Compute the fees a money movement carries.

    Return the fee lines this plugin's rules produce (or ``None`` / ``[]``
    when none apply). Amounts must already be in the movement's currency and
    rounded to its minor unit (use :meth:`~finplug.Money.multiply`).

    Combination: collect all; the caller flattens the lists, in hook order.
    Nobody implements it: the call returns ``[]``, meaning no fees.

    Failure policy: propagate, before any money moves. Callers compute
    fees before they ask a channel to move money (the payments component
    does so before it reserves the channel call, and stores them with it),
    so a raising implementation fails the operation with
    :class:`~finplug.HookCallError` and nothing is written or moved; the same
    call may be retried. Implementations must be pure: a caller may ask for
    the fees of several candidate channels and use one.

    Example::

        @hookimpl
        def finplug_calculate_fees(self, context):
            return [Fee("acquiring", context.amount.multiply(Decimal("0.029")))]
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
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_register_channels() -> list[ChannelConnector] | None:
    """Provide the payment channels this plugin connects, for the calling tenant.

    Return one :class:`~finplug.ChannelConnector` per channel, built from this
    plugin's tenant settings (credentials, endpoints, limits). The payments
    component asks once per tenant runtime, when it first routes.

    Combination: collect all; the caller flattens the lists. Two channels with
    the same name are an :class:`~finplug.AssemblyError`.
    Nobody implements it: the call returns ``[]``; the tenant has no channels
    and every payment fails with ``no_eligible_channel``.

    Failure policy: propagate. The payments call that first needed the
    channels fails with :class:`~finplug.HookCallError` before anything is
    written; nothing is cached, so the next call asks again.

    Example::

        @hookimpl
        def finplug_register_channels(self):
            return [AcmeCardConnector(self.settings.api_key, self.settings.limits)]
    """


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_routing_strategies() -> dict[str, RoutingStrategy] | None:
    """Offer routing strategies by name, for tenants to choose in their config.

    A strategy orders the channels eligible for a payment (see
    :class:`~finplug.RoutingStrategy`); the payments component applies the
    tenant's rules and fallback list around it.

    Combination: collect all; the caller merges the dicts. A name offered by
    two plugins, or clashing with a built-in strategy, is an
    :class:`~finplug.AssemblyError`.
    Nobody implements it: the call returns ``[]``; only the built-in
    strategies exist.

    Failure policy: propagate, like :func:`finplug_register_channels`.

    Example::

        @hookimpl
        def finplug_routing_strategies(self):
            return {"cheapest_then_fastest": cheapest_then_fastest}
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
            known = {c.info.name for batch in self.context.hooks.finplug_register_channels()
                     for c in batch}
            return [ConfigIssue(None, None, f"plugins.payments.routing.priority[{i}]",
                                f"unknown channel {name!r}")
                    for i, name in enumerate(self.settings.routing.priority) if name not in known]
    """


# ---------------------------------------------------------------- typed relay


class _RegisterComponentsCaller(Protocol):
    def __call__(self, *, register: ComponentRegistrar) -> list[None]: ...


class _AssessRiskCaller(Protocol):
    def __call__(self, *, context: RiskContext) -> list[RiskDecision]: ...


class _CalculateFeesCaller(Protocol):
    def __call__(self, *, context: FeeContext) -> list[list[Fee]]: ...


class _OnEventCaller(Protocol):
    def __call__(self, *, event: Event) -> list[None]: ...


class _RegisterChannelsCaller(Protocol):
    def __call__(self) -> list[list[ChannelConnector]]: ...


class _RoutingStrategiesCaller(Protocol):
    def __call__(self) -> list[dict[str, RoutingStrategy]]: ...


class _CheckTenantCaller(Protocol):
    def __call__(self) -> list[list[ConfigIssue]]: ...


class Hooks(Protocol):
    """The typed view of a tenant's hook relay (``tenant.hooks``).

    At run time this is a thin relay over pluggy's hook callers, so a call
    costs what a raw pluggy call costs; at type-check time every hook is a
    keyword-only callable with the spec's parameters and combined result.
    """

    finplug_register_components: _RegisterComponentsCaller
    finplug_assess_risk: _AssessRiskCaller
    finplug_calculate_fees: _CalculateFeesCaller
    finplug_check_tenant: _CheckTenantCaller
    finplug_on_event: _OnEventCaller
    finplug_register_channels: _RegisterChannelsCaller
    finplug_routing_strategies: _RoutingStrategiesCaller
