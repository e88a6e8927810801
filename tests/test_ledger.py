"""The kernel ledger on both backends: every operation, every refusal, the DB guards.

Each test gets a fresh tenant (a PostgreSQL schema or an SQLite file) with the
ledger installed, and a clock it controls; the tenant is dropped afterwards.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from hashlib import sha256
from typing import Any, Literal

import pytest
from pydantic import SecretBytes, SecretStr
from sqlalchemy import Connection, create_engine, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

import finplug.ledger.store as ledger_store
from conftest import _postgres_url
from finplug import (
    AccountNotFoundError,
    AccountType,
    Entry,
    EntryRequest,
    IdempotencyConflictError,
    LedgerError,
    Leg,
    Money,
    OverdraftError,
    PendingStateError,
    Platform,
    Tenant,
)
from finplug._fastsql import driver_cursor
from finplug._time import as_utc
from finplug.components import LedgerAPI
from finplug.ledger import statements
from finplug.ledger.chain import definition_hash, hash_head, hash_row, sign_checkpoint
from finplug.ledger.errors import CheckpointError
from finplug.ledger.rows import TRANSFER_COLS
from finplug.ledger.rules import AccountState
from finplug.ledger.schema import (
    DEFINITION_COLUMNS,
    account_chain,
    accounts,
    chain,
    install_ledger,
    transfers,
)
from finplug.ledger.values import LedgerCheckpoint

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A controllable UTC clock: ``clock()`` is the time, ``advance`` moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Books:
    """A tenant with the ledger installed, its clock, and raw access for checks."""

    platform: Platform
    tenant: Tenant
    clock: Clock

    @property
    def ledger(self) -> LedgerAPI:
        return self.tenant.ledger

    @property
    def dialect(self) -> str:
        return self.tenant.storage.dialect

    def raw(self) -> AbstractContextManager[Connection]:
        """A transaction on the tenant's storage (raw SQL reaches only this tenant)."""
        return self.tenant.storage.begin()

    def snapshot(self) -> tuple[object, ...]:
        """Every account row, the chain head, the entry and transfer-row counts, and
        every recorded account definition hash."""
        with self.raw() as conn:
            rows = tuple(tuple(r) for r in conn.execute(select(accounts).order_by(accounts.c.id)))
            head = tuple(conn.execute(select(chain)).one())
            counts = (
                count_entries(conn),
                conn.execute(select(func.count()).select_from(transfers)).scalar_one(),
            )
            recorded = tuple(
                tuple(r)
                for r in conn.execute(select(account_chain).order_by(account_chain.c.account_id))
            )
        return rows, head, counts, recorded

    def version(self, code: str) -> int:
        with self.raw() as conn:
            version: int = conn.execute(
                select(accounts.c.version).where(accounts.c.code == code)
            ).scalar_one()
        return version


def make_books(platform: Platform, tenant_id: str, clock: Clock) -> Books:
    """Add a tenant to ``platform`` and install the ledger in its storage."""
    platform.add_tenant({"tenant": tenant_id})
    tenant = platform.tenant(tenant_id)
    tenant.storage.ensure_schema()
    with tenant.storage.begin() as conn:
        install_ledger(conn)
    return Books(platform, tenant, clock)


def drop_books(books: Books) -> None:
    books.tenant.storage.drop()
    books.platform.remove_tenant(books.tenant.storage.tenant_id)


@pytest.fixture(scope="module")
def shared_platforms() -> Iterator[dict[str, tuple[Platform, Clock]]]:
    """One platform (one connection pool) per PostgreSQL URL for the whole module."""
    made: dict[str, tuple[Platform, Clock]] = {}
    yield made
    for platform, _ in made.values():
        platform.close()


@pytest.fixture
def books(
    database_url: str, unique_id: str, shared_platforms: dict[str, tuple[Platform, Clock]]
) -> Iterator[Books]:
    """A fresh tenant with the ledger installed; its clock starts at ``START``."""
    if database_url.startswith("sqlite"):  # a file per test: nothing worth sharing
        clock = Clock()
        platform = Platform([], environ={}, database_url=database_url, clock=clock)
        own = True
    else:
        if database_url not in shared_platforms:
            shared_clock = Clock()
            shared_platforms[database_url] = (
                Platform([], environ={}, database_url=database_url, clock=shared_clock),
                shared_clock,
            )
        platform, clock = shared_platforms[database_url]
        clock.now = START
        own = False
    made = make_books(platform, f"led-{unique_id}", clock)
    try:
        yield made
    finally:
        drop_books(made)
        if own:
            platform.close()


@pytest.fixture
def pg_books(unique_id: str) -> Iterator[Books]:
    """Books on PostgreSQL only, for what SQLite has no equivalent of (COPY, schemas, TRUNCATE).

    Skipped only where no test database is configured, as every PostgreSQL test.
    """
    clock = Clock()
    with Platform([], environ={}, database_url=_postgres_url(), clock=clock) as platform:
        made = make_books(platform, f"ledpg-{unique_id}", clock)
        try:
            yield made
        finally:
            drop_books(made)


@pytest.fixture
def clock(books: Books) -> Clock:
    return books.clock


@pytest.fixture
def ledger(books: Books) -> LedgerAPI:
    return books.ledger


def eur(amount: str | int) -> Money:
    return Money(amount, "EUR")


def jpy(amount: str | int) -> Money:
    return Money(amount, "JPY")


def open_standard(ledger: LedgerAPI) -> None:
    """bank (asset, unlimited), two customer wallets, fees (income), all in EUR."""
    ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
    ledger.open_account("wallet:ana", "liability", "EUR")
    ledger.open_account("wallet:bob", "liability", "EUR")
    ledger.open_account("fees", "income", "EUR")


def posted(ledger: LedgerAPI, code: str) -> Money:
    return ledger.balance(code).posted


def wrong(value: object) -> Any:
    """``value`` typed as ``Any``: passed where the signature wants another type, on purpose."""
    return value


