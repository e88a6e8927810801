"""finplug-fee-schedule: fee lines from per-tenant rules (rate + fixed, floor and cap)."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finplug import (
    Money,
    Plugin,
    PluginMeta,
    exact_product,
    hookimpl,
)
from finplug.sockets.fees import Fee, FeeContext
from finplug.types import Amount, CurrencyCode, Rate

__all__ = ["FeeRule", "FeeSchedulePlugin", "FeeScheduleSettings", "compute_fee"]

_ROUNDING = {
    "half_even": decimal.ROUND_HALF_EVEN,
    "half_up": decimal.ROUND_HALF_UP,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
}


class FeeRule(BaseModel):
    """One fee rule. Unset match fields match anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, description="Fee code on the produced line, e.g. `acquiring`.")
    operation: str = Field(description="Operation it applies to: `capture`, `refund`, `payout` …")
    payment_method: str | None = None
    channel: str | None = None
    currency: CurrencyCode | None = Field(
        default=None, description="Only movements in this currency; required with `fixed`."
    )
    rate: Rate = Decimal(0)
    fixed: Amount = Decimal(0)
    minimum: Amount | None = None
    maximum: Amount | None = None
    payer: Literal["merchant", "customer", "platform"] = "merchant"
    beneficiary: str = "platform"

    @model_validator(mode="after")
    def _consistent(self) -> FeeRule:
        if self.fixed < 0:
            raise ValueError("fixed must not be negative")
        has_absolute = self.fixed or self.minimum is not None or self.maximum is not None
        if has_absolute and self.currency is None:
            raise ValueError("fixed, minimum and maximum are amounts: set `currency` too")
        if self.minimum is not None and self.minimum < 0:
            raise ValueError("minimum must not be negative")
        if self.maximum is not None and self.maximum < 0:
            raise ValueError("maximum must not be negative")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum must not be greater than maximum")
        if self.currency is not None:
            for name in ("fixed", "minimum", "maximum"):
                value = getattr(self, name)
                if value is not None:
                    Money(value, self.currency)  # raises if finer than the minor unit
        return self

    def matches(self, context: FeeContext) -> bool:
        """Whether this rule applies to the movement."""
        return (
            self.operation == context.operation
            and (self.payment_method is None or self.payment_method == context.payment_method)
            and (self.channel is None or self.channel == context.channel)
            and (self.currency is None or self.currency == context.amount.currency.code)
        )


class FeeScheduleSettings(BaseModel):
    """A tenant's fee schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rounding: Literal["half_even", "half_up", "down", "up"] = "half_even"
    rules: tuple[FeeRule, ...] = ()


def exact_sum(a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` without rounding, however many digits it takes."""
    digits = max(len(a.as_tuple().digits), len(b.as_tuple().digits))
    span = abs(int(a.as_tuple().exponent) - int(b.as_tuple().exponent))
    return decimal.Context(prec=digits + span + 2, traps=[decimal.Inexact]).add(a, b)


def compute_fee(rule: FeeRule, amount: Money, rounding: str) -> Money:
    """The fee ``rule`` charges on ``amount``: exact arithmetic, one rounding at the end.

    Never negative, never more than ``abs(amount)``.
    """
    base = abs(amount.amount)
    raw = exact_sum(exact_product(base, rule.rate), rule.fixed)
    if rule.minimum is not None:
        raw = max(raw, rule.minimum)
    if rule.maximum is not None:
        raw = min(raw, rule.maximum)
    raw = min(raw, base)
    return Money.of(raw, amount.currency, rounding=_ROUNDING[rounding])


class FeeSchedulePlugin(Plugin[FeeScheduleSettings]):
    """Answers ``finplug_calculate_fees`` from the tenant's fee rules."""

    meta = PluginMeta(
        sockets={"fees": ">=1.0,<2"},
        name="fee-schedule",
        version="0.1.0",
        summary="Fee rules (rate + fixed, floor and cap) per tenant",
        api=">=1.0,<2",
        settings=FeeScheduleSettings,
    )

    @hookimpl
    def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
        """One fee line per matching rule, in rule order."""
        fees = []
        for rule in self.settings.rules:
            if rule.matches(context):
                amount = compute_fee(rule, context.amount, self.settings.rounding)
                fees.append(
                    Fee(
                        code=rule.code,
                        amount=amount,
                        payer=rule.payer,
                        beneficiary=rule.beneficiary,
                        rule=f"fee-schedule:{rule.code}",
                    )
                )
        return fees or None
