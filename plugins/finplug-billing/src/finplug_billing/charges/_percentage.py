"""The percentage charge model: a rate of each transaction, a fixed fee, free units, limits.

The usage's units are an amount of money (the sum of the period's
transactions) and its ``amounts`` the transactions themselves, in order. A
transaction's fee is ``rate * amount + fixed_amount``. The rate is a fraction
(``"0.012"`` for 1.2 %, finplug's :data:`~finplug.types.Rate`), not Lago's
percent number (Lago's ``"1.2"``).

**Free units.** ``free_units_per_events`` (a number of transactions) and
``free_units_per_total_aggregation`` (an amount) describe one free allowance
at the start of the period; a limit left out does not bound it, and with both
left out there is none. Transactions are taken in order: a transaction is
*wholly free* while it is within the free number of transactions and its
amount fits in what is left of the free amount. It pays nothing: no rate, no
fixed fee, no minimum. The allowance ends for good at the first transaction
that is not wholly free, as soon as either limit is used up. If that
transaction is still within the free number of transactions and some free
amount is left, only its amount above what is left pays the rate; it pays the
fixed fee in full. (Lago's page shows the allowance ending with whichever
limit is reached first; the partial transaction's rate and fixed fee follow
Lago's implementation, which the page does not describe.)

**Per-transaction limits.** A transaction that is not wholly free pays at
least ``per_transaction_min_amount`` and at most
``per_transaction_max_amount``. The limits apply to its whole fee, the fixed
fee included, after the free allowance. (Lago applies them only under its
paid licence; finplug applies them whenever they are set.)

**What the model needs.** With no free allowance and no limits only totals
matter (``rate * units + fixed_amount * events``) and ``Usage.amounts`` may be
left out. Otherwise every transaction's amount is needed: ``Usage.amounts``
must list them and add up to ``Usage.units``, or :class:`ValueError` is
raised. Paid in advance, a transaction's fee is the price of the period's
transactions up to and including it less the price of those before it, which
equals that transaction's entry in :meth:`PercentageModel.transaction_fees`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from finplug.types import Rate

from ._base import ChargeAmount, Exact, PricedPart, Usage
from ._common import ZERO, NonNegative, WholeCount, add, expect_properties, mul, total

__all__ = [
    "PERCENTAGE",
    "PercentageModel",
    "PercentageProperties",
    "TransactionFee",
]


class PercentageProperties(BaseModel):
    """Configuration of a percentage charge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Rate
    """The fraction of each transaction charged, within [0, 1] (``"0.012"`` for 1.2 %)."""
    fixed_amount: NonNegative = ZERO
    """A fee added to each transaction that is not wholly free."""
    free_units_per_events: WholeCount | None = Field(default=None, ge=0)
    """How many transactions at the start of the period are free (left out: no count limit)."""
    free_units_per_total_aggregation: NonNegative | None = None
    """The amount at the start of the period that is free of the rate (left out: no limit)."""
    per_transaction_min_amount: NonNegative | None = None
    """The least a paying transaction's fee can be."""
    per_transaction_max_amount: NonNegative | None = None
    """The most a paying transaction's fee can be (not below the minimum)."""

    @field_validator("per_transaction_max_amount")
    @classmethod
    def _not_below_minimum(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        minimum = info.data.get("per_transaction_min_amount")
        if value is not None and minimum is not None and value < minimum:
            raise ValueError(
                f"per_transaction_max_amount ({value}) must not be below"
                f" per_transaction_min_amount ({minimum})"
            )
        return value

    @property
    def per_transaction(self) -> bool:
        """Whether the charge needs each transaction (free units or per-transaction limits)."""
        return any(
            value is not None
            for value in (
                self.free_units_per_events,
                self.free_units_per_total_aggregation,
                self.per_transaction_min_amount,
                self.per_transaction_max_amount,
            )
        )


@dataclass(frozen=True, slots=True)
class TransactionFee:
    """What one transaction of a percentage charge pays."""

    amount: Decimal
    """The transaction's amount."""
    charged: Decimal
    """The part of the amount the rate applies to (0 for a wholly free transaction)."""
    fee: Exact
    """The transaction's fee: rate on ``charged`` plus the fixed fee, within the limits."""
    free: bool
    """Whether the transaction was wholly free (paid nothing, limits not applied)."""
    adjustment: Exact = ZERO
    """What the per-transaction minimum added (> 0) or the maximum took off (< 0)."""


class PercentageModel:
    """Lago's percentage model: a rate of each transaction plus a fixed fee per transaction.

    See the module's documentation for the free allowance and the
    per-transaction minimum and maximum.
    """

    name: str = "percentage"
    """``"percentage"``."""
    properties: type[BaseModel] = PercentageProperties
    """:class:`PercentageProperties`."""

    def transaction_fees(self, usage: Usage, properties: BaseModel) -> tuple[TransactionFee, ...]:
        """Each transaction's fee, in order; needs ``usage.amounts``.

        Raises :class:`ValueError` when ``usage.amounts`` is missing (for a
        usage with events or units) or does not add up to ``usage.units``.
        """
        props = expect_properties(properties, PercentageProperties, self.name)
        _check_amounts(usage)
        free_left_count: int | None = props.free_units_per_events
        free_left_amount: Decimal | None = props.free_units_per_total_aggregation
        allowance = free_left_count is not None or free_left_amount is not None
        fees: list[TransactionFee] = []
        for amount in usage.amounts:
            charged = amount
            if allowance and (free_left_count is None or free_left_count > 0):
                if free_left_amount is None or amount <= free_left_amount:
                    fees.append(TransactionFee(amount=amount, charged=ZERO, fee=ZERO, free=True))
                    if free_left_count is not None:
                        free_left_count -= 1
                    if free_left_amount is not None:
                        free_left_amount = _sub(free_left_amount, amount)
                    continue
                charged = _sub(amount, free_left_amount)
            allowance = False
            fees.append(_paying(charged, amount, props))
        return tuple(fees)

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """The sum of the transactions' fees, detailed as free amount, rate, fixed fees, limits.

        Without free units and per-transaction limits the price is
        ``rate * units + fixed_amount * events`` and ``usage.amounts`` is not
        needed.
        """
        props = expect_properties(properties, PercentageProperties, self.name)
        if not props.per_transaction:
            if usage.amounts:
                _check_amounts(usage)
            return _detail(usage.units, ZERO, usage.units, usage.events, [], props)
        fees = self.transaction_fees(usage, props)
        free = total(_sub(f.amount, f.charged) for f in fees)
        charged = total(f.charged for f in fees)
        paying = sum(1 for f in fees if not f.free)
        return _detail(usage.units, free, charged, paying, fees, props)


def _sub(a: Decimal, b: Decimal) -> Decimal:
    result = add(a, -b)
    assert isinstance(result, Decimal)
    return result


def _check_amounts(usage: Usage) -> None:
    if not usage.amounts:
        if usage.units == 0 and usage.events == 0:
            return
        raise ValueError(
            "percentage: expected each transaction's amount in Usage.amounts (needed for free"
            f" units and per-transaction limits), got none for {usage.events} events"
            f" and {usage.units} units"
        )
    if total(usage.amounts) != usage.units:
        raise ValueError(
            f"percentage: expected Usage.amounts to add up to Usage.units ({usage.units}),"
            f" they add up to {total(usage.amounts)}"
        )


def _paying(charged: Decimal, amount: Decimal, props: PercentageProperties) -> TransactionFee:
    """The fee of a transaction that is not wholly free: rate, fixed fee, then the limits."""
    fee = add(mul(charged, props.rate), props.fixed_amount)
    limited = fee
    minimum, maximum = props.per_transaction_min_amount, props.per_transaction_max_amount
    if minimum is not None and limited < minimum:
        limited = minimum
    if maximum is not None and limited > maximum:
        limited = maximum
    return TransactionFee(
        amount=amount,
        charged=charged,
        fee=limited,
        free=False,
        adjustment=add(limited, -fee) if limited != fee else ZERO,
    )


def _detail(
    units: Exact,
    free: Exact,
    charged: Exact,
    paying: int,
    fees: list[TransactionFee] | tuple[TransactionFee, ...],
    props: PercentageProperties,
) -> ChargeAmount:
    """The charge with its parts: free amount, rate, fixed fees, minimum and maximum."""
    parts: list[PricedPart] = []
    if free > 0:
        parts.append(
            PricedPart(label="free amount", units=free, unit_price=ZERO, flat=ZERO, amount=ZERO)
        )
    parts.append(
        PricedPart(
            label="rate",
            units=charged,
            unit_price=props.rate,
            flat=ZERO,
            amount=mul(charged, props.rate),
        )
    )
    if props.fixed_amount > 0 and paying:
        count = Decimal(paying)
        parts.append(
            PricedPart(
                label="fixed fees",
                units=count,
                unit_price=props.fixed_amount,
                flat=ZERO,
                amount=mul(count, props.fixed_amount),
            )
        )
    for label, raised in (("per-transaction minimum", True), ("per-transaction maximum", False)):
        changed = [f.adjustment for f in fees if (f.adjustment > 0) is raised and f.adjustment]
        if changed:
            adjustment = total(changed)
            parts.append(
                PricedPart(
                    label=label,
                    units=Decimal(len(changed)),
                    unit_price=ZERO,
                    flat=adjustment,
                    amount=adjustment,
                )
            )
    return ChargeAmount(amount=total(p.amount for p in parts), units=units, parts=tuple(parts))


#: The percentage model.
PERCENTAGE = PercentageModel()
