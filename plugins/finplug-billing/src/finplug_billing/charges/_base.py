"""The shapes every charge model shares: usage in, an exact amount out.

A charge model turns a period's :class:`Usage` of one billable metric into a
:class:`ChargeAmount`. The model itself is stateless: its configuration (unit
prices, tiers, rates ...) is a pydantic model, its :attr:`~ChargeModel.properties`
class, parsed once from the plan's configuration with :func:`parse_properties`.

Rules every model follows:

* **Exact.** Amounts are in the currency's major units and never rounded here:
  a model returns a :class:`~decimal.Decimal` when the result is a finite
  decimal, and a :class:`~fractions.Fraction` when it is not (a weighted-sum
  usage, an average unit price). The invoice rounds each line once, to the
  currency's minor unit.
* **Parts add up.** :attr:`ChargeAmount.parts` details the amount (one part per
  graduated tier, the package count, a percentage charge's fixed fees ...);
  each part's ``amount`` equals ``units * unit_price + flat`` and the parts'
  amounts add up to :attr:`ChargeAmount.amount`.
* **Errors.** A bad configuration is a pydantic ``ValidationError`` from the
  properties model, with the field's path in it. A bad call argument (negative
  units, a float, per-event amounts that do not match the event count) is a
  :class:`ValueError` saying what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel

__all__ = [
    "ChargeAmount",
    "ChargeModel",
    "Exact",
    "PricedPart",
    "Usage",
    "parse_properties",
]

#: An exact number: a finite decimal, or a fraction when no finite decimal is exact.
Exact: TypeAlias = Decimal | Fraction


def _exact_units(value: object, what: str, kinds: str = "a Decimal, a Fraction or an int") -> Exact:
    """``value`` as a non-negative exact number, or ValueError saying what was expected."""
    if isinstance(value, bool) or not isinstance(value, Decimal | Fraction | int):
        hint = " (floats are not exact)" if isinstance(value, float) else ""
        raise ValueError(f"{what}: expected {kinds}, got {type(value).__name__}{hint}")
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{what}: expected a finite number")
    if value < 0:
        raise ValueError(f"{what}: expected zero or more, got {value}")
    return value


def _exact_amount(value: object, what: str) -> Decimal:
    """``value`` as a non-negative Decimal, or ValueError saying what was expected."""
    if isinstance(value, Fraction):
        raise ValueError(f"{what}: expected a Decimal, got a Fraction")
    exact = _exact_units(value, what, "a Decimal or an int")
    assert isinstance(exact, Decimal)
    return exact


@dataclass(frozen=True, slots=True)
class Usage:
    """A billable metric's usage over one period, as a charge model prices it.

    ``units`` is the metric's aggregate for the period (a count, a sum, a
    maximum ...; a :class:`~fractions.Fraction` for a weighted sum). ``events``
    is the number of events. ``amounts`` lists one value per event in event
    order, for the models that price each event: ``percentage`` (each
    transaction's amount) and ``dynamic`` (each event's own price). When
    ``amounts`` is given and ``events`` is left at 0, ``events`` becomes the
    number of amounts; when both are given they must agree.

    Everything must be exact and not negative: an ``int`` is taken as a
    :class:`~decimal.Decimal`, a float or a negative value raises
    :class:`ValueError`.
    """

    units: Exact
    events: int = 0
    amounts: tuple[Decimal, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", _exact_units(self.units, "units"))
        if isinstance(self.events, bool) or not isinstance(self.events, int):
            raise ValueError(f"events: expected an int, got {type(self.events).__name__}")
        if self.events < 0:
            raise ValueError(f"events: expected zero or more, got {self.events}")
        amounts = tuple(
            _exact_amount(amount, f"amounts[{index}]") for index, amount in enumerate(self.amounts)
        )
        object.__setattr__(self, "amounts", amounts)
        if amounts:
            if self.events == 0:
                object.__setattr__(self, "events", len(amounts))
            elif self.events != len(amounts):
                raise ValueError(
                    f"events: expected one amount per event, got {self.events} events"
                    f" and {len(amounts)} amounts"
                )


@dataclass(frozen=True, slots=True)
class PricedPart:
    """One priced piece of a charge, for the invoice line's detail.

    ``amount`` is ``units * unit_price + flat``: a graduated tier (the units in
    the tier at the tier's unit price, plus its flat fee), a number of
    packages at the package price, a percentage charge's rate on the
    chargeable amount or its fixed fees. A per-transaction maximum lowers a
    percentage charge, so its part has a negative ``flat``.
    """

    label: str
    """What the part is, in plain words (``"tier 2 (100 to 200)"``, ``"fixed fees"``)."""
    units: Exact
    """How many units the part prices (units of the metric, packages, transactions ...)."""
    unit_price: Exact
    """The price of one of those units (a rate for a percentage part)."""
    flat: Exact
    """A flat amount added once (a tier's flat fee), or an adjustment."""
    amount: Exact
    """The part's amount: ``units * unit_price + flat``, exact and not rounded."""


@dataclass(frozen=True, slots=True)
class ChargeAmount:
    """What a charge costs for a period, exact and not rounded.

    ``amount`` is in the currency's major units; the invoice rounds it once.
    ``units`` is the quantity the invoice line shows (the usage's units).
    ``parts`` details the amount; their amounts add up to ``amount``.
    """

    amount: Exact
    """The charge's amount in major units, exact (Decimal, or Fraction when not a finite
    decimal)."""
    units: Exact
    """The quantity priced (the usage's units)."""
    parts: tuple[PricedPart, ...] = ()
    """The priced pieces, whose amounts add up to ``amount``."""


@runtime_checkable
class ChargeModel(Protocol):
    """A way of pricing a metric's usage: Lago's standard, graduated, volume ... models.

    A model is stateless. Its configuration is an instance of its
    :attr:`properties` class (a pydantic model), built with
    :func:`parse_properties`. Plugins may add models of their own by giving
    an object with these three members.
    """

    @property
    def name(self) -> str:
        """The model's name in a plan's configuration (``"graduated"``)."""
        ...

    @property
    def properties(self) -> type[BaseModel]:
        """The pydantic model that checks and holds this model's configuration."""
        ...

    def price(self, usage: Usage, properties: BaseModel) -> ChargeAmount:
        """Price ``usage`` with ``properties`` (an instance of :attr:`properties`).

        Raises :class:`ValueError` when the usage cannot be priced by this
        model (for example missing per-event amounts), :class:`TypeError` when
        ``properties`` is not an instance of the model's properties class.
        """
        ...


def parse_properties(model: ChargeModel, raw: Mapping[str, object]) -> BaseModel:
    """Check a charge's configuration ``raw`` against ``model``'s properties class.

    Returns the parsed properties to pass to :meth:`ChargeModel.price`. A bad
    configuration raises pydantic's ``ValidationError``, naming the field.
    """
    return model.properties.model_validate(raw)
