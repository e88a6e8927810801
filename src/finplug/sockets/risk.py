"""Risk socket: decisions at every step of the business chain.

The ``risk`` component (:class:`RiskAPI`) assesses an operation; rules are
plugins implementing :func:`finplug_assess_risk`, declared with
``sockets={"risk": ">=1.0,<2"}``. Nobody plugged in: the socket's default
component asks the hook (through :func:`assess_risk`) and approves when no
rule objects, so a tenant without risk plugins still runs its flows.
Every caller reaches risk through ``context.component(RISK)``, so a plugin
providing the ``risk`` component replaces the default everywhere.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Protocol, runtime_checkable

from finplug import (
    HookCallError,
    HookFailurePolicy,
    HookView,
    Money,
    PluginContext,
    Socket,
    failure_policy,
    hookspec,
)

__all__ = [
    "RISK",
    "RISK_CHECK_FAILED",
    "SOCKET",
    "VERSION",
    "RiskAPI",
    "RiskContext",
    "RiskDecision",
    "RiskHooks",
    "RiskReason",
    "RiskVerdict",
    "assess_risk",
    "combine_risk_decisions",
    "finplug_assess_risk",
    "risk_hooks",
]

#: The risk socket's version; plugins declare the range they support.
VERSION: Final = "1.1"

_log = logging.getLogger("finplug.risk")

_EMPTY: Mapping[str, str] = MappingProxyType({})


class RiskVerdict(enum.IntEnum):
    """Outcome of a risk assessment, ordered by severity (higher is stricter).

    Order them with ``<`` and ``max``; never store their numbers: socket 1.1
    added ``STEP_UP`` below ``REVIEW`` and renumbered the stricter verdicts.
    """

    APPROVE = 0
    """Go ahead."""
    STEP_UP = 1
    """Go ahead once the customer has passed a stronger authentication (3-D Secure,
    a one-time code …); the caller holds the operation until it did."""
    REVIEW = 2
    """Go ahead only after a person has looked (the caller decides how to hold)."""
    DECLINE = 3
    """Do not go ahead."""


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What is being assessed: an operation, who does it, and for how much.

    ``operation`` names the business step, e.g. ``"payment.authorize"``,
    ``"wallet.topup"`` or ``"merchant.onboard"``.
    """

    operation: str
    """The business step, e.g. ``"payment.authorize"``."""
    amount: Money | None = None
    """The amount at stake, when there is one."""
    merchant_id: str | None = None
    """The merchant acting or paid, when there is one."""
    customer_id: str | None = None
    """The customer acting or paying, when there is one."""
    country: str | None = None
    """ISO 3166-1 alpha-2 country of the customer or merchant, upper case."""
    payment_method: str | None = None
    """``card``, ``bank_transfer``, ``wallet`` … when the operation is a payment."""
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Free-form extra facts for rules (device id, channel, product …)."""


@dataclass(frozen=True, slots=True)
class RiskReason:
    """Why a rule asked for review or decline. Returned, never raised."""

    code: str
    """Stable machine code, e.g. ``"amount_over_limit"``."""
    message: str
    """Human explanation, safe to show to an operator."""
    rule: str = ""
    """Which rule (and plugin) produced it, e.g. ``"risk-rules:decline_above"``."""


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """A verdict with the reasons behind it."""

    verdict: RiskVerdict
    """Approve, step up, review or decline."""
    reasons: tuple[RiskReason, ...] = ()
    """Why, for every verdict but approve (empty for approve)."""

    @classmethod
    def approve(cls) -> RiskDecision:
        """The decision when nothing objects."""
        return _APPROVE

    @classmethod
    def step_up(cls, *reasons: RiskReason) -> RiskDecision:
        """Ask for a stronger authentication of the customer for the given reasons."""
        return cls(RiskVerdict.STEP_UP, reasons)

    @classmethod
    def review(cls, *reasons: RiskReason) -> RiskDecision:
        """Ask for a human review for the given reasons."""
        return cls(RiskVerdict.REVIEW, reasons)

    @classmethod
    def decline(cls, *reasons: RiskReason) -> RiskDecision:
        """Decline for the given reasons."""
        return cls(RiskVerdict.DECLINE, reasons)

    @property
    def approved(self) -> bool:
        """True when the verdict is :attr:`RiskVerdict.APPROVE`."""
        return self.verdict is RiskVerdict.APPROVE


_APPROVE = RiskDecision(RiskVerdict.APPROVE)


def combine_risk_decisions(decisions: Iterable[RiskDecision | None]) -> RiskDecision:
    """Combine the answers of several risk rules: the strictest verdict wins.

    Reasons of every non-approving answer are kept, in the order given. No
    answer at all (no risk plugin enabled, or every rule abstained with
    ``None``) means approve.
    """
    verdict = RiskVerdict.APPROVE
    reasons: list[RiskReason] = []
    for decision in decisions:
        if decision is None:
            continue
        verdict = max(verdict, decision.verdict)
        if decision.verdict is not RiskVerdict.APPROVE:
            reasons.extend(decision.reasons)
    if verdict is RiskVerdict.APPROVE:
        return _APPROVE
    return RiskDecision(verdict, tuple(reasons))


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


class _AssessRiskCaller(Protocol):
    def __call__(self, *, context: RiskContext) -> list[RiskDecision]: ...


class RiskHooks(Protocol):
    """The callers of the risk socket's hooks (``risk_hooks.of(hooks)``)."""

    finplug_assess_risk: _AssessRiskCaller
    """Calls every plugin's :func:`finplug_assess_risk`; a list of answers."""


