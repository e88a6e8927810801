"""The settlement plugin's part of ``finplug demo``: a marketplace order from split to payout.

An order of 100.00 EUR is split three ways as it is captured, 10.00 of it is
refunded and split back, and the seller is settled T+1 on the tenant's
business-day calendar with a rolling reserve. The seller's bank refuses the
first payout (the demo tenant's channel script), which puts the money back
on the seller's payable; a second order comes in and the next business day's
run pays both. Payments use fixed idempotency keys, and a run for a day that
was settled already makes nothing new, so running the demo again replays.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table

from finplug import Money
from finplug.sockets.payments import PaymentsAPI
from finplug.sockets.settlement import Split
from finplug_settlement._runs import Runs
from finplug_settlement._service import Settlement

__all__ = ["play_story"]

SELLER = "seller-42"


def _split_table(split: Split) -> Table:
    table = Table(title="marketplace order split when captured", title_justify="left")
    for column in ("party", "role", "share", "refund split back", "account"):
        table.add_column(column, overflow="fold")
    for part in split.parts:
        table.add_row(
            part.party, part.role.value, str(part.amount), str(part.refunded), part.account
        )
    return table


def _batch_rows(table: Table, settlement: Settlement, ids: tuple[str, ...], run: str) -> None:
    for batch_id in ids:
        batch = settlement.batch(batch_id)
        payout = settlement.pay(batch_id)
        note = payout.status.value + (f" ({payout.failure_code})" if payout.failure_code else "")
        table.add_row(
            run,
            batch.payee,
            batch.value_date.isoformat(),
            str(batch.movements),
            str(batch.reserve_held),
            str(batch.net),
            note,
        )


def play_story(payments: PaymentsAPI, settlement: Settlement, runs: Runs) -> list[Any]:
    """Split, refund, settle, fail a payout, settle again; tables of what happened."""
    order = payments.authorize(
        "demo-market-order-1",
        amount=Money("100.00", "EUR"),
        merchant_id=SELLER,
        method="card",
        capture=True,
    )
    payments.refund("demo-market-order-1-refund", order.id, Money("10.00", "EUR"))
    shown: list[Any] = []
    split = settlement.split_of(order.id)
    if split is not None:
        shown.append(_split_table(split))
    first = runs.value_date(order.updated_at, "EUR")  # T+1 on the tenant's calendar
    second = runs.calendar("EUR").next_business_day(first)
    holiday = datetime(2025, 10, 2, 10, 0, tzinfo=UTC)  # a Thursday, before German Unity Day
    shown.append(
        f"T+1 on Germany's business days: an order captured on {holiday.date()} (Thursday)"
        f" is due on {runs.value_date(holiday, 'EUR')} (Friday 3 October is a holiday, then"
        f" the weekend); today's orders are due on {first}, the retry on {second}."
    )
    batches = Table(title="settlement runs and payouts", title_justify="left")
    for column in ("run", "payee", "value date", "movements", "reserve", "net", "payout"):
        batches.add_column(column, overflow="fold")
    report = settlement.run(first)  # a second demo run finds the batches made already
    _batch_rows(batches, settlement, report.created + report.existing, "T+1")
    payments.authorize(
        "demo-market-order-2",
        amount=Money("50.00", "EUR"),
        merchant_id=SELLER,
        method="card",
        capture=True,
    )
    report = settlement.run(second)
    _batch_rows(batches, settlement, report.created + report.existing, "next day")
    shown.append(batches)
    return shown
