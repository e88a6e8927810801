"""finplug-risk-rules: the ``risk`` component with limit and list rules set per tenant."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from finplug import Plugin, PluginMeta, hookimpl
from finplug.hookspecs import ComponentRegistrar
from finplug.sockets.risk import (
    RiskContext,
    RiskDecision,
    RiskReason,
    assess_risk,
)
from finplug.types import CountryCode, CurrencyCode, PositiveAmount

__all__ = ["RiskRulesPlugin", "RiskRulesSettings", "RiskService"]

_NAME = "risk-rules"


class RiskRulesSettings(BaseModel):
    """Per-tenant rules. Every list or limit left empty switches its rule off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_currencies: frozenset[CurrencyCode] | None = Field(
        default=None, description="Decline any other currency; omit to allow all."
    )
    decline_above: dict[CurrencyCode, PositiveAmount] = Field(
        default_factory=dict, description="Decline amounts strictly above this, per currency."
    )
    review_above: dict[CurrencyCode, PositiveAmount] = Field(
        default_factory=dict, description="Ask for review strictly above this, per currency."
    )
    blocked_countries: frozenset[CountryCode] = frozenset()
    review_countries: frozenset[CountryCode] = frozenset()
    blocked_merchants: frozenset[str] = frozenset()
    operations: frozenset[str] | None = Field(
        default=None, description="Operations to assess (`payment.authorize` …); omit for all."
    )


class RiskService:
    """The ``risk`` component: runs every risk rule of the tenant and combines them."""

    def __init__(self, plugin: RiskRulesPlugin) -> None:
        self._plugin = plugin

    def assess(self, context: RiskContext) -> RiskDecision:
        """Ask every ``finplug_assess_risk`` implementation; the strictest verdict wins.

        A raising rule plugin holds the operation for review (the hook fails closed).
        """
        return assess_risk(self._plugin.context.hooks, context)

    def rules(self) -> list[str]:
        """Names of this plugin's active rules (other plugins' rules are not listed)."""
        return self._plugin.active_rules()


class RiskRulesPlugin(Plugin[RiskRulesSettings]):
    """Provides ``tenant.component(RISK)`` and evaluates the rules in :class:`RiskRulesSettings`."""

    meta = PluginMeta(
        sockets={"risk": ">=1.0,<2"},
        name=_NAME,
        version="0.1.0",
        summary="Risk component with per-tenant limit and list rules",
        components=frozenset({"risk"}),
        api=">=1.0,<2",
        settings=RiskRulesSettings,
    )

    def active_rules(self) -> list[str]:
        """The rule names switched on by this tenant's settings."""
        s = self.settings
        active = {
            "allowed_currencies": s.allowed_currencies is not None,
            "decline_above": bool(s.decline_above),
            "review_above": bool(s.review_above),
            "blocked_countries": bool(s.blocked_countries),
            "review_countries": bool(s.review_countries),
            "blocked_merchants": bool(s.blocked_merchants),
        }
        return [f"{_NAME}:{name}" for name, on in active.items() if on]

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's risk component."""
        register("risk", RiskService(self))

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        """Evaluate the configured rules; abstain when none objects."""
        s = self.settings
        if s.operations is not None and context.operation not in s.operations:
            return None
        declines: list[RiskReason] = []
        reviews: list[RiskReason] = []
        amount = context.amount
        if amount is not None:
            code = amount.currency.code
            if s.allowed_currencies is not None and code not in s.allowed_currencies:
                declines.append(
                    RiskReason(
                        "currency_not_allowed",
                        f"{code} is not an allowed currency",
                        f"{_NAME}:allowed_currencies",
                    )
                )
            limit = s.decline_above.get(code)
            if limit is not None and amount.amount > limit:
                declines.append(
                    RiskReason(
                        "amount_over_limit",
                        f"{amount} is above the limit of {_fmt(limit)} {code}",
                        f"{_NAME}:decline_above",
                    )
                )
            threshold = s.review_above.get(code)
            if threshold is not None and amount.amount > threshold:
                reviews.append(
                    RiskReason(
                        "amount_needs_review",
                        f"{amount} is above the review threshold of {_fmt(threshold)} {code}",
                        f"{_NAME}:review_above",
                    )
                )
        country = context.country.upper() if context.country else None
        if country is not None:
            if country in s.blocked_countries:
                declines.append(
                    RiskReason(
                        "country_blocked",
                        f"country {country} is blocked",
                        f"{_NAME}:blocked_countries",
                    )
                )
            elif country in s.review_countries:
                reviews.append(
                    RiskReason(
                        "country_needs_review",
                        f"country {country} needs review",
                        f"{_NAME}:review_countries",
                    )
                )
        if context.merchant_id is not None and context.merchant_id in s.blocked_merchants:
            declines.append(
                RiskReason(
                    "merchant_blocked",
                    f"merchant {context.merchant_id} is blocked",
                    f"{_NAME}:blocked_merchants",
                )
            )
        if declines:
            return RiskDecision.decline(*declines, *reviews)
        if reviews:
            return RiskDecision.review(*reviews)
        return None


def _fmt(value: Decimal) -> str:
    return format(value, "f")
