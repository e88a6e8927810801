"""Tiered charge models: graduated, volume and graduated percentage.

**Writing tiers.** A tier list starts at 0; each next tier starts where the
previous one ends (its ``from_value`` equals the previous ``to_value``); only
the last tier is open-ended (no ``to_value``). A tier covers the usage above
its ``from_value`` up to and including its ``to_value``; the first tier also
covers 0. Lago writes whole-unit tiers with inclusive bounds on both ends
("1-100, 101-200, 201 and above"); finplug writes the same tiers as
"0-100, 100-200, 200 and above", which hold the same units (the tier from 100
to 200 holds 100 units) and leave no gap for fractional usage: 100.5 falls in
the tier from 100 to 200, where Lago prices it too.

**Graduated.** Each tier prices the units that fall in it at its own unit
price; a tier's flat fee is added once when the tier is reached. The first
tier is reached even with zero usage, so its flat fee works as the charge's
base fee (Lago's implementation charges it at zero usage; its documentation
says nothing either way). A later tier is reached when the usage goes above
its ``from_value``.

**Volume.** The one tier the total usage falls in prices every unit, plus
that tier's flat fee; zero usage falls in the first tier, so the first tier's
flat fee is charged (as Lago does). Moving into a cheaper tier can lower the
amount: volume pricing is not monotone.

**Graduated percentage.** The tiers are ranges of an *amount* of money (the
sum of the period's transactions); each tier takes its rate of the part of
the amount that falls in it, plus its flat fee once when entered. A tier is
entered when the amount goes above its ``from_value``, the first tier too:
an amount of zero costs nothing (as in Lago's implementation, and unlike the
graduated model). Paid in advance, the fee of one transaction is the price of
the running total after it less the price before it, so each tier's flat fee
is charged once, on the transaction that enters the tier.

Rates are fractions (``"0.01"`` for 1 %, finplug's :data:`~finplug.types.Rate`),
not Lago's percent numbers (Lago's ``"1"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from finplug.types import Rate

from ._base import ChargeAmount, Exact, PricedPart, Usage
from ._common import (
    ZERO,
    NonNegative,
    add,
    check_tiers,
    describe_range,
    expect_properties,
    mul,
    total,
)

__all__ = [
    "GRADUATED",
    "GRADUATED_PERCENTAGE",
    "VOLUME",
    "GraduatedModel",
    "GraduatedPercentageModel",
    "GraduatedPercentageProperties",
    "GraduatedProperties",
    "PriceTier",
    "RateTier",
    "TierRange",
    "VolumeModel",
    "VolumeProperties",
]


class TierRange(BaseModel):
    """The range a tier covers: above ``from_value``, up to and including ``to_value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_value: NonNegative
    """Where the tier starts: 0 for the first tier, else the previous tier's ``to_value``."""
    to_value: NonNegative | None = None
    """Where the tier ends (inclusive); left out for the open-ended last tier."""

    @model_validator(mode="after")
    def _increasing(self) -> TierRange:
        if self.to_value is not None and self.to_value <= self.from_value:
            raise ValueError(
                f"to_value ({self.to_value}) must be greater than from_value ({self.from_value})"
            )
        return self


class PriceTier(TierRange):
    """A tier of units with a price per unit and an optional flat fee."""

    per_unit_amount: NonNegative
    """The price of one unit in this tier."""
    flat_amount: NonNegative = ZERO
    """A fee added once when the tier applies."""


class RateTier(TierRange):
    """A tier of an amount of money with a rate and an optional flat fee."""

    rate: Rate
    """The fraction of the amount in this tier that is charged (``"0.01"`` for 1 %)."""
    flat_amount: NonNegative = ZERO
    """A fee added once when the tier is entered."""


_T = TypeVar("_T", bound=TierRange)


def _tiers_checked(tiers: tuple[_T, ...]) -> tuple[_T, ...]:
    check_tiers(tiers)
    return tiers


class GraduatedProperties(BaseModel):
    """Configuration of a graduated charge: contiguous tiers of units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: tuple[PriceTier, ...]
    """The tiers, from 0 upwards; the last is open-ended."""

    @field_validator("tiers")
    @classmethod
    def _contiguous(cls, tiers: tuple[PriceTier, ...]) -> tuple[PriceTier, ...]:
        return _tiers_checked(tiers)


class VolumeProperties(BaseModel):
    """Configuration of a volume charge: contiguous tiers of units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: tuple[PriceTier, ...]
    """The tiers, from 0 upwards; the last is open-ended."""

    @field_validator("tiers")
    @classmethod
    def _contiguous(cls, tiers: tuple[PriceTier, ...]) -> tuple[PriceTier, ...]:
        return _tiers_checked(tiers)


