"""finplug-example: a template plugin that asks for review above a threshold."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from finplug import Plugin, PluginMeta, RiskContext, RiskDecision, RiskReason, hookimpl
from finplug.types import Amount

__all__ = ["ExamplePlugin", "ExampleSettings"]


class ExampleSettings(BaseModel):
    """This plugin's tenant settings: validated per tenant, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    greeting: str = "hello"
    review_above: Amount | None = None


class ExamplePlugin(Plugin[ExampleSettings]):
    """Asks for review of any amount above ``review_above``."""

    meta = PluginMeta(
        name="example",
        version="0.1.0",
        summary="Template plugin: review above a threshold",
        api=">=1.0,<2",
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