def allow_updates(conn: Connection, table: str) -> None:
    """Switch off a table's immutability guard, as an attacker with DDL rights could."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TRIGGER {table}_immutable_u")
    else:
        conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {table}_immutable")


def count_entries(conn: Connection) -> int:
    """Entries stored: one head row (``pair`` 0) each."""
    found: int = conn.execute(
        select(func.count()).select_from(transfers).where(transfers.c.pair == 0)
    ).scalar_one()
    return found


ROW_COLUMNS = (
    "seq, pair, pairs, debit_id, credit_id, currency, amount, flow, debit_leg, credit_leg,"
    " debit_posted_after, debit_dpending_after, debit_cpending_after,"
    " credit_posted_after, credit_dpending_after, credit_cpending_after"
)
HEAD_COLUMNS = "key, request_hash, kind, pending_seq, description, posted_at, prev_hash, hash"


def account_id(conn: Connection, code: str) -> int:
    found: int = conn.execute(select(accounts.c.id).where(accounts.c.code == code)).scalar_one()
    return found


def raw_row(
    conn: Connection,
    seq: int,
    amount: int | None,
    *,
    debit: str | None = "bank",
    credit: str | None = "wallet:ana",
    currency: str = "EUR",
    pair: int = 0,
    pairs: int = 1,
    key: str | None = None,
    kind: str = "posted",
    pending_seq: int | None = None,
) -> None:
    """Insert one transfer row as a buggy plugin would: straight SQL.

    Row ``pair`` 0 is an entry's head and carries the entry's columns; the
    running totals are left at zero (only verify looks at them).
    """
    params: dict[str, Any] = {
        "s": seq,
        "p": pair,
        "n": pairs,
        "d": None if debit is None else account_id(conn, debit),
        "c": None if credit is None else account_id(conn, credit),
        "cur": currency,
        "m": amount,
    }
    columns, values = ROW_COLUMNS, ":s, :p, :n, :d, :c, :cur, :m, 0, 0, 1, 0, 0, 0, 0, 0, 0"
    if pair == 0:
        columns += f", {HEAD_COLUMNS}"
        values += ", :k, :h, :kind, :ps, '', :t, :h, :h"
        params |= {
            "k": key or f"raw-{seq}",
            "h": bytes(32),
            "kind": kind,
            "ps": pending_seq,
            "t": START,
        }
    conn.execute(text(f"INSERT INTO ledger_transfers ({columns}) VALUES ({values})"), params)


# ---------------------------------------------------------------- accounts


def test_open_account_returns_its_definition(ledger: LedgerAPI, clock: Clock) -> None:
    acct = ledger.open_account("wallet:ana", AccountType.LIABILITY, "EUR")
    assert acct.code == "wallet:ana"
    assert acct.type is AccountType.LIABILITY
    assert acct.normal == "credit"
    assert acct.currency.code == "EUR"
    assert acct.overdraft == "none"
    assert acct.overdraft_limit == eur(0)
    assert acct.opened_at == clock.now
    assert ledger.account("wallet:ana") == acct


@pytest.mark.parametrize(
    ("kind", "normal"),
    [
        ("asset", "debit"),
        ("expense", "debit"),
        ("liability", "credit"),
        ("equity", "credit"),
        ("income", "credit"),
    ],
)
def test_account_types_fix_the_normal_side(
    ledger: LedgerAPI, kind: str, normal: Literal["debit", "credit"]
) -> None:
    acct = ledger.open_account(f"acct:{kind}", kind, "EUR")
    assert acct.normal == normal
    assert ledger.balance(acct.code).normal == normal


def test_open_account_again_with_the_same_definition_returns_it(
    ledger: LedgerAPI, clock: Clock
) -> None:
    first = ledger.open_account(
        "credit", "asset", "EUR", overdraft="limit", overdraft_limit=eur(50)
    )
    clock.advance(hours=1)
    again = ledger.open_account(
        "credit", "asset", "EUR", overdraft="limit", overdraft_limit=eur(50)
    )
    assert again == first
    assert again.opened_at == START
    assert [a.code for a in ledger.accounts()] == ["credit"]


@pytest.mark.parametrize(
    "change",
    [
        {"type": "liability"},
        {"currency_code": "USD", "overdraft_limit": Money(50, "USD")},
        {"overdraft": "unlimited", "overdraft_limit": None},
        {"overdraft_limit": eur(51)},
    ],
    ids=["type", "currency", "policy", "limit"],
)
def test_open_account_with_another_definition_raises(
    ledger: LedgerAPI, change: dict[str, Any]
) -> None:
    definition: dict[str, Any] = {
        "type": "asset",
        "currency_code": "EUR",
        "overdraft": "limit",
        "overdraft_limit": eur(50),
    }
    original = ledger.open_account("credit", **definition)
    with pytest.raises(IdempotencyConflictError):
        ledger.open_account("credit", **{**definition, **change})
    assert ledger.account("credit") == original
    assert len(ledger.accounts()) == 1


@pytest.mark.parametrize(
    ("code", "kwargs", "error"),
    [
        ("", {}, LedgerError),
        ("x" * 129, {}, LedgerError),
        ("nul\x00", {}, LedgerError),
        ("a", {"overdraft": "sometimes"}, LedgerError),
        ("a", {"overdraft_limit": eur(5)}, LedgerError),
        ("a", {"overdraft": "limit", "overdraft_limit": Money(5, "USD")}, LedgerError),
        ("a", {"overdraft": "limit", "overdraft_limit": eur(-5)}, LedgerError),
        ("a", {"type": "bogus"}, LedgerError),
        ("a", {"currency_code": "XQZ"}, LedgerError),  # chaining Money's MoneyError
    ],
    ids=[
        "empty-code",
        "long-code",
        "nul-code",
        "policy",
        "limit-without-policy",
        "limit-currency",
        "negative-limit",
        "type",
        "currency",
    ],
)
def test_open_account_refuses_bad_definitions(
    ledger: LedgerAPI, code: str, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    definition: dict[str, Any] = {"type": "asset", "currency_code": "EUR", **kwargs}
    with pytest.raises(error):
        ledger.open_account(code, **definition)
    assert ledger.accounts() == []


def test_accounts_are_listed_by_code(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    assert [a.code for a in ledger.accounts()] == ["bank", "fees", "wallet:ana", "wallet:bob"]


@pytest.mark.parametrize("code", ["nope", "nul\x00"])
def test_unknown_accounts_raise(ledger: LedgerAPI, code: str) -> None:
    ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
    with pytest.raises(AccountNotFoundError):
        ledger.account(code)
    with pytest.raises(AccountNotFoundError):
        ledger.balance(code)
    with pytest.raises(LookupError):
        ledger.transfer("k", "bank", code, eur(1))
    assert ledger.entries() == []


# ---------------------------------------------------------------- posting


def test_post_a_multi_leg_entry(ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur("100.00"))
    clock.advance(minutes=5)
    legs = [
        Leg.debit("wallet:ana", eur("5.00")),
        Leg.credit("fees", eur("4.00")),
        Leg.credit("wallet:bob", eur("1.00")),
    ]
    entry = ledger.post("split-1", legs, "a split")
    assert entry.seq == 2
    assert entry.kind == "posted"
    assert entry.key == "split-1"
    assert entry.legs == tuple(legs)
    assert entry.description == "a split"
    assert entry.posted_at == clock.now
    assert len(entry.hash) == 32
    assert ledger.entry(2) == entry
    assert posted(ledger, "wallet:ana") == eur("95.00")
    assert posted(ledger, "fees") == eur("4.00")
    assert posted(ledger, "wallet:bob") == eur("1.00")
    assert posted(ledger, "bank") == eur("100.00")
    assert ledger.verify().ok


def test_one_entry_may_balance_several_currencies(ledger: LedgerAPI) -> None:
    ledger.open_account("bank:eur", "asset", "EUR", overdraft="unlimited")
    ledger.open_account("bank:jpy", "asset", "JPY", overdraft="unlimited")
    ledger.open_account("fx:eur", "equity", "EUR", overdraft="unlimited")
    ledger.open_account("fx:jpy", "equity", "JPY", overdraft="unlimited")
    entry = ledger.post(
        "fx-1",
        [
            Leg.debit("bank:jpy", jpy(16000)),
            Leg.credit("fx:jpy", jpy(16000)),
            Leg.debit("fx:eur", eur("100.00")),
            Leg.credit("bank:eur", eur("100.00")),
        ],
    )
    assert {leg.amount.currency.code for leg in entry.legs} == {"EUR", "JPY"}
    assert posted(ledger, "bank:jpy") == jpy(16000)
    assert posted(ledger, "bank:eur") == eur("-100.00")
    assert posted(ledger, "fx:jpy") == jpy(16000)
    assert posted(ledger, "fx:eur") == eur("-100.00")
    assert ledger.verify().ok


@pytest.mark.parametrize(
    "legs",
    [
        [Leg.debit("bank", eur("10.00")), Leg.credit("wallet:ana", eur("9.99"))],
        [
            Leg.debit("bank", eur("10.00")),
            Leg.credit("wallet:ana", eur("5.00")),
            Leg.credit("wallet:bob", eur("4.00")),
        ],
        # 10 + (-10) is zero, but not per currency.
        [Leg.debit("bank", eur("10.00")), Leg.credit("usd", Money("10.00", "USD"))],
    ],
    ids=["two-legs", "three-legs", "across-currencies"],
)
def test_an_unbalanced_entry_raises_and_writes_nothing(
    books: Books, ledger: LedgerAPI, legs: list[Leg]
) -> None:
    open_standard(ledger)
    ledger.open_account("usd", "liability", "USD")
    before = books.snapshot()
    with pytest.raises(LedgerError, match="does not balance"):
        ledger.post("k", legs)
    assert books.snapshot() == before


def test_a_leg_in_another_currency_than_its_account_raises(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.open_account("bank:usd", "asset", "USD", overdraft="unlimited")
    before = books.snapshot()
    with pytest.raises(LedgerError, match="is in EUR, the leg is in USD"):
        ledger.transfer("k", "bank:usd", "wallet:ana", Money(5, "USD"))
    assert books.snapshot() == before


@pytest.mark.parametrize(
    "legs",
    [
        [Leg.debit("bank", eur(0)), Leg.credit("wallet:ana", eur(0))],
        [Leg.debit("bank", eur(-5)), Leg.credit("wallet:ana", eur(-5))],
        [Leg.debit("bank", eur(5)), Leg.credit("wallet:ana", eur(10)), Leg.debit("fees", eur(-5))],
        [Leg.debit("bank", eur(5))],
        [],
        [Leg("bank", "sideways", eur(5)), Leg.credit("wallet:ana", eur(5))],  # type: ignore[arg-type]
    ],
    ids=["zero", "negative", "negative-leg", "one-leg", "no-legs", "bad-side"],
)
def test_malformed_legs_raise(books: Books, ledger: LedgerAPI, legs: list[Leg]) -> None:
    open_standard(ledger)
    before = books.snapshot()
    with pytest.raises(LedgerError):
        ledger.post("k", legs)
    assert books.snapshot() == before


def test_amounts_beyond_64_bits_raise(books: Books, ledger: LedgerAPI) -> None:
    ledger.open_account("a", "asset", "JPY", overdraft="unlimited")
    ledger.open_account("b", "equity", "JPY", overdraft="unlimited")
    with pytest.raises(LedgerError, match="64-bit"):
        ledger.transfer("huge", "a", "b", jpy(2**63))
    ledger.transfer("big", "a", "b", jpy(2**63 - 1))
    before = books.snapshot()
    # Each leg fits, but the account's running total would not.
    with pytest.raises(LedgerError, match="64-bit"):
        ledger.transfer("more", "a", "b", jpy(1))
    assert books.snapshot() == before
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("key", "description"),
    [
        ("", ""),
        ("k" * 201, ""),
        ("nul\x00", ""),
        ("expire:1", ""),
        ("k", "d" * 501),
        ("k", "nul\x00"),
    ],
    ids=["empty-key", "long-key", "nul-key", "reserved-key", "long-description", "nul-desc"],
)
def test_bad_keys_and_descriptions_raise_on_both_backends(
    books: Books, ledger: LedgerAPI, key: str, description: str
) -> None:
    open_standard(ledger)
    before = books.snapshot()
    with pytest.raises(LedgerError):
        ledger.transfer(key, "bank", "wallet:ana", eur(1), description)
    assert books.snapshot() == before
    longest = ledger.transfer("k" * 200, "bank", "wallet:ana", eur(1), "d" * 500)
    assert ledger.entry(longest.seq).description == "d" * 500


def test_transfer_is_a_two_leg_entry(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    entry = ledger.transfer("t1", "bank", "wallet:ana", eur("12.34"), "top-up")
    assert entry.legs == (Leg.debit("bank", eur("12.34")), Leg.credit("wallet:ana", eur("12.34")))
    assert entry.description == "top-up"
    assert posted(ledger, "bank") == eur("12.34")
    assert posted(ledger, "wallet:ana") == eur("12.34")


def test_entries_are_listed_in_chain_order(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    for n in range(5):
        ledger.transfer(f"t{n}", "bank", "wallet:ana", eur(n + 1))
    assert [e.seq for e in ledger.entries()] == [1, 2, 3, 4, 5]
    assert [e.key for e in ledger.entries(after=2, limit=2)] == ["t2", "t3"]
    with pytest.raises(LedgerError, match="no entry 9"):
        ledger.entry(9)


# ---------------------------------------------------------------- batches


def test_post_batch_posts_every_entry_in_order(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    out = ledger.post_batch(
        [
            EntryRequest("b1", (Leg.debit("bank", eur(10)), Leg.credit("wallet:ana", eur(10)))),
            # spends what the first entry of the same batch brought in
            EntryRequest(
                "b2", (Leg.debit("wallet:ana", eur(7)), Leg.credit("wallet:bob", eur(7))), "pay"
            ),
        ]
    )
    assert [e.seq for e in out] == [1, 2]
    assert [e.key for e in out] == ["b1", "b2"]
    assert out[1].description == "pay"
    assert posted(ledger, "wallet:ana") == eur(3)
    assert posted(ledger, "wallet:bob") == eur(7)
    assert ledger.entries() == out
    assert ledger.post_batch([]) == []


def test_a_batch_of_every_shape_reads_back_as_posted(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    """Plain transfers and other rows go through different statements (on SQLite): all agree."""
    open_standard(ledger)
    hold = ledger.hold("h", "bank", "wallet:bob", eur(4), timeout=timedelta(hours=1))
    ledger.transfer("t0", "bank", "wallet:ana", eur(50))
    requests = [
        EntryRequest("plain", (Leg.debit("wallet:ana", eur(1)), Leg.credit("fees", eur(1)))),
        EntryRequest(
            "credit-first", (Leg.credit("wallet:bob", eur(2)), Leg.debit("wallet:ana", eur(2)))
        ),
        EntryRequest(
            "three",
            (
                Leg.debit("wallet:ana", eur(3)),
                Leg.credit("wallet:bob", eur(1)),
                Leg.credit("fees", eur(2)),
            ),
            "split",
        ),
        EntryRequest("plain-2", (Leg.debit("bank", eur(5)), Leg.credit("wallet:ana", eur(5)))),
    ]
    out = ledger.post_batch(requests)
    ledger.post_pending("capture", hold.seq, eur(3))
    assert [e.legs for e in out] == [r.legs for r in requests]
    assert ledger.entries(after=2, limit=4) == out
    assert ledger.balance("wallet:ana").posted == eur(49)
    assert ledger.balance("wallet:bob").posted == eur(6)
    assert ledger.balance("fees").posted == eur(3)
    assert ledger.verify().ok
    with books.raw() as conn:  # the plain rows' constants, as the general statement writes them
        rows = conn.execute(
            select(
                transfers.c.pair,
                transfers.c.pairs,
                transfers.c.flow,
                transfers.c.debit_leg,
                transfers.c.credit_leg,
                transfers.c.kind,
                transfers.c.pending_seq,
                transfers.c.reverses_seq,
                transfers.c.timeout_at,
            ).where(transfers.c.key.in_(["t0", "plain", "plain-2"]))
        ).all()
    assert [tuple(r) for r in rows] == [(0, 1, 0, 0, 1, "posted", None, None, None)] * 3


def test_a_big_batch_keeps_every_value_exactly(ledger: LedgerAPI) -> None:
    """Enough rows for PostgreSQL's (binary) COPY: awkward text, large amounts, many legs."""
    open_standard(ledger)
    texts = ["tab\there", "new\nline", "back\\slash", "quote ' \" ", "\\N", "é€😀", ""]
    requests = [
        EntryRequest(
            f"big-{i}",
            (Leg.debit("bank", eur(10**15 + i)), Leg.credit("wallet:ana", eur(10**15 + i))),
            texts[i % len(texts)],
        )
        for i in range(12)
    ]
    requests.append(
        EntryRequest(
            "split",
            (
                Leg.debit("wallet:ana", eur("0.03")),
                Leg.credit("wallet:bob", eur("0.01")),
                Leg.credit("fees", eur("0.02")),
            ),
        )
    )
    out = ledger.post_batch(requests)
    assert ledger.entries() == out
    assert [(e.description, e.legs) for e in out] == [(r.description, r.legs) for r in requests]
    assert ledger.verify().ok


@pytest.mark.parametrize(
    "bad",
    [
        EntryRequest("b3", (Leg.debit("bank", eur(1)), Leg.credit("wallet:ana", eur(2)))),
        EntryRequest("b3", (Leg.debit("bank", eur(1)), Leg.credit("nobody", eur(1)))),
        EntryRequest("b3", (Leg.debit("wallet:bob", eur(1)), Leg.credit("wallet:ana", eur(1)))),
        EntryRequest("b1", (Leg.debit("bank", eur(99)), Leg.credit("wallet:ana", eur(99)))),
        EntryRequest("old", (Leg.debit("bank", eur(99)), Leg.credit("wallet:ana", eur(99)))),
    ],
    ids=["unbalanced", "unknown-account", "overdraft", "key-twice-in-batch", "key-stored"],
)
def test_one_bad_entry_in_a_batch_writes_nothing_at_all(
    books: Books, ledger: LedgerAPI, bad: EntryRequest
) -> None:
    open_standard(ledger)
    ledger.transfer("old", "bank", "wallet:ana", eur(1))
    before = books.snapshot()
    good = [
        EntryRequest("b1", (Leg.debit("bank", eur(10)), Leg.credit("wallet:ana", eur(10)))),
        EntryRequest("b2", (Leg.debit("wallet:ana", eur(5)), Leg.credit("fees", eur(5)))),
    ]
    with pytest.raises(LedgerError):
        ledger.post_batch([*good, bad])
    assert books.snapshot() == before
    assert [e.key for e in ledger.entries()] == ["old"]
    # The good entries' keys were not consumed.
    assert [e.seq for e in ledger.post_batch(good)] == [2, 3]


def test_a_key_repeated_in_one_batch_with_the_same_request_posts_once(
    ledger: LedgerAPI,
) -> None:
    open_standard(ledger)
    request = EntryRequest("dup", (Leg.debit("bank", eur(10)), Leg.credit("wallet:ana", eur(10))))
    first, second = ledger.post_batch([request, request])
    assert first == second
    assert len(ledger.entries()) == 1
    assert posted(ledger, "wallet:ana") == eur(10)


