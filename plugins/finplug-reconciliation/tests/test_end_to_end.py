"""A day of simulated traffic, the channel's files with every kind of discrepancy, reconciled.

Every discrepancy injected into the channel's settlement files is found as
a break of its class, and nothing else is a break. The channel charges
1.4 % + 0.25 per capture; the tenant's fee schedule books the same fee
(beneficiary ``card``), so the files' fee rows have ledger counterparts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from finplug import Money
from finplug.sockets.payments import PAYMENTS, PaymentStatus
from finplug.sockets.reconciliation import RECONCILIATION
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin, Discrepancy, settlement_file
from finplug_fee_schedule import FeeSchedulePlugin
from finplug_payments import PaymentsPlugin
from finplug_reconciliation import ReconciliationPlugin
from recon_helpers import Clock

EUR = "EUR"
DAY = date(2026, 11, 3)  # a Tuesday
CLEARING = "payments:clearing:card:EUR"
FEES = "payments:fees:card:EUR"
SETTINGS: dict[str, Any] = {
    "channels-sim": {
        "channels": [
            {
                "name": "card",
                "currencies": [EUR],
                "fee_rate": "0.014",
                "fee_fixed": "0.25",
                # The 14.00 capture times out at the channel, which did it: the
                # ledger does not know it until the janitor asks.
                "script": {"14.00": "capture:timeout_applied"},
            }
        ]
    },
    "fee-schedule": {
        "rules": [
            {
                "code": "acquiring",
                "operation": "capture",
                "channel": "card",
                "currency": EUR,
                "rate": "0.014",
                "fixed": "0.25",
                "beneficiary": "card",
            }
        ],
        "rounding": "half_even",
    },
    "reconciliation": {
        "accounts": {
            "card": {
                "statement_account": "card",
                "currency": EUR,
                "ledger_accounts": {CLEARING: 1, FEES: -1},
            }
        },
        "csv_formats": [
            {
                "name": "sim",
                "columns": {
                    "booked_on": "booked_on",
                    "value_date": "value_date",
                    "amount": "amount",
                    "reference": "payment_reference",
                    "bank_reference": "reference",
                    "kind": "type",
                    "currency": "currency",
                    "account": "account",
                    "description": "description",
                },
            }
        ],
    },
}
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, FeeSchedulePlugin, ReconciliationPlugin]


def test_every_injected_discrepancy_is_found_as_its_break_and_nothing_else(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    tenant = finplug_tenant(PLUGINS, SETTINGS, clock=clock)
    payments = tenant.component(PAYMENTS)
    paid = []
    for n, amount in enumerate(
        ["10.00", "20.00", "30.00", "40.00", "50.00", "14.00", "61.50", "72.25", "83.10", "99.99"]
    ):
        clock.at += timedelta(minutes=7)
        paid.append(
            payments.authorize(
                f"k{n}", amount=Money(amount, EUR), merchant_id="m1", method="card", capture=True
            )
        )
    assert paid[5].status is PaymentStatus.UNKNOWN  # the timed-out capture
    clock.at += timedelta(hours=1)
    payments.refund("r1", paid[6].id, Money("11.50", EUR))
    payments.refund("r2", paid[7].id, Money("72.25", EUR))
    connector = tenant.plugin("channels-sim").connector("card")  # type: ignore[attr-defined]
    late = date(2026, 11, 6)
    injected = [
        Discrepancy(kind="missing", payment=paid[0].id, type="capture"),
        Discrepancy(kind="duplicate", payment=paid[1].id, type="capture"),
        Discrepancy(kind="amount_off", payment=paid[2].id, type="capture", by="0.10"),
        Discrepancy(kind="fee_off", payment=paid[3].id, by="-0.05"),
        Discrepancy(kind="late", payment=paid[4].id, type="capture", days=3),
    ]
    recon = tenant.component(RECONCILIATION)
    for day in (DAY, DAY + timedelta(days=1), DAY + timedelta(days=2), late):
        wanted = injected if day == DAY else [injected[-1].model_copy(update={"day": DAY})]
        data = settlement_file(connector, day, discrepancies=wanted if day in (DAY, late) else ())
        recon.import_statement(data, f"card-{day}.csv")
    run = recon.run("card", DAY, late)
    found = sorted(
        (b.kind.value, str(b.statement_total), str(b.ledger_total), b.statement_items != ())
        for b in recon.breaks("card")
    )
    assert found == sorted(
        [
            ("missing_in_statement", "0.00 EUR", "10.00 EUR", False),  # capture row dropped
            ("duplicate", "20.00 EUR", "0.00 EUR", True),  # capture row written twice
            ("amount_mismatch", "30.10 EUR", "30.00 EUR", True),  # 0.10 too much
            ("amount_mismatch", "-0.86 EUR", "-0.81 EUR", True),  # fee 0.05 too high
            ("timing", "50.00 EUR", "50.00 EUR", True),  # three business days late
            ("missing_in_ledger", "14.00 EUR", "0.00 EUR", True),  # the unknown capture
            ("missing_in_ledger", "-0.45 EUR", "0.00 EUR", True),  # and its fee
        ]
    )
    assert run.breaks == (
        ("amount_mismatch", 2),
        ("duplicate", 1),
        ("missing_in_ledger", 2),
        ("missing_in_statement", 1),
        ("timing", 1),
    )
    # What the janitor then books matches on a rerun: the unknown capture's breaks clear.
    payments.resolve_unknown(10)
    assert payments.get(paid[5].id).status is PaymentStatus.CAPTURED
    clock.at = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)
    rerun = recon.run("card", DAY, late)
    assert rerun.matches == 2
    assert sorted(b.kind.value for b in recon.breaks("card")) == [
        "amount_mismatch",
        "amount_mismatch",
        "duplicate",
        "missing_in_statement",
        "timing",
    ]
    assert tenant.ledger.verify().ok
