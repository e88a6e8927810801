"""The catalog made usable: each plan's charges bound to their models and checked properties.

Built once per tenant on first use (the models other plugins add come from
``finplug_billing_charge_models``), and checked by ``finplug check`` through
``finplug_check_tenant``. A problem names its field path under the plugin's
settings (``plans.pro.charges[0].properties.tiers[1].from_value``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from finplug.sockets.billing import BillingError, BillingInputError
from finplug_billing._catalog import (
    BillingSettings,
    ChargeSettings,
    MetricSettings,
    PlanSettings,
    TaxSettings,
)
from finplug_billing.charges import BUILT_IN, ChargeModel, parse_properties
from finplug_billing.totals import TaxRate

__all__ = ["Catalog", "CatalogError", "PricedCharge", "field_path"]


class CatalogError(BillingError):
    """The catalog cannot be used: its problems, each ``(path, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        """``(field path under the plugin's settings, what is wrong)``."""
        shown = "; ".join(f"{path}: {message}" for path, message in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"the billing catalog has problems: {shown}{more}")


@dataclass(frozen=True, slots=True)
class PricedCharge:
    """A plan's charge with its model and its checked properties."""

    index: int
    """Its place among the plan's charges (``plans.<code>.charges[<index>]``)."""
    settings: ChargeSettings
    """As configured."""
    metric: MetricSettings
    """The metric it prices."""
    model: ChargeModel
    """The model that prices it."""
    properties: BaseModel
    """The model's checked properties."""

    @property
    def name(self) -> str:
        """As printed: the charge's name, else its metric's code."""
        return self.settings.name or self.settings.metric


def field_path(prefix: str, parts: Iterable[object]) -> str:
    """``prefix`` and ``parts`` as finplug writes a field path: ``a.b[0].c``."""
    path = prefix
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _located(prefix: str, exc: ValidationError) -> list[tuple[str, str]]:
    return [(field_path(prefix, error["loc"]), error["msg"]) for error in exc.errors()]


class Catalog:
    """A tenant's plans, metrics, taxes and coupons, with every charge bound to its model."""

    def __init__(self, settings: BillingSettings, extra_models: Iterable[ChargeModel] = ()) -> None:
        problems: list[tuple[str, str]] = []
        models: dict[str, ChargeModel] = dict(BUILT_IN)
        for model in extra_models:
            if model.name in models:
                problems.append(
                    ("charge models", f"the charge model {model.name!r} is offered twice")
                )
                continue
            models[model.name] = model
        self.settings = settings
        """The plugin's settings."""
        self.models: Mapping[str, ChargeModel] = models
        """Every charge model by name: the built-in ones and those other plugins add."""
        charges: dict[str, tuple[PricedCharge, ...]] = {}
        for code, plan in settings.plans.items():
            bound = []
            for index, charge in enumerate(plan.charges):
                where = f"plans.{code}.charges[{index}]"
                found = models.get(charge.model)
                if found is None:
                    known = ", ".join(sorted(models))
                    problems.append(
                        (f"{where}.model", f"no charge model {charge.model!r} ({known})")
                    )
                    continue
                model = found
                try:
                    properties = parse_properties(model, charge.properties)
                except ValidationError as exc:
                    problems += _located(f"{where}.properties", exc)
                    continue
                metric = settings.metrics[charge.metric]
                bound.append(PricedCharge(index, charge, metric, model, properties))
            charges[code] = tuple(bound)
        self.problems = problems
        """What is wrong, ``(path, message)``; empty for a usable catalog."""
        self._charges = charges

    def check(self) -> Catalog:
        """The catalog itself when usable; :class:`CatalogError` if it has problems."""
        if self.problems:
            raise CatalogError(self.problems)
        return self

    def plan(self, code: str, *, field: str = "plan") -> PlanSettings:
        """A plan by code; :class:`BillingInputError` naming ``field`` if there is none."""
        found = self.settings.plans.get(code)
        if found is None:
            known = ", ".join(sorted(self.settings.plans)) or "none"
            raise BillingInputError(f"no plan {code!r} in the catalog ({known})", field=field)
        return found

    def charges(self, plan: str) -> tuple[PricedCharge, ...]:
        """A plan's charges, bound to their models."""
        return self._charges.get(plan, ())

    def metric(self, code: str, *, field: str = "metric") -> MetricSettings:
        """A metric by code; :class:`BillingInputError` naming ``field`` if there is none."""
        found = self.settings.metrics.get(code)
        if found is None:
            known = ", ".join(sorted(self.settings.metrics)) or "none"
            raise BillingInputError(f"no billable metric {code!r} ({known})", field=field)
        return found

    def tax_rates(self, codes: Iterable[str]) -> tuple[TaxRate, ...]:
        """The rates of tax ``codes`` (known: the settings checked them)."""
        return tuple(_rate(code, self.settings.taxes[code]) for code in codes)

    def taxes_for(
        self, customer_rates: tuple[str, ...] | None, item_rates: list[str] | None
    ) -> tuple[tuple[TaxRate, ...], bool]:
        """The rates of an invoice line, and whether they are inclusive.

        The item's own tax codes win, then the customer's, then the
        catalog's defaults. Rates on one line are all inclusive or all
        exclusive (a mix is a catalog problem reported when it is used).
        """
        codes = item_rates if item_rates is not None else customer_rates
        if codes is None:
            codes = self.settings.default_taxes
        rates = self.tax_rates(codes)
        kinds = {self.settings.taxes[code].inclusive for code in codes}
        if len(kinds) > 1:
            raise BillingError(
                f"taxes {list(codes)}: inclusive and exclusive rates cannot apply to one line"
            )
        return rates, kinds == {True}


def _rate(code: str, tax: TaxSettings) -> TaxRate:
    return TaxRate(code, tax.rate)
