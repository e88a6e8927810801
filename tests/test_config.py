"""Tenant configs: every error names file, line and field path; all are reported at once."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from finplug import ConfigError, Platform, TenantConfig
from sample_plugins import FeeEcho, PaymentsPlugin, SampleRiskPlugin, tagged_plugin


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


ACME_YAML = """
# Acme's tenant config
tenant: acme
name: Acme Wealth

plugins:
  sample-risk:
    tag: blocked
  payments:
    merchant_name: Acme
    limit: "5000"
    channels:
      - name: card
        currency: EUR
        fee_rate: 1.5
      - name: wallet
        currency: USD
        fee_rate: "0.01"
"""


@pytest.fixture
def platform() -> Platform:
    return Platform([PaymentsPlugin, SampleRiskPlugin, FeeEcho], environ={})


def test_yaml_error_names_file_line_and_field(platform: Platform, tmp_path: Path) -> None:
    path = write(tmp_path, "acme.yaml", ACME_YAML)
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    [issue] = info.value.issues
    assert issue.source == str(path)
    assert issue.line == 14
    assert issue.path == "plugins.payments.channels[0].fee_rate"
    assert str(issue).startswith(f"{path}:14: plugins.payments.channels[0].fee_rate: ")
    assert "quote the number" in issue.message
    assert platform.tenant_ids == ()  # nothing half-added


def test_toml_error_names_file_line_and_field(platform: Platform, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "globex.toml",
        """
        tenant = "globex"

        [plugins.sample-risk]
        tag = "x"

        [plugins.payments]
        merchant_name = "Globex"

        [[plugins.payments.channels]]
        name = "card"
        currency = "EUR"

        [[plugins.payments.channels]]
        name = "sepa"
        currency = "NOPE"
        """,
    )
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    [issue] = info.value.issues
    assert (issue.line, issue.path) == (15, "plugins.payments.channels[1].currency")
    assert "unknown currency" in issue.message


def test_every_error_is_reported_at_once(platform: Platform, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """
        tenant: Bad Id
        colour: blue
        plugins:
          nope: {}
          payments:
            limit: lots
            channels:
              - currency: EUR
        """,
    )
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    rendered = [str(i) for i in info.value.issues]
    # The shape errors come first; plugin settings are checked once the shape is valid.
    assert rendered == [
        f"{path}:1: tenant: String should match pattern '^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$'",
        f"{path}:2: colour: unknown field; check its spelling against the documented settings",
    ]
    fixed = path.read_text().replace("Bad Id", "bad").replace("colour: blue\n", "")
    path.write_text(fixed)
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    rendered = [str(i) for i in info.value.issues]
    assert rendered[0].startswith(f"{path}:3: plugins.nope: no plugin named 'nope' is installed")
    assert f"{path}:5: plugins.payments.limit: " in rendered[1]
    assert rendered[2] == f"{path}:7: plugins.payments.channels[0].name: required field is missing"
    assert len(rendered) == 3


def test_plugins_of_unknown_names_and_failed_plugins(tmp_path: Path) -> None:
    platform = Platform([FeeEcho, SampleRiskPlugin], allow=["fee-echo"], environ={})
    with pytest.raises(ConfigError) as info:
        platform.add_tenant({"tenant": "t", "plugins": {"sample-risk": {}, "ghost": None}})
    messages = [i.message for i in info.value.issues]
    assert "not in the platform's allow list" in messages[0]
    assert messages[1].startswith(
        "no plugin named 'ghost' is installed (loaded: events, fee-echo, idempotency, ledger)"
    )


def test_requirements_are_checked_before_any_runtime(platform: Platform, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "needs.yaml",
        """
        tenant: needs
        plugins:
          payments: {}
        """,
    )
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    [issue] = info.value.issues
    assert issue.line == 3
    assert "requires a 'risk' component" in issue.message

    needs_plugin = tagged_plugin("needy", requires=frozenset({"fee-echo"}))
    other = Platform([needs_plugin, FeeEcho], environ={})
    with pytest.raises(ConfigError, match="requires plugin 'fee-echo'"):
        other.add_tenant({"tenant": "x", "plugins": {"needy": {}}})


def test_two_providers_of_one_component_is_an_error() -> None:
    class OtherRisk(SampleRiskPlugin):
        meta = SampleRiskPlugin.meta.model_copy(update={"name": "other-risk"})

    platform = Platform([SampleRiskPlugin, OtherRisk], environ={})
    with pytest.raises(ConfigError, match="'risk' is provided by both"):
        platform.add_tenant({"tenant": "x", "plugins": {"sample-risk": {}, "other-risk": {}}})


def test_load_tenants_is_all_or_nothing_and_lists_every_file(
    platform: Platform, tmp_path: Path
) -> None:
    write(tmp_path, "a.yaml", "tenant: a\nplugins:\n  fee-echo: {}\n")
    write(tmp_path, "b.toml", 'tenant = "a"\n')  # duplicate id
    write(tmp_path, "c.yaml", "tenant: c\nplugins:\n  fee-echo:\n    tag: [1]\n")
    write(tmp_path, "notes.txt", "ignored: not a config suffix")
    with pytest.raises(ConfigError) as info:
        platform.load_tenants(tmp_path)
    rendered = [str(i) for i in info.value.issues]
    assert rendered == [
        f"{tmp_path / 'b.toml'}:1: tenant: tenant id 'a' is also used by {tmp_path / 'a.yaml'}",
        f"{tmp_path / 'c.yaml'}:4: plugins.fee-echo.tag: Input should be a valid string",
    ]
    assert platform.tenant_ids == ()


def test_config_from_dict_and_defaults(platform: Platform) -> None:
    config = platform.add_tenant({"tenant": "d", "plugins": {"fee-echo": None}})
    assert config.display_name == "d"
    assert config.source is None
    assert platform.tenant("d").plugin_names == (
        "events",
        "fee-echo",
        "idempotency",
        "ledger",
    )  # kernel plugins are built in


def test_config_repr_shows_plugin_names_only() -> None:
    config = TenantConfig.from_dict(
        {"tenant": "r", "plugins": {"payments": {"channels": [{"api_key": "s3cr3t"}]}}}
    )
    assert "s3cr3t" not in repr(config)
    assert "payments" in repr(config)


def test_missing_path_is_a_config_error(platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        platform.load_tenants(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no tenant config files found"):
        platform.load_tenants(empty)


def test_example_tenants_are_valid() -> None:
    examples = Path(__file__).parents[1] / "examples" / "tenants"
    platform = Platform.discover()
    assert platform.check(examples) == []
    assert set(platform.load_tenants(examples)) >= {"acme", "globex"}
    acme, globex = platform.tenant("acme"), platform.tenant("globex")
    assert set(acme.plugin_names) != set(globex.plugin_names)
