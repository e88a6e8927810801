"""``finplug payments janitor``, as a user runs it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from finplug import Money, Platform
from finplug.cli import build_app
from finplug.sockets.payments import PAYMENTS, PaymentStatus
from finplug.testing import new_tenant_id


def tenants_folder(tmp_path: Path, tenant_id: str, outcome: str) -> Path:
    """A config folder with one tenant whose channel answers 14.00 EUR with ``outcome``."""
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / f"{tenant_id}.yaml").write_text(
        f"tenant: {tenant_id}\n"
        "plugins:\n"
        "  payments: {}\n"
        "  channels-sim:\n"
        "    channels:\n"
        "      - {name: card, currencies: [EUR], script: {'14.00': " + outcome + "}}\n"
    )
    return tenants


@pytest.mark.parametrize(
    ("outcome", "code", "status"),
    [
        ("timeout_applied", 0, PaymentStatus.AUTHORIZED),
        ("lookup_timeout", 2, PaymentStatus.UNKNOWN),
    ],
)
def test_payments_janitor_settles_unknown_payments(
    finplug_database_url: str, tmp_path: Path, outcome: str, code: int, status: PaymentStatus
) -> None:
    tenant_id = new_tenant_id()
    tenants = tenants_folder(tmp_path, tenant_id, outcome)
    platform = Platform.discover(database_url=finplug_database_url)
    platform.load_tenants(tenants)
    shop = platform.tenant(tenant_id)
    try:
        platform.upgrade(tenant_id)
        stuck = shop.component(PAYMENTS).authorize(
            "k", amount=Money("14.00", "EUR"), merchant_id="m", method="card"
        )
        assert stuck.status is PaymentStatus.UNKNOWN
        where = ["--tenants", str(tenants), "--database-url", finplug_database_url]
        result = CliRunner().invoke(build_app(), ["payments", "janitor", *where])
        assert result.exit_code == code, result.output
        assert shop.component(PAYMENTS).get(stuck.id).status is status
    finally:
        shop.storage.drop()
        platform.close()


def test_payments_janitor_names_a_missing_tenant(finplug_database_url: str, tmp_path: Path) -> None:
    tenants = tenants_folder(tmp_path, new_tenant_id(), "approve")
    where = ["--tenants", str(tenants), "--database-url", finplug_database_url]
    result = CliRunner().invoke(build_app(), ["payments", "janitor", *where, "--tenant", "x"])
    assert result.exit_code == 1
    assert "no tenant 'x'" in result.output
