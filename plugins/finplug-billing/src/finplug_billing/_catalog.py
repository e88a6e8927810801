"""The billing plugin's tenant settings: the catalog, taxes, numbering, dunning, ledger accounts.

::

    billing:
      metrics:
        api_calls: {aggregation: count}
        storage: {aggregation: weighted_sum, field: gb, decimals: 3, recurring: true}
        seats: {aggregation: unique_count, field: user_id}
        volume: {aggregation: sum, field: amount, decimals: 2}
      plans:
        pro:
          name: Pro
          currency: EUR
          interval: monthly            # weekly, monthly, quarterly, yearly
          amount: "49.00"              # the fixed fee per period
          pay_in_advance: true         # the fee at the start of the period (else at its end)
          trial_days: 14
          minimum_commitment: "100.00" # usage charges below it are topped up to it
          charges:
            - metric: api_calls
              model: graduated
              properties:
                tiers:
                  - {from: 0, to: 1000, per_unit_amount: "0", flat_amount: "0"}
                  - {from: 1000, to: null, per_unit_amount: "0.002", flat_amount: "0"}
            - {metric: volume, model: percentage, properties: {rate: "0.015", fixed_amount: "0.10"}}
      add_ons:
        onboarding: {name: Onboarding, currency: EUR, amount: "250.00"}
      coupons:
        welcome: {kind: fixed, currency: EUR, amount: "20.00", frequency: once}
        launch: {kind: percentage, rate: "0.10", frequency: recurring, periods: 3}
      taxes:
        vat_de: {rate: "0.19"}
        vat_de_incl: {rate: "0.19", inclusive: true}
      default_taxes: [vat_de]
      invoices: {prefix: INV, credit_note_prefix: CN, net_days: 14}
      dunning: {retry_days: [1, 3, 7]}

Money, rates and quantities are strings or integers, never floats (a YAML
``0.1`` is refused). A charge's ``properties`` are checked by its model when
the tenant is assembled (the model may come from another plugin, through
``finplug_billing_charge_models``); an error names the field path
(``plans.pro.charges[0].properties.tiers[1].from_value``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from finplug.types import Amount, CurrencyCode, PositiveAmount, Rate

__all__ = [
    "AddOnSettings",
    "BillingSettings",
    "ChargeSettings",
    "CouponSettings",
    "DunningSettings",
    "InvoiceSettings",
    "IssuerSettings",
    "LedgerAccounts",
    "MetricSettings",
    "PlanSettings",
    "TaxSettings",
]

#: Codes of metrics, plans, add-ons, coupons and taxes.
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
Code = Annotated[str, Field(pattern=_CODE.pattern)]


def _check_codes(kind: str, codes: Any) -> None:
    for code in codes:
        if not isinstance(code, str) or not _CODE.match(code):
            raise ValueError(
                f"{kind} code {code!r}: expected 1 to 64 of a-z, 0-9, '_', '.', '-',"
                " starting with a letter or digit"
            )


class MetricSettings(BaseModel):
    """A billable metric: how a period's events of one code become a number of units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregation: Literal["count", "sum", "max", "unique_count", "latest", "weighted_sum"] = Field(
        description="How events aggregate over a period (as Lago's billable metrics)."
    )
    field: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The event property aggregated (all but count need one).",
    )
    decimals: int = Field(
        default=0,
        ge=0,
        le=9,
        description="Decimals a value may have; an event with more is refused (values are stored"
        " exactly, as integers of 10^-decimals).",
    )
    recurring: bool = Field(
        default=False,
        description="The level carries over from one period to the next (sum, unique_count,"
        " weighted_sum); else it starts from nothing each period.",
    )

    @model_validator(mode="after")
    def _field_needed(self) -> MetricSettings:
        if self.aggregation != "count" and self.field is None:
            raise ValueError(f"a {self.aggregation} metric reads an event property: give field")
        if self.aggregation == "count" and self.field is not None:
            raise ValueError("a count metric reads no property: remove field")
        if self.recurring and self.aggregation not in ("sum", "unique_count", "weighted_sum"):
            raise ValueError(f"a {self.aggregation} metric cannot be recurring")
        if self.aggregation == "unique_count" and self.decimals:
            raise ValueError("a unique_count metric counts keys: decimals does not apply")
        return self


