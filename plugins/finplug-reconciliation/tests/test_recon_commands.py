"""``finplug recon import | run | breaks | report`` as a user runs them, on both databases."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from finplug import Money, Platform
from finplug.cli import build_app
from finplug.sockets.payments import PAYMENTS
from finplug.testing import new_tenant_id
from recon_helpers import csv_file

DAY = date.today()


def _tenants(tmp_path: Path, tenant_id: str) -> Path:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / f"{tenant_id}.yaml").write_text(
        f"tenant: {tenant_id}\n"
        "plugins:\n"
        "  payments: {}\n"
        "  channels-sim:\n"
        "    channels: [{name: card, currencies: [EUR]}]\n"
        "  reconciliation:\n"
        "    accounts:\n"
        "      card:\n"
        "        statement_account: card\n"
        "        currency: EUR\n"
        "        ledger_accounts: {'payments:clearing:card:EUR': 1}\n"
        "    csv_formats:\n"
        "      - name: sim\n"
        "        columns: {booked_on: booked_on, amount: amount, reference: payment_reference,\n"
        "                  kind: type, currency: currency, account: account}\n"
    )
    return tenants


def test_import_run_breaks_and_report_from_the_command_line(
    finplug_database_url: str, tmp_path: Path
) -> None:
    tenant_id = new_tenant_id()
    tenants = _tenants(tmp_path, tenant_id)
    platform = Platform.discover(database_url=finplug_database_url)
    platform.load_tenants(tenants)
    shop = platform.tenant(tenant_id)
    try:
        platform.upgrade(tenant_id)
        paid = shop.component(PAYMENTS).authorize(
            "k", amount=Money("14.00", "EUR"), merchant_id="m", method="card", capture=True
        )
        statement = tmp_path / "card.csv"
        statement.write_bytes(
            csv_file([(DAY, "capture", paid.id, "14.00"), (DAY, "capture", "pay_x", "3.00")])
        )
        where = ["--tenants", str(tenants), "--database-url", finplug_database_url]
        runner = CliRunner()
        imported = runner.invoke(
            build_app(), ["recon", "import", str(statement), "--tenant", tenant_id, *where]
        )
        assert imported.exit_code == 0, imported.output
        assert "csv:sim" in imported.output
        day = DAY.isoformat()
        ran = runner.invoke(
            build_app(),
            ["recon", "run", "--tenant", tenant_id, "--account", "card", "--from", day, *where],
        )
        assert ran.exit_code == 2, ran.output  # one break is left open
        assert "missing_in_ledger 1" in ran.output
        listed = runner.invoke(
            build_app(), ["recon", "breaks", "--tenant", tenant_id, "--output", "json", *where]
        )
        assert listed.exit_code == 0, listed.output
        (row,) = json.loads(listed.output)
        assert (row["class"], row["difference"], row["currency"]) == (
            "missing_in_ledger",
            "3.00",
            "EUR",
        )
        report = runner.invoke(
            build_app(),
            ["recon", "report", "--tenant", tenant_id, "--account", "card", "--from", day, *where],
        )
        assert report.exit_code == 0, report.output
        data = json.loads(report.output)
        assert data["match_rate"]["statement"]["per_mille"] == 500
        assert data["match_rate"]["ledger"]["per_mille"] == 1000
        assert data["open_breaks"] == {
            "missing_in_ledger": {"0-1": 1, "2-7": 0, "8-30": 0, "31+": 0}
        }
        (today,) = data["balance"]
        assert (today["difference"], today["open_breaks"], today["unexplained"]) == (
            "3.00",
            "3.00",
            "0.00",
        )
        broken = tmp_path / "broken.csv"
        broken.write_bytes(statement.read_bytes().replace(b"14.00", b"14,0.0"))
        failed = runner.invoke(
            build_app(), ["recon", "import", str(broken), "--tenant", tenant_id, *where]
        )
        assert failed.exit_code == 1
        assert "broken.csv:2" in failed.output
    finally:
        shop.storage.drop()
        platform.close()


def test_a_bad_date_and_a_missing_tenant_are_named(
    finplug_database_url: str, tmp_path: Path
) -> None:
    tenant_id = new_tenant_id()
    tenants = _tenants(tmp_path, tenant_id)
    where = ["--tenants", str(tenants), "--database-url", finplug_database_url]
    runner = CliRunner()
    bad = runner.invoke(
        build_app(),
        ["recon", "run", "--tenant", tenant_id, "--account", "card", "--from", "12/01", *where],
    )
    assert bad.exit_code == 1
    assert "--from: expected a date such as 2026-12-01" in bad.output
    missing = runner.invoke(build_app(), ["recon", "breaks", "--tenant", "nope", *where])
    assert missing.exit_code == 1
    assert "no tenant 'nope'" in missing.output
