"""Match rules: frozen pydantic models, and the amount tolerance they define.

A rule is data (it can come from YAML or JSON); its only behaviour is the
tolerance arithmetic of :class:`AmountRule`, kept here so that the scalar
form (group searches) and the columnar form (1:1 joins) cannot drift apart.
Everything is integer: amounts in minor units, relative tolerances as exact
fractions, scores per mille.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, Self

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

__all__ = [
    "AmountRule",
    "CounterpartyRule",
    "DateRule",
    "Limits",
    "MatchRule",
    "ReferenceRule",
    "Shape",
]

#: How items of the two sides may be grouped by a rule.
Shape = Literal["one_to_one", "one_to_many", "many_to_one", "many_to_many"]

#: Largest group a rule may build on one side.
MAX_ITEMS_HARD = 12
#: ``cap`` times the fraction's denominator must stay below this (Int64 arithmetic).
_PRODUCT_LIMIT = 2**62

PerMille = Annotated[StrictInt, Field(ge=0, le=1000)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AmountRule(_Frozen):
    """How far the two sides' amounts may differ; their signs must always agree.

    ``mode="exact"``: equal amounts. ``mode="absolute"``: ``tolerance`` is an
    int of minor units (``>= 0``). ``mode="relative"``: ``tolerance`` is a
    fraction given as a string or :class:`~decimal.Decimal` (``"0.01"`` is
    1 %) of the larger absolute amount, rounded down to a minor unit, and
    never above ``cap`` (minor units, required for ``relative``). Floats are
    refused everywhere.
    """

    mode: Literal["exact", "absolute", "relative"] = "exact"
    tolerance: int | Decimal = 0
    cap: StrictInt | None = Field(default=None, ge=0)

    @field_validator("tolerance", mode="before")
    @classmethod
    def _no_floats(cls, value: object) -> object:
        if isinstance(value, float | bool):
            raise ValueError(
                f"expected an int of minor units or a decimal string like '0.01', "
                f"not {type(value).__name__} {value!r}"
            )
        if isinstance(value, str):
            try:
                return Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"expected a decimal string like '0.01', got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        tol = self.tolerance
        if self.mode == "exact":
            if tol != 0 or self.cap is not None:
                raise ValueError("mode 'exact' takes neither tolerance nor cap")
        elif self.mode == "absolute":
            if not isinstance(tol, int) or tol < 0:
                raise ValueError(f"mode 'absolute': tolerance must be an int >= 0, got {tol!r}")
            if self.cap is not None:
                raise ValueError("mode 'absolute': cap applies to relative tolerances only")
        else:
            if isinstance(tol, int):
                tol = Decimal(tol)
            if not tol.is_finite() or not Decimal(0) <= tol <= Decimal(1):
                raise ValueError(
                    f"mode 'relative': tolerance must be a fraction in [0, 1], got {tol}"
                )
            if self.cap is None:
                raise ValueError(
                    "mode 'relative' requires cap (the largest tolerance, minor units)"
                )
            if self.cap * tol.as_integer_ratio()[1] >= _PRODUCT_LIMIT:
                raise ValueError("mode 'relative': cap or tolerance precision too large")
        return self

    def bound(self) -> int:
        """The largest tolerance this rule can allow for any pair of amounts."""
        if self.mode == "absolute":
            return int(self.tolerance)
        if self.mode == "relative":
            assert self.cap is not None
            return self.cap
        return 0

    def _ratio(self) -> tuple[int, int]:
        tol = self.tolerance
        return (tol, 1) if isinstance(tol, int) else tol.as_integer_ratio()

    def allowed(self, a: int, b: int) -> int:
        """The tolerance (minor units) this rule allows between amounts ``a`` and ``b``."""
        if self.mode != "relative":
            return self.bound()
        num, den = self._ratio()
        cap = self.bound()
        if num == 0:
            return 0
        larger = max(abs(a), abs(b))
        return min(cap, larger * num // den)

    def within(self, a: int, b: int) -> bool:
        """Whether ``a`` and ``b`` have the same sign and differ by at most :meth:`allowed`."""
        same_sign = (a > 0) - (a < 0) == (b > 0) - (b < 0)
        return same_sign and abs(a - b) <= self.allowed(a, b)

    def allowed_expr(self, a: pl.Expr, b: pl.Expr) -> pl.Expr:
        """:meth:`allowed` as a polars expression over two Int64 columns (no overflow).

        Relative: ``min(cap, larger * num // den)`` is ``cap`` once ``larger``
        reaches ``ceil(cap * den / num)``, so the product is only formed below
        that threshold, where it stays under ``cap * den``.
        """
        zero = (a * 0).cast(pl.Int64)  # a column, not a scalar, in any context
        if self.mode != "relative":
            return zero + self.bound()
        num, den = self._ratio()
        cap = self.bound()
        if num == 0:
            return zero
        threshold = -(-cap * den // num)
        larger = pl.max_horizontal(a.abs(), b.abs())
        return (
            pl.when(larger >= threshold)
            .then(pl.lit(cap, dtype=pl.Int64))
            .otherwise(larger * num // den)
            .cast(pl.Int64)
        )


class DateRule(_Frozen):
    """How many business days may lie between the statement's and the ledger's date.

    The distance is the number of business days in ``[earlier, later)`` of
    the :class:`~finplug_reconciliation.matching.Calendar` given to ``match``.
    """

    window: StrictInt = Field(default=0, ge=0, le=10_000)


class ReferenceRule(_Frozen):
    """How references must agree, compared after normalising (strip, casefold, one space).

    ``exact``: equal. ``contains``: the ledger reference occurs in the
    statement's reference or text, or the statement's reference occurs in the
    ledger's reference or text. ``regex``: ``pattern`` (one named group
    ``ref``) searched in the statement's ``reference + " " + text``; the
    group's value must equal the ledger reference. ``fuzzy``: similarity per
    mille ``>= threshold``. ``ignore``: not compared. Empty references never
    agree, except under ``ignore``.
    """

    mode: Literal["exact", "contains", "regex", "fuzzy", "ignore"] = "exact"
    pattern: str | None = None
    threshold: PerMille | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.mode == "regex":
            if self.pattern is None:
                raise ValueError("mode 'regex' requires pattern")
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from None
            if set(compiled.groupindex) != {"ref"}:
                raise ValueError("pattern must have exactly one named group, (?P<ref>...)")
        elif self.pattern is not None:
            raise ValueError(f"pattern applies to mode 'regex' only, not {self.mode!r}")
        if self.mode == "fuzzy" and self.threshold is None:
            raise ValueError("mode 'fuzzy' requires threshold (per mille, 0..1000)")
        if self.mode != "fuzzy" and self.threshold is not None:
            raise ValueError(f"threshold applies to mode 'fuzzy' only, not {self.mode!r}")
        return self

    def compiled(self) -> re.Pattern[str]:
        """The compiled ``pattern`` (mode ``regex`` only)."""
        assert self.pattern is not None
        return re.compile(self.pattern)


class CounterpartyRule(_Frozen):
    """How counterparties must agree: ``ignore``, ``exact`` (normalised) or ``fuzzy``."""

    mode: Literal["ignore", "exact", "fuzzy"] = "ignore"
    threshold: PerMille | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.mode == "fuzzy") != (self.threshold is not None):
            raise ValueError("threshold is required for mode 'fuzzy' and refused otherwise")
        return self


class Limits(_Frozen):
    """Bounds of a group search: items per side, and a node budget per search.

    Nodes are counted, never timed, so a result never depends on machine speed.
    """

    max_items: StrictInt = Field(default=5, ge=1, le=MAX_ITEMS_HARD)
    max_nodes: StrictInt = Field(default=20_000, ge=1, le=10_000_000)


class MatchRule(_Frozen):
    """One matching rule. Lower ``priority`` runs first; equal priorities run by ``name``."""

    name: str = Field(min_length=1, max_length=200)
    priority: StrictInt
    shape: Shape = "one_to_one"
    amount: AmountRule = AmountRule()
    date: DateRule = DateRule()
    reference: ReferenceRule = ReferenceRule()
    counterparty: CounterpartyRule = CounterpartyRule()
    limits: Limits = Limits()
