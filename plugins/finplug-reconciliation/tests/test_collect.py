"""The bulk reads of a run's two sides and its bulk write of matches, against the plain paths.

A run reads the ledger's tables straight (one statement per account, on the
driver's cursor or by ``COPY``) instead of paging through
``LedgerSession.postings``, reads statement lines the same way, and writes
its matches by ``executemany`` or ``COPY``. Each must give exactly what the
plain path gives: postings as ``postings()`` defines them (holds none, a
capture one at its own seq, a void none, a reversal the opposite, an
entry's rows on one account summed, a credit-normal account negated), on
the day the account's time zone says (midnights, DST changes), items
already taken left out; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError

from finplug import Money, Tenant
from finplug.ledger.values import Leg
from finplug.sockets.reconciliation import MatchSide, Statement, StatementLine
from finplug.testing import FinplugTenant
from finplug_reconciliation import ReconciliationPlugin, _collect, _matchstore
from finplug_reconciliation._bulk import read_frame
from finplug_reconciliation._collect import ledger_items, statement_items
from finplug_reconciliation._matchstore import save_match, save_matches
from finplug_reconciliation._schema import decode_items, matched_items, matches
from finplug_reconciliation._settings import AccountSettings
from finplug_reconciliation._store import Item, save_statement
from recon_helpers import Clock

EUR = "EUR"
BANK = "bank:EUR"
CLEARING = "clearing:EUR"  # credit-normal, shown negated on the statement (sign -1)
SALES = "sales:EUR"
COSTS = "costs:EUR"
#: Berlin's last DST change of 2025: 03:00 CEST becomes 02:00 CET.
FALL_BACK = datetime(2025, 10, 26, 1, 0, tzinfo=UTC)
SETTINGS: dict[str, Any] = {
    "reconciliation": {
        "accounts": {
            "bank": {"statement_account": "bank", "currency": EUR, "ledger_accounts": {BANK: 1}}
        },
        "csv_formats": [
            {
                "name": "plain",
                "columns": {
                    "booked_on": "booked_on",
                    "amount": "amount",
                    "reference": "reference",
                    "bank_reference": "bank_reference",
                    "description": "description",
                    "counterparty": "counterparty",
                },
                "currency": EUR,
                "account": "bank",
            }
        ],
    }
}
KEYS = itertools.count()


def _account(zone: str, reference: str = "payment") -> AccountSettings:
    return AccountSettings.model_validate(
        {
            "statement_account": "bank",
            "currency": EUR,
            "ledger_accounts": {BANK: 1, CLEARING: -1},
            "reference": reference,
            "timezone": zone,
        }
    )


def _eur(minor: int) -> Money:
    return Money.from_minor(minor, EUR)


def _tenant(finplug_tenant: FinplugTenant, clock: Clock) -> Tenant:
    tenant = finplug_tenant([ReconciliationPlugin], SETTINGS, clock=clock)
    with tenant.ledger.session() as ledger:
        ledger.open_account(BANK, "asset", EUR, overdraft="unlimited")
        ledger.open_account(CLEARING, "liability", EUR, overdraft="unlimited")
        ledger.open_account(SALES, "income", EUR, overdraft="unlimited")
        ledger.open_account(COSTS, "expense", EUR, overdraft="unlimited")
    return tenant


def _expected(
    tenant: Tenant, account: AccountSettings, start: date, end: date
) -> list[tuple[Any, ...]]:
    """The items as ``LedgerSession.postings`` gives them, per account then seq."""
    zone = ZoneInfo(account.timezone)
    first = datetime.combine(start, time(0), zone)
    after = datetime.combine(end + timedelta(days=1), time(0), zone)
    out = []
    for code, sign in account.ledger_accounts.items():
        postings, cursor = [], 0
        while page := tenant.ledger.postings([code], after=cursor, limit=7):
            postings += page
            cursor = page[-1].seq
        for p in postings:
            if first <= p.posted_at < after and p.amount.minor_units:
                key = p.key.split(":", 1)[0] if account.reference == "payment" else p.key
                day = p.posted_at.astimezone(zone).date()
                out.append(
                    (f"{p.seq}:{code}", p.amount.minor_units * sign, day, key, "", p.description)
                )
    return out


def _read(
    tenant: Tenant, account: AccountSettings, start: date, end: date
) -> list[tuple[Any, ...]]:
    with tenant.unit_of_work() as uow:
        frame = ledger_items(uow, "bank", account, start, end)
    assert frame.schema == pl.Schema(_collect.ITEM_SCHEMA)
    return list(frame.iter_rows())


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on in this test, read and write as on a driver with no bulk path."""
    monkeypatch.setattr(_collect, "bulk_driver", lambda conn: None)
    monkeypatch.setattr(_matchstore, "bulk_driver", lambda conn: None)


