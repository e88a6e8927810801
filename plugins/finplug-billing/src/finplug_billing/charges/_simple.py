"""Untiered charge models: standard, package and dynamic.

**Standard.** One price per unit: the amount is ``units * amount``.

**Package.** Units are sold in blocks of ``package_size``. The first
``free_units`` cost nothing; the rest are counted in packages, and a started
package is a whole package (101 paid units in packages of 100 are 2
packages). When the usage does not go above the free units the charge is 0:
there is no minimum package.

**Dynamic.** Each event carries its own price (``Usage.amounts``); the charge
is their sum and its quantity the metric's units. As in Lago's
implementation, a period whose units are 0 costs 0 whatever prices its events
carry. The unit price shown in the detail is the exact quotient of the amount
by the units (a Fraction when it is not a finite decimal); how many digits to
print is the renderer's choice (Lago's page truncates it to six).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from ._base import ChargeAmount, PricedPart, Usage
from ._common import (
    ZERO,
    NonNegative,
    WholeCount,
    add,
    exact_quotient,
    expect_properties,
    mul,
    total,
)

__all__ = [
    "DYNAMIC",
    "PACKAGE",
    "STANDARD",
    "DynamicModel",
    "DynamicProperties",
    "PackageModel",
    "PackageProperties",
    "StandardModel",
    "StandardProperties",
]


class StandardProperties(BaseModel):
    """Configuration of a standard charge: the price of one unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: NonNegative
    """The price of one unit."""


class PackageProperties(BaseModel):
    """Configuration of a package charge: a price per block of units, after free units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: NonNegative
    """The price of one package."""
    package_size: WholeCount = Field(ge=1)
    """How many units a package holds (a whole number, at least 1)."""
    free_units: NonNegative = ZERO
    """Units that cost nothing, taken before counting packages."""


class DynamicProperties(BaseModel):
    """Configuration of a dynamic charge: none (each event carries its price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StandardModel:
    """Lago's standard model: the same price for every unit."""

    name: str = "standard"
    """``"standard"``."""
    properties: type[BaseModel] = StandardProperties
    """:class:`StandardProperties`."""

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """``usage.units * amount``, in one part."""
        props = expect_properties(properties, StandardProperties, self.name)
        amount = mul(usage.units, props.amount)
        part = PricedPart(
            label="units", units=usage.units, unit_price=props.amount, flat=ZERO, amount=amount
        )
        return ChargeAmount(amount=amount, units=usage.units, parts=(part,))


class PackageModel:
    """Lago's package model: whole packages of units after the free units."""

    name: str = "package"
    """``"package"``."""
    properties: type[BaseModel] = PackageProperties
    """:class:`PackageProperties`."""

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """Free units first, then every started package at the package price.

        The detail has a ``free units`` part (amount 0) when free units were
        used and a ``packages`` part counting the packages.
        """
        props = expect_properties(properties, PackageProperties, self.name)
        units = usage.units
        parts: list[PricedPart] = []
        free = min(units, props.free_units)
        if free > 0:
            parts.append(
                PricedPart(label="free units", units=free, unit_price=ZERO, flat=ZERO, amount=ZERO)
            )
        paid = add(units, -free)
        if paid > 0:
            packages = Decimal(math.ceil(Fraction(paid) / props.package_size))
            parts.append(
                PricedPart(
                    label=f"packages of {props.package_size}",
                    units=packages,
                    unit_price=props.amount,
                    flat=ZERO,
                    amount=mul(packages, props.amount),
                )
            )
        return ChargeAmount(amount=total(p.amount for p in parts), units=units, parts=tuple(parts))


class DynamicModel:
    """Lago's dynamic model: the sum of the prices the events carry.

    Needs ``Usage.amounts`` (one price per event) whenever the units are
    above 0 (ValueError without them); a period with 0 units costs 0.
    """

    name: str = "dynamic"
    """``"dynamic"``."""
    properties: type[BaseModel] = DynamicProperties
    """:class:`DynamicProperties`."""

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """The sum of ``usage.amounts``, in one part whose unit price is amount / units."""
        expect_properties(properties, DynamicProperties, self.name)
        units = usage.units
        if units == 0:
            return ChargeAmount(amount=ZERO, units=units, parts=())
        if not usage.amounts:
            raise ValueError(
                f"dynamic: expected one price per event in Usage.amounts for {units} units,"
                " got no amounts"
            )
        amount = total(usage.amounts)
        part = PricedPart(
            label="event prices",
            units=units,
            unit_price=exact_quotient(amount, units),
            flat=ZERO,
            amount=amount,
        )
        return ChargeAmount(amount=amount, units=units, parts=(part,))


#: The standard model.
STANDARD = StandardModel()
#: The package model.
PACKAGE = PackageModel()
#: The dynamic model.
DYNAMIC = DynamicModel()
