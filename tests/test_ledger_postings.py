"""``ledger.postings``: what entries did to accounts' posted balances, on both backends.

Each test gets a migrated tenant of its own (``finplug_tenant``): an SQLite
file, and a PostgreSQL schema when ``FINPLUG_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug import (
    AccountNotFoundError,
    Entry,
    LedgerError,
    Leg,
    Money,
    Posting,
    Tenant,
)
from finplug.components import LedgerAPI
from finplug.testing import FinplugTenant

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A controllable UTC clock."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tenant(finplug_tenant: FinplugTenant, clock: Clock) -> Tenant:
    return finplug_tenant([], clock=clock)


@pytest.fixture
def ledger(tenant: Tenant) -> LedgerAPI:
    """bank (asset, unlimited), a merchant and a partner (liabilities), fees (income): EUR."""
    ledger = tenant.ledger
    ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
    ledger.open_account("merchant", "liability", "EUR")
    ledger.open_account("partner", "liability", "EUR")
    ledger.open_account("fees", "income", "EUR")
    return ledger


def eur(amount: str | int) -> Money:
    return Money(amount, "EUR")


def wrong(value: object) -> Any:
    """``value`` typed as ``Any``: passed where the signature wants another type, on purpose."""
    return value


def brief(postings: list[Posting]) -> list[tuple[int, str, Money]]:
    return [(p.seq, p.account, p.amount) for p in postings]


# ---------------------------------------------------------------- what a posting is


def test_money_in_and_out_is_signed_by_the_accounts_normal_side(
    ledger: LedgerAPI, clock: Clock
) -> None:
    topup = ledger.transfer("in-1", "bank", "merchant", eur("100.00"), "card capture")
    clock.advance(minutes=5)
    payout = ledger.transfer("out-1", "merchant", "bank", eur("30.00"), "payout")
    assert ledger.postings(["merchant"]) == [
        Posting(topup.seq, "merchant", eur("100.00"), START, "in-1", "card capture", "posted"),
        Posting(payout.seq, "merchant", eur("-30.00"), clock.now, "out-1", "payout", "posted"),
    ]
    # The asset is debit-normal: debited in, credited out.
    assert brief(ledger.postings(["bank"])) == [
        (topup.seq, "bank", eur("100.00")),
        (payout.seq, "bank", eur("-30.00")),
    ]
    assert ledger.balance("merchant").posted == eur("70.00")
    assert ledger.balance("bank").posted == eur("70.00")
    [posting] = ledger.postings(["merchant"], limit=1)
    assert posting.posted_at.tzinfo is UTC


def test_an_entry_touching_an_account_in_several_rows_is_one_posting(ledger: LedgerAPI) -> None:
    ledger.transfer("in", "bank", "merchant", eur("100.00"))
    split = ledger.post(
        "split",
        [
            Leg.debit("merchant", eur("10.00")),
            Leg.debit("merchant", eur("5.00")),
            Leg.credit("fees", eur("3.00")),
            Leg.credit("bank", eur("11.00")),
            Leg.credit("merchant", eur("1.00")),
        ],
    )
    # Stored as four rows: merchant to fees, to bank twice, and to itself.
    assert [leg.account for leg in split.legs].count("merchant") == 3
    assert brief(ledger.postings(["merchant", "fees", "bank"], after=split.seq - 1)) == [
        (split.seq, "bank", eur("-11.00")),
        (split.seq, "fees", eur("3.00")),
        (split.seq, "merchant", eur("-14.00")),
    ]
    # Debited and credited alike in one entry: a posting of zero, the entry is listed.
    same = ledger.transfer("self", "merchant", "merchant", eur("2.00"))
    assert brief(ledger.postings(["merchant"], after=split.seq)) == [
        (same.seq, "merchant", eur("0.00"))
    ]
    assert ledger.balance("merchant").posted == eur("86.00")


def test_a_hold_posts_nothing_until_captured_then_at_the_captures_seq(
    ledger: LedgerAPI, clock: Clock
) -> None:
    ledger.transfer("in", "bank", "merchant", eur("100.00"))
    hold = ledger.hold("hold", "merchant", "fees", eur("40.00"), description="reserve")
    assert [p.seq for p in ledger.postings(["merchant", "fees"])] == [1]
    clock.advance(minutes=1)
    capture = ledger.post_pending("capture", hold.seq, eur("25.00"))
    assert ledger.postings(["merchant", "fees"], after=1) == [
        Posting(capture.seq, "fees", eur("25.00"), clock.now, "capture", "", "post_pending"),
        Posting(capture.seq, "merchant", eur("-25.00"), clock.now, "capture", "", "post_pending"),
    ]
    # The 15.00 released by the capture moves no posted money: no posting for it.
    assert ledger.balance("merchant").posted == eur("75.00")
    assert sum((p.amount for p in ledger.postings(["merchant"])), eur(0)) == eur("75.00")


def test_a_voided_or_expired_hold_posts_nothing(ledger: LedgerAPI, clock: Clock) -> None:
    ledger.transfer("in", "bank", "merchant", eur("100.00"))
    voided = ledger.hold("h1", "merchant", "fees", eur("10.00"))
    ledger.void_pending("v1", voided.seq)
    ledger.hold("h2", "merchant", "fees", eur("20.00"), timeout=timedelta(minutes=1))
    ledger.expire_pending(clock.advance(minutes=2))
    assert [e.kind for e in ledger.entries(after=1)] == ["pending", "void", "pending", "expire"]
    assert ledger.postings(["merchant", "fees"], after=1) == []
    assert ledger.balance("merchant").posted == eur("100.00")


def test_a_reversal_is_a_posting_of_its_own(ledger: LedgerAPI) -> None:
    paid = ledger.transfer("pay", "bank", "merchant", eur("50.00"))
    back = ledger.reverse("undo", paid.seq, "chargeback")
    assert brief(ledger.postings(["merchant", "bank"])) == [
        (paid.seq, "bank", eur("50.00")),
        (paid.seq, "merchant", eur("50.00")),
        (back.seq, "bank", eur("-50.00")),
        (back.seq, "merchant", eur("-50.00")),
    ]
    [reversal] = ledger.postings(["merchant"], after=paid.seq)
    assert (reversal.kind, reversal.key, reversal.description) == (
        "reversal",
        "undo",
        "chargeback",
    )


def test_two_accounts_come_by_seq_then_code(ledger: LedgerAPI) -> None:
    ledger.transfer("m", "bank", "merchant", eur("10.00"))
    ledger.transfer("p", "bank", "partner", eur("20.00"))
    ledger.transfer("between", "partner", "merchant", eur("5.00"))
    ledger.transfer("neither", "bank", "fees", eur("1.00"))
    ledger.transfer("m2", "merchant", "bank", eur("2.00"))
    expected = [
        (1, "merchant", eur("10.00")),
        (2, "partner", eur("20.00")),
        (3, "merchant", eur("5.00")),
        (3, "partner", eur("-5.00")),
        (5, "merchant", eur("-2.00")),
    ]
    assert brief(ledger.postings(["partner", "merchant"])) == expected
    assert brief(ledger.postings(("merchant", "partner", "merchant"))) == expected


def test_other_currencies_keep_their_own(tenant: Tenant) -> None:
    ledger = tenant.ledger
    ledger.open_account("bank:jpy", "asset", "JPY", overdraft="unlimited")
    ledger.open_account("merchant:jpy", "liability", "JPY")
    ledger.transfer("yen", "bank:jpy", "merchant:jpy", Money(1500, "JPY"))
    [posting] = ledger.postings(["merchant:jpy"])
    assert posting.amount == Money(1500, "JPY")
    assert posting.amount.currency.code == "JPY"


# ---------------------------------------------------------------- cursor, pages, time


def test_after_is_a_cursor_and_limit_caps_a_page(ledger: LedgerAPI) -> None:
    for i in range(5):
        ledger.transfer(f"t{i}", "bank", "merchant", eur(i + 1))
    assert [p.seq for p in ledger.postings(["merchant"], after=2)] == [3, 4, 5]
    assert [p.seq for p in ledger.postings(["merchant"], after=2, limit=2)] == [3, 4]
    assert ledger.postings(["merchant"], after=5) == []
    assert [p.seq for p in ledger.postings(["merchant"], after=-7)] == [1, 2, 3, 4, 5]
    assert ledger.postings(["merchant"], limit=0) == []
    pages, after = [], 0
    while page := ledger.postings(["merchant"], after=after, limit=2):
        pages.append([p.seq for p in page])
        after = page[-1].seq
    assert pages == [[1, 2], [3, 4], [5]]


def test_holds_in_between_do_not_cut_a_page_short(ledger: LedgerAPI) -> None:
    ledger.transfer("in", "bank", "merchant", eur(100))
    for i in range(3):
        ledger.void_pending(f"v{i}", ledger.hold(f"h{i}", "merchant", "fees", eur(1)).seq)
    last = ledger.transfer("fee", "merchant", "fees", eur(2))
    assert [p.seq for p in ledger.postings(["merchant"], after=1, limit=1)] == [last.seq]
    assert [p.seq for p in ledger.postings(["merchant", "fees"], after=1, limit=2)] == [
        last.seq,
        last.seq,
    ]


def test_a_page_holds_whole_entries(ledger: LedgerAPI) -> None:
    ledger.transfer("a", "bank", "merchant", eur(1))
    ledger.transfer("b", "bank", "partner", eur(3))
    ledger.transfer("c", "partner", "merchant", eur(1))  # both accounts: two postings
    ledger.transfer("d", "bank", "merchant", eur(1))
    both = ["merchant", "partner"]
    # The third posting would split entry 3's two: the page stops before it.
    assert [(p.seq, p.account) for p in ledger.postings(both, limit=3)] == [
        (1, "merchant"),
        (2, "partner"),
    ]
    assert [(p.seq, p.account) for p in ledger.postings(both, limit=4)] == [
        (1, "merchant"),
        (2, "partner"),
        (3, "merchant"),
        (3, "partner"),
    ]
    assert [(p.seq, p.account) for p in ledger.postings(both, after=2, limit=2)] == [
        (3, "merchant"),
        (3, "partner"),
    ]
    with pytest.raises(LedgerError, match=r"limit must be 0 or at least the number of accounts"):
        ledger.postings(both, limit=1)


def test_until_keeps_entries_written_by_then(ledger: LedgerAPI, clock: Clock) -> None:
    ledger.transfer("t0", "bank", "merchant", eur(1))  # 09:00
    ledger.transfer("t1", "bank", "merchant", eur(2))  # 09:00 too
    clock.advance(hours=1)
    ledger.transfer("t2", "bank", "merchant", eur(3))  # 10:00
    clock.advance(hours=1)
    ledger.transfer("t3", "bank", "partner", eur(4))  # 11:00: not the merchant's
    ledger.transfer("t4", "bank", "merchant", eur(5))  # 11:00

    def seqs(**kwargs: Any) -> list[int]:
        return [p.seq for p in ledger.postings(["merchant"], **kwargs)]

    assert seqs(until=START - timedelta(microseconds=1)) == []
    assert seqs(until=START) == [1, 2]
    assert seqs(until=START + timedelta(minutes=59)) == [1, 2]
    assert seqs(until=START + timedelta(hours=1)) == [1, 2, 3]
    assert seqs(until=START + timedelta(hours=2)) == [1, 2, 3, 5]
    assert seqs(until=START + timedelta(hours=1), after=2) == [3]
    assert seqs(until=START + timedelta(hours=1), limit=1) == [1]
    # 11:00+02:00 is 09:00 UTC: times in any zone are compared in UTC.
    assert seqs(until=datetime(2024, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))) == [1, 2]
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.postings(["merchant"], until=datetime(2024, 3, 1, 12, 0))


# ---------------------------------------------------------------- refusals


def test_unknown_accounts_raise_naming_the_code(ledger: LedgerAPI) -> None:
    ledger.transfer("t", "bank", "merchant", eur(1))
    for codes, named in (
        (["merchant", "nobody"], "'nobody'"),
        (["zz-missing", "merchant", "aa-missing"], "'aa-missing'"),
        (["nul\x00code"], "'nul"),
        (["x" * 300], "'xxx"),
    ):
        with pytest.raises(AccountNotFoundError, match=f"no account {named}"):
            ledger.postings(codes)
    with pytest.raises(AccountNotFoundError, match="'nobody'"):
        ledger.postings(["nobody"], limit=0)  # checked even when no posting is wanted


def test_wrong_arguments_raise_ledger_errors(ledger: LedgerAPI) -> None:
    assert ledger.postings([]) == []
    cases: list[tuple[dict[str, Any], str]] = [
        ({"accounts": wrong("merchant")}, "accounts must be a sequence of account codes"),
        ({"accounts": wrong({"merchant": 1})}, "accounts must be a sequence of account codes"),
        ({"accounts": wrong(7)}, "accounts must be a sequence of account codes .*; got int 7"),
        ({"accounts": wrong(["merchant", 7])}, r"accounts\[1\] must be an account code"),
        ({"accounts": ["merchant"], "after": wrong(True)}, "after must be a sequence number"),
        ({"accounts": ["merchant"], "after": wrong("3")}, "after must be a sequence number"),
        ({"accounts": ["merchant"], "limit": -1}, "limit must be a number of postings"),
        ({"accounts": ["merchant"], "limit": wrong(1.5)}, "limit must be a number of postings"),
        ({"accounts": ["merchant"], "until": wrong("2024")}, "until must be a timezone-aware"),
        ({"accounts": [f"a{i}" for i in range(201)]}, "at most 200 accounts"),
    ]
    for kwargs, message in cases:
        accounts = kwargs.pop("accounts")
        with pytest.raises(LedgerError, match=message):
            ledger.postings(accounts, **kwargs)


def test_two_hundred_accounts_in_one_call(tenant: Tenant) -> None:
    codes = [f"merchant:{i:03d}" for i in range(200)]
    with tenant.ledger.session() as session:
        session.open_account("bank", "asset", "EUR", overdraft="unlimited")
        for code in codes:
            session.open_account(code, "liability", "EUR")
        session.post(
            "spread", [Leg.debit("bank", eur(200)), *(Leg.credit(c, eur(1)) for c in codes)]
        )
        session.transfer("last", "bank", codes[-1], eur(1))
    found = tenant.ledger.postings(list(reversed(codes)))
    assert [(p.seq, p.account) for p in found] == [(1, c) for c in codes] + [(2, codes[-1])]


def test_a_session_reads_its_own_uncommitted_postings(ledger: LedgerAPI) -> None:
    with ledger.session() as session:
        entry = session.transfer("in", "bank", "merchant", eur(9))
        assert brief(session.postings(["merchant"])) == [(entry.seq, "merchant", eur(9))]
    assert brief(ledger.postings(["merchant"])) == [(entry.seq, "merchant", eur(9))]


# ---------------------------------------------------------------- the property

ACCOUNTS = (("a", "asset"), ("l1", "liability"), ("l2", "liability"), ("i", "income"))
CODES = [code for code, _ in ACCOUNTS]
amounts = st.integers(min_value=1, max_value=5_000)
pairs = st.sampled_from([(d, c) for d, c in itertools.product(CODES, CODES)])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("transfer"), pairs, amounts),
        st.tuples(st.just("split"), pairs, amounts),
        st.tuples(st.just("capture"), pairs, amounts),
        st.tuples(st.just("void"), pairs, amounts),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=50), st.none()),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=15,
    deadline=None,
    # One tenant for every example: each example opens accounts of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=operations, limit=st.integers(min_value=len(CODES), max_value=7))
def test_postings_add_up_to_the_posted_balance_and_pages_cover_them_once(
    tenant: Tenant, ops: list[tuple[str, Any, Any]], limit: int
) -> None:
    ledger = tenant.ledger
    prefix = f"x{len(ledger.accounts())}:"
    codes = [prefix + code for code in CODES]
    for code, kind in ACCOUNTS:
        ledger.open_account(prefix + code, kind, "EUR", overdraft="unlimited")
    posted: list[int] = []  # every entry that moved posted money
    reversible: list[int] = []  # those not reversed yet, nor reversals themselves
    for n, (kind, arg, units) in enumerate(ops):
        key = f"{prefix}{n}"
        if kind == "reverse":
            if reversible:
                target = reversible.pop(arg % len(reversible))
                posted.append(ledger.reverse(key, target).seq)
            continue
        entry: Entry | None = None
        debit, credit = (prefix + code for code in arg)
        amount = Money.from_minor(units, "EUR")
        if kind == "transfer":
            entry = ledger.transfer(key, debit, credit, amount)
        elif kind == "split":  # the debit account twice, the credit twice, a third once
            third = prefix + CODES[(CODES.index(arg[0]) + 1) % len(CODES)]
            legs = [
                Leg.debit(debit, amount),
                Leg.debit(debit, Money.from_minor(2, "EUR")),
                Leg.credit(credit, amount),
                Leg.credit(third, Money.from_minor(1, "EUR")),
                Leg.credit(credit, Money.from_minor(1, "EUR")),
            ]
            entry = ledger.post(key, legs)
        else:
            hold = ledger.hold(key, debit, credit, amount)
            if kind == "capture":
                part = Money.from_minor(max(units // 2, 1), "EUR")
                entry = ledger.post_pending(f"{key}:c", hold.seq, part)
            else:
                ledger.void_pending(f"{key}:v", hold.seq)
        if entry is not None:
            posted.append(entry.seq)
            reversible.append(entry.seq)
    # The accounts are this example's own: every posting on them is its.
    everything = ledger.postings(codes)
    for code in codes:
        own = [p for p in everything if p.account == code]
        assert own == ledger.postings([code])
        total = sum((p.amount for p in own), Money.from_minor(0, "EUR"))
        assert total == ledger.balance(code).posted
    assert sorted({p.seq for p in everything}) == sorted(posted)
    assert [(p.seq, p.account) for p in everything] == sorted(
        (p.seq, p.account) for p in everything
    )
    pages: list[Posting] = []
    after = 0
    while page := ledger.postings(codes, after=after, limit=limit):
        assert len(page) <= limit
        pages.extend(page)
        after = page[-1].seq
    assert pages == everything
