from __future__ import annotations

from finplug import Money, RiskContext, RiskVerdict
from finplug.testing import MakeTenant, assert_valid_plugin
from finplug_example import ExamplePlugin


def test_plugin_matches_the_specs() -> None:
    assert_valid_plugin(ExamplePlugin)


def test_reviews_above_threshold(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([ExamplePlugin], settings={"example": {"review_above": "100"}})
    big = RiskContext("payment.authorize", Money("100.01", "EUR"))
    small = RiskContext("payment.authorize", Money("100.00", "EUR"))
    [decision] = tenant.hooks.finplug_assess_risk(context=big)
    assert decision.verdict is RiskVerdict.REVIEW
    assert tenant.hooks.finplug_assess_risk(context=small) == []
