"""The plugin: its meta, and the channels it registers through a tenant."""

from __future__ import annotations

from typing import Any

import pytest

from finplug.sockets.payments import ChannelConnector, ChannelResult, ChannelTimeoutError
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug.testing import MakeTenant, assert_valid_plugin
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from sim_helpers import request

SETTINGS: dict[str, Any] = {
    "seed": 3,
    "channels": [
        {"name": "card-eu", "currencies": ["EUR"], "script": {"9.99": "timeout_applied"}},
        {"name": "wallet-cn", "methods": ["wallet"], "currencies": ["CNY"], "enabled": False},
    ],
}


def test_plugin_matches_the_specs() -> None:
    assert_valid_plugin(ChannelsSimPlugin)
    meta = ChannelsSimPlugin.meta
    assert (meta.name, meta.api, meta.components) == ("channels-sim", ">=1.0,<2", frozenset())


def test_hook_registers_one_connector_per_channel(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([ChannelsSimPlugin], settings={"channels-sim": SETTINGS})
    [connectors] = payments_hooks.of(tenant.hooks).finplug_register_channels()
    assert [c.info.name for c in connectors] == ["card-eu", "wallet-cn"]
    assert all(isinstance(c, ChannelConnector) for c in connectors)
    assert [c.info.enabled for c in connectors] == [True, False]
    plugin = tenant.plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    assert plugin.connectors == tuple(connectors)
    assert all(isinstance(c, SimConnector) and c.seed == 3 for c in plugin.connectors)


def test_connectors_are_built_once_per_tenant(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([ChannelsSimPlugin], settings={"channels-sim": SETTINGS})
    [first] = payments_hooks.of(tenant.hooks).finplug_register_channels()
    [again] = payments_hooks.of(tenant.hooks).finplug_register_channels()
    assert all(a is b for a, b in zip(first, again, strict=True))
    # So the journal of the first call is there for the next one.
    with pytest.raises(ChannelTimeoutError):
        first[0].execute(request(amount="9.99"))
    plugin = tenant.plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    assert isinstance(plugin.connector("card-eu").lookup(request(amount="9.99")), ChannelResult)
    with pytest.raises(KeyError, match="no channel 'nope'"):
        plugin.connector("nope")


def test_tenants_do_not_share_connectors(make_tenant: MakeTenant) -> None:
    one = make_tenant([ChannelsSimPlugin], settings={"channels-sim": SETTINGS}, tenant_id="one")
    two = make_tenant([ChannelsSimPlugin], settings={"channels-sim": SETTINGS}, tenant_id="two")
    [[a, _]] = payments_hooks.of(one.hooks).finplug_register_channels()
    [[b, _]] = payments_hooks.of(two.hooks).finplug_register_channels()
    assert a is not b
    a.execute(request())
    assert isinstance(b, SimConnector)
    assert b.journal == ()


def test_no_channels_registers_nothing(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([ChannelsSimPlugin])
    assert payments_hooks.of(tenant.hooks).finplug_register_channels() == []
