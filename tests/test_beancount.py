"""Beancount export: bean-check accepts the file and its balances are the ledger's."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from beancount import loader
from beancount.core import account as bc_account
from beancount.core import data as bc_data
from beancount.core import realization
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from finplug import AccountType, Entry, LedgerError, Leg, Money, Platform
from finplug.components import LedgerAPI
from finplug.ledger.export import (
    account_component,
    beancount_account,
    code_from_component,
    export_beancount,
)
from finplug.ledger.schema import install_ledger

START = datetime(2024, 3, 30, 21, 0, tzinfo=UTC)


# ---------------------------------------------------------------- helpers


class Clock:
    """A controllable UTC clock for the tenant's ledger."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextmanager
def ledger_tenant(database_url: str, clock: Clock) -> Iterator[LedgerAPI]:
    """A fresh tenant with the ledger installed; its data is dropped afterwards."""
    tid = f"bc{uuid.uuid4().hex[:12]}"
    with Platform([], environ={}, database_url=database_url, clock=clock) as platform:
        platform.add_tenant({"tenant": tid})
        tenant = platform.tenant(tid)
        tenant.storage.ensure_schema()
        try:
            with tenant.storage.begin() as conn:
                install_ledger(conn)
            yield tenant.ledger
        finally:
            tenant.storage.drop()


def bean_check_command() -> list[str]:
    """bean-check from this interpreter's environment (the venv), else from PATH."""
    sibling = Path(sys.executable).parent / "bean-check"
    if sibling.exists():
        return [str(sibling)]
    found = shutil.which("bean-check")
    if found:
        return [found]
    return [sys.executable, "-m", "beancount.scripts.check"]


def bean_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*bean_check_command(), "--no-cache", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def export(ledger: LedgerAPI, path: Path, **kwargs: Any) -> str:
    with path.open("w", encoding="utf-8", newline="\n") as out:
        export_beancount(ledger, out, **kwargs)
    return path.read_text(encoding="utf-8")


def loaded_balances(path: Path) -> tuple[dict[str, dict[str, Decimal]], list[Any]]:
    """Beancount's own view of the file: account name -> currency -> units; its directives."""
    entries, errors, _ = loader.load_file(str(path))
    assert not errors, [e.message for e in errors]
    root = realization.realize(entries)  # type: ignore[no-untyped-call]
    out: dict[str, dict[str, Decimal]] = {}
    for real in realization.iter_children(root):  # type: ignore[no-untyped-call]
        if bc_account.sep in real.account:  # not the root nor the five type roots
            out[real.account] = {
                pos.units.currency: pos.units.number for pos in real.balance if pos.units.number
            }
    return out, list(entries)


def assert_round_trip(ledger: LedgerAPI, path: Path) -> str:
    """Export, bean-check, load: every account's Beancount balance is the ledger's."""
    text = export(ledger, path)
    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr + text
    assert checked.stdout == checked.stderr == ""
    balances, directives = loaded_balances(path)
    accounts = ledger.accounts()
    for account in accounts:
        name = beancount_account(account)
        bal = ledger.balance(account.code)
        net = (bal.debits_posted - bal.credits_posted).amount
        got = balances.get(name, {})
        assert set(got) <= {account.currency.code}, (name, got)
        assert got.get(account.currency.code, Decimal(0)) == net, (account.code, name, got, net)
    # Every booked account is a ledger account; one open and one balance per account.
    names = {beancount_account(a) for a in accounts}
    assert set(balances) <= names
    opens = [d for d in directives if isinstance(d, bc_data.Open)]
    asserts = [d for d in directives if isinstance(d, bc_data.Balance)]
    assert sorted(o.account for o in opens) == sorted(names)
    assert sorted(b.account for b in asserts) == sorted(names)
    assert all(b.tolerance == 0 for b in asserts)
    assert {o.meta["code"] for o in opens} == {a.code for a in accounts}
    # One transaction per entry that moved posted money, with its seq and key.
    booked = [e for e in all_entries(ledger) if e.kind != "pending" and e.legs]
    txns = [d for d in directives if isinstance(d, bc_data.Transaction)]
    assert [(t.meta["seq"], t.meta["key"]) for t in txns] == [(e.seq, e.key) for e in booked]
    assert [t.narration for t in txns] == [e.description for e in booked]
    return text


