"""The plugin class: ``risk-engine``, its tables and (issue 10, in progress) its component.

Not registered in ``finplug.plugins`` yet: it owns its migrations and the
list service; the ``risk`` component comes with the rule sets.
"""

from __future__ import annotations

from finplug import NoSettings, Plugin, PluginMeta

__all__ = ["RiskEnginePlugin"]


class RiskEnginePlugin(Plugin[NoSettings]):
    """Owns the risk engine's tables (lists and their audit, so far)."""

    meta = PluginMeta(
        name="risk-engine",
        version="0.1.0",
        summary="Risk decisions: JDM decision graphs, rules, velocity, lists (in progress)",
        api=">=1.0,<2",
        migrations="finplug_risk_engine.migrations",
    )