class GraduatedPercentageProperties(BaseModel):
    """Configuration of a graduated percentage charge: contiguous tiers of an amount."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: tuple[RateTier, ...]
    """The tiers, from 0 upwards; the last is open-ended."""

    @field_validator("tiers")
    @classmethod
    def _contiguous(cls, tiers: tuple[RateTier, ...]) -> tuple[RateTier, ...]:
        return _tiers_checked(tiers)


def _graduate(
    units: Exact,
    tiers: Sequence[_T],
    unit_price: Callable[[_T], Decimal],
    flat: Callable[[_T], Decimal],
    *,
    first_at_zero: bool,
) -> ChargeAmount:
    """Price ``units`` tier by tier; the first tier counts at zero usage if ``first_at_zero``."""
    parts: list[PricedPart] = []
    for index, tier in enumerate(tiers):
        reached = units > tier.from_value or (index == 0 and first_at_zero)
        if not reached:
            break
        top = units if tier.to_value is None else min(units, tier.to_value)
        in_tier = add(top, -tier.from_value)
        amount = add(mul(in_tier, unit_price(tier)), flat(tier))
        parts.append(
            PricedPart(
                label=describe_range(index, tier),
                units=in_tier,
                unit_price=unit_price(tier),
                flat=flat(tier),
                amount=amount,
            )
        )
    return ChargeAmount(amount=total(p.amount for p in parts), units=units, parts=tuple(parts))


class GraduatedModel:
    """Lago's graduated model: each tier prices its own units, plus its flat fee once reached.

    See the module's documentation for the tier bounds and the first tier's
    flat fee at zero usage.
    """

    name: str = "graduated"
    """``"graduated"``."""
    properties: type[BaseModel] = GraduatedProperties
    """:class:`GraduatedProperties`."""

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """Price ``usage.units`` through the tiers; one part per tier reached."""
        props = expect_properties(properties, GraduatedProperties, self.name)
        return _graduate(
            usage.units,
            props.tiers,
            lambda t: t.per_unit_amount,
            lambda t: t.flat_amount,
            first_at_zero=True,
        )


class VolumeModel:
    """Lago's volume model: the tier the total falls in prices every unit, plus its flat fee.

    See the module's documentation for the tier bounds.
    """

    name: str = "volume"
    """``"volume"``."""
    properties: type[BaseModel] = VolumeProperties
    """:class:`VolumeProperties`."""

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """Price every unit of ``usage.units`` at the one tier it falls in; one part."""
        props = expect_properties(properties, VolumeProperties, self.name)
        units = usage.units
        index, tier = next(
            (i, t) for i, t in enumerate(props.tiers) if t.to_value is None or units <= t.to_value
        )
        amount = add(mul(units, tier.per_unit_amount), tier.flat_amount)
        part = PricedPart(
            label=describe_range(index, tier),
            units=units,
            unit_price=tier.per_unit_amount,
            flat=tier.flat_amount,
            amount=amount,
        )
        return ChargeAmount(amount=amount, units=units, parts=(part,))


class GraduatedPercentageModel:
    """Lago's graduated percentage model: a rate per tier of the amount, plus flat fees.

    ``usage.units`` is the period's amount (a sum of transaction amounts). See
    the module's documentation for zero amounts and paying in advance.
    """

    name: str = "graduated_percentage"
    """``"graduated_percentage"``."""
    properties: type[BaseModel] = GraduatedPercentageProperties
    """:class:`GraduatedPercentageProperties`."""

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """Take each entered tier's rate of the amount in it, plus its flat fee."""
        props = expect_properties(properties, GraduatedPercentageProperties, self.name)
        return _graduate(
            usage.units,
            props.tiers,
            lambda t: t.rate,
            lambda t: t.flat_amount,
            first_at_zero=False,
        )


#: The graduated model.
GRADUATED = GraduatedModel()
#: The volume model.
VOLUME = VolumeModel()
#: The graduated percentage model.
GRADUATED_PERCENTAGE = GraduatedPercentageModel()