def all_entries(ledger: LedgerAPI) -> list[Entry]:
    out: list[Entry] = []
    while page := ledger.entries(out[-1].seq if out else 0, 500):
        out.extend(page)
    return out


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


# ---------------------------------------------------------------- account names


@pytest.mark.parametrize(
    ("code", "component"),
    [
        ("bank", "Bank"),
        ("m-001", "M-001"),
        ("wallet:cust-1", "WalletCust-1"),
        ("wallet:cust-1:usd", "WalletCust-1Usd"),
        ("7eleven", "7eleven"),
        ("0day", "00day"),
        ("Cash", "0X43Xash"),
        ("a:x", "AX3aXx"),
        ("a:1", "AX3aX1"),
        ("x", "X"),
        ("-", "0-"),
        ("é", "0Xe9X"),
        ("", "0"),
    ],
)
def test_account_component_examples(code: str, component: str) -> None:
    assert account_component(code) == component
    assert code_from_component(component) == code


def test_account_names_of_similar_codes_stay_distinct() -> None:
    codes = ["wallet:cust-1", "wallet-cust-1", "walletCust-1", "Wallet:cust-1", "wallet:Cust-1"]
    assert len({account_component(c) for c in codes}) == len(codes)


@given(st.text(max_size=40))
def test_account_component_is_valid_and_injective(code: str) -> None:
    component = account_component(code)
    assert re.fullmatch(r"[A-Z0-9][A-Za-z0-9-]*", component)
    for root in ("Assets", "Liabilities", "Equity", "Income", "Expenses"):
        assert bc_account.is_valid(f"{root}:{component}")
    assert code_from_component(component) == code


