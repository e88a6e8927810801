"""Domain values that cross the sockets: risk decisions and fees.

They are frozen dataclasses: cheap to build, safe to share between plugins,
and comparable in tests. Findings (a risk reason, a fee line) are values.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from finplug._errors import HookCallError
from finplug._money import Money

if TYPE_CHECKING:
    from finplug.hookspecs import Hooks

__all__ = [
    "Fee",
    "FeeContext",
    "RiskContext",
    "RiskDecision",
    "RiskReason",
    "RiskVerdict",
    "assess_risk",
    "combine_risk_decisions",
]

_log = logging.getLogger("finplug.risk")

_EMPTY: Mapping[str, str] = MappingProxyType({})


class RiskVerdict(enum.IntEnum):
    """Outcome of a risk assessment, ordered by severity (higher is stricter)."""

    APPROVE = 0
    """Go ahead."""
    REVIEW = 1
    """Go ahead only after a person has looked (the caller decides how to hold)."""
    DECLINE = 2
    """Do not go ahead."""


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What is being assessed: an operation, who does it, and for how much.

    ``operation`` names the business step, e.g. ``"payment.authorize"``,
    ``"wallet.topup"`` or ``"merchant.onboard"``.
    """

    operation: str
    amount: Money | None = None
    merchant_id: str | None = None
    customer_id: str | None = None
    country: str | None = None
    """ISO 3166-1 alpha-2 country of the customer or merchant, upper case."""
    payment_method: str | None = None
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
    reasons: tuple[RiskReason, ...] = ()

    @classmethod
    def approve(cls) -> RiskDecision:
        """The decision when nothing objects."""
        return _APPROVE

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


@dataclass(frozen=True, slots=True)
class FeeContext:
    """A money movement that may carry fees."""

    operation: str
    """The business step: ``"capture"``, ``"refund"``, ``"payout"``, ``"topup"`` …"""
    amount: Money
    channel: str | None = None
    payment_method: str | None = None
    merchant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Fee:
    """One fee line: who pays whom how much, and which rule said so."""

    code: str
    """Stable machine code, e.g. ``"acquiring"``."""
    amount: Money
    payer: str = "merchant"
    """Party that pays: ``"merchant"``, ``"customer"`` or ``"platform"``."""
    beneficiary: str = "platform"
    """Party that receives: ``"platform"``, ``"channel"`` or a partner id."""
    rule: str = ""
    """Which rule (and plugin) produced it."""


#: The reason code of a decision held because a risk plugin raised.
RISK_CHECK_FAILED = "risk_check_failed"


def assess_risk(hooks: Hooks, context: RiskContext) -> RiskDecision:
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
        answers = hooks.finplug_assess_risk(context=context)
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