class ChargeSettings(BaseModel):
    """A usage charge of a plan: a metric priced by a charge model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Code = Field(description="The billable metric's code.")
    model: str = Field(
        min_length=1,
        max_length=64,
        description="The charge model: standard, graduated, volume, package, percentage,"
        " graduated_percentage, dynamic, or one a plugin adds.",
    )
    properties: dict[str, Any] = Field(
        default_factory=dict, description="The model's properties (checked by the model)."
    )
    pay_in_advance: bool = Field(
        default=False,
        description="Billed as events come (on the next invoice), not at the end.",
    )
    name: str = Field(default="", max_length=128, description="As printed (default: the metric's).")
    taxes: list[Code] | None = Field(
        default=None,
        description="Tax codes (default: the customer's, else default_taxes).",
    )


class PlanSettings(BaseModel):
    """A plan: a fixed fee per interval and usage charges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, description="As printed.")
    currency: CurrencyCode = Field(description="Every price of the plan is in it.")
    interval: Literal["weekly", "monthly", "quarterly", "yearly"] = Field(
        default="monthly", description="The billing period."
    )
    amount: Amount = Field(default=Decimal(0), ge=0, description="The fixed fee per period.")
    pay_in_advance: bool = Field(
        default=False,
        description="The fee is invoiced when its period starts, else when it ends.",
    )
    trial_days: int = Field(default=0, ge=0, le=3660, description="Days without the fixed fee.")
    minimum_commitment: Amount | None = Field(
        default=None,
        ge=0,
        description="The least a period's usage charges come to (a true-up line adds the rest).",
    )
    charges: list[ChargeSettings] = Field(default_factory=list, description="Usage charges.")
    taxes: list[Code] | None = Field(
        default=None,
        description="Tax codes of the fee (default: the customer's, else default_taxes).",
    )


class AddOnSettings(BaseModel):
    """A one-off item invoiced on its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, description="As printed.")
    currency: CurrencyCode = Field(description="Its price's currency.")
    amount: PositiveAmount = Field(description="Its price.")
    taxes: list[Code] | None = Field(default=None, description="Tax codes (default as for plans).")


class CouponSettings(BaseModel):
    """A discount applied to a customer's invoices before tax."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["fixed", "percentage"] = Field(description="A fixed amount or a rate.")
    amount: PositiveAmount | None = Field(default=None, description="A fixed coupon's amount.")
    currency: CurrencyCode | None = Field(default=None, description="A fixed coupon's currency.")
    rate: Rate | None = Field(default=None, description="A percentage coupon's rate (0.10 = 10 %).")
    frequency: Literal["once", "recurring", "forever"] = Field(
        default="once",
        description="once: the next invoice; recurring: `periods` invoices; forever: every one."
        " A fixed coupon's unused part carries to the next invoice while it lasts.",
    )
    periods: int | None = Field(
        default=None, ge=1, le=1200, description="A recurring one's invoices."
    )

    @model_validator(mode="after")
    def _consistent(self) -> CouponSettings:
        if self.kind == "fixed" and (self.amount is None or self.currency is None or self.rate):
            raise ValueError("a fixed coupon has an amount and a currency, and no rate")
        if self.kind == "percentage" and (self.rate is None or self.amount or self.currency):
            raise ValueError("a percentage coupon has a rate, and no amount or currency")
        if (self.frequency == "recurring") != (self.periods is not None):
            raise ValueError("periods is given exactly when the frequency is recurring")
        return self


class TaxSettings(BaseModel):
    """A tax rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Rate = Field(description="The rate (0.19 = 19 %).")
    inclusive: bool = Field(
        default=False, description="Prices already include it (the tax is taken out of them)."
    )
    name: str = Field(default="", max_length=64, description="As printed (default: the code).")


class InvoiceSettings(BaseModel):
    """Numbering and terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = Field(
        default="INV", pattern=r"^[A-Za-z0-9-]{1,16}$", description="Invoice numbers: INV-000001."
    )
    credit_note_prefix: str = Field(
        default="CN", pattern=r"^[A-Za-z0-9-]{1,16}$", description="Credit note numbers."
    )
    digits: int = Field(default=6, ge=1, le=12, description="Zero-padded width of the number.")
    per_year: bool = Field(
        default=False, description="A series per year (INV-2026-000001), restarting at 1."
    )
    net_days: int = Field(default=14, ge=0, le=365, description="Days from issue to due date.")
    auto_finalize: bool = Field(
        default=True, description="A cycle's invoices are finalized at once (else left as drafts)."
    )


