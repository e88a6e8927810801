"""What a subscription's invoice for one billing date holds: its lines, before any storage.

A cycle invoices a subscription on each *billing date*: the start of its
first period and the end of every period. On a billing date ``d`` ending
period ``P`` (and starting ``N``), the invoice holds:

* **the plan's fee in arrears** for ``P`` (a plan not paid in advance): one
  line per segment of the subscription's timeline within ``P`` (a plan
  change, a pause or an end cuts it), each the plan's fee prorated by day
  over ``P``'s real days (the change day belongs to the new step); trial
  days and paused days are not billed;
* **the plan's fee in advance** for ``N`` (a plan paid in advance), for the
  plan in effect on ``d`` and the days of ``N`` before the subscription
  ends; on the first billing date, for the first period's days from the
  start (a calendar period is prorated);
* **usage charges** for ``P``: each charge of the plan in effect at ``P``'s
  end, priced by its model over the period's usage;
* **a minimum commitment true-up** for ``P`` when the usage charges come to
  less than the plan's commitment (prorated by day for a partial period).

Each line's exact amount is rounded once (:func:`~finplug_billing.totals.round_minor`);
coupons, taxes and credits come after, on the invoice
(:func:`~finplug_billing.totals.compute`). Lines worth zero are kept for
usage charges (the customer sees the usage) and dropped for fees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from finplug.sockets.billing import Customer, Subscription
from finplug_billing._prices import Catalog
from finplug_billing._subscriptions import PAUSED, Step
from finplug_billing.charges import Usage
from finplug_billing.periods import Interval, Period, period_of, prorate
from finplug_billing.totals import round_minor

__all__ = ["DraftLine", "billing_dates", "draft_lines"]

#: Decimals shown of an exact unit price that is not a short decimal.
_SHOWN = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class DraftLine:
    """One line of a draft: its amount rounded once, its taxes still to come."""

    id: str
    """The line's key within its invoice."""
    kind: str
    """``plan``, ``charge`` or ``commitment``."""
    description: str
    """As printed."""
    period: Period
    """The days it bills."""
    quantity: Decimal
    """Units (days of a fee, the metric's units of a charge)."""
    unit_price: Decimal
    """The price per unit (informative; may be rounded for display)."""
    amount: int
    """Minor units, rounded once."""
    taxes: tuple[str, ...]
    """Tax codes: the item's own, else the customer's, else the catalog's default."""


def _decimal(value: Decimal | Fraction) -> Decimal:
    if isinstance(value, Decimal):
        return value
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    exponent = exact.as_tuple().exponent
    return exact.quantize(_SHOWN) if isinstance(exponent, int) and exponent < -6 else exact


def billing_dates(
    subscription: Subscription, interval: Interval, until: date, billed_through: date | None
) -> list[tuple[date, Period | None, Period | None]]:
    """The billing dates after ``billed_through`` up to ``until``: ``(date, ended P, next N)``.

    ``billed_through`` is the last billing date invoiced (``None``: none
    yet). The first billing date is the start (no period ended); later ones
    end a period. The last is the end of the period holding the
    subscription's end (nothing comes next).
    """
    anchor, start, ends = subscription.anchor, subscription.started_on, subscription.ends_on
    found: list[tuple[date, Period | None, Period | None]] = []
    if billed_through is None:
        if start > until:
            return found
        period = period_of(start, interval, anchor, start)
        found.append((start, None, period))
    else:
        period = period_of(billed_through, interval, anchor, start)
        if billed_through not in (start, period.start):
            raise ValueError(f"{billed_through} is not a billing date of {subscription.id}")
    while period.end <= until and (ends is None or period.start < ends):
        following = period_of(period.end, interval, anchor, start)
        going_on = ends is None or ends > following.start
        found.append((period.end, period, following if going_on else None))
        if not going_on:
            break
        period = following
    return found


def _segments(
    steps: Sequence[Step], days: Period, subscription: Subscription
) -> list[tuple[str, Period]]:
    """The timeline's non-paused segments within ``days`` (trial days left out)."""
    first = max(days.start, subscription.started_on)
    if subscription.trial_ends_on is not None:
        first = max(first, subscription.trial_ends_on)
    last = days.end if subscription.ends_on is None else min(days.end, subscription.ends_on)
    found = []
    for i, step in enumerate(steps):
        begin = max(step.on, first)
        end = min(steps[i + 1].on if i + 1 < len(steps) else last, last)
        if step.plan != PAUSED and begin < end:
            found.append((step.plan, Period(begin, end)))
    return found