def test_a_batch_can_mix_new_entries_and_replays(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    old = ledger.transfer("old", "bank", "wallet:ana", eur(1))
    replay = EntryRequest("old", (Leg.debit("bank", eur(1)), Leg.credit("wallet:ana", eur(1))))
    new = EntryRequest("new", (Leg.debit("bank", eur(2)), Leg.credit("wallet:ana", eur(2))))
    out = ledger.post_batch([new, replay])
    assert out[1] == old
    assert out[0].seq == 2
    assert posted(ledger, "wallet:ana") == eur(3)


# ---------------------------------------------------------------- holds


def test_a_hold_reserves_funds_without_moving_them(ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold(
        "order-7", "wallet:ana", "fees", eur(30), timeout=timedelta(hours=1), description="o7"
    )
    assert hold.kind == "pending"
    assert hold.legs == (Leg.debit("wallet:ana", eur(30)), Leg.credit("fees", eur(30)))
    assert hold.timeout_at == clock.now + timedelta(hours=1)
    assert hold.description == "o7"
    assert ledger.entry(hold.seq) == hold
    ana = ledger.balance("wallet:ana")
    assert ana.posted == eur(100)
    assert ana.pending == eur(30)
    assert ana.debits_pending == eur(30)
    assert ana.available == eur(70)
    fees = ledger.balance("fees")
    assert fees.posted == eur(0)
    assert fees.credits_pending == eur(30)
    assert fees.pending == eur(0)  # incoming money is not held against an account
    assert [h.seq for h in ledger.open_holds()] == [hold.seq]
    assert ledger.verify().ok


def test_post_pending_in_full(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("order-7", "wallet:ana", "fees", eur(30))
    done = ledger.post_pending("capture-7", hold.seq)
    assert done.kind == "post_pending"
    assert done.pending_seq == hold.seq
    assert done.legs == hold.legs
    assert done.released == hold.legs
    assert ledger.entry(done.seq) == done
    ana = ledger.balance("wallet:ana")
    assert (ana.posted, ana.pending, ana.available) == (eur(70), eur(0), eur(70))
    fees = ledger.balance("fees")
    assert (fees.posted, fees.credits_pending) == (eur(30), eur(0))
    assert ledger.open_holds() == []
    assert ledger.verify().ok


def test_post_pending_in_part_releases_the_rest(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("order-7", "wallet:ana", "fees", eur(30))
    done = ledger.post_pending("capture-7", hold.seq, eur(20))
    assert done.legs == (Leg.debit("wallet:ana", eur(20)), Leg.credit("fees", eur(20)))
    assert done.released == hold.legs
    ana = ledger.balance("wallet:ana")
    assert (ana.posted, ana.pending, ana.available) == (eur(80), eur(0), eur(80))
    assert ledger.balance("fees").posted == eur(20)
    assert ledger.balance("fees").credits_pending == eur(0)
    assert ledger.open_holds() == []
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (eur(0), PendingStateError),
        (eur("30.01"), PendingStateError),
        (eur(-1), PendingStateError),
        (Money(10, "USD"), LedgerError),
    ],
    ids=["zero", "more-than-held", "negative", "other-currency"],
)
def test_post_pending_refuses_bad_amounts(
    books: Books, ledger: LedgerAPI, amount: Money, error: type[LedgerError]
) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("order-7", "wallet:ana", "fees", eur(30))
    before = books.snapshot()
    with pytest.raises(error):
        ledger.post_pending("capture-7", hold.seq, amount)
    assert books.snapshot() == before
    assert [h.seq for h in ledger.open_holds()] == [hold.seq]


def test_void_pending_releases_everything(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("order-7", "wallet:ana", "fees", eur(30))
    void = ledger.void_pending("void-7", hold.seq)
    assert void.kind == "void"
    assert void.legs == ()
    assert void.released == hold.legs
    assert ledger.entry(void.seq) == void
    ana = ledger.balance("wallet:ana")
    assert (ana.posted, ana.pending, ana.available) == (eur(100), eur(0), eur(100))
    assert ledger.balance("fees").credits_pending == eur(0)
    assert ledger.open_holds() == []
    assert ledger.verify().ok


@pytest.mark.parametrize("first", ["post", "void"])
@pytest.mark.parametrize("second", ["post", "void"])
def test_a_hold_is_resolved_once(books: Books, ledger: LedgerAPI, first: str, second: str) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("order-7", "wallet:ana", "fees", eur(30))
    actions: dict[str, Callable[[str], Entry]] = {
        "post": lambda key: ledger.post_pending(key, hold.seq),
        "void": lambda key: ledger.void_pending(key, hold.seq),
    }
    actions[first]("first")
    before = books.snapshot()
    with pytest.raises(PendingStateError, match="already posted, voided or expired"):
        actions[second]("second")
    assert books.snapshot() == before


def test_only_holds_can_be_posted_or_voided(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    plain = ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    before = books.snapshot()
    for seq in (plain.seq, 99, 0, -1):
        with pytest.raises(PendingStateError, match="no hold"):
            ledger.post_pending(f"p{seq}", seq)
        with pytest.raises(PendingStateError, match="no hold"):
            ledger.void_pending(f"v{seq}", seq)
    assert books.snapshot() == before


def test_a_hold_needs_a_positive_timeout_and_funds(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(10))
    before = books.snapshot()
    with pytest.raises(LedgerError, match="timeout must be positive"):
        ledger.hold("h", "wallet:ana", "fees", eur(5), timeout=timedelta(0))
    with pytest.raises(OverdraftError):
        ledger.hold("h", "wallet:ana", "fees", eur("10.01"))
    with pytest.raises(LedgerError):
        ledger.hold("h", "wallet:ana", "fees", eur(0))
    assert books.snapshot() == before


def test_expire_pending_releases_holds_past_their_timeout(ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    short = ledger.hold("short", "wallet:ana", "fees", eur(10), timeout=timedelta(minutes=5))
    long = ledger.hold("long", "wallet:ana", "fees", eur(20), timeout=timedelta(hours=1))
    forever = ledger.hold("forever", "wallet:ana", "fees", eur(30))
    clock.advance(minutes=4, seconds=59)
    assert ledger.expire_pending() == []
    clock.advance(seconds=1)  # exactly at the timeout: expired
    (expired,) = ledger.expire_pending()
    assert expired.kind == "expire"
    assert expired.pending_seq == short.seq
    assert expired.key == f"expire:{short.seq}"
    assert expired.released == short.legs
    assert expired.posted_at == clock.now
    assert ledger.entry(expired.seq) == expired
    assert ledger.expire_pending() == []  # nothing twice
    assert ledger.balance("wallet:ana").available == eur(50)
    # An explicit time expires what was due then.
    (expired_long,) = ledger.expire_pending(now=START + timedelta(days=1))
    assert expired_long.pending_seq == long.seq
    assert [h.seq for h in ledger.open_holds()] == [forever.seq]
    assert ledger.balance("wallet:ana").available == eur(70)
    assert ledger.verify().ok


def test_an_expired_hold_cannot_be_posted(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("h", "wallet:ana", "fees", eur(10), timeout=timedelta(minutes=5))
    clock.advance(minutes=5)
    before = books.snapshot()
    # Refused even before expire_pending has run ...
    with pytest.raises(PendingStateError, match="expired"):
        ledger.post_pending("late", hold.seq)
    assert books.snapshot() == before
    ledger.expire_pending()
    # ... and after it.
    with pytest.raises(PendingStateError):
        ledger.post_pending("late", hold.seq)
    with pytest.raises(PendingStateError):
        ledger.void_pending("late-void", hold.seq)
    assert ledger.balance("fees").posted == eur(0)
    assert ledger.balance("wallet:ana").available == eur(100)


def test_a_hold_can_be_posted_until_its_timeout(ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("h", "wallet:ana", "fees", eur(10), timeout=timedelta(minutes=5))
    clock.advance(minutes=4, seconds=59)
    ledger.post_pending("capture", hold.seq)
    clock.advance(hours=1)
    assert ledger.expire_pending() == []
    assert ledger.balance("fees").posted == eur(10)


def test_expire_pending_takes_times_in_any_zone_and_refuses_naive(
    ledger: LedgerAPI,
) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    ledger.hold("h", "wallet:ana", "fees", eur(10), timeout=timedelta(hours=1))
    plus_two = timezone(timedelta(hours=2))
    # 10:59 UTC written as 12:59+02:00: not yet due (on SQLite too).
    assert ledger.expire_pending(now=datetime(2024, 3, 1, 11, 59, tzinfo=plus_two)) == []
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.expire_pending(now=datetime(2024, 3, 1, 12, 0))
    (expired,) = ledger.expire_pending(now=datetime(2024, 3, 1, 12, 0, tzinfo=plus_two))
    assert expired.posted_at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert ledger.verify().ok


# ---------------------------------------------------------------- reversals


def test_reverse_swaps_the_sides_of_a_posted_entry(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    split = ledger.post(
        "split",
        [Leg.debit("wallet:ana", eur(5)), Leg.credit("fees", eur(4)), Leg.credit("bank", eur(1))],
    )
    undo = ledger.reverse("undo-split", split.seq, "customer complaint")
    assert undo.kind == "reversal"
    assert undo.reverses_seq == split.seq
    assert undo.description == "customer complaint"
    assert undo.legs == (
        Leg.credit("wallet:ana", eur(5)),
        Leg.debit("fees", eur(4)),
        Leg.debit("bank", eur(1)),
    )
    assert ledger.entry(undo.seq) == undo
    assert posted(ledger, "wallet:ana") == eur(100)
    assert posted(ledger, "fees") == eur(0)
    assert posted(ledger, "bank") == eur(100)
    assert ledger.verify().ok


def test_an_entry_is_reversed_once(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    topup = ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    ledger.reverse("undo", topup.seq)
    before = books.snapshot()
    with pytest.raises(LedgerError, match="already been reversed"):
        ledger.reverse("undo-again", topup.seq)
    assert books.snapshot() == before


def test_a_captured_hold_can_be_reversed(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("h", "wallet:ana", "fees", eur(30))
    capture = ledger.post_pending("capture", hold.seq, eur(25))
    refund = ledger.reverse("refund", capture.seq)
    assert refund.legs == (Leg.credit("wallet:ana", eur(25)), Leg.debit("fees", eur(25)))
    assert ledger.balance("wallet:ana").available == eur(100)
    assert ledger.balance("fees").posted == eur(0)
    assert ledger.verify().ok


def test_only_posted_entries_can_be_reversed(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    topup = ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("h", "wallet:ana", "fees", eur(30))
    void = ledger.void_pending("v", hold.seq)
    undo = ledger.reverse("undo", topup.seq)
    before = books.snapshot()
    for seq in (hold.seq, void.seq, undo.seq):
        with pytest.raises(LedgerError, match="cannot be reversed"):
            ledger.reverse(f"r{seq}", seq)
    with pytest.raises(LedgerError, match="no entry 99"):
        ledger.reverse("r99", 99)
    assert books.snapshot() == before


def test_overdraft_rules_apply_to_a_reversal(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    topup = ledger.transfer("topup", "bank", "wallet:ana", eur(50))
    ledger.transfer("spend", "wallet:ana", "wallet:bob", eur(30))
    before = books.snapshot()
    # Taking the 50 back would leave ana at -30.
    with pytest.raises(OverdraftError) as caught:
        ledger.reverse("undo-topup", topup.seq)
    assert caught.value.account == "wallet:ana"
    assert caught.value.available == eur(-30)
    assert books.snapshot() == before
    # A hold counts too: with 20 left and 15 held, taking back 10 is refused.
    ledger.transfer("topup-2", "bank", "wallet:ana", eur(10))
    ledger.hold("h", "wallet:ana", "fees", eur(15))
    small = ledger.transfer("topup-3", "bank", "wallet:ana", eur(3))
    ledger.reverse("undo-3", small.seq)  # 33 - 15 - 3 = 15 >= 0
    second = ledger.transfer("topup-4", "bank", "wallet:ana", eur(1))
    ledger.transfer("spend-2", "wallet:ana", "wallet:bob", eur(16))
    with pytest.raises(OverdraftError):
        ledger.reverse("undo-4", second.seq)


# ---------------------------------------------------------------- idempotency


Request = Callable[[LedgerAPI, str], Entry]

#: One request of each kind, by the key it is made with. Entry 1 is a 100 EUR
#: top-up of ana's wallet, entry 2 a 3 EUR hold from it and entry 3 a 1 EUR
#: payment to bob (see ``_prepare``).
REQUESTS: dict[str, Request] = {
    "post": lambda lg, k: lg.post(
        k, [Leg.debit("wallet:ana", eur(3)), Leg.credit("fees", eur(3))], "d"
    ),
    "transfer": lambda lg, k: lg.transfer(k, "wallet:ana", "fees", eur(3), "d"),
    "batch": lambda lg, k: lg.post_batch(
        [EntryRequest(k, (Leg.debit("wallet:ana", eur(3)), Leg.credit("fees", eur(3))), "d")]
    )[0],
    "hold": lambda lg, k: lg.hold(k, "wallet:ana", "fees", eur(3), timeout=timedelta(days=1)),
    "post_pending": lambda lg, k: lg.post_pending(k, 2, eur(1)),
    "void_pending": lambda lg, k: lg.void_pending(k, 2),
    "reverse": lambda lg, k: lg.reverse(k, 3, "oops"),
}

#: For each kind, another request of the same kind (same key → conflict).
OTHER_REQUESTS: dict[str, Request] = {
    "post": lambda lg, k: lg.post(
        k, [Leg.debit("wallet:ana", eur(3)), Leg.credit("fees", eur(3))], "other"
    ),
    "transfer": lambda lg, k: lg.transfer(k, "wallet:ana", "fees", eur(4), "d"),
    "batch": lambda lg, k: lg.post_batch(
        [EntryRequest(k, (Leg.debit("wallet:ana", eur(3)), Leg.credit("wallet:bob", eur(3))), "d")]
    )[0],
    "hold": lambda lg, k: lg.hold(k, "wallet:ana", "fees", eur(3), timeout=timedelta(days=2)),
    "post_pending": lambda lg, k: lg.post_pending(k, 2),
    "void_pending": lambda lg, k: lg.void_pending(k, 1),
    "reverse": lambda lg, k: lg.reverse(k, 3, "other reason"),
}


def _prepare(ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    ledger.hold("h", "wallet:ana", "fees", eur(3))
    ledger.transfer("pay-bob", "wallet:ana", "wallet:bob", eur(1))


@pytest.mark.parametrize("kind", REQUESTS)
def test_same_key_same_request_returns_the_original_entry(
    books: Books, ledger: LedgerAPI, clock: Clock, kind: str
) -> None:
    _prepare(ledger)
    first = REQUESTS[kind](ledger, "k")
    before = books.snapshot()
    clock.advance(hours=2)
    again = REQUESTS[kind](ledger, "k")
    assert again == first
    assert (again.seq, again.hash, again.posted_at) == (first.seq, first.hash, first.posted_at)
    assert books.snapshot() == before


@pytest.mark.parametrize("kind", REQUESTS)
def test_same_key_other_request_raises_a_conflict(
    books: Books, ledger: LedgerAPI, kind: str
) -> None:
    _prepare(ledger)
    REQUESTS[kind](ledger, "k")
    before = books.snapshot()
    with pytest.raises(IdempotencyConflictError) as caught:
        OTHER_REQUESTS[kind](ledger, "k")
    assert caught.value.key == "k"
    # A request of another kind with the key conflicts as well.
    other_kind = "hold" if kind != "hold" else "post"
    with pytest.raises(IdempotencyConflictError):
        REQUESTS[other_kind](ledger, "k")
    assert books.snapshot() == before


def test_a_replay_answers_even_when_the_request_would_now_be_refused(
    books: Books, ledger: LedgerAPI
) -> None:
    _prepare(ledger)
    capture = ledger.post_pending("capture", 2)
    drain = ledger.transfer("drain", "wallet:ana", "fees", eur(96))
    before = books.snapshot()
    # The hold is resolved and ana's wallet is empty, yet replays return the originals.
    assert ledger.post_pending("capture", 2) == capture
    assert ledger.transfer("drain", "wallet:ana", "fees", eur(96)) == drain
    assert books.snapshot() == before


@pytest.mark.parametrize("refused", ["overdraft", "unknown-account", "no-hold"])
def test_a_refused_request_stores_nothing_so_its_key_can_be_retried(
    books: Books, ledger: LedgerAPI, refused: str
) -> None:
    open_standard(ledger)
    before = books.snapshot()
    if refused == "overdraft":
        with pytest.raises(OverdraftError):
            ledger.transfer("pay-1", "wallet:ana", "fees", eur(10))
        assert books.snapshot() == before
        ledger.transfer("topup", "bank", "wallet:ana", eur(10))
        retried = ledger.transfer("pay-1", "wallet:ana", "fees", eur(10))
    elif refused == "unknown-account":
        with pytest.raises(AccountNotFoundError):
            ledger.transfer("pay-1", "bank", "wallet:cy", eur(10))
        assert books.snapshot() == before
        ledger.open_account("wallet:cy", "liability", "EUR")
        retried = ledger.transfer("pay-1", "bank", "wallet:cy", eur(10))
    else:
        with pytest.raises(PendingStateError):
            ledger.void_pending("pay-1", 1)
        assert books.snapshot() == before
        ledger.transfer("topup", "bank", "wallet:ana", eur(10))
        # The key is free for an unrelated request too.
        retried = ledger.hold("pay-1", "wallet:ana", "fees", eur(10))
    assert retried.key == "pay-1"
    assert ledger.entry(retried.seq) == retried
    assert ledger.verify().ok


# ---------------------------------------------------------------- balances


def test_available_is_posted_minus_pending_on_both_sides(ledger: LedgerAPI) -> None:
    ledger.open_account("equity", "equity", "EUR", overdraft="unlimited")
    ledger.open_account("cash", "asset", "EUR")  # debit-normal
    ledger.open_account("wallet", "liability", "EUR")  # credit-normal
    ledger.transfer("fund-cash", "cash", "equity", eur(100))
    ledger.transfer("fund-wallet", "equity", "wallet", eur(100))
    # A hold credits cash (reduces it) and debits the wallet (reduces it).
    ledger.hold("h1", "wallet", "cash", eur(30))
    cash, wallet = ledger.balance("cash"), ledger.balance("wallet")
    assert (cash.posted, cash.credits_pending, cash.pending, cash.available) == (
        eur(100),
        eur(30),
        eur(30),
        eur(70),
    )
    assert (wallet.posted, wallet.debits_pending, wallet.pending, wallet.available) == (
        eur(100),
        eur(30),
        eur(30),
        eur(70),
    )
    # Incoming holds are not spendable, and not held against the account.
    ledger.hold("h2", "cash", "wallet", eur(10))
    cash, wallet = ledger.balance("cash"), ledger.balance("wallet")
    assert (cash.debits_pending, cash.available) == (eur(10), eur(70))
    assert (wallet.credits_pending, wallet.available) == (eur(10), eur(70))


def test_balance_as_of_past_times(ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    t0 = clock.now
    clock.advance(minutes=1)
    ledger.transfer("t1", "bank", "wallet:ana", eur(100))  # at t1
    t1 = clock.now
    clock.advance(minutes=1)
    hold = ledger.hold("h", "wallet:ana", "fees", eur(30))  # at t2
    t2 = clock.now
    clock.advance(minutes=1)
    ledger.post_pending("c", hold.seq, eur(10))  # at t3
    t3 = clock.now
    clock.advance(minutes=1)
    ledger.transfer("t4", "bank", "wallet:bob", eur(5))  # at t4, another account

    def at(when: datetime, code: str = "wallet:ana") -> tuple[Money, Money, Money]:
        b = ledger.balance(code, as_of=when)
        return b.posted, b.pending, b.available

    zero = eur(0)
    assert at(t0) == (zero, zero, zero)  # before any entry
    assert at(t0 - timedelta(days=365)) == (zero, zero, zero)
    assert at(t1 - timedelta(microseconds=1)) == (zero, zero, zero)
    assert at(t1) == (eur(100), zero, eur(100))
    assert at(t2) == (eur(100), eur(30), eur(70))
    assert at(t2 + timedelta(seconds=30)) == (eur(100), eur(30), eur(70))
    assert at(t3) == (eur(90), zero, eur(90))
    assert at(clock.now) == at(clock.now + timedelta(days=1)) == (eur(90), zero, eur(90))
    ledger_now = ledger.balance("wallet:ana")
    assert (ledger_now.posted, ledger_now.pending) == (eur(90), zero)
    assert at(t3, "wallet:bob") == (zero, zero, zero)  # bob's first entry is later
    assert at(clock.now, "wallet:bob") == (eur(5), zero, eur(5))
    assert ledger.balance("fees", as_of=t2).credits_pending == eur(30)
    assert ledger.balance("fees", as_of=t3).posted == eur(10)


def test_balance_as_of_takes_any_time_zone_and_refuses_naive(
    ledger: LedgerAPI, clock: Clock
) -> None:
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))  # 09:00 UTC
    clock.advance(hours=1)
    ledger.transfer("t2", "bank", "wallet:ana", eur(5))  # 10:00 UTC
    plus_two = timezone(timedelta(hours=2))
    # 09:30 UTC is 11:30+02:00: only the first entry (SQLite compares UTC text).
    assert ledger.balance("wallet:ana", datetime(2024, 3, 1, 11, 30, tzinfo=plus_two)).posted == (
        eur(10)
    )
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.balance("wallet:ana", datetime(2024, 3, 1, 9, 30))


def test_a_clock_in_another_time_zone_is_stored_as_utc(database_url: str, unique_id: str) -> None:
    local = Clock(datetime(2024, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=2))))
    platform = Platform([], environ={}, database_url=database_url, clock=local)
    made = make_books(platform, f"tz-{unique_id}", local)
    try:
        ledger = made.ledger
        open_standard(ledger)
        entry = ledger.transfer("t1", "bank", "wallet:ana", eur(10))
        hold = ledger.hold("h", "wallet:ana", "fees", eur(1), timeout=timedelta(minutes=5))
        assert ledger.entry(entry.seq).posted_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
        assert ledger.entry(hold.seq).timeout_at == datetime(2024, 3, 1, 9, 5, tzinfo=UTC)
        assert ledger.account("bank").opened_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
        assert ledger.balance("wallet:ana", as_of=START).posted == eur(10)
        assert ledger.verify().ok
    finally:
        drop_books(made)
        platform.close()


# ---------------------------------------------------------------- overdraft policies

POLICIES: list[tuple[str, Money | None, Money | None]] = [
    # policy, limit, lowest available balance allowed (None: no floor)
    ("none", None, eur(0)),
    ("limit", eur(50), eur(-50)),
    ("unlimited", None, None),
]


@pytest.mark.parametrize("kind", ["liability", "asset"], ids=["credit-normal", "debit-normal"])
@pytest.mark.parametrize(("policy", "limit", "floor"), POLICIES, ids=[p[0] for p in POLICIES])
def test_overdraft_policies(
    books: Books,
    ledger: LedgerAPI,
    kind: str,
    policy: Literal["none", "limit", "unlimited"],
    limit: Money | None,
    floor: Money | None,
) -> None:
    ledger.open_account("other", "equity", "EUR", overdraft="unlimited")
    ledger.open_account("acct", kind, "EUR", overdraft=policy, overdraft_limit=limit)
    normal = ledger.account("acct").normal

    def reduce(key: str, amount: Money) -> Entry:
        """Move ``amount`` out of the account: the side opposite its normal one."""
        if normal == "credit":
            return ledger.transfer(key, "acct", "other", amount)
        return ledger.transfer(key, "other", "acct", amount)

    def add(key: str, amount: Money) -> Entry:
        if normal == "credit":
            return ledger.transfer(key, "other", "acct", amount)
        return ledger.transfer(key, "acct", "other", amount)

    add("fund", eur(20))
    if floor is None:
        reduce("big", eur(1_000_000))
        assert ledger.balance("acct").available == eur(-999_980)
        return
    reduce("to-floor", eur(20) - floor)
    assert ledger.balance("acct").available == floor
    before = books.snapshot()
    with pytest.raises(OverdraftError) as caught:
        reduce("past-floor", eur("0.01"))
    assert caught.value.account == "acct"
    assert caught.value.floor == floor
    assert caught.value.available == floor - eur("0.01")
    assert books.snapshot() == before
    # A hold counts: with 5 added back and 5 held, nothing more can go.
    add("back", eur(5))
    held_from, held_to = ("acct", "other") if normal == "credit" else ("other", "acct")
    ledger.hold("h", held_from, held_to, eur(5))
    assert ledger.balance("acct").available == floor
    with pytest.raises(OverdraftError):
        reduce("past-floor", eur("0.01"))
    with pytest.raises(OverdraftError):
        ledger.hold("h2", held_from, held_to, eur("0.01"))


def test_a_limit_is_checked_per_entry_not_per_leg(ledger: LedgerAPI) -> None:
    ledger.open_account("other", "equity", "EUR", overdraft="unlimited")
    ledger.open_account("wallet", "liability", "EUR")
    # Out and back in within one entry: never below zero once the entry is done.
    entry = ledger.post(
        "in-and-out",
        [
            Leg.debit("wallet", eur(10)),
            Leg.credit("other", eur(10)),
            Leg.debit("other", eur(10)),
            Leg.credit("wallet", eur(10)),
        ],
    )
    assert entry.seq == 1
    assert ledger.balance("wallet").posted == eur(0)


# ---------------------------------------------------------------- sessions


def test_a_session_is_one_transaction(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    before = books.snapshot()

    def crash_after_two_writes() -> None:
        with ledger.session() as s:
            s.transfer("t1", "bank", "wallet:ana", eur(10))
            s.hold("h1", "wallet:ana", "fees", eur(5))
            assert s.balance("wallet:ana").available == eur(5)
            raise RuntimeError("crash after two writes")

    with pytest.raises(RuntimeError):
        crash_after_two_writes()
    assert books.snapshot() == before
    with ledger.session() as s:
        s.transfer("t1", "bank", "wallet:ana", eur(10))
        s.hold("h1", "wallet:ana", "fees", eur(5))
    assert ledger.balance("wallet:ana").available == eur(5)


def test_bind_books_in_the_callers_transaction(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    with books.raw() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, ref TEXT)")

    def order_then_crash() -> None:
        with books.raw() as conn:
            conn.exec_driver_sql("INSERT INTO orders (id, ref) VALUES (1, 'o-1')")
            ledger.bind(conn).transfer("o-1", "bank", "wallet:ana", eur(10))
            raise RuntimeError("the order failed")

    with pytest.raises(RuntimeError):
        order_then_crash()
    assert ledger.entries() == []
    with books.raw() as conn:
        conn.exec_driver_sql("INSERT INTO orders (id, ref) VALUES (1, 'o-1')")
        ledger.bind(conn).transfer("o-1", "bank", "wallet:ana", eur(10))
    with books.raw() as conn:
        assert conn.exec_driver_sql("SELECT ref FROM orders").scalars().all() == ["o-1"]
    assert ledger.balance("wallet:ana").posted == eur(10)


def test_bind_without_savepoints_leaves_rollback_to_the_caller(
    books: Books, ledger: LedgerAPI
) -> None:
    """``savepoint=False``: no savepoint per write; a refusal aborts the caller's whole write."""
    open_standard(ledger)
    ledger.transfer("t0", "bank", "wallet:ana", eur(10))

    def two_writes() -> None:
        with books.raw() as conn:
            session = ledger.bind(conn, savepoint=False)
            session.transfer("t1", "bank", "wallet:ana", eur(5))
            session.transfer("t2", "wallet:ana", "fees", eur(100))

    with pytest.raises(OverdraftError):
        two_writes()
    assert [e.key for e in ledger.entries()] == ["t0"]  # t1 went with the caller's rollback
    with books.raw() as conn:
        ledger.bind(conn, savepoint=False).transfer("t1", "bank", "wallet:ana", eur(5))
    assert ledger.balance("wallet:ana").posted == eur(15)
    assert ledger.verify().ok


def test_a_refused_request_leaves_the_callers_transaction_as_it_was(
    books: Books, ledger: LedgerAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that catches the error and commits must not commit half a request."""
    open_standard(ledger)
    ledger.transfer("t0", "bank", "wallet:ana", eur(10))
    with ledger.session() as s:
        kept = s.transfer("t1", "bank", "wallet:ana", eur(10))
        with pytest.raises(OverdraftError):
            s.transfer("t2", "wallet:ana", "fees", eur(21))
        # A refusal found while writing (a stale account version) is undone too.
        original = AccountState.check

        def bump_then_check(acct: Any) -> None:
            s.conn.execute(
                text("UPDATE ledger_accounts SET version = version + 1 WHERE code = 'fees'")
            )
            original(acct)

        monkeypatch.setattr(AccountState, "check", bump_then_check)
        with pytest.raises(LedgerError, match="changed concurrently"):
            s.transfer("t3", "wallet:ana", "fees", eur(1))
        monkeypatch.setattr(AccountState, "check", original)
        later = s.transfer("t4", "wallet:ana", "fees", eur(2))
    assert [e.key for e in ledger.entries()] == ["t0", "t1", "t4"]
    assert [kept.seq, later.seq] == [2, 3]
    assert ledger.balance("wallet:ana").posted == eur(18)
    assert ledger.balance("fees").posted == eur(2)
    assert ledger.verify().ok


# ---------------------------------------------------------------- verify and tampering


def _busy_ledger(ledger: LedgerAPI, clock: Clock) -> None:
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(100), "top-up")
    clock.advance(minutes=1)
    hold = ledger.hold("h1", "wallet:ana", "fees", eur(30), timeout=timedelta(hours=1))
    ledger.post_pending("c1", hold.seq, eur(20))
    t3 = ledger.transfer("t3", "wallet:ana", "wallet:bob", eur(7), "gift")
    ledger.reverse("r3", t3.seq)
    ledger.hold("h2", "wallet:ana", "fees", eur(5), timeout=timedelta(minutes=1))
    clock.advance(minutes=2)
    ledger.expire_pending()


def test_verify_walks_the_whole_chain(ledger: LedgerAPI, clock: Clock) -> None:
    assert ledger.verify().ok
    assert ledger.verify().entries == 0
    _busy_ledger(ledger, clock)
    report = ledger.verify()
    assert report.ok
    assert report.problems == ()
    assert report.entries == 7
    chain_hashes = [e.hash for e in ledger.entries()]
    assert len(set(chain_hashes)) == 7


def test_the_core_path_keeps_the_same_books(
    ledger: LedgerAPI, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drivers without driver SQL (``driver_sql`` is None) write and read through Core."""
    _busy_ledger(ledger, clock)
    raw_entries = ledger.entries()
    monkeypatch.setattr(ledger_store, "driver_sql", lambda conn: None)
    assert ledger.entries() == raw_entries
    assert [ledger.entry(e.seq) for e in raw_entries] == raw_entries
    replay = ledger.transfer("t1", "bank", "wallet:ana", eur(100), "top-up")
    assert replay == raw_entries[0]
    hold = ledger.hold("h3", "wallet:ana", "wallet:bob", eur(4))
    assert ledger.open_holds() == [hold]
    ledger.post_pending("c3", hold.seq, eur(1))
    with pytest.raises(PendingStateError, match="already posted"):
        ledger.void_pending("v3", hold.seq)
    t4 = ledger.post(
        "t4",
        [
            Leg.debit("wallet:ana", eur(3)),
            Leg.credit("wallet:bob", eur(1)),
            Leg.credit("fees", eur(2)),
        ],
    )
    ledger.reverse("r4", t4.seq)
    with pytest.raises(LedgerError, match="already been reversed"):
        ledger.reverse("r4-again", t4.seq)
    assert ledger.balance("wallet:bob").posted == eur(1)  # the capture; t3 and t4 reversed
    assert ledger.verify().ok
    monkeypatch.undo()  # the driver path reads what Core wrote
    assert ledger.entries() == ledger.entries(limit=100)
    assert ledger.verify().ok


def test_the_driver_sql_is_shared_by_every_tenant(books: Books) -> None:
    """Cached once per kind of database: another tenant adds nothing, and writes its own tables."""
    open_standard(books.ledger)
    books.ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    cached = dict(statements._DRIVER_SQL)
    other = make_books(books.platform, f"{books.tenant.storage.tenant_id}-b", books.clock)
    try:
        open_standard(other.ledger)
        other.ledger.transfer("t1", "bank", "wallet:ana", eur(3))
        assert statements._DRIVER_SQL.keys() == cached.keys()
        assert all(statements._DRIVER_SQL[k] is v for k, v in cached.items())
        assert books.ledger.balance("wallet:ana").posted == eur(10)
        assert other.ledger.balance("wallet:ana").posted == eur(3)
        assert books.ledger.verify().ok
        assert other.ledger.verify().ok
    finally:
        drop_books(other)


def test_verify_finds_a_changed_description(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    with books.raw() as conn:
        allow_updates(conn, "ledger_transfers")
        conn.execute(
            text("UPDATE ledger_transfers SET description = 'nothing to see' WHERE seq = 1")
        )
    report = ledger.verify()
    assert not report.ok
    assert report.problems == ("entry 1: hash mismatch (content changed)",)


def test_verify_finds_a_changed_leg_amount(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    with books.raw() as conn:
        allow_updates(conn, "ledger_transfers")
        conn.execute(text("UPDATE ledger_transfers SET amount = amount + 1 WHERE seq = 4"))
    report = ledger.verify()
    assert not report.ok
    assert "entry 4: hash mismatch (content changed)" in report.problems
    assert any("running totals are wrong" in p for p in report.problems)
    assert "account wallet:ana: totals differ from its legs" in report.problems


def without_foreign_keys(books: Books, sql: str) -> None:
    """Run ``sql`` with every guard of the transfers table off (an attacker with DDL rights)."""
    if books.dialect == "sqlite":
        path = books.tenant.storage.engine.url.database
        assert path is not None
        raw = sqlite3.connect(path, isolation_level=None)  # foreign keys are off by default
        try:
            for suffix in ("immutable_u", "immutable_d", "closed"):
                raw.execute(f"DROP TRIGGER ledger_transfers_{suffix}")
            raw.execute(sql)
        finally:
            raw.close()
    else:
        with books.raw() as conn:
            conn.exec_driver_sql("ALTER TABLE ledger_transfers DISABLE TRIGGER ALL")
            conn.exec_driver_sql(sql)
            conn.exec_driver_sql("ALTER TABLE ledger_transfers ENABLE TRIGGER ALL")


def test_verify_finds_a_row_in_another_currency_than_its_accounts(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    """An unbalanced entry can only exist with the guards off; verify still sees it."""
    _busy_ledger(ledger, clock)
    without_foreign_keys(books, "UPDATE ledger_transfers SET currency = 'USD' WHERE seq = 4")
    report = ledger.verify()
    assert "entry 4: legs do not balance" in report.problems
    assert "entry 4: hash mismatch (content changed)" in report.problems


def test_verify_finds_changed_account_totals(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    with books.raw() as conn:  # account rows carry no guard: verify is the check
        conn.execute(
            text(
                "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE code = 'fees'"
            )
        )
    assert ledger.verify().problems == ("account fees: totals differ from its legs",)


def test_verify_finds_a_deleted_entry(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    with books.raw() as conn:
        if books.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER ledger_transfers_immutable_d")
        else:
            conn.exec_driver_sql("ALTER TABLE ledger_transfers DISABLE TRIGGER USER")
        conn.execute(text("DELETE FROM ledger_transfers WHERE seq = 4"))
    problems = ledger.verify().problems
    assert "entry 5: sequence gap after 3" in problems
    assert "entry 5: previous hash does not match the chain" in problems


def test_verify_finds_a_missing_row_of_an_entry(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    _busy_ledger(ledger, clock)
    three = ledger.post(
        "three",
        [
            Leg.debit("wallet:ana", eur(3)),
            Leg.credit("wallet:bob", eur(1)),
            Leg.credit("fees", eur(2)),
        ],
    )
    with books.raw() as conn:
        if books.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER ledger_transfers_immutable_d")
        else:
            conn.exec_driver_sql("ALTER TABLE ledger_transfers DISABLE TRIGGER USER")
        conn.execute(text(f"DELETE FROM ledger_transfers WHERE seq = {three.seq} AND pair = 1"))
    problems = ledger.verify().problems
    assert f"entry {three.seq}: rows are missing or out of order" in problems
    assert f"entry {three.seq}: hash mismatch (content changed)" in problems


def test_verify_finds_legs_without_an_entry(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    # Only with the guards switched off can rows without their entry's head exist at all.
    without_foreign_keys(
        books,
        f"INSERT INTO ledger_transfers ({ROW_COLUMNS})"
        " VALUES (99, 1, 2, 1, 2, 'EUR', 5, 0, 0, 1, 0, 0, 0, 0, 0, 0)",
    )
    problems = ledger.verify().problems
    assert "legs for missing entry 99" in problems


# ---------------------------------------------------------------- database guards


def test_install_ledger_is_idempotent(books: Books, ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    before = books.snapshot()
    with books.raw() as conn:
        install_ledger(conn)
    assert books.snapshot() == before
    assert ledger.verify().ok


def raw_write(books: Books, write: Callable[[Connection], None]) -> None:
    """Run ``write`` in one transaction on the tenant's storage, committing at the end."""
    with books.raw() as conn:
        write(conn)


def sql_writer(sql: str) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        conn.exec_driver_sql(sql)

    return write


#: A row whose accounts are missing or in another currency: the foreign keys
#: refuse it on SQLite, the statement trigger on PostgreSQL.
FOREIGN_KEY = "(?i)foreign key|accounts of a transfer row must exist and be in its currency"


def test_the_db_refuses_an_unbalanced_entry(books: Books, ledger: LedgerAPI) -> None:
    """A row moves one positive amount between two accounts of its currency; nothing else.

    So an entry, whatever its rows, balances per currency: each way of writing
    an unbalanced one is refused.
    """
    open_standard(ledger)
    ledger.open_account("usd", "asset", "USD", overdraft="unlimited")
    before = books.snapshot()

    refused: list[tuple[str, Callable[[Connection], None]]] = [
        # a debit with no credit (or the reverse): the row needs both sides
        ("(?i)not null|null value", lambda conn: raw_row(conn, 1, 100, credit=None)),
        ("(?i)not null|null value", lambda conn: raw_row(conn, 1, 100, debit=None)),
        # a negative amount would turn the debit into a credit
        ("amount_positive", lambda conn: raw_row(conn, 1, -100)),
        ("amount_positive", lambda conn: raw_row(conn, 1, 0)),
        # "balanced" across currencies: EUR debited, USD credited
        (FOREIGN_KEY, lambda conn: raw_row(conn, 1, 100, credit="usd")),
        (FOREIGN_KEY, lambda conn: raw_row(conn, 1, 100, debit="usd")),
        # both accounts in EUR, the row says USD
        (FOREIGN_KEY, lambda conn: raw_row(conn, 1, 100, currency="USD")),
    ]

    def unknown_account(conn: Connection) -> None:
        conn.execute(
            text(
                f"INSERT INTO ledger_transfers ({ROW_COLUMNS}, {HEAD_COLUMNS}) VALUES"
                " (1, 0, 1, 1, 999, 'EUR', 100, 0, 0, 1, 0, 0, 0, 0, 0, 0,"
                " 'raw', :h, 'posted', NULL, '', :t, :h, :h)"
            ),
            {"h": bytes(32), "t": START},
        )

    refused.append((FOREIGN_KEY, unknown_account))  # an account that does not exist
    for match, write in refused:
        with pytest.raises(IntegrityError, match=match):
            raw_write(books, write)
    assert books.snapshot() == before


def transfer_rows(conn: Connection, rows: list[tuple[str, str, str]]) -> list[tuple[Any, ...]]:
    """Complete one-row entries (seq 1, 2, ...) of 1.00 for (debit, credit, currency) each."""
    out = []
    for seq, (debit, credit, cur) in enumerate(rows, start=1):
        pair = (seq, 0, 1, account_id(conn, debit), account_id(conn, credit), cur, 100, 0, 0, 1)
        totals = (0,) * 6
        head = (f"raw-{seq}", bytes(32), "posted", None, None, "", START, None, bytes(32))
        out.append((*pair, *totals, *head, bytes(32)))
    return out


def write_rows(conn: Connection, how: str, rows: list[tuple[str, str, str]]) -> None:
    """Write one-row entries with the driver, as ``how``: one statement or COPY.

    Driver errors surface as SQLAlchemy's, as from the ledger's own write path.
    """
    values = transfer_rows(conn, rows)
    if conn.dialect.name == "sqlite":
        values = [
            tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in r) for r in values
        ]
    columns = ", ".join(TRANSFER_COLS)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    one_row = "(" + ", ".join([mark] * len(TRANSFER_COLS)) + ")"
    with driver_cursor(conn) as cursor:
        if how == "executemany":
            cursor.executemany(f"INSERT INTO ledger_transfers ({columns}) VALUES {one_row}", values)
        elif how == "multi-row insert":
            cursor.execute(
                f"INSERT INTO ledger_transfers ({columns}) VALUES"
                f" {', '.join([one_row] * len(values))}",
                [v for r in values for v in r],
            )
        else:
            with cursor.copy(f"COPY ledger_transfers ({columns}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)


@pytest.mark.parametrize("how", ["executemany", "multi-row insert"])
def test_the_db_checks_every_rows_accounts_however_written(
    books: Books, ledger: LedgerAPI, how: str
) -> None:
    """One bad row among good ones, by INSERT of one or many rows: all refused."""
    check_every_rows_accounts(books, how)


def test_the_db_checks_every_rows_accounts_written_by_copy(pg_books: Books) -> None:
    """PostgreSQL's COPY fires the statement-level guard like INSERT does."""
    check_every_rows_accounts(pg_books, "copy")


def check_every_rows_accounts(books: Books, how: str) -> None:
    ledger = books.ledger
    open_standard(ledger)
    ledger.open_account("usd", "asset", "USD", overdraft="unlimited")
    before = books.snapshot()
    good = [("bank", "wallet:ana", "EUR")] * 5
    for bad in [("bank", "usd", "EUR"), ("usd", "bank", "EUR"), ("bank", "wallet:ana", "USD")]:
        for place in (0, 2, 5):
            rows = [*good[:place], bad, *good[place:]]
            with pytest.raises(IntegrityError, match=FOREIGN_KEY):
                raw_write(books, partial(write_rows, how=how, rows=rows))
    assert books.snapshot() == before
    raw_write(books, partial(write_rows, how=how, rows=good))  # the control: good rows pass
    with books.raw() as conn:
        assert count_entries(conn) == 5


def test_the_account_guard_reads_the_tenants_accounts_whatever_the_search_path(
    pg_books: Books,
) -> None:
    """PostgreSQL: the guards name the tenant's tables; the caller's search_path is moot."""
    books, ledger = pg_books, pg_books.ledger
    open_standard(ledger)
    ledger.open_account("usd", "asset", "USD", overdraft="unlimited")
    schema = books.tenant.storage.schema

    def elsewhere(rows: list[tuple[str, str, str]]) -> Callable[[Connection], None]:
        def write(conn: Connection) -> None:
            values = transfer_rows(conn, rows)
            conn.exec_driver_sql("SET LOCAL search_path TO public")
            with driver_cursor(conn) as cursor:
                columns = ", ".join(TRANSFER_COLS)
                marks = ", ".join(["%s"] * len(TRANSFER_COLS))
                cursor.executemany(
                    f'INSERT INTO "{schema}".ledger_transfers ({columns}) VALUES ({marks})', values
                )

        return write

    def headless(conn: Connection) -> None:  # the closed-entry guard reads the table too
        ids = (account_id(conn, "bank"), account_id(conn, "wallet:ana"))
        conn.exec_driver_sql("SET LOCAL search_path TO public")
        conn.exec_driver_sql(
            f'INSERT INTO "{schema}".ledger_transfers ({ROW_COLUMNS})'
            f" VALUES (99, 1, 2, {ids[0]}, {ids[1]}, 'EUR', 5, 0, 0, 1, 0, 0, 0, 0, 0, 0)"
        )

    with pytest.raises(IntegrityError, match=FOREIGN_KEY):
        raw_write(books, elsewhere([("bank", "usd", "EUR")]))
    with pytest.raises(IntegrityError, match="cannot be added"):
        raw_write(books, headless)
    raw_write(books, elsewhere([("bank", "wallet:ana", "EUR")]))
    with books.raw() as conn:
        assert count_entries(conn) == 1


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM ledger_accounts WHERE code = 'fees'",  # no row refers to it
        "DELETE FROM ledger_accounts",
        "UPDATE ledger_accounts SET currency = 'USD' WHERE code = 'fees'",
        "UPDATE ledger_accounts SET currency = 'USD'",
        "UPDATE ledger_accounts SET id = id + 100 WHERE code = 'wallet:ana'",
    ],
)
def test_the_db_keeps_accounts_and_their_currency(
    books: Books, ledger: LedgerAPI, sql: str
) -> None:
    """What a row's accounts were checked against stays true: accounts stay as they are."""
    keep_accounts(books, sql)


def test_the_db_refuses_to_truncate_accounts(pg_books: Books) -> None:
    """PostgreSQL's TRUNCATE fires no row trigger: a statement guard refuses it."""
    keep_accounts(pg_books, "TRUNCATE ledger_accounts")


def keep_accounts(books: Books, sql: str) -> None:
    ledger = books.ledger
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    before = books.snapshot()
    with pytest.raises(IntegrityError, match="accounts cannot be deleted"), books.raw() as conn:
        conn.execute(text(sql))
    assert books.snapshot() == before
    with books.raw() as conn:  # the control: the totals (the write path's UPDATE) may change
        conn.execute(text("UPDATE ledger_accounts SET version = version + 1"))
    assert ledger.verify().ok


def test_the_db_accepts_a_balanced_raw_entry(books: Books, ledger: LedgerAPI) -> None:
    """The guards refuse only what is wrong (a control for the tests around it)."""
    open_standard(ledger)
    with books.raw() as conn:
        raw_row(conn, 1, 100)
        raw_row(conn, 2, 60, pairs=2)
        raw_row(conn, 2, 40, debit="fees", pair=1, pairs=2)
    with books.raw() as conn:
        assert count_entries(conn) == 2
        assert conn.execute(select(func.count()).select_from(transfers)).scalar_one() == 3


def test_the_db_refuses_legs_added_to_an_existing_entry(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    ledger.post(
        "t2",
        [
            Leg.debit("wallet:ana", eur(3)),
            Leg.credit("wallet:bob", eur(1)),
            Leg.credit("fees", eur(2)),
        ],
    )
    before = books.snapshot()
    attempts: list[tuple[str, Callable[[Connection], None]]] = [
        # a second row for a one-row entry, claiming it has two
        ("cannot be added", lambda conn: raw_row(conn, 1, 5, pair=1, pairs=2)),
        # ... or keeping its count of one
        ("ck_ledger_transfers_pair", lambda conn: raw_row(conn, 1, 5, pair=1, pairs=1)),
        # a third row for a two-row entry
        ("cannot be added", lambda conn: raw_row(conn, 2, 5, pair=2, pairs=3)),
        # a new head for an existing entry
        ("(?i)unique|primary key|duplicate key", lambda conn: raw_row(conn, 1, 5, key="again")),
    ]
    for match, write in attempts:
        with pytest.raises(IntegrityError, match=match):
            raw_write(books, write)
    assert books.snapshot() == before
    assert ledger.verify().ok


def test_the_db_refuses_legs_without_an_entry(books: Books, ledger: LedgerAPI) -> None:
    """A row after the head needs its entry's previous row; a head needs the entry's columns."""
    open_standard(ledger)
    before = books.snapshot()

    def headless(conn: Connection) -> None:
        raw_row(conn, 1, 100, pair=1, pairs=2)

    def out_of_order(conn: Connection) -> None:
        raw_row(conn, 1, 100, pair=1, pairs=2)
        raw_row(conn, 1, 100, pairs=2)

    def head_without_entry_columns(conn: Connection) -> None:
        conn.execute(
            text(
                f"INSERT INTO ledger_transfers ({ROW_COLUMNS})"
                " VALUES (1, 0, 1, 1, 2, 'EUR', 100, 0, 0, 1, 0, 0, 0, 0, 0, 0)"
            )
        )

    with pytest.raises(IntegrityError, match="cannot be added"):
        raw_write(books, headless)
    with pytest.raises(IntegrityError, match="cannot be added"):
        raw_write(books, out_of_order)
    with pytest.raises(IntegrityError, match="ck_ledger_transfers_head"):
        raw_write(books, head_without_entry_columns)
    assert books.snapshot() == before


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_transfers SET description = 'x'",
        "UPDATE ledger_transfers SET seq = seq + 10",
        "DELETE FROM ledger_transfers",
        "UPDATE ledger_transfers SET amount = amount * 2",
        "DELETE FROM ledger_transfers WHERE pair = 1",
    ],
)
def test_the_db_refuses_updates_and_deletes_of_entries_and_legs(
    books: Books, ledger: LedgerAPI, sql: str
) -> None:
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    ledger.post(
        "t2",
        [
            Leg.debit("wallet:ana", eur(3)),
            Leg.credit("wallet:bob", eur(1)),
            Leg.credit("fees", eur(2)),
        ],
    )
    before = books.snapshot()
    with pytest.raises(IntegrityError, match="immutable"), books.raw() as conn:
        conn.execute(text(sql))
    assert books.snapshot() == before
    assert ledger.verify().ok


@pytest.mark.parametrize("table", ["ledger_transfers", "ledger_transfers, ledger_chain"])
def test_the_db_refuses_to_empty_the_ledger(books: Books, ledger: LedgerAPI, table: str) -> None:
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    before = books.snapshot()
    # PostgreSQL's TRUNCATE fires no row triggers (a statement trigger guards it);
    # SQLite has no TRUNCATE, and its DELETE without WHERE fires row triggers.
    if books.dialect == "sqlite":
        statements = ["DELETE FROM ledger_transfers"]
    else:
        statements = [
            f"TRUNCATE {table}",
            f"TRUNCATE {table} CASCADE",
            "TRUNCATE ledger_accounts CASCADE",
        ]
    for statement in statements:
        with pytest.raises(IntegrityError, match="immutable"):
            raw_write(books, sql_writer(statement))
    assert books.snapshot() == before
    assert ledger.verify().ok


def test_the_db_allows_one_resolution_per_hold(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    hold = ledger.hold("h", "wallet:ana", "fees", eur(5))
    ledger.void_pending("v", hold.seq)
    before = books.snapshot()

    def resolve_again(conn: Connection) -> None:
        raw_row(conn, 4, 5, key="again", kind="post_pending", pending_seq=hold.seq)

    with pytest.raises(IntegrityError):
        raw_write(books, resolve_again)
    assert books.snapshot() == before


# ---------------------------------------------------------------- account definitions


def test_account_type_update_is_refused(books: Books, ledger: LedgerAPI) -> None:
    """A liability turned asset (and debit-normal) would flip the sign of its balance."""
    for sql in (
        "UPDATE ledger_accounts SET normal = 'debit', type = 'asset' WHERE code = 'wallet:ana'",
        "UPDATE ledger_accounts SET type = 'expense'",
        "UPDATE ledger_accounts SET normal = 'credit' WHERE code = 'bank'",
    ):
        keep_accounts(books, sql)


def test_account_overdraft_update_is_refused(books: Books, ledger: LedgerAPI) -> None:
    """A wallet given an overdraft could be spent below zero."""
    for sql in (
        "UPDATE ledger_accounts SET overdraft = 'unlimited' WHERE code = 'wallet:ana'",
        "UPDATE ledger_accounts SET overdraft = 'limit', overdraft_limit = 100000"
        " WHERE code = 'wallet:ana'",
        "UPDATE ledger_accounts SET overdraft_limit = 0",
    ):
        keep_accounts(books, sql)


@pytest.mark.parametrize("column", DEFINITION_COLUMNS)
def test_every_account_definition_column_is_immutable(
    books: Books, ledger: LedgerAPI, column: str
) -> None:
    """Even an UPDATE that sets a definition column to its own value is refused."""
    keep_accounts(books, f"UPDATE ledger_accounts SET {column} = {column}")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_account_chain SET hash = hash",
        "DELETE FROM ledger_account_chain WHERE account_id = (SELECT max(account_id)"
        " FROM ledger_account_chain)",
    ],
    ids=["update", "delete"],
)
def test_recorded_account_definitions_are_immutable(
    books: Books, ledger: LedgerAPI, sql: str
) -> None:
    keep_accounts(books, sql)


def test_recorded_account_definitions_cannot_be_truncated(pg_books: Books) -> None:
    keep_accounts(pg_books, "TRUNCATE ledger_account_chain")


def test_opening_an_account_records_its_definition(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")  # a replay records nothing
    with books.raw() as conn:
        recorded = conn.execute(
            select(account_chain.c.account_id).order_by(account_chain.c.account_id)
        ).scalars()
        ids = conn.execute(select(accounts.c.id).order_by(accounts.c.id)).scalars()
        assert list(recorded) == list(ids)
    report = ledger.verify()
    assert report.ok
    assert report.accounts == 4


@contextmanager
def account_guards_off(books: Books) -> Iterator[Connection]:
    """A transaction with the guards of accounts and recorded definitions switched off.

    As an attacker with DDL rights would: on SQLite the triggers are dropped and
    created again afterwards; on PostgreSQL they are disabled, then enabled.
    """
    with books.raw() as conn:
        if books.dialect == "sqlite":
            for trigger in ("ledger_accounts_fixed_u", "ledger_account_chain_immutable_u"):
                conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
            yield conn
            install_ledger(conn)  # the guards, as they were
        else:
            for table in ("ledger_accounts", "ledger_account_chain"):
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield conn
            for table in ("ledger_accounts", "ledger_account_chain"):
                conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.mark.parametrize(
    "change",
    [
        "type = 'asset', normal = 'debit'",
        "normal = 'debit'",
        "overdraft = 'unlimited'",
        "overdraft = 'limit', overdraft_limit = 100000",
        "opened_at = '2000-01-01 00:00:00.000000'",
    ],
    ids=["type-and-normal", "normal", "unlimited", "limit", "opened-at"],
)
def test_verify_detects_account_tampering_with_triggers_bypassed(
    books: Books, ledger: LedgerAPI, clock: Clock, change: str
) -> None:
    _busy_ledger(ledger, clock)
    posted_before = ledger.balance("wallet:ana").posted
    with account_guards_off(books) as conn:
        conn.execute(text(f"UPDATE ledger_accounts SET {change} WHERE code = 'wallet:ana'"))
    problems = ledger.verify().problems
    assert (
        "account wallet:ana: its definition differs from the one recorded when it was opened"
        in problems
    )
    if "normal" in change:  # what the change does to the books: the balance flips its sign
        assert ledger.balance("wallet:ana").posted == -posted_before
    with pytest.raises(IntegrityError, match="accounts cannot be deleted"), books.raw() as conn:
        conn.execute(text("UPDATE ledger_accounts SET overdraft = 'none'"))  # guards are back


def test_verify_detects_an_account_not_opened_through_the_ledger(
    books: Books, ledger: LedgerAPI
) -> None:
    open_standard(ledger)
    with books.raw() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_accounts (code, type, currency, normal, overdraft,"
                " overdraft_limit, debits_posted, credits_posted, debits_pending,"
                " credits_pending, version, opened_at)"
                " VALUES ('sneaky', 'asset', 'EUR', 'debit', 'unlimited', 0, 0, 0, 0, 0, 0, :t)"
            ),
            {"t": START},
        )
    assert ledger.verify().problems == (
        "account sneaky: its definition was never recorded (opened outside the ledger?)",
    )


# ---------------------------------------------------------------- checkpoints

#: An HMAC key as the platform's secrets would hold it (64 hex digits).
KEY = "5f0c8e5b0f6b4e55a1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192"
OTHER_KEY = "0" * 64


def test_a_checkpoint_round_trips_through_json_and_verifies(
    ledger: LedgerAPI, clock: Clock
) -> None:
    _busy_ledger(ledger, clock)
    checkpoint = ledger.checkpoint(KEY)
    assert (checkpoint.seq, checkpoint.accounts) == (7, 4)
    assert checkpoint.hash == ledger.entries()[-1].hash
    assert checkpoint.taken_at == clock.now
    text_form = checkpoint.to_json()
    assert LedgerCheckpoint.from_json(text_form) == checkpoint
    assert LedgerCheckpoint.from_json(text_form.encode()) == checkpoint
    assert KEY not in text_form
    assert KEY not in repr(checkpoint)
    report = ledger.verify(checkpoint=LedgerCheckpoint.from_json(text_form), key=KEY)
    assert report.ok, report.problems
    assert report.checkpoint == checkpoint
    # The books go on: the checkpoint still anchors what it covered.
    ledger.open_account("later", "expense", "EUR")
    ledger.transfer("t-later", "later", "wallet:ana", eur(1))
    assert ledger.verify(checkpoint=checkpoint, key=KEY).ok
    assert ledger.verify(checkpoint=checkpoint, key=KEY.encode()).ok
    assert ledger.verify(checkpoint=checkpoint, key=SecretStr(KEY)).ok


def test_a_checkpoint_of_empty_books(ledger: LedgerAPI) -> None:
    checkpoint = ledger.checkpoint(SecretBytes(KEY.encode()))
    assert (checkpoint.seq, checkpoint.hash, checkpoint.accounts) == (0, bytes(32), 0)
    assert checkpoint.accounts_hash == bytes(32)
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(1))
    assert ledger.verify(checkpoint=checkpoint, key=KEY).ok


def test_checkpoint_detects_truncated_tail(books: Books, ledger: LedgerAPI) -> None:
    """The last entries deleted and the head rewound, guards off: only the checkpoint tells."""
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(100))
    ledger.transfer("t2", "wallet:ana", "fees", eur(10))
    with books.raw() as conn:
        totals = conn.execute(
            select(
                accounts.c.id,
                accounts.c.debits_posted,
                accounts.c.credits_posted,
                accounts.c.debits_pending,
                accounts.c.credits_pending,
                accounts.c.version,
            )
        ).all()
        head = conn.execute(select(chain.c.seq, chain.c.hash, chain.c.posted_at)).one()
    ledger.transfer("t3", "wallet:ana", "wallet:bob", eur(50))
    ledger.transfer("t4", "wallet:bob", "fees", eur(5))
    checkpoint = ledger.checkpoint(KEY)
    assert checkpoint.seq == 4
    with books.raw() as conn:
        if books.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER ledger_transfers_immutable_d")
        else:
            conn.exec_driver_sql("ALTER TABLE ledger_transfers DISABLE TRIGGER USER")
        conn.execute(text("DELETE FROM ledger_transfers WHERE seq > 2"))
        for account, dp, cp, dq, cq, version in totals:  # the totals are not guarded
            conn.execute(
                update(accounts)
                .where(accounts.c.id == account)
                .values(
                    debits_posted=dp,
                    credits_posted=cp,
                    debits_pending=dq,
                    credits_pending=cq,
                    version=version,
                )
            )
        conn.execute(update(chain).values(seq=head.seq, hash=head.hash, posted_at=head.posted_at))
    assert ledger.verify().ok  # nothing inside the database tells
    assert len(ledger.entries()) == 2
    report = ledger.verify(checkpoint=checkpoint, key=KEY)
    assert report.problems == (
        "checkpoint: the chain ends at entry 2, before the checkpoint's entry 4"
        " (entries were removed)",
    )


def entry_hash(conn: Connection, seq: int) -> bytes:
    """Entry ``seq``'s hash recomputed from its stored rows, as an attacker (or verify) would."""
    codes = {r.id: r.code for r in conn.execute(select(accounts.c.id, accounts.c.code))}
    rows = conn.execute(
        select(transfers).where(transfers.c.seq == seq).order_by(transfers.c.pair)
    ).all()
    head = rows[0]
    text_form = hash_head(
        seq,
        head.key,
        head.kind,
        head.pending_seq,
        head.reverses_seq,
        head.description,
        as_utc(head.posted_at).isoformat(),
        as_utc(head.timeout_at) if head.timeout_at else None,
    )
    for r in rows:
        text_form += hash_row(
            codes[r.debit_id],
            codes[r.credit_id],
            r.currency,
            r.amount,
            r.flow,
            r.debit_leg,
            r.credit_leg,
        )
    return sha256(bytes(head.prev_hash) + text_form.encode()).digest()


def test_checkpoint_detects_a_rewritten_chain(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    """The last entry changed and its hash and the head recomputed: consistent, but not anchored."""
    _busy_ledger(ledger, clock)
    checkpoint = ledger.checkpoint(KEY)
    with books.raw() as conn:
        allow_updates(conn, "ledger_transfers")
        conn.execute(text("UPDATE ledger_transfers SET description = 'forged' WHERE seq = 7"))
        forged = entry_hash(conn, 7)
        conn.execute(
            update(transfers).where(transfers.c.seq == 7, transfers.c.pair == 0).values(hash=forged)
        )
        conn.execute(update(chain).values(hash=forged))
    assert ledger.verify().ok
    assert ledger.verify(checkpoint=checkpoint, key=KEY).problems == (
        "checkpoint: entry 7 has another hash than the checkpoint's (the chain was rewritten)",
    )


def test_checkpoint_detects_rewritten_account_definitions(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    """A definition changed and every recorded hash from it on recomputed: only the anchor tells."""
    _busy_ledger(ledger, clock)
    checkpoint = ledger.checkpoint(KEY)
    with account_guards_off(books) as conn:
        conn.execute(
            text(
                "UPDATE ledger_accounts SET type = 'asset', normal = 'debit'"
                " WHERE code = 'wallet:bob'"
            )
        )
        prev = bytes(32)
        for row in conn.execute(select(accounts).order_by(accounts.c.id)).all():
            prev = definition_hash(prev, row)
            conn.execute(
                update(account_chain).where(account_chain.c.account_id == row.id).values(hash=prev)
            )
    assert ledger.verify().ok
    assert ledger.verify(checkpoint=checkpoint, key=KEY).problems == (
        "checkpoint: the recorded definition of account 4 (in opening order) has another hash"
        " than the checkpoint's (the account chain was rewritten)",
    )


def test_checkpoint_detects_removed_accounts(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    checkpoint = ledger.checkpoint(KEY)
    with account_guards_off(books) as conn:
        if books.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER ledger_accounts_fixed_d")
            conn.exec_driver_sql("DROP TRIGGER ledger_account_chain_immutable_d")
        conn.execute(text("DELETE FROM ledger_accounts WHERE code = 'fees'"))
        conn.execute(
            text(
                "DELETE FROM ledger_account_chain"
                " WHERE account_id = (SELECT max(account_id) FROM ledger_account_chain)"
            )
        )
    assert ledger.verify().ok
    assert ledger.verify(checkpoint=checkpoint, key=KEY).problems == (
        "checkpoint: 3 account definitions are recorded, fewer than the checkpoint's 4"
        " (accounts were removed)",
    )


def test_a_checkpoint_with_the_wrong_key_or_changed_fields_is_a_checkpoint_error(
    ledger: LedgerAPI, clock: Clock
) -> None:
    _busy_ledger(ledger, clock)
    checkpoint = ledger.checkpoint(KEY)
    with pytest.raises(CheckpointError, match="signature does not match") as caught:
        ledger.verify(checkpoint=checkpoint, key=OTHER_KEY)
    assert isinstance(caught.value, LedgerError)
    assert OTHER_KEY not in str(caught.value)
    assert KEY not in str(caught.value)
    data = json.loads(checkpoint.to_json())
    changes = {
        "seq": 5,
        "hash": "00" * 32,
        "accounts": 3,
        "accounts_hash": "11" * 32,
        "taken_at": "2030-01-01T00:00:00+00:00",
        "signature": "22" * 32,
    }
    for name, value in changes.items():
        forged = LedgerCheckpoint.from_json(json.dumps({**data, name: value}))
        with pytest.raises(CheckpointError, match="signature does not match"):
            ledger.verify(checkpoint=forged, key=KEY)


@pytest.mark.parametrize(
    ("text_form", "match"),
    [
        ("", "must be JSON"),
        ("{", "must be JSON"),
        ("null", "JSON object"),
        ("[1, 2]", "JSON object"),
        ('{"seq": 1}', "exactly the fields"),
        ("x" * 100_000, "a few hundred characters"),
        (b"\xff\xfe", "must be JSON"),
        ("[" * 2000 + "]" * 2000, "must be JSON|JSON object"),
    ],
    ids=["empty", "broken", "null", "list", "fields", "huge", "bytes", "deep"],
)
def test_an_unreadable_checkpoint_is_a_checkpoint_error(text_form: str | bytes, match: str) -> None:
    with pytest.raises(CheckpointError, match=match) as caught:
        LedgerCheckpoint.from_json(text_form)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("format", "finplug-ledger-checkpoint/99"),
        ("seq", -1),
        ("seq", True),
        ("seq", "7"),
        ("seq", 2**63),
        ("accounts", 1.5),
        ("hash", "AB" * 32),
        ("hash", "ab" * 31),
        ("signature", None),
        ("taken_at", "2024-03-01T09:00:00"),
        ("taken_at", "yesterday"),
        ("extra", 1),
    ],
)
def test_a_malformed_checkpoint_field_is_a_checkpoint_error(name: str, value: object) -> None:
    good = {
        "format": "finplug-ledger-checkpoint/1",
        "seq": 7,
        "hash": "ab" * 32,
        "accounts": 4,
        "accounts_hash": "cd" * 32,
        "taken_at": "2024-03-01T09:00:00+00:00",
        "signature": "ef" * 32,
    }
    LedgerCheckpoint.from_json(json.dumps(good))  # the control
    with pytest.raises(CheckpointError, match=name):
        LedgerCheckpoint.from_json(json.dumps({**good, name: value}))


def test_checkpoint_keys_are_checked_and_never_shown(
    ledger: LedgerAPI, caplog: pytest.LogCaptureFixture
) -> None:
    open_standard(ledger)
    secret = "tiny-secret"
    for key in (secret, secret.encode(), SecretStr(secret), 4242424242, None):
        with pytest.raises(CheckpointError) as caught:
            ledger.checkpoint(wrong(key))
        assert secret not in str(caught.value)
        assert "4242424242" not in str(caught.value)
    with caplog.at_level(logging.DEBUG):
        checkpoint = ledger.checkpoint(KEY)
        assert ledger.verify(checkpoint=checkpoint, key=KEY).ok
    assert KEY not in caplog.text
    with pytest.raises(CheckpointError, match="needs the key"):
        ledger.verify(checkpoint=checkpoint)
    with pytest.raises(CheckpointError, match="only for checking a checkpoint"):
        ledger.verify(key=KEY)
    with pytest.raises(LedgerError, match="checkpoint must be a LedgerCheckpoint"):
        ledger.verify(checkpoint=wrong(checkpoint.to_json()), key=KEY)


def test_checkpoint_refuses_books_that_do_not_verify(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    _busy_ledger(ledger, clock)
    with books.raw() as conn:  # the totals carry no guard: verify is their check
        conn.execute(
            text(
                "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE code = 'fees'"
            )
        )
    with pytest.raises(CheckpointError, match=r"do not verify .*account fees: totals differ"):
        ledger.checkpoint(KEY)


def test_a_checkpoint_taken_against_the_previous_one(ledger: LedgerAPI, clock: Clock) -> None:
    _busy_ledger(ledger, clock)
    first = ledger.checkpoint(KEY)
    ledger.transfer("t-next", "bank", "wallet:bob", eur(3))
    second = ledger.checkpoint(KEY, previous=first)
    assert second.seq == first.seq + 1
    # A "previous" checkpoint these books never reached is a reason to sign nothing.
    other = sign_checkpoint(
        KEY.encode(), first.seq, bytes(32), first.accounts, first.accounts_hash, first.taken_at
    )
    with pytest.raises(CheckpointError, match=r"do not verify .*another hash than the checkpoint"):
        ledger.checkpoint(KEY, previous=other)


# ---------------------------------------------------------------- wrong arguments


LEGS = [Leg.debit("bank", Money("1.00", "EUR")), Leg.credit("wallet:ana", Money("1.00", "EUR"))]


def test_transfer_with_non_string_key_is_a_ledger_error(books: Books, ledger: LedgerAPI) -> None:
    open_standard(ledger)
    before = books.snapshot()
    with pytest.raises(
        LedgerError, match=r"^key must be an idempotency key \(a str\); got int 123$"
    ):
        ledger.transfer(wrong(123), "bank", "wallet:ana", eur(1))
    assert books.snapshot() == before


@pytest.mark.parametrize(
    "amount",
    [1.0, Decimal("1.00"), 1, "1.00", None],
    ids=["float", "Decimal", "int", "str", "None"],
)
def test_an_amount_that_is_not_money_is_a_ledger_error(
    books: Books, ledger: LedgerAPI, amount: object
) -> None:
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(10))
    hold = ledger.hold("h", "wallet:ana", "fees", eur(5))
    before = books.snapshot()
    expected = (
        r"^amount must be Money \(for example Money\('10.00', 'EUR'\)\);"
        rf" got {type(amount).__name__} "
    )
    calls: list[Callable[[], object]] = [
        lambda: ledger.transfer("k", "bank", "wallet:ana", wrong(amount)),
        lambda: ledger.hold("k", "wallet:ana", "fees", wrong(amount)),
    ]
    if amount is not None:  # None is post_pending's "all of it"
        calls.append(lambda: ledger.post_pending("k", hold.seq, wrong(amount)))
    for call in calls:
        with pytest.raises(LedgerError, match=expected):
            call()
    with pytest.raises(LedgerError, match=r"^legs\[1\]\.amount must be Money"):
        ledger.post("k", [Leg.debit("bank", eur(1)), Leg.credit("wallet:ana", wrong(amount))])
    assert books.snapshot() == before


def _wrong_calls() -> list[tuple[str, Callable[[Any], object]]]:
    """One call per public method and argument, with a value of the wrong type or shape.

    Each takes the ledger as ``Any``: the wrong types are the point, not a typing slip.
    """
    one = Money("1.00", "EUR")
    bad_leg = [Leg.debit("bank", wrong(1.0)), Leg.credit("wallet:ana", one)]
    calls: list[tuple[str, Callable[[Any], object]]] = [
        ("code", lambda lg: lg.open_account(123, "asset", "EUR")),
        ("type", lambda lg: lg.open_account("x", 5, "EUR")),
        ("currency_code", lambda lg: lg.open_account("x", "asset", 978)),
        ("overdraft", lambda lg: lg.open_account("x", "asset", "EUR", overdraft=["none"])),
        (
            "overdraft_limit",
            lambda lg: lg.open_account(
                "x",
                "asset",
                "EUR",
                overdraft="limit",
                overdraft_limit=Decimal(5),
            ),
        ),
        ("code", lambda lg: lg.account(None)),
        ("code", lambda lg: lg.balance(b"bank")),
        ("as_of", lambda lg: lg.balance("bank", as_of="2024-03-01")),
        ("key", lambda lg: lg.post(1.5, LEGS)),
        ("legs", lambda lg: lg.post("k", "bank")),
        ("legs", lambda lg: lg.post("k", None)),
        ("legs", lambda lg: lg.post("k", LEGS[0])),
        ("legs[0]", lambda lg: lg.post("k", [("bank", "debit", one), LEGS[1]])),
        ("legs[0].account", lambda lg: lg.post("k", [Leg(wrong(5), "debit", one), LEGS[1]])),
        ("legs[0].side", lambda lg: lg.post("k", [Leg("bank", wrong(None), one), LEGS[1]])),
        ("legs[0].amount", lambda lg: lg.post("k", bad_leg)),
        ("description", lambda lg: lg.post("k", LEGS, 7)),
        ("description", lambda lg: lg.post("k", LEGS, None)),
        ("debit", lambda lg: lg.transfer("k", 1, "wallet:ana", one)),
        ("credit", lambda lg: lg.transfer("k", "bank", None, one)),
        ("description", lambda lg: lg.transfer("k", "bank", "wallet:ana", one, b"x")),
        ("requests", lambda lg: lg.post_batch(None)),
        ("requests", lambda lg: lg.post_batch("abc")),
        ("requests[0]", lambda lg: lg.post_batch([("k", LEGS)])),
        ("requests[0].key", lambda lg: lg.post_batch([EntryRequest(wrong(7), tuple(LEGS))])),
        ("requests[0].legs", lambda lg: lg.post_batch([EntryRequest("k", wrong(5))])),
        (
            "requests[1].legs[0].amount",
            lambda lg: lg.post_batch(
                [EntryRequest("k", tuple(LEGS)), EntryRequest("k2", tuple(bad_leg))]
            ),
        ),
        (
            "requests[0].description",
            lambda lg: lg.post_batch([EntryRequest("k", tuple(LEGS), wrong(None))]),
        ),
        ("key", lambda lg: lg.hold(None, "wallet:ana", "fees", one)),
        ("debit", lambda lg: lg.hold("k", ["wallet:ana"], "fees", one)),
        ("timeout", lambda lg: lg.hold("k", "wallet:ana", "fees", one, timeout=60)),
        ("description", lambda lg: lg.hold("k", "wallet:ana", "fees", one, description=0)),
        ("key", lambda lg: lg.post_pending(7, 2)),
        ("pending_seq", lambda lg: lg.post_pending("k", "2")),
        ("pending_seq", lambda lg: lg.post_pending("k", True)),
        ("key", lambda lg: lg.void_pending(b"k", 2)),
        ("pending_seq", lambda lg: lg.void_pending("k", 2.0)),
        ("now", lambda lg: lg.expire_pending("now")),
        ("key", lambda lg: lg.reverse(None, 1)),
        ("seq", lambda lg: lg.reverse("k", "1")),
        ("description", lambda lg: lg.reverse("k", 1, description=1)),
        ("seq", lambda lg: lg.entry("1")),
        ("after", lambda lg: lg.entries(after="0")),
        ("limit", lambda lg: lg.entries(limit=1.5)),
        ("limit", lambda lg: lg.entries(limit=-1)),
        ("checkpoint", lambda lg: lg.verify(checkpoint={}, key=KEY)),
    ]
    return calls


def test_a_wrong_argument_is_a_ledger_error_naming_it(books: Books, ledger: LedgerAPI) -> None:
    """Every public method: a LedgerError saying which argument, what it must be, what it got.

    (One tenant for every call, in a loop: each call is refused before it writes.)
    """
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(10))
    ledger.hold("h", "wallet:ana", "fees", eur(5))
    before = books.snapshot()
    for index, (name, call) in enumerate(_wrong_calls()):
        try:
            call(ledger)
        except LedgerError as exc:
            message = str(exc)
        else:
            pytest.fail(f"call {index} ({name}) was not refused")
        assert message.startswith(f"{name} must be "), (index, message)
        assert "; got " in message, (index, message)
    assert books.snapshot() == before


def test_error_messages_cut_long_values(books: Books, ledger: LedgerAPI) -> None:
    """A 100 KB value never becomes a 100 KB message: a few dozen characters and the length."""
    open_standard(ledger)
    huge = "x" * 100_000
    legs = (Leg.debit("bank", eur(1)), Leg.credit("wallet:ana", eur(1)))
    calls: list[Callable[[], object]] = [
        lambda: ledger.transfer(huge, "bank", "wallet:ana", eur(1)),
        lambda: ledger.transfer("k", "bank", huge, eur(1)),
        lambda: ledger.transfer("k", "bank", "wallet:ana", wrong(huge)),
        lambda: ledger.transfer("k", "bank", "wallet:ana", eur(1), huge),
        lambda: ledger.post_batch([EntryRequest("k", legs, huge)]),
        lambda: ledger.account(huge),
        lambda: ledger.balance(huge),
        lambda: ledger.open_account(huge, "asset", "EUR"),
        lambda: ledger.open_account("a", huge, "EUR"),
        lambda: ledger.open_account("a", "asset", huge),
        lambda: ledger.entry(10**100_000),
        lambda: ledger.void_pending("k", -(10**100_000)),
        lambda: ledger.post("k", [Leg.debit(huge, eur(1)), Leg.credit("wallet:ana", eur(1))]),
    ]
    for call in calls:
        with pytest.raises(LedgerError) as caught:
            call()
        message = str(caught.value)
        assert len(message) < 250, message[:300]
        assert "xxxxxxxxxx" not in message or "…" in message, message
    long_key = "k" * 200
    ledger.transfer(long_key, "bank", "wallet:ana", eur(1))
    with pytest.raises(IdempotencyConflictError) as conflict:
        ledger.transfer(long_key, "bank", "wallet:ana", eur(2))
    assert conflict.value.key == long_key
    assert len(str(conflict.value)) < 160


# ---------------------------------------------------------------- concurrency


def wait_until_blocked_by(books: Books, holder: Connection) -> None:
    """Return once another connection waits for a lock ``holder`` holds.

    PostgreSQL says who blocks whom; SQLite does not, so there the writer just
    gets a moment to reach its ``BEGIN IMMEDIATE``.
    """
    if books.dialect == "sqlite":
        threading.Event().wait(0.3)
        return
    pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    for _ in range(250):
        with books.raw() as conn:
            if conn.execute(waiting, {"pid": pid}).scalar_one():
                return
        threading.Event().wait(0.02)
    raise AssertionError("the other writer never waited for the lock")


def test_verify_reads_the_books_as_of_one_moment(books: Books, ledger: LedgerAPI) -> None:
    """A writer waits for a verify in progress, so the chain, head and totals read agree."""
    open_standard(ledger)
    ledger.transfer("t1", "bank", "wallet:ana", eur(10))
    with ThreadPoolExecutor(1) as pool, ledger.session() as session:
        assert session.verify().ok
        writer = pool.submit(ledger.transfer, "t2", "bank", "wallet:ana", eur(1))
        wait_until_blocked_by(books, session.conn)
        assert not writer.done()
        assert session.verify().entries == 1
    assert writer.result().seq == 2
    assert ledger.verify().ok


def test_concurrent_identical_opens_return_one_account(books: Books, ledger: LedgerAPI) -> None:
    start = threading.Barrier(4)

    def open_it(_: int) -> object:
        start.wait()
        return ledger.open_account("wallet", "liability", "EUR")

    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(open_it, range(4)))
    assert all(a == opened[0] for a in opened)
    assert [a.code for a in ledger.accounts()] == ["wallet"]


def test_expire_pending_waits_for_a_writer_resolving_a_due_hold(
    books: Books, ledger: LedgerAPI, clock: Clock
) -> None:
    """Holds are looked up under the lock: one voided meanwhile is not expired too."""
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    first = ledger.hold("h1", "wallet:ana", "fees", eur(10), timeout=timedelta(minutes=1))
    second = ledger.hold("h2", "wallet:ana", "fees", eur(20), timeout=timedelta(minutes=1))
    clock.advance(minutes=2)
    with ThreadPoolExecutor(1) as pool, ledger.session() as s:
        s.void_pending("void-1", first.seq)  # holds the write lock until the session ends
        expiry = pool.submit(ledger.expire_pending)
        wait_until_blocked_by(books, s.conn)
    expired = expiry.result(timeout=30)
    assert [e.pending_seq for e in expired] == [second.seq]
    assert ledger.open_holds() == []
    assert ledger.balance("wallet:ana").available == eur(100)
    assert ledger.verify().ok


# ---------------------------------------------------------------- regressions


def test_regression_balance_check_counts_pending_debits(books: Books, ledger: LedgerAPI) -> None:
    """A balance check that ignored pending debits let a wallet spend held money."""
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    hold = ledger.hold("order", "wallet:ana", "fees", eur(80))
    before = books.snapshot()
    with pytest.raises(OverdraftError) as caught:
        ledger.transfer("spend", "wallet:ana", "wallet:bob", eur(30))
    assert caught.value.available == eur(-10)
    with pytest.raises(OverdraftError):
        ledger.hold("order-2", "wallet:ana", "fees", eur(30))
    with pytest.raises(OverdraftError):
        ledger.post("split", [Leg.debit("wallet:ana", eur(21)), Leg.credit("wallet:bob", eur(21))])
    assert books.snapshot() == before
    ledger.transfer("spend-20", "wallet:ana", "wallet:bob", eur(20))
    assert ledger.balance("wallet:ana").available == eur(0)
    ledger.void_pending("cancel", hold.seq)
    ledger.transfer("spend", "wallet:ana", "wallet:bob", eur(30))
    assert ledger.balance("wallet:ana").available == eur(50)
    assert ledger.verify().ok


def test_regression_rejected_pending_cannot_be_posted(books: Books, ledger: LedgerAPI) -> None:
    """A hold refused for overdraft must not exist: posting it later must fail."""
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(10))
    before = books.snapshot()
    with pytest.raises(OverdraftError):
        ledger.hold("too-big", "wallet:ana", "fees", eur(50))
    assert books.snapshot() == before
    would_be = 2  # the seq the hold would have had
    assert ledger.open_holds() == []
    for amount in (None, eur(5)):
        with pytest.raises(PendingStateError, match="no hold 2"):
            ledger.post_pending("capture", would_be, amount)
    with pytest.raises(PendingStateError, match="no hold 2"):
        ledger.void_pending("void", would_be)
    assert books.snapshot() == before
    # Once the seq is taken by a plain entry, it still is no hold.
    taken = ledger.transfer("other", "bank", "wallet:bob", eur(1))
    assert taken.seq == would_be
    with pytest.raises(PendingStateError, match="no hold 2"):
        ledger.post_pending("capture", would_be)
    assert ledger.balance("fees").posted == eur(0)
    assert ledger.balance("wallet:ana").posted == eur(10)
    assert ledger.verify().ok


def test_regression_destination_update_takes_a_lock(books: Books, ledger: LedgerAPI) -> None:
    """Lost update: concurrent credits to one account, each on its own connection."""
    threads, per_thread = 4, 15
    ledger.open_account("merchant", "liability", "EUR")
    for n in range(threads):
        ledger.open_account(f"card:{n}", "asset", "EUR", overdraft="unlimited")
    start = threading.Barrier(threads)

    def pay(n: int) -> list[int]:
        start.wait()
        return [
            ledger.transfer(f"pay-{n}-{i}", f"card:{n}", "merchant", eur(f"{n + 1}.01")).seq
            for i in range(per_thread)
        ]

    with ThreadPoolExecutor(threads) as pool:
        seqs = [s for batch in pool.map(pay, range(threads)) for s in batch]
    assert sorted(seqs) == list(range(1, threads * per_thread + 1))
    expected = sum((eur(f"{n + 1}.01") * per_thread for n in range(threads)), eur(0))
    assert ledger.balance("merchant").posted == expected
    assert books.version("merchant") == threads * per_thread
    for n in range(threads):
        assert ledger.balance(f"card:{n}").posted == eur(f"{n + 1}.01") * per_thread
    assert ledger.verify().ok


def start_another_write(books: Books) -> None:
    """Start a write beside the ledger's: fails at once if a ledger write is open.

    PostgreSQL: take the chain-head row lock without waiting. SQLite: take the
    database write lock (``BEGIN IMMEDIATE``), waiting 50 ms at most.
    """
    storage = books.tenant.storage
    if books.dialect == "sqlite":
        path = storage.engine.url.database
        assert path is not None
        raw = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
        finally:
            raw.close()
        return
    other = create_engine(storage.engine.url)
    try:
        with other.begin() as conn:
            conn.exec_driver_sql(f'SET LOCAL search_path TO "{storage.schema}"')
            conn.exec_driver_sql("SELECT seq FROM ledger_chain FOR UPDATE NOWAIT")
    finally:
        other.dispose()


@pytest.mark.parametrize("victim", ["card", "merchant"])
def test_regression_balance_version_race(
    books: Books, ledger: LedgerAPI, monkeypatch: pytest.MonkeyPatch, victim: str
) -> None:
    """A race on an account's version between the ledger's read and its write.

    First, ledger writers never interleave: while one is open, no other can
    start (the chain-head lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).
    Then a writer that bypasses that and bumps an account between the
    ledger's read and write is not overwritten: the ledger's UPDATE checks
    the version, so its stale write fails. ``victim`` is the first or the
    last account updated, so a row count reflecting only one statement of
    the batch would be caught.
    """
    ledger.open_account("card", "asset", "EUR", overdraft="unlimited")
    ledger.open_account("merchant", "liability", "EUR")
    with ledger.session() as s:
        s.transfer("pay-1", "card", "merchant", eur(10))
        with pytest.raises(
            (sqlite3.OperationalError, OperationalError), match=r"locked|could not obtain lock"
        ):
            start_another_write(books)
    start_another_write(books)  # free again once the ledger's transaction is over

    original = AccountState.check
    storage = books.tenant.storage
    bump = (
        "UPDATE ledger_accounts SET version = version + 1,"
        " credits_posted = credits_posted + 700 WHERE code = :c"
    )
    session_conn: list[Connection] = []

    def concurrent_writer(acct: Any) -> None:
        # Runs after the ledger read the accounts and before it writes them.
        if books.dialect == "postgresql":
            # A real concurrent writer: another connection that bypasses the head
            # lock and commits (rows the ledger only read are not locked).
            other = create_engine(storage.engine.url)
            try:
                with other.begin() as conn:
                    conn.exec_driver_sql(f'SET LOCAL search_path TO "{storage.schema}"')
                    conn.execute(text(bump), {"c": victim})
            finally:
                other.dispose()
        else:
            # SQLite has one writer at a time (see above): only the ledger's own
            # connection can write now, so the "other writer" uses it.
            session_conn[0].execute(text(bump), {"c": victim})
        monkeypatch.setattr(AccountState, "check", original)
        original(acct)

    before = books.snapshot()
    with ledger.session() as s:
        session_conn.append(s.conn)
        monkeypatch.setattr(AccountState, "check", concurrent_writer)
        with pytest.raises(LedgerError, match="changed concurrently"):
            s.transfer("pay-2", "card", "merchant", eur(5))
    after = books.snapshot()
    assert after[1:] == before[1:]  # no entry, no leg; the chain head as it was
    # The other writer's change stands; the ledger's stale one was not applied.
    extra = {"card": 0, "merchant": 0, victim: 700}
    merchant, card = ledger.balance("merchant"), ledger.balance("card")
    assert merchant.credits_posted == Money.from_minor(1000 + extra["merchant"], "EUR")
    assert card.credits_posted == Money.from_minor(extra["card"], "EUR")
    assert card.debits_posted == eur(10)
    assert books.version(victim) == 2
    assert books.version("card" if victim == "merchant" else "merchant") == 1
    # verify() sees the write that bypassed the ledger.
    assert ledger.verify().problems == (f"account {victim}: totals differ from its legs",)


def test_regression_repeated_refund_key_applies_once(books: Books, ledger: LedgerAPI) -> None:
    """A replayed refund key answered "conflict" but moved the money again."""
    open_standard(ledger)
    ledger.transfer("topup", "bank", "wallet:ana", eur(100))
    ledger.transfer("topup-bob", "bank", "wallet:bob", eur(20))
    payment = ledger.transfer("pay", "wallet:ana", "wallet:bob", eur(40))
    other_payment = ledger.transfer("pay-2", "wallet:ana", "wallet:bob", eur(10))
    refund = ledger.reverse("refund-1", payment.seq, "refund")
    partial = ledger.transfer("refund-2", "wallet:bob", "wallet:ana", eur(5), "partial refund")
    before = books.snapshot()
    balances = {code: ledger.balance(code) for code in ("wallet:ana", "wallet:bob")}
    conflicts: list[Callable[[], Entry]] = [
        lambda: ledger.reverse("refund-1", payment.seq, "refund again"),
        lambda: ledger.reverse("refund-1", other_payment.seq, "refund"),
        lambda: ledger.transfer("refund-1", "wallet:bob", "wallet:ana", eur(40)),
        lambda: ledger.transfer("refund-2", "wallet:bob", "wallet:ana", eur(6), "partial refund"),
        lambda: ledger.reverse("refund-2", other_payment.seq),
    ]
    for conflict in conflicts:
        with pytest.raises(IdempotencyConflictError):
            conflict()
        assert books.snapshot() == before
    assert ledger.reverse("refund-1", payment.seq, "refund") == refund
    assert ledger.transfer("refund-2", "wallet:bob", "wallet:ana", eur(5), "partial refund") == (
        partial
    )
    # Concurrent replays of one key: one effect, the same answer for all.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ledger.reverse("refund-3", other_payment.seq), range(8)))
    assert len({a.seq for a in answers}) == 1
    after = {code: ledger.balance(code) for code in ("wallet:ana", "wallet:bob")}
    assert after["wallet:ana"].posted == balances["wallet:ana"].posted + eur(10)
    assert after["wallet:bob"].posted == balances["wallet:bob"].posted - eur(10)
    assert len(ledger.entries()) == 7
    assert ledger.verify().ok
