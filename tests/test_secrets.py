"""Secrets from ${ENV} or files never appear in reprs, logs, errors or dumps."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from finplug import ConfigError, ConfigIssue, Platform, Plugin, PluginMeta, TenantConfig, hookimpl
from finplug._sources import MASK, ResolvedSecret
from finplug.cli import app
from finplug.types import Credential
from sample_plugins import PaymentsPlugin, SampleRiskPlugin

ENV_SECRET = "sk_live_ENVVALUE_0123456789"
FILE_SECRET = "sk_live_FILEVALUE_9876543210"
INLINE_SECRET = "sk_live_INLINE_555"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "wallet.key").write_text(FILE_SECRET + "\n")
    path = tmp_path / "acme.yaml"
    path.write_text(
        "tenant: acme\n"
        "plugins:\n"
        "  sample-risk: {}\n"
        "  payments:\n"
        "    channels:\n"
        "      - name: card\n"
        "        currency: EUR\n"
        "        api_key: ${CARD_API_KEY}\n"
        "      - name: wallet\n"
        "        currency: EUR\n"
        "        api_key: ${file:secrets/wallet.key}\n"
    )
    return path


def assert_no_secret(text: str) -> None:
    for secret in (ENV_SECRET, FILE_SECRET, INLINE_SECRET, "ENVVALUE", "FILEVALUE"):
        assert secret not in text


def test_secrets_resolve_but_never_show(
    config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    platform = Platform([PaymentsPlugin, SampleRiskPlugin], environ={"CARD_API_KEY": ENV_SECRET})
    config = platform.add_tenant(config_file)
    tenant = platform.tenant("acme")
    settings = tenant.plan.settings["payments"]
    card, wallet = settings.channels  # type: ignore[attr-defined]
    assert isinstance(card.api_key, SecretStr)
    assert card.api_key.get_secret_value() == ENV_SECRET
    assert wallet.api_key.get_secret_value() == FILE_SECRET  # trailing newline stripped

    tenant.plugin("payments").context.log.info("assembled with %s", settings)
    shown = [
        repr(config),
        str(config),
        repr(settings),
        str(settings),
        repr(tenant),
        repr(tenant.plugin("payments")),
        repr(tenant.plugin("payments").context),
        repr(platform),
        json.dumps(tenant.describe()),
        str(settings.model_dump()),
        settings.model_dump_json(),
        json.dumps(settings.model_dump(mode="json")),
        caplog.text,
    ]
    for text in shown:
        assert_no_secret(text)
    assert "**********" in json.dumps(tenant.describe())
    assert pickle.loads(pickle.dumps(card.api_key)) == card.api_key


def test_unset_variable_names_the_variable_not_a_value(config_file: Path) -> None:
    platform = Platform([PaymentsPlugin, SampleRiskPlugin], environ={})
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(config_file)
    [issue] = info.value.issues
    assert issue.line == 8
    assert issue.path == "plugins.payments.channels[0].api_key"
    assert "CARD_API_KEY" in issue.message


def test_invalid_secret_errors_do_not_echo_the_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "bad.yaml"
    path.write_text(
        "tenant: bad\n"
        "plugins:\n"
        "  sample-risk: {}\n"
        "  payments:\n"
        "    channels:\n"
        "      - name: card\n"
        f"        currency: {INLINE_SECRET}\n"  # a secret pasted in the wrong field
        '        api_key: ["${CARD_API_KEY}"]\n'  # a list where a string is expected
    )
    platform = Platform([PaymentsPlugin, SampleRiskPlugin], environ={"CARD_API_KEY": ENV_SECRET})
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    assert len(info.value.issues) == 2
    assert_no_secret(str(info.value))
    assert_no_secret(repr(info.value))
    assert_no_secret(repr(info.value.issues))
    assert_no_secret(caplog.text)


def test_check_command_output_has_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    path = tmp_path / "acme.yaml"
    path.write_text(
        "tenant: acme\nplugins:\n  risk-rules:\n    blocked_merchants: ${MERCHANT_SECRET}\n"
    )
    monkeypatch.setenv("MERCHANT_SECRET", ENV_SECRET)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:4: plugins.risk-rules.blocked_merchants:" in result.output
    assert_no_secret(result.output)


# ------------------------------------------------------------------ dumps and documents


def shows_no_secret(config: TenantConfig) -> list[str]:
    """Every way a config can be shown or dumped."""
    document = config.document
    assert document is not None
    return [
        str(config.model_dump()),
        config.model_dump_json(),
        json.dumps(config.model_dump(mode="json")),
        str(config.plugins),
        json.dumps(document.data),
        repr(document),
        repr(config),
    ]


def test_model_dump_redacts_resolved_secrets(config_file: Path) -> None:
    platform = Platform([PaymentsPlugin, SampleRiskPlugin], environ={"CARD_API_KEY": ENV_SECRET})
    added = platform.add_tenant(config_file)
    for config in (added, platform.tenant("acme").config):
        for text in shows_no_secret(config):
            assert_no_secret(text)
        card, wallet = config.plugins["payments"]["channels"]  # type: ignore[index]
        assert card["api_key"] == wallet["api_key"] == MASK
        assert card["currency"] == "EUR"  # values written in the file are shown as written
        assert config.document is not None
        shown = config.document.data["plugins"]["payments"]["channels"]
        assert [channel["api_key"] for channel in shown] == [MASK, MASK]
        assert json.loads(config.model_dump_json())["plugins"] == config.plugins


def test_resolved_plugins_is_the_one_way_to_the_real_values(config_file: Path) -> None:
    config = TenantConfig.from_file(config_file, environ={"CARD_API_KEY": ENV_SECRET})
    resolved = config.resolved_plugins()
    card, wallet = resolved["payments"]["channels"]  # type: ignore[index]
    assert card["api_key"] == ENV_SECRET
    assert wallet["api_key"] == FILE_SECRET
    assert isinstance(card["api_key"], ResolvedSecret)
    assert_no_secret(repr(resolved))  # a resolved value logged by mistake shows masked
    card["api_key"] = "changed"  # a copy: the config keeps its values
    assert config.resolved_plugins()["payments"]["channels"][0]["api_key"] == ENV_SECRET  # type: ignore[index]
    assert config.plugins["payments"]["channels"][0]["api_key"] == MASK  # type: ignore[index]


def test_configs_differing_only_in_a_secret_are_not_equal(config_file: Path) -> None:
    first = TenantConfig.from_file(config_file, environ={"CARD_API_KEY": ENV_SECRET})
    again = TenantConfig.from_file(config_file, environ={"CARD_API_KEY": ENV_SECRET})
    other = TenantConfig.from_file(config_file, environ={"CARD_API_KEY": "sk_live_OTHER"})
    assert first == again
    assert first != other  # their dumps are equal, but a reload must see the change


def test_database_url_from_a_reference_stays_secret(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://app:{ENV_SECRET}@db.internal/fin"
    path = tmp_path / "acme.yaml"
    path.write_text("tenant: acme\ndatabase:\n  url: ${DB_URL}\n")
    config = TenantConfig.from_file(path, environ={"DB_URL": url})
    assert config.database.url is not None
    assert config.database.url.get_secret_value() == url
    for text in shows_no_secret(config):
        assert_no_secret(text)
        assert "db.internal" not in text
    assert config.document is not None
    assert config.document.data["database"]["url"] == MASK


def test_database_url_written_in_the_file_shows_without_its_password(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(f"tenant: acme\ndatabase:\n  url: postgresql://app:{ENV_SECRET}@db/fin\n")
    config = TenantConfig.from_file(path, environ={})
    for text in shows_no_secret(config):
        assert_no_secret(text)
    assert config.document is not None
    assert config.document.data["database"]["url"] == "postgresql://app:***@db/fin"


def test_tenant_id_and_name_from_references_are_not_secrets() -> None:
    config = TenantConfig.from_dict(
        {"tenant": "${TENANT}", "name": "${NAME}"}, environ={"TENANT": "acme", "NAME": "Acme"}
    )
    assert (config.tenant, config.name) == ("acme", "Acme")
    assert config.document is not None
    assert config.document.data == {"tenant": "acme", "name": "Acme"}
    assert config.issue(("tenant",), "tenant 'acme' (Acme)").message == "tenant 'acme' (Acme)"


# ------------------------------------------------------------------ errors


def test_config_issue_masks_resolved_secrets(config_file: Path) -> None:
    config = TenantConfig.from_file(config_file, environ={"CARD_API_KEY": ENV_SECRET})
    cut = ENV_SECRET[:12] + "… (27 characters)"  # how error messages cut long values
    for message in (
        f"unknown channel {ENV_SECRET}",
        f"unknown channel {ENV_SECRET!r}",
        f"unknown channel {json.dumps(FILE_SECRET)}",
        f"unknown channel '{cut}'",
        f"{ENV_SECRET} and {FILE_SECRET} again: {ENV_SECRET}",
    ):
        issue = config.issue(("plugins", "payments", "channels", 0), message)
        assert_no_secret(str(issue))
        assert "sk_live_" not in issue.message
        assert MASK in issue.message
        assert issue.line == 6
    kept = "channel 'card' has no currency"
    assert config.issue(("plugins",), kept).message == kept


def test_check_masks_a_secret_pasted_into_routing_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    example = Path(__file__).parents[1] / "examples" / "tenants" / "acme.yaml"
    text = example.read_text(encoding="utf-8")
    assert "priority: [card-eu, card-backup]" in text
    path = tmp_path / "acme.yaml"
    path.write_text(text.replace("[card-eu, card-backup]", '[card-eu, "${MISPLACED_KEY}"]'))
    monkeypatch.setenv("MISPLACED_KEY", ENV_SECRET)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "plugins.payments.routing.priority[1]: unknown channel '**********'" in result.output
    assert_no_secret(result.output)


class _EchoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = "ok"

    @field_validator("code")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != "ok":
            raise ValueError(f"unknown code {value!r}")  # what the docs ask plugins not to do
        return value


class _EchoPlugin(Plugin[_EchoSettings]):
    meta = PluginMeta(name="echo", version="0", settings=_EchoSettings)

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        return [ConfigIssue(None, None, "plugins.echo.code", f"I hold {self.settings.code}")]


def test_plugin_messages_that_quote_a_secret_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("tenant: acme\nplugins:\n  echo:\n    code: ${ECHO_CODE}\n")
    platform = Platform([_EchoPlugin], environ={"ECHO_CODE": ENV_SECRET})
    with pytest.raises(ConfigError) as info:  # the settings validator quotes the value
        platform.add_tenant(path)
    [issue] = info.value.issues
    assert (issue.line, issue.path) == (4, "plugins.echo.code")
    assert issue.message == "Value error, unknown code '**********'"

    platform = Platform([_EchoPlugin], environ={"ECHO_CODE": "ok"})
    path.write_text("tenant: acme\nplugins:\n  echo:\n    code: ${ECHO_CODE}\n")
    [issue] = platform.check(path)  # finplug_check_tenant quotes it
    assert issue.message == "I hold **********"


def test_pydantic_issues_never_echo_the_input(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        "tenant: acme\n"
        "plugins:\n"
        "  sample-risk: {}\n"
        "  payments:\n"
        f"    merchant_name: [{INLINE_SECRET}]\n"
        f"    limit: {INLINE_SECRET}\n"
        "    channels:\n"
        f"      - name: {INLINE_SECRET}\n"
        f"        currency: {INLINE_SECRET}\n"
        f"        fee_rate: {INLINE_SECRET}\n"
        f"        {INLINE_SECRET}: 1\n"
    )
    platform = Platform([PaymentsPlugin, SampleRiskPlugin], environ={})
    with pytest.raises(ConfigError) as info:
        platform.add_tenant(path)
    assert len(info.value.issues) == 5
    for issue in info.value.issues:
        assert INLINE_SECRET not in issue.message


# ------------------------------------------------------------------ the Credential type


class _VaultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: Credential
    webhook_secret: Credential | None = None


class _VaultPlugin(Plugin[_VaultSettings]):
    meta = PluginMeta(name="vault", version="0", settings=_VaultSettings)


def _vault_settings(platform: Platform, path: Path) -> _VaultSettings:
    platform.add_tenant(path)
    settings = platform.tenant("acme").plan.settings["vault"]
    assert isinstance(settings, _VaultSettings)
    return settings


def test_credential_accepts_env_and_file_references(config_file: Path) -> None:
    path = config_file.parent / "vault.yaml"
    path.write_text(
        "tenant: acme\nplugins:\n  vault:\n"
        "    api_key: ${VAULT_KEY}\n    webhook_secret: ${file:secrets/wallet.key}\n"
    )
    settings = _vault_settings(Platform([_VaultPlugin], environ={"VAULT_KEY": ENV_SECRET}), path)
    assert settings.api_key.get_secret_value() == ENV_SECRET
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == FILE_SECRET
    assert type(settings.api_key.get_secret_value()) is str  # the marker stays in the config
    assert_no_secret(repr(settings) + settings.model_dump_json())


@pytest.mark.parametrize(
    "written",
    [INLINE_SECRET, f"'{INLINE_SECRET}'", "$${VAULT_KEY}"],
    ids=["plain", "quoted", "escaped-reference"],
)
def test_credential_refuses_a_literal_secret_in_the_file(tmp_path: Path, written: str) -> None:
    path = tmp_path / "vault.yaml"
    path.write_text(f"tenant: acme\nplugins:\n  vault:\n    api_key: {written}\n")
    with pytest.raises(ConfigError) as info:
        Platform([_VaultPlugin], environ={"VAULT_KEY": ENV_SECRET}).add_tenant(path)
    [issue] = info.value.issues
    assert (issue.source, issue.line, issue.path) == (str(path), 4, "plugins.vault.api_key")
    assert "must not be written into the config" in issue.message
    assert '"${VAR}" or "${file:PATH}"' in issue.message
    assert INLINE_SECRET not in str(info.value)


def test_credential_refuses_a_literal_in_a_config_built_in_code() -> None:
    platform = Platform([_VaultPlugin], environ={})
    with pytest.raises(ConfigError, match="must not be written into the config"):
        platform.add_tenant({"tenant": "acme", "plugins": {"vault": {"api_key": INLINE_SECRET}}})


def test_credential_accepts_a_secret_str_from_code() -> None:
    settings = _VaultSettings.model_validate({"api_key": SecretStr(INLINE_SECRET)})
    assert settings.api_key.get_secret_value() == INLINE_SECRET
    platform = Platform([_VaultPlugin], environ={})
    platform.add_tenant(
        {"tenant": "acme", "plugins": {"vault": {"api_key": SecretStr(INLINE_SECRET)}}}
    )
    plugin = platform.tenant("acme").plugin("vault")
    assert plugin.settings.api_key.get_secret_value() == INLINE_SECRET
    assert_no_secret(platform.tenant("acme").config.model_dump_json())


@pytest.mark.parametrize("value", ["", "  ", "\n"])
def test_credential_refuses_a_blank_value(tmp_path: Path, value: str) -> None:
    path = tmp_path / "vault.yaml"
    path.write_text("tenant: acme\nplugins:\n  vault:\n    api_key: ${VAULT_KEY}\n")
    with pytest.raises(ConfigError) as info:
        Platform([_VaultPlugin], environ={"VAULT_KEY": value}).add_tenant(path)
    [issue] = info.value.issues
    assert issue.path == "plugins.vault.api_key"
    assert "empty value" in issue.message


def test_credential_refuses_other_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="string"):
        _VaultSettings.model_validate({"api_key": 12345})


class _RaisingCheckPlugin(_EchoPlugin):
    meta = PluginMeta(name="echo", version="0", settings=_EchoSettings)

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        raise RuntimeError(f"cannot use {self.settings.code!r}")


def test_a_raising_check_hook_does_not_echo_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("tenant: acme\nplugins:\n  echo:\n    code: ${ECHO_CODE}\n")
    platform = Platform([_RaisingCheckPlugin], environ={"ECHO_CODE": "ok"})
    [issue] = platform.check(path)
    assert "cannot use '**********'" in issue.message
    assert "'ok'" not in issue.message
    assert "finplug_check_tenant" in issue.message


def test_a_short_secret_is_masked_only_as_a_word_of_its_own() -> None:
    config = TenantConfig.from_dict(
        {"tenant": "acme", "plugins": {"p": {"code": "${CODE}"}}}, environ={"CODE": "ok"}
    )
    issue = config.issue(("plugins", "p", "code"), "hook failed: 'ok', ok; ok_1 okay")
    assert issue.message == "hook failed: '**********', **********; ok_1 okay"
