"""Runs against the ledger: matches, every break class, reruns, rollback (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from finplug import Money
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.reconciliation import (
    RECONCILIATION,
    BreakClass,
    BreakStatus,
    ReconciliationError,
    RunStatus,
)
from finplug.testing import FinplugTenant
from recon_helpers import CLEARING, Clock, capture, csv_file, day_at, shop

DAY = date(2026, 11, 2)  # a Monday
EUR = "EUR"


def _classes(breaks: list) -> list[tuple[str, str, str]]:  # type: ignore[type-arg]
    return sorted((b.kind.value, str(b.statement_total), str(b.ledger_total)) for b in breaks)


def test_a_day_matches_and_each_discrepancy_is_a_break_of_its_class(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(day_at(DAY))
    tenant = shop(finplug_tenant, clock)
    paid = [
        capture(tenant, f"k{n}", amount)
        for n, amount in enumerate(["10.00", "20.00", "30.00", "40.00", "50.00"])
    ]
    tenant.component(PAYMENTS).refund("r1", paid[0].id, Money("4.00", EUR))
    statement = csv_file(
        [
            (DAY, "capture", paid[0].id, "10.00"),
            (DAY, "refund", paid[0].id, "-4.00"),
            (DAY, "capture", paid[1].id, "20.00"),
            (DAY, "capture", paid[1].id, "20.00"),  # reported twice
            (DAY, "capture", paid[2].id, "30.10"),  # 10 cents too much
            # paid[3] is missing from the statement
            (date(2026, 11, 9), "capture", paid[4].id, "50.00"),  # a week late
            (DAY, "capture", "pay_unknown", "7.00"),  # the ledger never saw it
        ]
    )
    recon = tenant.component(RECONCILIATION)
    imported = recon.import_statement(statement, "card-2026-11-02.csv")
    assert (imported.format, imported.lines, imported.duplicates) == ("csv:sim", 7, ())
    assert recon.import_statement(statement, "again.csv").duplicates == imported.statements
    run = recon.run("card", DAY, date(2026, 11, 9))
    assert (run.statement_items, run.ledger_items) == (7, 6)
    assert run.matches == 3  # the capture and the refund of paid[0], one copy of paid[1]
    found = recon.breaks("card")
    assert _classes(found) == [
        ("amount_mismatch", "30.10 EUR", "30.00 EUR"),
        ("duplicate", "20.00 EUR", "0.00 EUR"),
        ("missing_in_ledger", "7.00 EUR", "0.00 EUR"),
        ("missing_in_statement", "0.00 EUR", "40.00 EUR"),
        ("timing", "50.00 EUR", "50.00 EUR"),
    ]
    assert {b.owner for b in found} == {"treasury"}
    assert all(b.run_id == run.id for b in found)
    # A rerun changes nothing: the same breaks, by id, and no new match.
    again = recon.run("card", DAY, date(2026, 11, 9))
    assert (again.matches, again.statement_items, again.ledger_items) == (0, 4, 3)
    assert [b.id for b in recon.breaks("card")] == [b.id for b in found]
    assert len(recon.matches()) == 3


def test_breaks_are_worked_and_a_rerun_keeps_the_work(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(day_at(DAY))
    tenant = shop(finplug_tenant, clock)
    paid = [capture(tenant, f"k{n}", a) for n, a in enumerate(["10.00", "20.00", "5.00"])]
    statement = csv_file(
        [
            (DAY, "capture", paid[0].id, "10.40"),  # off by 0.40: within the write-off limit
            (DAY, "capture", paid[1].id, "25.00"),  # off by 5.00: needs a second person
            (DAY, "capture", "pay_unknown", "7.00"),
        ]
    )
    recon = tenant.component(RECONCILIATION)
    recon.import_statement(statement, "day.csv")
    recon.run("card", DAY, DAY)
    by_total = {str(b.statement_total): b for b in recon.breaks("card")}
    small, large, unknown = by_total["10.40 EUR"], by_total["25.00 EUR"], by_total["7.00 EUR"]
    missing = [b for b in recon.breaks("card") if b.kind is BreakClass.MISSING_IN_STATEMENT]
    assert [b.ledger_total for b in missing] == [Money("5.00", EUR)]
    resolved = recon.resolve(small.id, actor="ann", reason="channel fee rounding")
    assert (resolved.status, resolved.difference) == (BreakStatus.RESOLVED, Money("0.40", EUR))
    assert resolved.entry_seq is not None
    with pytest.raises(ReconciliationError, match="second person"):
        recon.resolve(large.id, actor="ann", reason="surcharge")
    with pytest.raises(ReconciliationError, match="another person"):
        recon.resolve(large.id, actor="ann", reason="surcharge", approved_by="ann")
    recon.resolve(large.id, actor="ann", reason="surcharge", approved_by="bob")
    recon.assign(unknown.id, "carol", actor="ann")
    accepted = recon.accept(unknown.id, actor="carol", reason="the channel's test payment")
    assert (accepted.status, accepted.owner) == (BreakStatus.ACCEPTED, "carol")
    # The adjusting entries moved the clearing account by exactly the differences.
    balance = tenant.ledger.balance(CLEARING).posted
    assert balance == Money("35.00", EUR) + Money("0.40", EUR) + Money("5.00", EUR)
    # A rerun keeps the work: nothing worked is open again, the adjusting postings are taken.
    rerun = recon.run("card", DAY, DAY)
    assert rerun.matches == 0
    assert [b.kind for b in recon.breaks("card")] == [BreakClass.MISSING_IN_STATEMENT]
    statuses = sorted(b.status.value for b in recon.breaks("card", status=None))
    assert statuses == ["accepted", "open", "resolved", "resolved"]
    actions = [(r.actor, r.action) for r in recon.audit(large.id)]
    assert actions == [("run", "found"), ("ann", "resolved")]
    assert "approved by bob" in recon.audit(large.id)[-1].detail
    assert tenant.ledger.verify().ok


def test_two_breaks_matched_by_hand(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(day_at(DAY))
    tenant = shop(finplug_tenant, clock)
    paid = capture(tenant, "k1", "12.00")
    # The channel names the payment by another reference: no rule can pair them.
    recon = tenant.component(RECONCILIATION)
    recon.import_statement(csv_file([(DAY, "capture", "ORDER-77", "12.00")]), "day.csv")
    recon.run("card", DAY, DAY)
    found = recon.breaks("card")
    assert sorted(b.kind.value for b in found) == ["missing_in_ledger", "missing_in_statement"]
    made = recon.match_by_hand([b.id for b in found], actor="ann", reason=f"ORDER-77 is {paid.id}")
    assert (made.rule, made.statement_total, made.ledger_total) == (
        "manual",
        Money("12.00", EUR),
        Money("12.00", EUR),
    )
    assert recon.breaks("card") == []
    with pytest.raises(ReconciliationError, match="not open"):
        recon.accept(found[0].id, actor="ann", reason="again")


def test_a_run_rolled_back_frees_its_items_and_reverses_its_adjustments(
    finplug_tenant: FinplugTenant,
) -> None:
    clock = Clock(day_at(DAY))
    tenant = shop(finplug_tenant, clock)
    paid = [capture(tenant, f"k{n}", a) for n, a in enumerate(["10.00", "20.00"])]
    recon = tenant.component(RECONCILIATION)
    recon.import_statement(
        csv_file([(DAY, "capture", paid[0].id, "10.00"), (DAY, "capture", paid[1].id, "20.30")]),
        "day.csv",
    )
    run = recon.run("card", DAY, DAY)
    (mismatch,) = recon.breaks("card")
    recon.resolve(mismatch.id, actor="ann", reason="fee")
    before = tenant.ledger.balance(CLEARING).posted
    assert before == Money("30.30", EUR)
    undone = recon.rollback(run.id, actor="ann")
    assert undone.status is RunStatus.ROLLED_BACK
    assert tenant.ledger.balance(CLEARING).posted == Money("30.00", EUR)
    # Only the adjusting posting and its reversal are left taken, together: they cancel out.
    (paired,) = recon.matches()
    assert (paired.rule, len(paired.ledger_items), paired.ledger_total) == (
        "reversal",
        2,
        Money.zero(EUR),
    )
    assert recon.breaks("card") == []
    with pytest.raises(ReconciliationError, match="rolled_back"):
        recon.rollback(run.id, actor="ann")
    # Run again with a looser rule: the 0.30 is now within tolerance.
    rules = [
        {
            "name": "loose",
            "priority": 1,
            "reference": {"mode": "exact"},
            "amount": {"mode": "absolute", "tolerance": 50},
            "date": {"window": 1},
        }
    ]
    again = recon.run("card", DAY, DAY, rules=rules)
    assert (again.matches, again.breaks) == (2, ())
    assert sorted(m.rule for m in recon.matches()) == ["loose", "loose", "reversal"]
    assert tenant.ledger.verify().ok


def test_a_dry_run_writes_nothing(finplug_tenant: FinplugTenant) -> None:
    clock = Clock(day_at(DAY))
    tenant = shop(finplug_tenant, clock)
    paid = capture(tenant, "k1", "10.00")
    recon = tenant.component(RECONCILIATION)
    recon.import_statement(csv_file([(DAY, "capture", paid.id, "10.00")]), "day.csv")
    dry = recon.run("card", DAY, DAY, dry_run=True)
    assert (dry.dry_run, dry.matches) == (True, 1)
    assert (recon.matches(), recon.runs(), recon.breaks("card")) == ([], [], [])
    assert recon.run("card", DAY, DAY).matches == 1


def test_unknown_accounts_and_bad_periods_are_refused(finplug_tenant: FinplugTenant) -> None:
    tenant = shop(finplug_tenant, Clock(day_at(DAY)))
    recon = tenant.component(RECONCILIATION)
    with pytest.raises(ReconciliationError, match=r"no reconciled account 'bank'.*card"):
        recon.run("bank", DAY, DAY)
    with pytest.raises(ReconciliationError, match="start <= end"):
        recon.run("card", DAY, date(2026, 11, 1))
    text = csv_file([(DAY, "capture", "p", "1.00")]).replace(b",card,", b",IBAN-X,")
    with pytest.raises(ReconciliationError, match="'IBAN-X' in EUR is not a reconciled account"):
        recon.import_statement(text, "other.csv")
    assert recon.statements() == []