def test_the_bulk_read_gives_the_ledgers_postings_through_midnights_and_a_dst_change(
    finplug_tenant: FinplugTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(datetime(2025, 10, 24, 21, tzinfo=UTC))
    tenant = _tenant(finplug_tenant, clock)
    ledger = tenant.ledger
    microsecond = timedelta(microseconds=1)

    def at(moment: datetime) -> None:
        clock.at = moment

    at(datetime(2025, 10, 24, 22, tzinfo=UTC) - microsecond)  # 23:59:59.999999 in Berlin
    ledger.transfer("early:in", BANK, SALES, _eur(1_000), "before the period")
    at(datetime(2025, 10, 24, 22, tzinfo=UTC))  # Saturday 25th, 00:00 in Berlin
    paid = ledger.transfer("p1:in", BANK, SALES, _eur(2_000), "first instant")
    held = ledger.hold("p2:hold", BANK, SALES, _eur(5_000))
    voided = ledger.hold("p3:hold", BANK, SALES, _eur(700))
    ledger.post_pending("p2:capture", held.seq, _eur(3_000))  # the rest is released
    ledger.void_pending("p3:void", voided.seq)
    ledger.transfer("p4:out", COSTS, BANK, _eur(1_500), "money out")
    ledger.reverse("p1:reverse", paid.seq, "undone")
    # Several legs: the bank's row is not the entry's first, and two rows land on the bank.
    ledger.post(
        "p5:split",
        [Leg.debit(COSTS, _eur(300)), Leg.debit(BANK, _eur(700)), Leg.credit(SALES, _eur(1_000))],
    )
    ledger.post(
        "p6:both",
        [
            Leg.debit(BANK, _eur(400)),
            Leg.credit(CLEARING, _eur(400)),
            Leg.debit(CLEARING, _eur(100)),
            Leg.credit(BANK, _eur(100)),
        ],
    )
    ledger.post(  # in and out of the bank at once: a posting of 0, left out
        "p7:through",
        [
            Leg.debit(BANK, _eur(250)),
            Leg.credit(SALES, _eur(250)),
            Leg.debit(COSTS, _eur(250)),
            Leg.credit(BANK, _eur(250)),
        ],
    )
    at(FALL_BACK - timedelta(minutes=30))  # 02:30 CEST
    ledger.transfer("p8:in", BANK, CLEARING, _eur(999), "before the change")
    at(FALL_BACK + timedelta(minutes=30))  # 02:30 CET, an hour later
    ledger.transfer("p9:in", BANK, CLEARING, _eur(111), "after the change")
    at(datetime(2025, 10, 26, 23, tzinfo=UTC) - microsecond)  # Sunday 23:59:59.999999 CET
    ledger.transfer("p10:in", BANK, SALES, _eur(3), "last instant of Sunday")
    at(datetime(2025, 10, 26, 23, tzinfo=UTC))  # Monday 27th, 00:00
    ledger.transfer("p11:in", BANK, SALES, _eur(4), "first instant of Monday")
    at(datetime(2025, 10, 27, 23, tzinfo=UTC))  # Tuesday 00:00: after the period
    ledger.transfer("late:in", BANK, SALES, _eur(5), "after the period")

    account = _account("Europe/Berlin")
    start, end = date(2025, 10, 25), date(2025, 10, 27)
    wanted = _expected(tenant, account, start, end)
    assert _read(tenant, account, start, end) == wanted
    sunday, monday = date(2025, 10, 26), date(2025, 10, 27)
    assert [(r[3], r[0].split(":", 1)[1], r[1], r[2]) for r in wanted] == [
        ("p1", BANK, 2_000, start),
        ("p2", BANK, 3_000, start),  # the capture, at its own seq; the hold made none
        ("p4", BANK, -1_500, start),
        ("p1", BANK, -2_000, start),  # the reversal
        ("p5", BANK, 700, start),
        ("p6", BANK, 300, start),  # two rows on the bank, summed
        ("p8", BANK, 999, sunday),
        ("p9", BANK, 111, sunday),
        ("p10", BANK, 3, sunday),
        ("p11", BANK, 4, monday),
        ("p6", CLEARING, -300, start),  # credited 300 net: +300 on a liability, sign -1
        ("p8", CLEARING, -999, sunday),
        ("p9", CLEARING, -111, sunday),
    ]
    assert _read(tenant, account, date(2025, 10, 29), date(2025, 10, 30)) == []  # no entry then
    _plain(monkeypatch)
    assert _read(tenant, account, start, end) == wanted


def test_items_taken_are_left_out_of_the_bulk_read(
    finplug_tenant: FinplugTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    tenant = _tenant(finplug_tenant, clock)
    entries = [tenant.ledger.transfer(f"t{n}", BANK, SALES, _eur(100 + n)) for n in range(4)]
    account = _account("UTC", reference="key")
    day = date(2026, 3, 2)
    with tenant.unit_of_work() as uow:
        save_match(
            uow.conn,
            ident="mat_taken",
            account="bank",
            run_id=None,
            rule="manual",
            score=0,
            code=EUR,
            items=[Item(MatchSide.LEDGER, f"{entries[1].seq}:{BANK}", 101, day)],
            created_by="test",
            now=clock.at,
        )
        uow.commit()
    wanted = [row for row in _expected(tenant, account, day, day) if row[3] != "t1"]
    assert [row[3] for row in wanted] == ["t0", "t2", "t3"]
    assert _read(tenant, account, day, day) == wanted
    _plain(monkeypatch)
    assert _read(tenant, account, day, day) == wanted


ZONES = ["UTC", "Europe/Berlin", "America/Santiago", "Asia/Kathmandu", "Australia/Lord_Howe"]
#: A DST change (or none) near each zone's test window, as a UTC instant.
CHANGES = {
    "UTC": datetime(2026, 1, 5, tzinfo=UTC),
    "Europe/Berlin": datetime(2026, 3, 29, 1, tzinfo=UTC),
    "America/Santiago": datetime(2026, 4, 5, 3, tzinfo=UTC),  # 24:00 back to 23:00
    "Asia/Kathmandu": datetime(2026, 1, 5, 18, 15, tzinfo=UTC),  # +05:45: midnight at :15
    "Australia/Lord_Howe": datetime(2026, 4, 4, 15, tzinfo=UTC),  # half an hour back
}
operation = st.tuples(
    st.sampled_from(["in", "out", "capture", "void", "reverse", "split"]),
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=0, max_value=30 * 3600 * 10**6),  # microseconds after the last
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    lead=st.integers(min_value=-40 * 3600, max_value=0),
    operations=st.lists(operation, min_size=1, max_size=14),
    first=st.integers(min_value=-2, max_value=1),
    span=st.integers(min_value=0, max_value=2),
)
def test_the_bulk_read_equals_the_ledgers_postings_for_any_history(
    finplug_tenant: FinplugTenant,
    zone: str,
    lead: int,
    operations: list[tuple[str, int, int]],
    first: int,
    span: int,
) -> None:
    clock = Clock(CHANGES[zone] + timedelta(seconds=lead))
    tenant = _tenant(finplug_tenant, clock)
    ledger = tenant.ledger
    posted: list[int] = []
    for kind, minor, gap in operations:
        clock.at += timedelta(microseconds=gap)
        key = f"k{next(KEYS)}:{kind}"
        if kind == "in":
            posted.append(ledger.transfer(key, BANK, SALES, _eur(minor)).seq)
        elif kind == "out":
            posted.append(ledger.transfer(key, COSTS, CLEARING, _eur(minor)).seq)
        elif kind in ("capture", "void"):
            held = ledger.hold(key, BANK, CLEARING, _eur(minor + 1))
            if kind == "void":
                ledger.void_pending(f"{key}:void", held.seq)
            else:
                ledger.post_pending(f"{key}:capture", held.seq, _eur(minor))
        elif kind == "reverse" and posted:
            ledger.reverse(key, posted.pop())
        else:
            legs = [
                Leg.debit(COSTS, _eur(minor)),
                Leg.debit(BANK, _eur(minor + 1)),
                Leg.credit(CLEARING, _eur(2 * minor + 1)),
            ]
            ledger.post(key, legs)
    start = CHANGES[zone].astimezone(ZoneInfo(zone)).date() + timedelta(days=first)
    account = _account(zone)
    end = start + timedelta(days=span)
    assert _read(tenant, account, start, end) == _expected(tenant, account, start, end)


def test_statement_lines_read_in_bulk_are_those_core_reads(
    finplug_tenant: FinplugTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    tenant = _tenant(finplug_tenant, clock)
    day, later = date(2026, 3, 2), date(2026, 3, 3)
    lines = [
        StatementLine(0, day, _eur(1_000), None, "R1", "B1", "card, capture", "ACME"),
        StatementLine(1, day, _eur(-1), None, "R2", "", "only a description"),
        StatementLine(2, later, _eur(123_456_789_0), None, 'R3 "q"', "\u2029B3", "", "Ümlaut"),
        # What Python's str.strip() strips at the ends, and only that.
        StatementLine(3, later, _eur(500), None, "R4", "\x1f", "\u3000desc\x1c", "X"),
        StatementLine(4, later, _eur(7), None, "R5", " \x85", "\ta\u200bb\t", "Y"),
        StatementLine(5, date(2026, 3, 5), _eur(1), None, "R6", "", "after the period"),
    ]
    found = Statement("csv:plain", "s.csv", "bank", EUR, "1", tuple(lines))
    statement = "st_collect"
    with tenant.unit_of_work() as uow:
        assert save_statement(uow.conn, "bank", statement, found, clock.at)
        uow.commit()
    start, end = date(2026, 3, 2), date(2026, 3, 4)
    with tenant.unit_of_work() as uow:
        save_match(
            uow.conn,
            ident="mat_taken",
            account="bank",
            run_id=None,
            rule="manual",
            score=0,
            code=EUR,
            items=[Item(MatchSide.STATEMENT, f"{statement}:1", -1, start)],
            created_by="test",
            now=clock.at,
        )
        uow.commit()
    with tenant.unit_of_work() as uow:
        bulk = statement_items(uow.conn, "bank", start, end)
        everything = statement_items(uow.conn, "bank", start, end, all_items=True)
    assert bulk.schema == pl.Schema(_collect.ITEM_SCHEMA)
    assert list(bulk.iter_rows()) == [
        (f"{statement}:0", 1_000, day, "R1", "ACME", "card, capture B1"),
        (f"{statement}:2", 1_234_567_890, later, 'R3 "q"', "Ümlaut", "B3"),
        (f"{statement}:3", 500, later, "R4", "X", "desc"),
        (f"{statement}:4", 7, later, "R5", "Y", "a\u200bb"),  # U+200B is no white space
    ]
    assert everything["id"].to_list() == [f"{statement}:{n}" for n in range(5)]
    with tenant.unit_of_work() as uow:
        none = statement_items(uow.conn, "bank", date(2020, 1, 1), date(2020, 1, 2))
    assert none.schema == bulk.schema
    assert none.height == 0
    _plain(monkeypatch)
    with tenant.unit_of_work() as uow:
        assert statement_items(uow.conn, "bank", start, end).equals(bulk)
        assert statement_items(uow.conn, "bank", start, end, all_items=True).equals(everything)


def _written(tenant: Tenant, prefix: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The match rows and item rows whose ids start with ``prefix``, without it."""
    m, i = matches.c, matched_items.c
    with tenant.unit_of_work() as uow:
        heads = uow.conn.execute(
            select(matches).where(m.id.startswith(prefix)).order_by(m.id)
        ).all()
        items = uow.conn.execute(
            select(matched_items).where(i.match_id.startswith(prefix)).order_by(i.side, i.item)
        ).all()
    return (
        [
            (
                row.id.removeprefix(prefix),
                *row[1:-2],
                *(tuple(i.removeprefix(prefix) for i in decode_items(t)) for t in row[-2:]),
            )
            for row in heads
        ],
        [
            (row.side, row.item.removeprefix(prefix), row.match_id.removeprefix(prefix), *row[3:])
            for row in items
        ],
    )


def test_matches_written_in_bulk_are_those_core_writes(
    finplug_tenant: FinplugTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    tenant = _tenant(finplug_tenant, Clock(now))

    def rows(prefix: str) -> list[_matchstore.MatchRow]:
        def item(side: MatchSide, n: int, on: date) -> Item:
            return Item(side, f"{prefix}{side.value[0]}{n}", n, on)

        day, later = date(2026, 3, 2), date(2026, 3, 4)
        return [
            (
                f"{prefix}m1",
                "run_x",
                "reference",
                1000,
                5,
                5,
                [item(MatchSide.STATEMENT, 1, day), item(MatchSide.LEDGER, 1, later)],
            ),
            (
                f"{prefix}m2",
                None,
                "manual",
                0,
                -(10**12),
                -(10**12) + 3,
                [
                    item(MatchSide.STATEMENT, 2, day),
                    item(MatchSide.STATEMENT, 3, later),
                    item(MatchSide.LEDGER, 2, day),
                ],
            ),
            (f"{prefix}m3", "run_x", "fuzzy", 954, 0, 0, []),
        ]

    with tenant.unit_of_work() as uow:
        assert (
            save_matches(
                uow.conn, rows("bulk-"), account="bank", code=EUR, created_by="run", now=now
            )
            == 3
        )
        uow.commit()
    again = [("bulk-m9", *rows("bulk-")[0][1:])]  # another match, the same items
    with tenant.unit_of_work() as uow, pytest.raises(IntegrityError):
        save_matches(uow.conn, again, account="bank", code=EUR, created_by="run", now=now)
    _plain(monkeypatch)
    with tenant.unit_of_work() as uow:
        save_matches(uow.conn, rows("core-"), account="bank", code=EUR, created_by="run", now=now)
        uow.commit()
    bulk, core = _written(tenant, "bulk-"), _written(tenant, "core-")
    assert bulk == core
    heads, items = bulk
    assert [h[0] for h in heads] == ["m1", "m2", "m3"]
    assert len(items) == 5
    assert {i[-1] for i in items} == {"m1", "m2"}  # m3 takes nothing
    assert [h[-2:] for h in heads] == [(("s1",), ("l1",)), (("s2", "s3"), ("l2",)), ((), ())]


def test_days_are_pythons_where_a_minute_holds_a_midnight_and_times_in_other_forms() -> None:
    zone = ZoneInfo("Africa/Monrovia")  # -00:44:30 until 1972: its midnights fall mid-minute
    moments = [
        datetime(1971, 6, 1, 0, 43, tzinfo=UTC) + timedelta(seconds=7 * n) for n in range(30)
    ]
    micros = pl.Series(
        [(m - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for m in moments]
    )
    days = _collect._local_days(micros, zone).to_list()
    assert days == [m.astimezone(zone).date() for m in moments]
    assert days[0] == date(1971, 5, 31)
    assert days[-1] == date(1971, 6, 1)
    stored = pl.Series(
        ["2026-03-02 09:30:00.000001", "2026-03-02 09:30:00", "2026-03-02T10:30:00+01:00"]
    )
    expected = _collect._micros(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    assert _collect._stored_micros(stored).to_list() == [expected + 1, expected, expected]


def test_sqlite_values_json_cannot_hold_come_through_the_cursor(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/values.db")
    sql = "SELECT 1 AS n, x'00ff' AS b UNION ALL SELECT 2, x''"
    with engine.begin() as conn:
        frame = read_frame(conn, "sqlite", sql, (), {"n": pl.Int64, "b": pl.Binary})
        none = read_frame(conn, "sqlite", "SELECT 1 AS n WHERE 0", (), {"n": pl.Int64})
    engine.dispose()
    assert frame.rows() == [(1, b"\x00\xff"), (2, b"")]
    assert none.schema == pl.Schema({"n": pl.Int64})
    assert none.height == 0