@pytest.mark.parametrize("bad", ["", "a", "-x", "AXzzX", "AX", "AX41", "A_b", "AXX"])
def test_code_from_component_rejects_what_it_never_produces(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - several messages
        code_from_component(bad)


# ---------------------------------------------------------------- worked example


def build_worked_example(ledger: LedgerAPI, clock: Clock) -> None:
    """Three currencies (2, 0 and 3 decimals), every kind of entry, over four UTC days."""
    for code, kind, cur, overdraft in [
        ("bank:eur", "asset", "EUR", "unlimited"),
        ("wallet:cust-1", "liability", "EUR", "none"),
        ("wallet:cust-2", "liability", "EUR", "none"),
        ("m-001", "liability", "EUR", "none"),
        ("fees", "income", "EUR", "none"),
        ("bank:jpy", "asset", "JPY", "unlimited"),
        ("Wallet Ü/jp", "liability", "JPY", "none"),
        ("refunds", "expense", "JPY", "unlimited"),
        ("capital:kwd", "equity", "KWD", "unlimited"),
        ("bank:kwd", "asset", "KWD", "unlimited"),
        ("wallet:cust-1:kwd", "liability", "KWD", "none"),
        ("never-used", "asset", "KWD", "none"),
    ]:
        ledger.open_account(code, kind, cur, overdraft=overdraft)  # type: ignore[arg-type]
    ledger.transfer("topup-1", "bank:eur", "wallet:cust-1", eur("250.00"), "Top-up by card")
    ledger.transfer("topup-2", "bank:eur", "wallet:cust-2", eur("80.10"), 'He said "hi"')
    clock.advance(hours=4)  # past midnight UTC: 2024-03-31
    hold = ledger.hold("order-7", "wallet:cust-1", "m-001", eur("30.00"), description="order 7")
    ledger.post_pending("order-7-capture", hold.seq, eur("20.00"))
    hold2 = ledger.hold("order-8", "wallet:cust-2", "m-001", eur("5.00"))
    ledger.void_pending("order-8-void", hold2.seq)
    split = ledger.post(
        "split-1",
        [
            Leg.debit("wallet:cust-1", eur("12.34")),
            Leg.credit("m-001", eur("12.00")),
            Leg.credit("fees", eur("0.34")),
        ],
        "Purchase\nwith a newline and a back\\slash",
    )
    ledger.transfer("jp-1", "bank:jpy", "Wallet Ü/jp", Money("15000", "JPY"), "円の入金")
    ledger.transfer("jp-2", "refunds", "Wallet Ü/jp", Money("300", "JPY"), "goodwill")
    ledger.transfer("kw-1", "bank:kwd", "capital:kwd", Money("1000.125", "KWD"))
    ledger.transfer("kw-2", "bank:kwd", "wallet:cust-1:kwd", Money("0.005", "KWD"))
    clock.advance(days=1)
    ledger.reverse("split-1-reversal", split.seq, "customer complaint")
    ledger.hold("order-9", "wallet:cust-2", "fees", eur("1.00"), timeout=timedelta(hours=1))
    ledger.hold("order-10", "Wallet Ü/jp", "bank:jpy", Money("100", "JPY"))  # stays open
    clock.advance(hours=2)
    assert len(ledger.expire_pending()) == 1
    ledger.post(
        "multi-currency",
        [
            Leg.debit("bank:eur", eur("10.00")),
            Leg.credit("wallet:cust-2", eur("10.00")),
            Leg.debit("bank:jpy", Money("1200", "JPY")),
            Leg.credit("Wallet Ü/jp", Money("1200", "JPY")),
        ],
        "one entry, two currencies",
    )


def test_worked_example_passes_bean_check_with_the_ledgers_balances(
    database_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    with ledger_tenant(database_url, clock) as ledger:
        build_worked_example(ledger, clock)
        path = tmp_path / "books.beancount"
        text = assert_round_trip(ledger, path)

        # The same ledger always exports to the same text.
        again = io.StringIO()
        export_beancount(ledger, again)
        assert again.getvalue() == text

        assert 'option "operating_currency" "EUR"' in text
        assert "2024-03-30 open Liabilities:WalletCust-1 EUR" in text
        assert "2024-03-30 open Liabilities:M-001 EUR" in text
        assert '2024-03-31 note Liabilities:WalletCust-1 "hold 3: pending debit 30.00 EUR' in text
        assert "hold 5 voided: released pending credit 5.00 EUR" in text
        assert "hold 13 expired: released pending debit 1.00 EUR" in text
        assert "hold 14: pending debit 100 JPY" in text  # the open hold
        # Balances are asserted the day after the last entry, exactly.
        assert re.search(r"2024-04-02 balance Liabilities:WalletCust-1 +-230\.00 ~ 0 EUR", text)
        assert re.search(r"2024-04-02 balance Liabilities:WalletCust-1Kwd +-0\.005 ~ 0 KWD", text)
        assert re.search(r"2024-04-02 balance Assets:BankKwd +1000\.130 ~ 0 KWD", text)
        assert "2024-04-02 balance Assets:Never-used" in text
        assert ledger.verify().ok


def test_bean_check_catches_a_balance_that_differs_from_the_ledger(
    database_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    with ledger_tenant(database_url, clock) as ledger:
        build_worked_example(ledger, clock)
        path = tmp_path / "books.beancount"
        text = export(ledger, path)
    found = re.search(r"balance Liabilities:WalletCust-1 +-230\.00 ~ 0 EUR", text)
    assert found
    line = found.group()
    path.write_text(text.replace(line, line.replace("-230.00", "-230.01")), encoding="utf-8")
    checked = bean_check(path)
    assert checked.returncode != 0
    assert "Balance failed for 'Liabilities:WalletCust-1'" in checked.stdout + checked.stderr


def test_empty_ledger_exports_to_a_valid_file(database_url: str, tmp_path: Path) -> None:
    with ledger_tenant(database_url, Clock()) as ledger:
        path = tmp_path / "empty.beancount"
        text = assert_round_trip(ledger, path)
        assert " balance " not in text
        ledger.open_account("cash", "asset", "EUR")
        text = assert_round_trip(ledger, path)
        assert "2024-03-31 balance Assets:Cash  0.00 ~ 0 EUR" in text


def test_export_options(database_url: str, tmp_path: Path) -> None:
    with ledger_tenant(database_url, Clock()) as ledger:
        ledger.open_account("cash", "asset", "EUR")
        text = export(
            ledger,
            tmp_path / "o.beancount",
            title='Acme "books"',
            operating_currencies=["usd", "EUR"],
        )
    assert 'option "title" "Acme \\"books\\""' in text
    assert 'option "operating_currency" "USD"\noption "operating_currency" "EUR"\n' in text
    assert bean_check(tmp_path / "o.beancount").returncode == 0


@dataclass
class PostsDuringExport:
    """Wraps a ledger; a transfer lands, with the same posted_at, while the export reads."""

    inner: LedgerAPI
    posted: bool = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        page = self.inner.entries(after, limit)
        if not self.posted:
            self.posted = True
            self.inner.transfer("late", "bank", "wallet", eur("7.00"), "posted mid-export")
        return page


def test_entries_posted_during_the_export_are_all_in_or_all_out(
    database_url: str, tmp_path: Path
) -> None:
    clock = Clock()  # frozen: the late entry has the same posted_at as the last one read
    with ledger_tenant(database_url, clock) as ledger:
        ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
        ledger.open_account("wallet", "liability", "EUR")
        ledger.transfer("early", "bank", "wallet", eur("5.00"))
        path = tmp_path / "race.beancount"
        racing = PostsDuringExport(ledger)
        text = export(cast("LedgerAPI", racing), path)
        assert racing.posted
        assert 'key: "late"' in text
        assert "balance Liabilities:Wallet  -12.00 ~ 0 EUR" in text
        assert bean_check(path).returncode == 0


# ---------------------------------------------------------------- random ledgers

CURRENCIES = ("EUR", "JPY", "KWD")
TYPES = tuple(AccountType)

codes = st.one_of(
    st.from_regex(r"[a-z]{1,6}(:[a-z0-9-]{1,5}){0,2}", fullmatch=True),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=12),
)
account_specs = st.lists(
    st.tuples(
        codes,
        st.sampled_from(TYPES),
        st.sampled_from(CURRENCIES),
        st.sampled_from(("none", "unlimited", "unlimited", "limit")),
    ),
    min_size=2,
    max_size=7,
    unique_by=lambda spec: spec[0],
)
units = st.integers(1, 10**7)
index = st.integers(0, 50)
descriptions = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=20) | st.just(
    'line\nbreak \\ and "quotes"\t'
)
operations = st.one_of(
    st.tuples(st.just("transfer"), index, index, units, descriptions),
    st.tuples(
        st.just("post"), st.lists(st.tuples(index, st.booleans(), units), min_size=2, max_size=5)
    ),
    st.tuples(st.just("hold"), index, index, units, st.none() | st.integers(1, 30)),
    st.tuples(st.just("post_pending"), index, st.none() | st.integers(1, 100)),
    st.tuples(st.just("void"), index),
    st.tuples(st.just("reverse"), index),
    st.tuples(st.just("advance"), st.integers(1, 40)),
    st.tuples(st.just("expire"), st.integers(0, 30)),
)


def apply_operation(
    ledger: LedgerAPI,
    clock: Clock,
    accounts: list[tuple[str, str]],
    op: tuple[Any, ...],
    key: str,
    holds: list[Entry],
    posted: list[Entry],
) -> None:
    """Apply one random operation; the ledger may refuse it (that is part of the test)."""
    kind = op[0]

    def pick(i: int, cur: str | None = None) -> tuple[str, str]:
        """Account ``i`` (modulo), among those in ``cur`` if given (mostly valid requests)."""
        candidates = [a for a in accounts if cur is None or a[1] == cur]
        return candidates[i % len(candidates)]

    if kind == "transfer":
        debit, cur = pick(op[1])
        credit, _ = pick(op[2], cur)
        posted.append(ledger.transfer(key, debit, credit, Money.from_minor(op[3], cur), op[4]))
    elif kind == "post":
        cur = pick(op[1][0][0])[1]
        legs: list[Leg] = []
        net = 0
        for i, is_debit, amount in op[1][:-1]:
            code, _ = pick(i, cur)
            money = Money.from_minor(amount, cur)
            legs.append(Leg.debit(code, money) if is_debit else Leg.credit(code, money))
            net += amount if is_debit else -amount
        if net:
            last, _ = pick(op[1][-1][0], cur)
            balancing = Money.from_minor(abs(net), cur)
            legs.append(Leg.credit(last, balancing) if net > 0 else Leg.debit(last, balancing))
        posted.append(ledger.post(key, legs, "multi-leg"))
    elif kind == "hold":
        debit, cur = pick(op[1])
        credit, _ = pick(op[2], cur)
        timeout = None if op[4] is None else timedelta(hours=op[4])
        holds.append(ledger.hold(key, debit, credit, Money.from_minor(op[3], cur), timeout=timeout))
    elif kind == "post_pending" and holds:
        hold = holds[op[1] % len(holds)]
        full = hold.legs[0].amount
        part = (
            None
            if op[2] is None
            else Money.from_minor(max(1, full.minor_units * op[2] // 100), full.currency)
        )
        posted.append(ledger.post_pending(key, hold.seq, part))
    elif kind == "void" and holds:
        ledger.void_pending(key, holds[op[1] % len(holds)].seq)
    elif kind == "reverse" and posted:
        ledger.reverse(key, posted[op[1] % len(posted)].seq, "undo")
    elif kind == "advance":
        clock.advance(hours=op[1])
    elif kind == "expire":
        clock.advance(hours=op[1])
        ledger.expire_pending()


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=account_specs,
    funding=st.lists(st.integers(0, 10**8), min_size=7, max_size=7),
    ops=st.lists(operations, min_size=5, max_size=40),
)
def test_random_ledger_exports_to_a_file_bean_check_accepts_with_equal_balances(
    database_url: str,
    tmp_path: Path,
    specs: list[tuple[str, AccountType, str, str]],
    funding: list[int],
    ops: list[tuple[Any, ...]],
) -> None:
    clock = Clock()
    with ledger_tenant(database_url, clock) as ledger:
        for code, account_type, cur, overdraft in specs:
            limit = Money.from_minor(5000, cur) if overdraft == "limit" else None
            ledger.open_account(code, account_type, cur, overdraft=overdraft, overdraft_limit=limit)  # type: ignore[arg-type]
        # Give most accounts something to spend, from an equity account per currency.
        for (code, account_type, cur, _), amount in zip(specs, funding, strict=False):
            source = f"funding~{cur.lower()}"
            with suppress(LedgerError):
                ledger.open_account(source, "equity", cur, overdraft="unlimited")
                money = Money.from_minor(amount, cur)
                if account_type.normal == "credit":
                    ledger.transfer(f"fund-{code}", source, code, money, "funding")
                else:
                    ledger.transfer(f"fund-{code}", code, source, money, "funding")
        accounts = [(code, cur) for code, _, cur, _ in specs]
        holds: list[Entry] = []
        posted: list[Entry] = []
        for n, op in enumerate(ops):
            with suppress(LedgerError):  # a refused operation writes nothing
                apply_operation(ledger, clock, accounts, op, f"k{n}", holds, posted)
        assert_round_trip(ledger, tmp_path / f"random-{uuid.uuid4().hex[:8]}.beancount")
        kinds = Counter(e.kind for e in all_entries(ledger))
        for name in ("posted", "pending", "post_pending", "void", "expire", "reversal"):
            event(f"{name} entries: {'some' if kinds[name] else 'none'}")
