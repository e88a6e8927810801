"""finplug-example: asks for review of amounts above a threshold."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from finplug import Plugin, PluginMeta, hookimpl
from finplug.sockets.risk import RiskContext, RiskDecision, RiskReason
from finplug.types import Amount

__all__ = ["ExamplePlugin", "ExampleSettings"]


class ExampleSettings(BaseModel):
    """The plugin's tenant settings: validated per tenant, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    greeting: str = "hello"
    review_above: Amount | None = None


class ExamplePlugin(Plugin[ExampleSettings]):
    """Asks for review of any amount above ``review_above``."""

    meta = PluginMeta(
        name="example",
        version="0.1.0",
        summary="Asks for review of amounts above a threshold",
        api=">=1.0,<2",
        sockets={"risk": ">=1.0,<2"},  # implements the risk socket's finplug_assess_risk
        settings=ExampleSettings,
        # This plugin's own tables: Alembic revision scripts, run by `finplug db upgrade`.
        migrations="finplug_example.migrations",
    )

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        """Review amounts above the configured threshold; otherwise abstain."""
        limit = self.settings.review_above
        if limit is not None and context.amount is not None and context.amount.amount > limit:
            reason = RiskReason("example_review", f"{self.settings.greeting}: above {limit}")
            return RiskDecision.review(reason)
        return None
