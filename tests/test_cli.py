"""The finplug command: plugins, check and demo, as a user runs them."""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from finplug import Money, Platform
from finplug.cli import app
from finplug.ledger.values import LedgerCheckpoint
from finplug.sockets.payments import PAYMENTS

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples" / "tenants"


def test_plugins_table_and_json() -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["plugins"])
    assert table.exit_code == 0
    assert "risk-rules" in table.output
    listed = json.loads(runner.invoke(app, ["plugins", "--json"]).output)
    names = {item["name"]: item for item in listed}
    assert names["risk-rules"]["components"] == ["risk"]
    assert names["risk-rules"]["status"] == "loaded"
    assert names["risk-rules"]["error"] is None
    assert "finplug_assess_risk" in names["risk-rules"]["hooks"]


def test_plugins_allow_list() -> None:
    listed = json.loads(
        CliRunner().invoke(app, ["plugins", "--json", "--allow", "risk-rules"]).output
    )
    status = {item["name"]: (item["status"], item["error"]) for item in listed}
    assert status["risk-rules"] == ("loaded", None)
    assert status["fee-schedule"][0] == "failed"
    assert "allow list" in status["fee-schedule"][1]


def test_check_valid_folder_exits_zero() -> None:
    result = CliRunner().invoke(app, ["check", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_check_prints_every_error_and_exits_one(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "acme.yaml", tmp_path / "acme.yaml")
    text = (EXAMPLES / "acme.yaml").read_text()
    broken = text.replace('EUR: "10000.00"', "EUR: 10000.5").replace("[KP, IR]", "[KP, Iran]")
    (tmp_path / "acme.yaml").write_text(broken)
    (tmp_path / "other.toml").write_text('tenant = "other"\n[plugins.nope]\n')
    result = subprocess.run(
        [sys.executable, "-m", "finplug", "check", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    line_of = {s: i + 1 for i, s in enumerate(broken.splitlines())}
    limit_line = next(n for s, n in line_of.items() if "EUR: 10000.5" in s)
    country_line = next(n for s, n in line_of.items() if "Iran" in s)
    assert lines[0].startswith(
        f"{tmp_path / 'acme.yaml'}:{limit_line}: plugins.risk-rules.decline_above.EUR: "
    )
    assert lines[1].startswith(
        f"{tmp_path / 'acme.yaml'}:{country_line}: plugins.risk-rules.blocked_countries[1]: "
    )
    assert lines[2].startswith(f"{tmp_path / 'other.toml'}:2: plugins.nope: no plugin named")
    assert len(lines) == 3
    assert "3 error(s) found" in result.stderr


def test_check_missing_path_exits_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "no such file or directory" in result.output


def test_demo_shows_each_tenant_plugboard() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finplug", "demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={**os.environ, "COLUMNS": "240"},  # wide tables: one line per row
    )
    out = result.stdout
    for tenant in ("acme", "globex", "hooli", "initech", "umbrella"):
        assert f"tenant {tenant}" in out
    for verdict in ("decline", "review", "approve"):
        assert verdict in out
    assert "no risk plugin" in out  # globex runs without a risk component
    assert "acquiring" in out
    # Payments over each tenant's own channels and routing.
    # acme, globex, hooli and umbrella; initech has no payments
    assert out.count("payment story") == 4
    for seen in (
        "card-eu: authorize failed (channel_unavailable), card-backup: authorize succeeded",
        "card-y: authorize failed (channel_unavailable), card-x: authorize succeeded",
        "insufficient_funds",
        "partially_refunded",
        "requires_action",
        "payments:wallet:c-001:EUR",
        "hash chain and balances verified",
        # umbrella's risk engine: a decision table, a list, a velocity rule, a backtest.
        "high_band",
        "listed_customer",
        "card_velocity",
        "backtest of version 2",
    ):
        assert seen in out, seen
    # hooli's marketplace: a split, T+1 on Germany's calendar, a refused payout paid next day.
    for seen in ("marketplace order split", "courier-7", "failed (account_closed)", "next day"):
        assert seen in out, seen
    # umbrella's rules go live before its payments run: the decision table holds the big ticket.
    lines = out.splitlines()
    assert any("big ticket" in line and "high_band" in line for line in lines)
    assert any("large card payment" in line and "a high amount for this" in line for line in lines)
    assert "BROKEN" not in out
    assert "error" not in out


def _janitor_folder(tmp_path: Path, outcome: str) -> tuple[Path, str]:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "shop.yaml").write_text(
        "tenant: shop\n"
        "plugins:\n"
        "  payments: {}\n"
        "  channels-sim:\n"
        "    channels:\n"
        "      - {name: card, currencies: [EUR], script: {'14.00': " + outcome + "}}\n"
    )
    return tenants, f"sqlite:///{tmp_path}/db/{{tenant}}.db"


def test_demo_reports_bad_configs(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("tenant: bad\nplugins:\n  ghost: {}\n")
    result = CliRunner().invoke(app, ["demo", "--tenants", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}:3: plugins.ghost: no plugin named 'ghost'" in result.output


def test_embedding_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # its storage (./finplug-data) goes to a folder of the test's
    namespace = runpy.run_path(str(ROOT / "examples" / "embed.py"))
    lines = namespace["main"]()
    assert "acme: risk=review fees=67.45 EUR" in lines
    assert "globex: risk=approve fees=96.00 EUR" in lines
    assert "umbrella: risk=approve fees=0.00 EUR" in lines  # no rule set published yet


#: The checkpoint key the ledger commands read from the environment.
LEDGER_KEY = "cli-ledger-key-" + "9f8e7d6c5b4a3210" * 3


def test_cli_ledger_checkpoint_and_verify(
    database_url: str, unique_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`finplug ledger checkpoint` signs a tenant's books; `verify --checkpoint` checks them."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    tenant_id = f"cli-led-{unique_id}"
    (folder / f"{tenant_id}.yaml").write_text(f"tenant: {tenant_id}\n")
    where = ["--tenants", str(folder), "--database-url", database_url]
    monkeypatch.setenv("FINPLUG_TEST_LEDGER_KEY", LEDGER_KEY)
    monkeypatch.setenv("FINPLUG_TEST_OTHER_KEY", "0" * 64)
    monkeypatch.delenv("FINPLUG_TEST_UNSET_KEY", raising=False)
    platform = Platform.discover(database_url=database_url)
    platform.load_tenants(folder)
    platform.upgrade(tenant_id)
    runner = CliRunner()
    try:
        ledger = platform.tenant(tenant_id).ledger
        ledger.open_account("cash", "asset", "EUR", overdraft="unlimited")
        ledger.open_account("deposits", "liability", "EUR")
        ledger.transfer("t-1", "cash", "deposits", Money("12.50", "EUR"))
        saved = tmp_path / "checkpoint.json"
        sign = ["ledger", "checkpoint", "--tenant", tenant_id]
        key = ["--key-env", "FINPLUG_TEST_LEDGER_KEY"]
        made = runner.invoke(app, [*sign, *key, "--output", str(saved), *where])
        assert made.exit_code == 0, made.output
        assert LEDGER_KEY not in made.output
        first = LedgerCheckpoint.from_json(saved.read_text())
        assert (first.seq, first.accounts) == (1, 2)

        check = ["ledger", "verify", "--tenant", tenant_id, "--checkpoint", str(saved)]
        ok = runner.invoke(app, [*check, *key, *where])
        assert ok.exit_code == 0, ok.output
        assert f"{tenant_id}: ok (1 entries, 2 accounts, checked against the checkpoint" in (
            ok.output
        )
        everyone = runner.invoke(app, ["ledger", "verify", *where])
        assert everyone.exit_code == 0, everyone.output

        ledger.transfer("t-2", "cash", "deposits", Money("1.00", "EUR"))
        second = runner.invoke(app, [*sign, *key, "--previous", str(saved), *where])
        assert second.exit_code == 0, second.output
        assert LedgerCheckpoint.from_json(second.stdout).seq == 2

        wrong = runner.invoke(app, [*check, "--key-env", "FINPLUG_TEST_OTHER_KEY", *where])
        assert wrong.exit_code == 1
        assert "signature does not match" in wrong.output
        assert "0" * 64 not in wrong.output
        unset = runner.invoke(app, [*check, "--key-env", "FINPLUG_TEST_UNSET_KEY", *where])
        assert unset.exit_code == 1
        assert "'FINPLUG_TEST_UNSET_KEY' is not set" in unset.output
        alone = runner.invoke(app, [*check, *where])
        assert alone.exit_code == 1
        assert "--checkpoint needs --tenant and --key-env" in alone.output

        # Books that no longer verify: the problem is printed, exit 1, and nothing is signed.
        with platform.tenant(tenant_id).storage.begin() as conn:
            conn.execute(text("UPDATE ledger_accounts SET debits_posted = 1 WHERE code = 'cash'"))
        broken = runner.invoke(app, ["ledger", "verify", "--tenant", tenant_id, *where])
        assert broken.exit_code == 1
        assert "account cash: totals differ from its legs" in broken.output
        refused = runner.invoke(app, [*sign, *key, *where])
        assert refused.exit_code == 1
        assert "do not verify" in refused.output
        assert refused.stdout == ""
    finally:
        platform.tenant(tenant_id).storage.drop()
        platform.close()


def test_new_plugin_makes_a_distribution_and_refuses_bad_names(tmp_path: Path) -> None:
    made = CliRunner().invoke(app, ["new-plugin", "fx-rates", "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "finplug-fx-rates" / "pyproject.toml").is_file()
    bad = CliRunner().invoke(app, ["new-plugin", "Fx", "--dir", str(tmp_path)])
    assert bad.exit_code == 1
    assert "lower-case letters" in bad.output


@pytest.mark.parametrize(("outcome", "code"), [("timeout_applied", 0), ("lookup_timeout", 2)])
def test_jobs_run_runs_the_payments_janitor_job(tmp_path: Path, outcome: str, code: int) -> None:
    tenants, url = _janitor_folder(tmp_path, outcome)
    with Platform.discover(database_url=url) as platform:
        platform.load_tenants(tenants)
        platform.upgrade("shop")
        platform.tenant("shop").component(PAYMENTS).authorize(
            "k", amount=Money("14.00", "EUR"), merchant_id="m", method="card"
        )
    where = ["--tenants", str(tenants), "--database-url", url, "--state", str(tmp_path / "s.json")]
    result = CliRunner().invoke(app, ["jobs", "run", *where])
    assert result.exit_code == code, result.output
    assert "shop events.dispatch: ok" in result.output
    assert ("shop payments.janitor: ok 1 settled" in result.output) is (code == 0)
    named = CliRunner().invoke(app, ["jobs", "run", "ledger.expire_holds", *where])
    assert named.exit_code == 0, named.output
    assert named.output.startswith("shop ledger.expire_holds: ok 0 hold(s) expired\n")
    missing = CliRunner().invoke(app, ["jobs", "run", "no.such", *where])
    assert missing.exit_code == 1
    listed = CliRunner().invoke(app, ["jobs", "list", *where[:4]])
    assert "payments.janitor" in listed.output


def test_demo_runs_from_any_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finplug", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("payment story") == 4
    assert (tmp_path / "finplug-data" / "demo").is_dir()


def test_demo_runs_on_postgresql(tmp_path: Path) -> None:
    url = os.environ.get("FINPLUG_TEST_DATABASE_URL")
    if not url:
        pytest.skip("FINPLUG_TEST_DATABASE_URL is not set")
    import uuid

    suffix = uuid.uuid4().hex[:8]
    folder = tmp_path / "tenants"
    folder.mkdir()
    ids = []
    for config in EXAMPLES.iterdir():
        body = config.read_text()
        for name in ("acme", "globex", "hooli", "initech", "umbrella"):
            body = body.replace(f"tenant: {name}\n", f"tenant: {name}_{suffix}\n")
            body = body.replace(f'tenant = "{name}"', f'tenant = "{name}_{suffix}"')
        (folder / config.name).write_text(body)
        ids.append(f"{config.stem}_{suffix}")
    try:
        result = CliRunner().invoke(app, ["demo", "--tenants", str(folder), "--database-url", url])
        assert result.exit_code == 0, result.output
        assert result.output.count("payment story") == 4
        assert "hash chain and balances verified" in result.output
    finally:
        with Platform.discover(database_url=url) as platform:
            platform.load_tenants(folder)
            for tenant_id in ids:
                platform.tenant(tenant_id).storage.drop()


def test_plugins_table_is_not_clipped_when_piped() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "finplug", "plugins"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    row = next(line for line in result.stdout.splitlines() if "risk-rules" in line)
    assert "finplug_assess_risk" in row  # the whole hooks cell on the plugin's line
    assert result.stderr.count("warning:") == len(set(result.stderr.splitlines()))


def test_check_prints_one_line_per_issue_whatever_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from finplug import ConfigIssue

    issue = ConfigIssue("a.yaml", 3, "plugins.x", "hook validation failed:\n  line two\n  three")
    monkeypatch.setattr(Platform, "check", lambda self, *paths: [issue])
    result = CliRunner().invoke(app, ["check", "a.yaml"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "a.yaml:3: plugins.x: hook validation failed: line two three"
    ]


def test_packaged_demo_tenants_are_the_examples() -> None:
    packaged = ROOT / "src" / "finplug" / "demo_tenants"
    names = sorted(p.name for p in EXAMPLES.iterdir() if p.is_file())
    assert sorted(p.name for p in packaged.iterdir() if p.is_file()) == names
    for name in names:
        assert (packaged / name).read_text() == (EXAMPLES / name).read_text(), name
