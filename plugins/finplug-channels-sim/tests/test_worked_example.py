"""docs/channel-connectors.md: its worked example is this folder's worked_example.py, and works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import worked_example
from finplug.sockets.payments import (
    ChannelConnector,
    ChannelDeclinedError,
    ChannelResult,
    ChannelTimeoutError,
    ChannelUnavailableError,
)
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug.testing import MakeTenant, assert_valid_plugin
from sim_helpers import request
from worked_example import PiggyBankConnector, PiggyBankPlugin

PAGE = Path(__file__).parents[3] / "docs" / "channel-connectors.md"


def test_docs_example_is_this_module() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert text.startswith("# ")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    [example] = [block for block in blocks if "class PiggyBankPlugin" in block]
    source = Path(worked_example.__file__).read_text(encoding="utf-8")
    assert example == source, "docs/channel-connectors.md and tests/worked_example.py differ"
    for i, block in enumerate(blocks):
        compile(block, f"docs/channel-connectors.md block {i}", "exec")


def test_example_plugin_is_valid() -> None:
    assert_valid_plugin(PiggyBankPlugin)


def test_example_connector_through_a_tenant(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([PiggyBankPlugin], settings={"piggy-bank": {"limit": "100"}})
    [[connector]] = payments_hooks.of(tenant.hooks).finplug_register_channels()
    assert isinstance(connector, ChannelConnector)
    assert isinstance(connector, PiggyBankConnector)
    assert connector.info.name == "piggy-bank"
    assert connector.info.max_amount == 100

    first = connector.execute(request(reference="r-1", amount="50.00"))
    assert first == ChannelResult("pb_1")
    assert connector.execute(request(reference="r-1", amount="50.00")) == first  # idempotent
    assert connector.lookup(request(reference="r-1")) == first
    assert connector.lookup(request(reference="never-sent")) is None

    with pytest.raises(ChannelDeclinedError, match="limit_exceeded"):
        connector.execute(request(reference="r-2", amount="100.01"))

    connector.api.down = True
    with pytest.raises(ChannelUnavailableError, match="maintenance") as info:
        connector.execute(request(reference="r-3"))
    assert info.value.retriable
    with pytest.raises(ChannelTimeoutError, match="lookup_timeout"):
        connector.lookup(request(reference="r-3"))


def test_example_is_built_once_per_tenant(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([PiggyBankPlugin])
    [[first]] = payments_hooks.of(tenant.hooks).finplug_register_channels()
    [[again]] = payments_hooks.of(tenant.hooks).finplug_register_channels()
    assert first is again
