"""Charge models: how a billable metric's usage for a period becomes an amount.

A plan's charge names a model and gives its configuration ("properties").
:func:`parse_properties` checks the configuration against the model's
pydantic class; :meth:`ChargeModel.price` turns a :class:`Usage` into a
:class:`ChargeAmount`, exact and not rounded, with the detail of how it was
priced. The built-in models are Lago's set, in :data:`BUILT_IN`:

``standard``
    A price per unit.
``graduated``
    Tiers of units, each priced at its own unit price, plus a flat fee per
    tier reached.
``volume``
    The tier the total falls in prices every unit, plus its flat fee.
``package``
    A price per started block of units, after free units.
``percentage``
    A rate of each transaction plus a fixed fee per transaction, with free
    transactions or a free amount, and a minimum and maximum per transaction.
``graduated_percentage``
    Tiers of an amount, each with its rate, plus a flat fee per tier entered.
``dynamic``
    The sum of the prices the events carry.

Each model's module documents its rules (tier bounds, zero usage, the order
of free units and limits). Amounts are in the currency's major units; the
invoice rounds each line once to the minor unit. Rates are fractions within
[0, 1] (``"0.012"`` for 1.2 %), where Lago writes percent numbers.

Other plugins add models by providing objects that satisfy the
:class:`ChargeModel` protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._base import ChargeAmount, ChargeModel, Exact, PricedPart, Usage, parse_properties
from ._percentage import PERCENTAGE, PercentageModel, PercentageProperties, TransactionFee
from ._simple import (
    DYNAMIC,
    PACKAGE,
    STANDARD,
    DynamicModel,
    DynamicProperties,
    PackageModel,
    PackageProperties,
    StandardModel,
    StandardProperties,
)
from ._tiered import (
    GRADUATED,
    GRADUATED_PERCENTAGE,
    VOLUME,
    GraduatedModel,
    GraduatedPercentageModel,
    GraduatedPercentageProperties,
    GraduatedProperties,
    PriceTier,
    RateTier,
    TierRange,
    VolumeModel,
    VolumeProperties,
)

__all__ = [
    "BUILT_IN",
    "DYNAMIC",
    "GRADUATED",
    "GRADUATED_PERCENTAGE",
    "PACKAGE",
    "PERCENTAGE",
    "STANDARD",
    "VOLUME",
    "ChargeAmount",
    "ChargeModel",
    "DynamicModel",
    "DynamicProperties",
    "Exact",
    "GraduatedModel",
    "GraduatedPercentageModel",
    "GraduatedPercentageProperties",
    "GraduatedProperties",
    "PackageModel",
    "PackageProperties",
    "PercentageModel",
    "PercentageProperties",
    "PriceTier",
    "PricedPart",
    "RateTier",
    "StandardModel",
    "StandardProperties",
    "TierRange",
    "TransactionFee",
    "Usage",
    "VolumeModel",
    "VolumeProperties",
    "parse_properties",
]

#: The built-in charge models by name (read-only).
BUILT_IN: Mapping[str, ChargeModel] = MappingProxyType(
    {
        model.name: model
        for model in (
            STANDARD,
            GRADUATED,
            VOLUME,
            PACKAGE,
            PERCENTAGE,
            GRADUATED_PERCENTAGE,
            DYNAMIC,
        )
    }
)
