"""The settlement plugin's tenant settings: split rules, who uses which, schedule, reserve.

::

    settlement:
      rules:
        marketplace:
          shares:
            - {party: platform, role: platform, percent: "10"}
            - {party: partner-7, role: partner, fixed: "2.00"}
            - {party: merchant, role: merchant, remainder: true}
          fees_borne_by: merchant          # or platform
          refunds: proportional            # or merchant_first
      merchants: {m-001: marketplace}      # merchant id -> rule name
      default_rule: null                   # the rule of merchants not listed (none: no split)
      schedule: {kind: daily, delay_days: 1, cutoff: "18:00", timezone: Europe/Berlin}
      calendar_country: null               # default: the settlement currency's country
      payee_countries: {m-001: PL}         # a payee's bank country: its calendar, not the above
      minimum_payout: {EUR: "10.00"}
      reserve: {rate: "0.05", days: 30}
      payout_channel: null                 # default: the first channel paying out the currency
      return_window_days: 10               # the janitor asks about returns this long

Money and rates are written as strings (``"10"``, ``"2.00"``, ``"0.05"``):
a YAML float is refused, so no amount ever passes through binary floating
point. A payment may name its rule in its attributes (``split_rule``), or,
where ``allow_payment_splits`` is true, carry its own instructions as JSON in
its ``split`` attribute (Adyen's split instructions per payment), written as a
rule is here; such a split is recorded under the rule name ``(payment)`` and
its refunds come back proportionally.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from finplug.sockets.settlement import PartyRole
from finplug_settlement.calendars import CalendarError, bank_calendar

__all__ = [
    "ReserveSettings",
    "RuleSettings",
    "ScheduleSettings",
    "SettlementSettings",
    "ShareSettings",
]


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(f"write {value!r} as a string ({str(value)!r}): floats are not exact")
    return value


#: A decimal given as a string or an integer, never a float.
Exact = Annotated[Decimal, BeforeValidator(_no_float)]


class ShareSettings(BaseModel):
    """One party's share of a rule: a percentage, a fixed amount, or the remainder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    party: str = Field(min_length=1, max_length=64, description="The party's id.")
    role: PartyRole = Field(
        default=PartyRole.PARTNER,
        description="merchant (the payment's merchant), platform, partner or sub_merchant.",
    )
    percent: Exact | None = Field(
        default=None, gt=0, le=100, description="A percentage of what the fixed shares leave."
    )
    fixed: Exact | None = Field(
        default=None, gt=0, description="A fixed amount in the payment's currency (major units)."
    )
    remainder: bool = Field(default=False, description="What the other shares leave.")

    @model_validator(mode="after")
    def _one_kind(self) -> ShareSettings:
        kinds = [self.percent is not None, self.fixed is not None, self.remainder]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of percent, fixed or remainder: true")
        return self


class RuleSettings(BaseModel):
    """A named split rule: its shares, who bears the payment fees, how refunds come back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shares: tuple[ShareSettings, ...] = Field(min_length=1, description="The shares, in order.")
    fees_borne_by: Literal["merchant", "platform"] = Field(
        default="merchant",
        description="Who pays the payment's fees: the merchant, or the platform's commission.",
    )
    refunds: Literal["proportional", "merchant_first"] = Field(
        default="proportional",
        description="How a refund is taken back: from every party pro rata, or the merchant first.",
    )

    @model_validator(mode="after")
    def _parties(self) -> RuleSettings:
        parties = [s.party for s in self.shares]
        if len(set(parties)) != len(parties):
            raise ValueError(f"a party appears twice: {parties}")
        merchants = [s for s in self.shares if s.role is PartyRole.MERCHANT]
        if len(merchants) != 1:
            raise ValueError("exactly one share must have role: merchant (the payment's merchant)")
        platforms = [s for s in self.shares if s.role is PartyRole.PLATFORM]
        if self.fees_borne_by == "platform" and not platforms:
            raise ValueError("fees_borne_by: platform needs a share with role: platform")
        if len(platforms) > 1:
            raise ValueError("at most one share may have role: platform")
        return self


class ScheduleSettings(BaseModel):
    """When payees are paid: T+N business days, weekly or monthly, with a cut-off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["daily", "weekly", "monthly"] = "daily"
    delay_days: int = Field(default=1, ge=0, le=60, description="N of T+N, in business days.")
    weekday: int | None = Field(default=None, ge=0, le=6, description="weekly: 0 is Monday.")
    day_of_month: int | None = Field(default=None, ge=1, le=28, description="monthly: the day.")
    cutoff: time = Field(default=time(0, 0), description="Local time a business day closes.")
    timezone: str = Field(default="UTC", description="The IANA time zone of the cut-off.")


class ReserveSettings(BaseModel):
    """A rolling reserve: a share of each batch's incoming money held, then released."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Exact = Field(gt=0, lt=1, description='The share held back ("0.05" is 5 %).')
    days: int = Field(ge=1, le=365, description="Calendar days a reserve is held.")


class SettlementSettings(BaseModel):
    """A tenant's settlement settings (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: dict[str, RuleSettings] = Field(default_factory=dict)
    merchants: dict[str, str] = Field(
        default_factory=dict, description="Merchant id -> the name of its split rule."
    )
    default_rule: str | None = Field(
        default=None, description="The rule of merchants not listed (none: they are not split)."
    )
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    calendar_country: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="The business-day calendar (default: the settlement currency's country).",
    )
    payee_countries: dict[str, str] = Field(
        default_factory=dict,
        description="Payee id -> its bank's country, whose business days pay it (over the above).",
    )
    minimum_payout: dict[str, Exact] = Field(
        default_factory=dict, description="Currency -> the smallest amount paid out."
    )
    reserve: ReserveSettings | None = None
    allow_payment_splits: bool = Field(
        default=False,
        description="Accept a payment's own split instructions (its `split` attribute, JSON).",
    )
    payout_channel: str | None = Field(
        default=None,
        description="The channel paying out (default: the first that pays out in the currency).",
    )
    return_window_days: int = Field(
        default=10, ge=0, le=90, description="How long the janitor asks whether a payout came back."
    )

    @field_validator("calendar_country")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is not None:
            bank_calendar(country)  # a CalendarError (a ValueError) names what was expected
        return country

    @field_validator("payee_countries")
    @classmethod
    def _known_countries(cls, countries: dict[str, str]) -> dict[str, str]:
        for payee, country in countries.items():
            try:
                bank_calendar(country)
            except CalendarError as exc:
                raise ValueError(f"{payee}: {exc}") from None
        return countries

    @model_validator(mode="after")
    def _rules_exist(self) -> SettlementSettings:
        named = dict(self.merchants)
        if self.default_rule is not None:
            named["default_rule"] = self.default_rule
        for who, rule in named.items():
            if rule not in self.rules:
                known = ", ".join(sorted(self.rules)) or "none"
                raise ValueError(f"{who}: no rule named {rule!r} (rules: {known})")
        return self
