"""The billing migrations build exactly the tables the plugin's code declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from billing_helpers import billing_tenant
from finplug.testing import FinplugTenant
from finplug_billing._schema import metadata

TABLES = [
    "billing_attempts",
    "billing_counters",
    "billing_credit_note_lines",
    "billing_credit_notes",
    "billing_customer_coupons",
    "billing_customers",
    "billing_events",
    "billing_invoice_lines",
    "billing_invoices",
    "billing_plan_changes",
    "billing_subscriptions",
    "billing_wallet_credits",
    "billing_wallet_moves",
]


def _ours(difference: Any) -> bool:
    """Whether an autogenerate difference touches a ``billing_`` table (not the kernel's)."""
    if isinstance(difference, list):  # column modifications come grouped
        return any(_ours(d) for d in difference)
    for part in difference[1:]:
        table = getattr(part, "table", None)
        name = getattr(table, "name", None) or getattr(part, "name", None)
        if isinstance(part, str):
            name = part
        if isinstance(name, str) and name.startswith("billing_"):
            return True
    return False


def test_migrations_match_the_declared_tables(finplug_tenant: FinplugTenant) -> None:
    tenant = billing_tenant(finplug_tenant)
    with tenant.unit_of_work() as uow:
        context = MigrationContext.configure(uow.conn)
        differences = [d for d in compare_metadata(context, metadata) if _ours(d)]
        built = sorted(n for n in inspect(uow.conn).get_table_names() if n.startswith("billing_"))
    assert differences == []
    assert sorted(metadata.tables) == TABLES
    assert built == TABLES


def test_the_keys_that_make_the_guarantees_are_built(finplug_tenant: FinplugTenant) -> None:
    tenant = billing_tenant(finplug_tenant)
    with tenant.unit_of_work() as uow:
        found = inspect(uow.conn)
        unique = {
            tuple(str(c) for c in u["column_names"])
            for u in found.get_unique_constraints("billing_invoices")
        }
        unique |= {
            tuple(str(c) for c in i["column_names"])
            for i in found.get_indexes("billing_invoices")
            if i.get("unique")
        }
        counters = found.get_pk_constraint("billing_counters")["constrained_columns"]
        events = found.get_pk_constraint("billing_events")["constrained_columns"]
    assert ("subscription_id", "cycle_on", "reason") in unique  # one invoice per period
    assert ("number",) in unique  # a number is given once
    assert counters == ["series"]
    assert events == ["id"]
