"""Properties of runs over the database: every item ends in one match or one open break.

For random ledger transfers and statements made from them with random
discrepancies, after a run: on each side, the items in live matches and
in open breaks are exactly the input (by count and by amount), no item is
in two of them, and a rerun changes nothing.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug import Money
from finplug.sockets.reconciliation import RECONCILIATION
from finplug.testing import FinplugTenant
from finplug_reconciliation import ReconciliationPlugin
from recon_helpers import Clock

EUR = "EUR"
HEADER = "booked_on,amount,reference,currency,account"
SETTINGS: dict[str, Any] = {
    "reconciliation": {
        "accounts": {
            "bank": {
                "statement_account": "bank",
                "currency": EUR,
                "ledger_accounts": {"bank:EUR": 1},
                "reference": "key",
            }
        },
        "csv_formats": [
            {
                "name": "plain",
                "columns": {
                    "booked_on": "booked_on",
                    "amount": "amount",
                    "reference": "reference",
                    "currency": "currency",
                    "account": "account",
                },
            }
        ],
    }
}
DAYS = itertools.count()

transfer = st.tuples(
    st.integers(min_value=-50_000, max_value=50_000).filter(bool),  # minor units
    st.sampled_from(["same", "same", "same", "drop", "twice", "off", "extra"]),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(transfer, min_size=1, max_size=12))
def test_every_item_ends_in_one_match_or_one_open_break(
    finplug_tenant: FinplugTenant, plan: list[tuple[int, str]]
) -> None:
    day = date(2026, 1, 5) + timedelta(days=next(DAYS))
    clock = Clock(datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
    tenant = finplug_tenant([ReconciliationPlugin], SETTINGS, clock=clock)
    for code in ("bank:EUR", "other:EUR"):
        tenant.ledger.open_account(code, "asset", EUR, overdraft="unlimited")
    rows = []
    for n, (minor, fate) in enumerate(plan):
        key = f"t-{day}-{n}"
        amount = Money.from_minor(abs(minor), EUR)
        debit, credit = ("bank:EUR", "other:EUR") if minor > 0 else ("other:EUR", "bank:EUR")
        tenant.ledger.transfer(key, debit=debit, credit=credit, amount=amount)
        shown = Money.from_minor(minor, EUR)
        if fate == "drop":
            continue
        if fate == "off":
            shown = Money.from_minor(minor + 7, EUR)
        rows.append(f"{day},{shown.amount},{key},EUR,bank")
        if fate == "twice":
            rows.append(f"{day},{shown.amount},{key},EUR,bank")
        if fate == "extra":
            rows.append(f"{day},{shown.amount},x-{key},EUR,bank")
    recon = tenant.component(RECONCILIATION)
    recon.import_statement(("\n".join([HEADER, *rows]) + "\n").encode(), f"{day}.csv")
    run = recon.run("bank", day, day)
    lines = {
        f"{s.id}:{line.index}": line.amount.minor_units
        for s in recon.statements("bank")
        for line in s.lines
        if line.booked_on == day
    }
    postings = {
        f"{p.seq}:bank:EUR": p.amount.minor_units
        for p in tenant.ledger.postings(["bank:EUR"])
        if p.posted_at.date() == day
    }
    matched = recon.matches(run.id)
    open_breaks = [b for b in recon.breaks("bank") if b.found_on == day]
    sides = (
        (
            "statement",
            lines,
            [m.statement_items for m in matched],
            [b.statement_items for b in open_breaks],
        ),
        (
            "ledger",
            postings,
            [m.ledger_items for m in matched],
            [b.ledger_items for b in open_breaks],
        ),
    )
    for side, wanted, in_matches, in_breaks in sides:
        found = [i for group in (*in_matches, *in_breaks) for i in group]
        assert len(found) == len(set(found)), f"{side}: an item is in two places"
        assert set(found) == set(wanted), side
        assert sum(wanted[i] for i in found) == sum(wanted.values()), side
    again = recon.run("bank", day, day)
    assert again.matches == 0
    assert [b.id for b in recon.breaks("bank") if b.found_on == day] == [b.id for b in open_breaks]
