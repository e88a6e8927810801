"""finplug-risk-engine: risk decisions from JDM decision graphs, rules, velocity and lists.

Built in stages (issue 10). Today:

- :mod:`finplug_risk_engine.expr`: the ZEN expression language of GoRules'
  JDM format, parsed into an AST of its own and compiled into Python
  closures once; never ``eval``.
- :mod:`finplug_risk_engine.jdm`: JDM decision graphs (input, output,
  decision-table, expression and switch nodes) loaded from and exported to
  ``.json``, with located errors, and evaluated through compiled closures.

Still to come: Radar-style rules, velocity features, lists, versioned rule
sets with shadow runs and backtests, the decision log, the CLI, and the
``risk`` component itself.
"""

from __future__ import annotations

from finplug_risk_engine._plugin import RiskEnginePlugin, RiskEngineSettings
from finplug_risk_engine.engine import BacktestReport, RiskEngine

__all__ = ["BacktestReport", "RiskEngine", "RiskEnginePlugin", "RiskEngineSettings"]