#: The typed view of the risk socket's hooks on a tenant's relay.
risk_hooks: HookView[RiskHooks] = HookView(__name__)


#: The reason code of a decision held because a risk plugin raised.
RISK_CHECK_FAILED = "risk_check_failed"


def assess_risk(hooks: object, context: RiskContext) -> RiskDecision:
    """Ask every ``finplug_assess_risk`` implementation and combine the answers, failing closed.

    This is the one way callers (the ``risk`` component, payments, later
    onboarding and payouts) ask the hook, so its failure policy holds
    everywhere: when an implementation raises, the answer is a ``REVIEW``
    whose reason (``risk_check_failed``, rule = the plugin's name) says which
    plugin failed. The operation is held for a person instead of going
    through unchecked, and only that operation is affected. The error is
    logged with tenant, plugin and hook.
    """
    try:
        answers = risk_hooks.of(hooks).finplug_assess_risk(context=context)
    except HookCallError as exc:
        _log.error("%s; holding %s for review", exc, context.operation)
        plugin = exc.plugin or "unknown"
        return RiskDecision.review(
            RiskReason(
                RISK_CHECK_FAILED,
                f"risk plugin {plugin!r} failed ({type(exc.__cause__).__name__}); held for review",
                plugin,
            )
        )
    return combine_risk_decisions(answers)


@runtime_checkable
class RiskAPI(Protocol):
    """The ``risk`` component: assess operations against every risk rule of the tenant."""

    def assess(self, context: RiskContext) -> RiskDecision:
        """Run every ``finplug_assess_risk`` implementation and combine the answers."""
        ...

    def rules(self) -> list[str]:
        """Names of the rules this tenant's risk component evaluates, in order."""
        ...


class DefaultRisk:
    """The risk component of a tenant on which no plugin provides one.

    Asks the ``finplug_assess_risk`` implementations the tenant has (none:
    approve) and fails closed through :func:`assess_risk`.
    """

    def __init__(self, context: PluginContext) -> None:
        self._context = context

    def assess(self, context: RiskContext) -> RiskDecision:
        """The combined answer of the tenant's risk rules (approve when none objects)."""
        return assess_risk(self._context.hooks, context)

    def rules(self) -> list[str]:
        """No rules of its own."""
        return []


#: The risk socket; its default component approves unless a rule objects.
SOCKET: Final = Socket[RiskAPI](
    "risk", version=VERSION, interface=RiskAPI, hookspecs=__name__, default=DefaultRisk
)
RISK: Final = SOCKET
