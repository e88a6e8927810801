"""The reconciliation migrations build exactly the tables the plugin's code declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from finplug.testing import FinplugTenant
from finplug_reconciliation import ReconciliationPlugin
from finplug_reconciliation._schema import metadata


def _ours(difference: Any) -> bool:
    """Whether an autogenerate difference is about a ``recon_`` table (not the kernel's)."""
    if isinstance(difference, list):  # column modifications come grouped
        return any(_ours(d) for d in difference)
    for part in difference[1:]:
        table = getattr(part, "table", None)
        name = getattr(table, "name", None) or getattr(part, "name", None)
        if isinstance(part, str):
            name = part
        if isinstance(name, str) and name.startswith("recon_"):
            return True
    return False


def test_migrations_match_the_declared_tables(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant([ReconciliationPlugin], {"reconciliation": {}})
    with tenant.unit_of_work() as uow:
        context = MigrationContext.configure(uow.conn)
        differences = [d for d in compare_metadata(context, metadata) if _ours(d)]
    assert differences == []
    assert sorted(metadata.tables) == [
        "recon_audit",
        "recon_break_items",
        "recon_breaks",
        "recon_locks",
        "recon_matched_items",
        "recon_matches",
        "recon_runs",
        "recon_statement_lines",
        "recon_statements",
    ]