def _plan_at(steps: Sequence[Step], day: date) -> str | None:
    """The plan in effect on ``day`` (``None``: paused, or not started)."""
    current: str | None = None
    for step in steps:
        if step.on <= day:
            current = step.plan or None
    return current


def _fee_lines(
    catalog: Catalog,
    customer: Customer,
    steps: Sequence[Step],
    subscription: Subscription,
    days: Period,
    whole: Period,
    exponent: int,
    tag: str,
) -> list[DraftLine]:
    lines = []
    for n, (code, segment) in enumerate(_segments(steps, days, subscription)):
        plan = catalog.plan(code)
        exact = prorate(plan.amount, segment.days, whole)
        amount = round_minor(exact, exponent)
        if amount == 0:
            continue
        lines.append(
            DraftLine(
                id=f"{tag}:{n}",
                kind="plan",
                description=plan.name,
                period=segment,
                quantity=Decimal(segment.days),
                unit_price=_decimal(Fraction(plan.amount) / whole.days),
                amount=amount,
                taxes=tuple(plan.taxes) if plan.taxes is not None else _customer_taxes(customer),
            )
        )
    return lines


def _customer_taxes(customer: Customer) -> tuple[str, ...]:
    return customer.tax_rates if customer.tax_rates is not None else ("*",)


def draft_lines(
    catalog: Catalog,
    customer: Customer,
    subscription: Subscription,
    steps: Sequence[Step],
    ended: Period | None,
    following: Period | None,
    usage: Mapping[str, Usage],
    exponent: int,
) -> list[DraftLine]:
    """The lines of the invoice on the billing date between ``ended`` and ``following``.

    ``usage`` is each metric's usage over ``ended``. Tax code ``"*"`` stands
    for the catalog's default taxes (the caller resolves it).
    """
    lines: list[DraftLine] = []
    if ended is not None:
        paid_later = [s for s in steps if s.plan and not catalog.plan(s.plan).pay_in_advance]
        if paid_later:
            arrears = [s if s in paid_later else Step(s.on, PAUSED) for s in steps]
            lines += _fee_lines(
                catalog, customer, arrears, subscription, ended, ended, exponent, "fee"
            )
        code = _plan_at(steps, ended.end - timedelta(days=1))
        if code is not None:
            lines += _charge_lines(catalog, customer, subscription, code, ended, usage, exponent)
    if following is not None:
        code = _plan_at(steps, following.start if ended is not None else subscription.started_on)
        if code is not None and catalog.plan(code).pay_in_advance:
            ahead = [Step(following.start, code)]
            first = ended is None
            days = following if not first else Period(subscription.started_on, following.end)
            whole = following
            lines += _fee_lines(
                catalog,
                customer,
                ahead if not first else steps,
                subscription,
                days,
                whole,
                exponent,
                "advance",
            )
    return lines


def _charge_lines(
    catalog: Catalog,
    customer: Customer,
    subscription: Subscription,
    code: str,
    ended: Period,
    usage: Mapping[str, Usage],
    exponent: int,
) -> list[DraftLine]:
    plan = catalog.plan(code)
    lines = []
    total = Fraction(0)
    for charge in catalog.charges(code):
        used = usage.get(charge.settings.metric, Usage(Decimal(0)))
        priced = charge.model.price(used, charge.properties)
        total += Fraction(priced.amount)
        units = _decimal(Fraction(priced.units))
        lines.append(
            DraftLine(
                id=f"charge:{charge.index}",
                kind="charge",
                description=charge.name,
                period=ended,
                quantity=units,
                unit_price=_decimal(Fraction(priced.amount) / Fraction(priced.units))
                if priced.units
                else Decimal(0),
                amount=round_minor(priced.amount, exponent),
                taxes=tuple(charge.settings.taxes)
                if charge.settings.taxes is not None
                else _customer_taxes(customer),
            )
        )
    if plan.minimum_commitment is not None:
        billed = Period(max(ended.start, subscription.started_on), ended.end)
        if subscription.ends_on is not None:
            billed = Period(billed.start, max(billed.start, min(billed.end, subscription.ends_on)))
        floor = prorate(plan.minimum_commitment, billed.days, ended)
        if total < floor:
            rest = floor - total
            lines.append(
                DraftLine(
                    id="commitment",
                    kind="commitment",
                    description=f"{plan.name}: minimum commitment",
                    period=ended,
                    quantity=Decimal(1),
                    unit_price=_decimal(rest),
                    amount=round_minor(rest, exponent),
                    taxes=tuple(plan.taxes)
                    if plan.taxes is not None
                    else _customer_taxes(customer),
                )
            )
    return lines
