"""Secrets from ${ENV} or files never appear in reprs, logs, errors or dumps."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import pytest
from pydantic import SecretStr

from finplug import ConfigError, Platform
from finplug.cli import app
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
