"""The shared real statements imported through the component: stored once, problems kept.

The files in ../shared/data/statements were written by others (see its
README). Each is imported into a tenant that reconciles its accounts; a
second import of the same file is a duplicate; a truncated file is a
located error with nothing written.
"""

from __future__ import annotations

from typing import Any

import pytest

from finplug.sockets.reconciliation import RECONCILIATION, StatementFormatError
from finplug.testing import FinplugTenant
from finplug_reconciliation import ReconciliationPlugin
from recon_helpers import STATEMENTS

DATA = STATEMENTS


def _account(statement_account: str, code: str) -> dict[str, Any]:
    return {
        "statement_account": statement_account,
        "currency": code,
        "ledger_accounts": {f"bank:{statement_account}:{code}": 1},
    }


SETTINGS: dict[str, Any] = {
    "reconciliation": {
        "accounts": {
            "dem": _account("45050050/76198810", "DEM"),
            "eur": _account("10020030/1234567", "EUR"),
            "pln": _account("BPHKPLPK/320000546101", "PLN"),
            "rabo": _account("NL71RABO0123456789", "EUR"),
            "camt": _account("NL26VAYB8060476890", "EUR"),
        }
    }
}


def test_the_real_mt940_file_imports_once_with_its_problems(
    finplug_tenant: FinplugTenant,
) -> None:
    recon = finplug_tenant([ReconciliationPlugin], SETTINGS).component(RECONCILIATION)
    data = (DATA / "mt940" / "cmxl-mt940.sta").read_bytes()
    report = recon.import_statement(data, "cmxl-mt940.sta")
    assert (report.format, len(report.statements), report.lines) == ("mt940", 3, 16)
    again = recon.import_statement(data, "renamed.sta")
    assert (again.statements, again.duplicates) == ((), report.statements)
    by_account = {s.account: s for s in recon.statements()}
    dem = by_account["45050050/76198810"]
    assert dem.opening is not None
    assert dem.closing is not None
    total = sum((line.amount for line in dem.lines), dem.opening)
    assert total == dem.closing  # the file balances, to the pfennig
    assert dem.id in report.statements


def test_a_bad_iban_is_a_problem_kept_with_the_statement(finplug_tenant: FinplugTenant) -> None:
    recon = finplug_tenant([ReconciliationPlugin], SETTINGS).component(RECONCILIATION)
    data = (DATA / "mt940" / "jejik-rabobank-iban.sta").read_bytes()
    report = recon.import_statement(data, "rabo.sta")
    assert len(report.statements) == 2
    assert any("IBAN" in problem for problem in report.problems)
    assert all(any("IBAN" in p for p in s.problems) for s in recon.statements("rabo"))


def test_a_truncated_file_is_a_located_error_and_nothing_is_written(
    finplug_tenant: FinplugTenant,
) -> None:
    recon = finplug_tenant([ReconciliationPlugin], SETTINGS).component(RECONCILIATION)
    data = (DATA / "camt" / "genkgo-camt053.v8.xml").read_bytes()
    with pytest.raises(StatementFormatError) as caught:
        recon.import_statement(data[: len(data) // 2], "cut.xml")
    assert caught.value.source == "cut.xml"
    assert caught.value.line is not None
    assert recon.statements() == []