class IssuerSettings(BaseModel):
    """Who issues the invoices (the tenant), as printed at their top."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", max_length=255, description="The tenant's legal name.")
    address_lines: list[str] = Field(default_factory=list, description="One printed line each.")
    tax_id: str = Field(default="", max_length=64, description="The tenant's own tax id.")
    email: str = Field(default="", max_length=255, description="For billing questions.")


class DunningSettings(BaseModel):
    """Retries of failed charges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retry_days: list[int] = Field(
        default_factory=lambda: [1, 3, 7],
        description="Days after the first failure at which a charge is tried again.",
    )

    @field_validator("retry_days")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(d <= 0 for d in value) or value != sorted(set(value)):
            raise ValueError("expected strictly increasing positive day counts, such as [1, 3, 7]")
        return value


class LedgerAccounts(BaseModel):
    """The ledger accounts billing books on (``{currency}`` and ``{customer}`` are filled in)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receivable: str = Field(default="asset:billing:receivable:{customer}:{currency}")
    revenue: str = Field(default="income:billing:{currency}")
    deferred: str = Field(default="liability:billing:deferred:{currency}")
    tax: str = Field(default="liability:tax:{tax}:{currency}")
    wallet: str = Field(default="liability:billing:wallet:{customer}:{currency}")
    cash: str = Field(
        default="asset:billing:clearing:{currency}",
        description="Where collected money lands until the payment channel settles it.",
    )
    write_off: str = Field(default="expense:billing:bad_debt:{currency}")
    granted: str = Field(
        default="expense:billing:granted_credits:{currency}",
        description="What credits given for free (not paid) cost.",
    )
    breakage: str = Field(
        default="income:billing:expired_credits:{currency}",
        description="Where credits that expire unused go.",
    )


class BillingSettings(BaseModel):
    """The ``billing`` plugin's settings: its catalog and how it invoices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: dict[str, MetricSettings] = Field(default_factory=dict)
    plans: dict[str, PlanSettings] = Field(default_factory=dict)
    add_ons: dict[str, AddOnSettings] = Field(default_factory=dict)
    coupons: dict[str, CouponSettings] = Field(default_factory=dict)
    taxes: dict[str, TaxSettings] = Field(default_factory=dict)
    default_taxes: list[str] = Field(default_factory=list)
    invoices: InvoiceSettings = Field(default_factory=InvoiceSettings)
    dunning: DunningSettings = Field(default_factory=DunningSettings)
    issuer: IssuerSettings = Field(default_factory=IssuerSettings)
    accounts: LedgerAccounts = Field(default_factory=LedgerAccounts)
    merchant_id: str = Field(
        default="billing", min_length=1, description="The payments merchant charges are made as."
    )

    @model_validator(mode="after")
    def _references(self) -> BillingSettings:
        for kind, codes in (
            ("metric", self.metrics),
            ("plan", self.plans),
            ("add-on", self.add_ons),
            ("coupon", self.coupons),
            ("tax", self.taxes),
        ):
            _check_codes(kind, codes)
        self._known_taxes("default_taxes", self.default_taxes)
        for code, plan in self.plans.items():
            self._known_taxes(f"plans.{code}.taxes", plan.taxes or [])
            for n, charge in enumerate(plan.charges):
                where = f"plans.{code}.charges[{n}]"
                if charge.metric not in self.metrics:
                    known = ", ".join(sorted(self.metrics)) or "none"
                    raise ValueError(f"{where}.metric: no metric {charge.metric!r} ({known})")
                self._known_taxes(f"{where}.taxes", charge.taxes or [])
        for code, add_on in self.add_ons.items():
            self._known_taxes(f"add_ons.{code}.taxes", add_on.taxes or [])
        return self

    def _known_taxes(self, where: str, codes: list[str]) -> None:
        for code in codes:
            if code not in self.taxes:
                known = ", ".join(sorted(self.taxes)) or "none"
                raise ValueError(f"{where}: no tax {code!r} (taxes: {known})")
