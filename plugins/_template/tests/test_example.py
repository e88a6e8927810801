from __future__ import annotations

from finplug import Money
from finplug.sockets.risk import RiskContext, RiskVerdict, risk_hooks
from finplug.testing import MakeTenant, assert_valid_plugin
from finplug_example import ExamplePlugin


def test_plugin_matches_the_specs() -> None:
    assert_valid_plugin(ExamplePlugin)


def test_reviews_above_threshold(make_tenant: MakeTenant) -> None:
    # make_tenant: hooks and settings only, no migrations (finplug_tenant gives storage).
    tenant = make_tenant([ExamplePlugin], settings={"example": {"review_above": "100"}})
    big = RiskContext("payment.authorize", Money("100.01", "EUR"))
    small = RiskContext("payment.authorize", Money("100.00", "EUR"))
    hooks = risk_hooks.of(tenant.hooks)  # the risk socket's hooks, typed
    [decision] = hooks.finplug_assess_risk(context=big)
    assert decision.verdict is RiskVerdict.REVIEW
    assert hooks.finplug_assess_risk(context=small) == []
