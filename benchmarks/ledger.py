"""Ledger benchmark: transfers per second with every check on, beside raw SQL and a peer.

Run ``python benchmarks/ledger.py`` (full: about a minute per database on two
busy cores) or ``python benchmarks/ledger.py --quick`` (a few seconds, for
tests), with ``--database-url postgresql+psycopg://...`` (or
``FINPLUG_TEST_DATABASE_URL``) to include PostgreSQL; without either, the
PostgreSQL figures are ``null``.
It prints human-readable lines, then, as its last line, one JSON object with
every figure. It always exits 0: the aims are informational.

What is measured, and how:

1. **finplug** (``<db>_batch1_tps``, ``<db>_batch1000_tps``): two-leg
   transfers between random wallets of a pool (liability accounts with
   overdraft policy ``none``, funded beforehand), every check on: idempotency
   keys, overdraft checks, the hash chain, the database guards (checks,
   unique keys and triggers; the rows' accounts are checked by ``(account,
   currency)`` foreign keys on SQLite, by a statement trigger on PostgreSQL).
   Batch 1 is ``ledger.transfer`` (one transaction each); batch 1,000 is
   ``ledger.post_batch`` of 1,000 requests. Requests and their ``Money`` are
   built before the clock starts.
2. **Raw SQLAlchemy Core** (``<db>_core_batch*_tps``): the same rows (one
   ``ledger_transfers`` row per transfer with the entry's columns and both
   accounts' running totals, the account updates and the chain head update)
   written as plain ``insert``/``update`` statements in the same
   transactions, on the same tables (their keys, foreign keys, checks and
   indexes are part of the tables) without the guard triggers, with no reads,
   checks in Python or hashing. On PostgreSQL, where a guard trigger checks
   the rows' accounts (kernel revision 0003), these tables check no accounts
   at all; before that revision they had the foreign keys, so PostgreSQL's
   core figures of older runs are not comparable. ``<db>_ratio_vs_core`` is
   finplug tps / core tps at batch 1,000 (``<db>_batch1_ratio_vs_core`` at
   batch 1).
   ``<db>_core_guarded_batch*_tps`` writes the same rows into tables *with*
   the guard triggers, which separates their cost from Python's.
   ``sqlite_sql_floor_batch1000_tps``: finplug's own statements and commits
   for batches of 1,000, traced and replayed on a copy of the database
   through the bare ``sqlite3`` driver (see ``_bench.replay_floor``): what
   the batches would cost if Python took no time (``null`` on PostgreSQL).
3. **python-accounting** (``python_accounting_tps``): the peer library posting
   simple two-account journal entries (a ``JournalEntry`` on a bank account
   with one line item on an equity account, committed one by one) on an
   SQLite file. ``ratio_vs_python_accounting`` is finplug's unbatched SQLite
   tps / python-accounting's tps.

Every store is a fresh tenant (an SQLite file in a temporary folder, or a
PostgreSQL schema), dropped afterwards. Rounds alternate between the
contestants (A then B, then B then A, …) with the garbage collector off while
timing; each figure is the median over rounds. ``loadavg_1m`` records how busy
the machine was: other processes skew every figure.
"""

from __future__ import annotations

import json
import platform as pyplatform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, bindparam, create_engine, insert, update

from _bench import (
    PG_ENV,
    Aim,
    alternate,
    load_average,
    log,
    parse_args,
    replay_floor,
    report_aims,
    timed,
)
from finplug import EntryRequest, Leg, Money, Platform, Tenant
from finplug.ledger.schema import accounts, chain, install_ledger, ledger_metadata, transfers

CURRENCY = "EUR"
FUNDING_UNITS = 10**12  # minor units per wallet: no transfer is ever refused
AIM_SQLITE_BATCH = 100_000.0
AIM_PG_BATCH = 50_000.0
AIM_SQLITE_UNBATCHED = 3_000.0


@dataclass(frozen=True)
class Settings:
    """How much work each part does."""

    quick: bool
    rounds: int
    batch1_transfers: int  # per round
    batches: int  # batches of 1,000 per round
    batch_size: int
    wallets: int
    peer_rounds: int
    peer_transfers: int  # per round
    warmup_batch: int


FULL = Settings(
    quick=False,
    rounds=7,
    batch1_transfers=400,
    batches=3,
    batch_size=1000,
    wallets=1000,
    peer_rounds=3,
    peer_transfers=60,
    warmup_batch=1000,
)
QUICK = Settings(
    quick=True,
    rounds=3,
    batch1_transfers=30,
    batches=1,
    batch_size=1000,
    wallets=200,
    peer_rounds=3,
    peer_transfers=8,
    warmup_batch=100,
)


# ---------------------------------------------------------------- stores


@contextmanager
def tenants(url: str, names: list[str]) -> Iterator[dict[str, Tenant]]:
    """Fresh tenants (files or schemas) on ``url``, dropped on the way out."""
    suffix = uuid.uuid4().hex[:8]
    platform = Platform([], environ={}, database_url=url)
    made: dict[str, Tenant] = {}
    try:
        for name in names:
            tid = f"bench-{name}-{suffix}"
            platform.add_tenant({"tenant": tid})
            made[name] = platform.tenant(tid)
            made[name].storage.ensure_schema()
        yield made
    finally:
        for tenant in made.values():
            tenant.storage.drop()
        platform.close()


def wallet_codes(count: int) -> list[str]:
    return [f"wallet:{i:05d}" for i in range(count)]


def random_transfers(
    codes: list[str], count: int, rng: random.Random
) -> list[tuple[str, str, int]]:
    """``count`` (debit, credit, minor units) between two distinct random wallets."""
    out = []
    for _ in range(count):
        debit, credit = rng.sample(codes, 2)
        out.append((debit, credit, rng.randint(1, 100_000)))
    return out


class FinplugSide:
    """The finplug ledger of one tenant: accounts opened and funded, keys never reused."""

    def __init__(self, tenant: Tenant, settings: Settings, rng: random.Random) -> None:
        with tenant.storage.begin() as conn:
            install_ledger(conn)
        self.ledger = tenant.ledger
        self.codes = wallet_codes(settings.wallets)
        self.rng = rng
        self.next_key = 0
        ledger = self.ledger
        ledger.open_account("funding", "equity", CURRENCY, overdraft="unlimited")
        with ledger.session() as session:
            for code in self.codes:
                session.open_account(code, "liability", CURRENCY)
        funding = Money.from_minor(FUNDING_UNITS, CURRENCY)
        ledger.post_batch(
            [
                EntryRequest(f"fund-{c}", (Leg.debit("funding", funding), Leg.credit(c, funding)))
                for c in self.codes
            ]
        )

    def requests(self, count: int) -> list[EntryRequest]:
        out = []
        for debit, credit, units in random_transfers(self.codes, count, self.rng):
            self.next_key += 1
            amount = Money.from_minor(units, CURRENCY)
            legs = (Leg.debit(debit, amount), Leg.credit(credit, amount))
            out.append(EntryRequest(f"t-{self.next_key}", legs))
        return out

    def unbatched(self, count: int) -> Callable[[], int]:
        todo = self.requests(count)
        transfer = self.ledger.transfer

        def run() -> int:
            for req in todo:
                debit, credit = req.legs
                transfer(req.key, debit.account, credit.account, debit.amount)
            return len(todo)

        return run

    def batched(self, batches: int, size: int) -> Callable[[], int]:
        todo = [self.requests(size) for _ in range(batches)]
        post_batch = self.ledger.post_batch

        def run() -> int:
            for batch in todo:
                post_batch(batch)
            return batches * size

        return run


@dataclass
class CoreState:
    """What a hand-written writer keeps in memory: account totals, ids, the head."""

    ids: dict[str, int] = field(default_factory=dict)
    totals: dict[int, list[int]] = field(default_factory=dict)  # id -> [debits, credits, version]
    seq: int = 0


_DUMMY_HASH = bytes(32)
_UPDATE_ACCOUNT = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_id"))
    .values(
        debits_posted=bindparam("b_dp"),
        credits_posted=bindparam("b_cp"),
        version=bindparam("b_v"),
    )
)


class CoreSide:
    """The same rows written with plain SQLAlchemy Core: no reads, checks or hashing."""

    def __init__(
        self, tenant: Tenant, settings: Settings, rng: random.Random, *, guarded: bool
    ) -> None:
        self.begin = tenant.storage.begin
        self.codes = wallet_codes(settings.wallets)
        self.rng = rng
        self.state = CoreState()
        self.next_key = 0
        now = datetime.now(UTC)
        with self.begin() as conn:
            if guarded:
                install_ledger(conn)
            else:
                ledger_metadata.create_all(conn)
                conn.execute(insert(chain).values(id=1, seq=0, hash=_DUMMY_HASH, posted_at=None))
            rows = [
                {
                    "code": code,
                    "type": "liability",
                    "currency": CURRENCY,
                    "normal": "credit",
                    "overdraft": "none",
                    "overdraft_limit": 0,
                    "debits_posted": 0,
                    "credits_posted": FUNDING_UNITS,
                    "debits_pending": 0,
                    "credits_pending": 0,
                    "version": 0,
                    "opened_at": now,
                }
                for code in self.codes
            ]
            conn.execute(insert(accounts), rows)
            for row in conn.execute(sqlalchemy.select(accounts.c.id, accounts.c.code)):
                self.state.ids[row.code] = row.id
                self.state.totals[row.id] = [0, FUNDING_UNITS, 0]

    def transfers(self, count: int) -> list[tuple[str, int, int, int]]:
        ids = self.state.ids
        out = []
        for debit, credit, units in random_transfers(self.codes, count, self.rng):
            self.next_key += 1
            out.append((f"t-{self.next_key}", ids[debit], ids[credit], units))
        return out

    def write(self, conn: Connection, batch: list[tuple[str, int, int, int]]) -> None:
        state = self.state
        totals = state.totals
        seq = state.seq
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        touched: dict[int, list[int]] = {}
        for key, debit, credit, units in batch:
            seq += 1
            d, c = totals[debit], totals[credit]
            d[0] += units
            c[1] += units
            touched[debit], touched[credit] = d, c
            rows.append(
                {
                    "seq": seq,
                    "pair": 0,
                    "pairs": 1,
                    "debit_id": debit,
                    "credit_id": credit,
                    "currency": CURRENCY,
                    "amount": units,
                    "flow": 0,
                    "debit_leg": 0,
                    "credit_leg": 1,
                    "debit_posted_after": d[0] - d[1],
                    "debit_dpending_after": 0,
                    "debit_cpending_after": 0,
                    "credit_posted_after": c[0] - c[1],
                    "credit_dpending_after": 0,
                    "credit_cpending_after": 0,
                    "key": key,
                    "request_hash": _DUMMY_HASH,
                    "kind": "posted",
                    "pending_seq": None,
                    "reverses_seq": None,
                    "description": "",
                    "posted_at": now,
                    "timeout_at": None,
                    "prev_hash": _DUMMY_HASH,
                    "hash": _DUMMY_HASH,
                }
            )
        for t in touched.values():
            t[2] += 1
        conn.execute(insert(transfers), rows)
        conn.execute(
            _UPDATE_ACCOUNT,
            [{"b_id": i, "b_dp": t[0], "b_cp": t[1], "b_v": t[2]} for i, t in touched.items()],
        )
        conn.execute(
            update(chain).where(chain.c.id == 1).values(seq=seq, hash=_DUMMY_HASH, posted_at=now)
        )
        state.seq = seq

    def unbatched(self, count: int) -> Callable[[], int]:
        todo = self.transfers(count)

        def run() -> int:
            for item in todo:
                with self.begin() as conn:
                    self.write(conn, [item])
            return len(todo)

        return run

    def batched(self, batches: int, size: int) -> Callable[[], int]:
        todo = [self.transfers(size) for _ in range(batches)]

        def run() -> int:
            for batch in todo:
                with self.begin() as conn:
                    self.write(conn, batch)
            return batches * size

        return run


# ---------------------------------------------------------------- 1 + 2. finplug vs core


def bench_backend(db: str, url: str, settings: Settings, results: dict[str, Any]) -> None:
    log(
        f"== {db}: transfers/s, every check on, beside raw SQLAlchemy Core ({url.split(':')[0]}) =="
    )
    rng = random.Random(1)
    with tenants(url, ["finplug", "core", "guarded"]) as made:
        finplug = FinplugSide(made["finplug"], settings, rng)
        core = CoreSide(made["core"], settings, rng, guarded=False)
        guarded = CoreSide(made["guarded"], settings, rng, guarded=True)
        # Warm-up: connections, statement caches, the first pages of every index.
        for side in (finplug, core, guarded):
            side.unbatched(20)()
            side.batched(1, settings.warmup_batch)()

        n1, nb, size = settings.batch1_transfers, settings.batches, settings.batch_size
        one = alternate(
            settings.rounds,
            {
                "finplug": lambda: finplug.unbatched(n1),
                "core": lambda: core.unbatched(n1),
                "guarded": lambda: guarded.unbatched(n1),
            },
        )
        many = alternate(
            settings.rounds,
            {
                "finplug": lambda: finplug.batched(nb, size),
                "core": lambda: core.batched(nb, size),
                "guarded": lambda: guarded.batched(nb, size),
            },
        )
        floor = None
        if db == "sqlite":
            engine = made["finplug"].storage.engine
            floor = replay_floor(engine, finplug.batched(nb, size), settings.rounds)
        report = finplug.ledger.verify()
        assert report.ok, report.problems
    results[f"{db}_sql_floor_batch1000_tps"] = None if floor is None else round(floor, 1)
    results[f"{db}_batch1_tps"] = round(one["finplug"], 1)
    results[f"{db}_batch1000_tps"] = round(many["finplug"], 1)
    results[f"{db}_core_batch1_tps"] = round(one["core"], 1)
    results[f"{db}_core_batch1000_tps"] = round(many["core"], 1)
    results[f"{db}_core_guarded_batch1_tps"] = round(one["guarded"], 1)
    results[f"{db}_core_guarded_batch1000_tps"] = round(many["guarded"], 1)
    results[f"{db}_batch1_ratio_vs_core"] = round(one["finplug"] / one["core"], 4)
    results[f"{db}_ratio_vs_core"] = round(many["finplug"] / many["core"], 4)
    for label, fig in (("batch 1    ", one), (f"batch {size:,}", many)):
        ratio = fig["finplug"] / fig["core"]
        log(
            f"  {label}: finplug {fig['finplug']:10,.0f}/s   core {fig['core']:10,.0f}/s"
            f"   core+guards {fig['guarded']:10,.0f}/s   finplug/core {ratio:.3f}"
        )
    if floor is not None:
        log(
            f"  batch {size:,}, SQL alone: {floor:10,.0f}/s   (finplug's own statements and"
            " commits replayed on the bare sqlite3 driver: no Python logic)"
        )
    log(
        f"  ({settings.rounds} rounds; {n1} transfers per batch-1 round, {nb} x {size:,} per"
        f" batched round; {settings.wallets:,} wallets; ledger verified)"
    )


def null_backend(db: str, results: dict[str, Any]) -> None:
    for key in (
        "batch1_tps",
        "batch1000_tps",
        "core_batch1_tps",
        "core_batch1000_tps",
        "core_guarded_batch1_tps",
        "core_guarded_batch1000_tps",
        "batch1_ratio_vs_core",
        "ratio_vs_core",
        "sql_floor_batch1000_tps",
    ):
        results[f"{db}_{key}"] = None


# ---------------------------------------------------------------- 3. python-accounting


def bench_python_accounting(settings: Settings, folder: Path, results: dict[str, Any]) -> None:
    log("== python-accounting: two-account journal entries, SQLite file, one commit each ==")
    try:
        from decimal import Decimal

        from python_accounting.database.session import (
            get_session,
        )
        from python_accounting.models import (
            Account,
            Base,
            Currency,
            Entity,
            LineItem,
        )
        from python_accounting.transactions import JournalEntry
    except ImportError as exc:
        log(f"  not available ({exc}); its figures are null")
        results["python_accounting_tps"] = None
        return
    engine = create_engine(f"sqlite:///{folder / 'python-accounting.db'}")
    try:
        Base.metadata.create_all(engine)
        with get_session(engine) as session:
            entity = Entity(name="Benchmark Ltd")
            session.add(entity)
            session.commit()
            eur = Currency(name="Euro", code=CURRENCY, entity_id=entity.id)
            session.add(eur)
            session.commit()
            bank = Account(
                name="Bank",
                account_type=Account.AccountType.BANK,
                currency_id=eur.id,
                entity_id=entity.id,
            )
            equity = Account(
                name="Capital",
                account_type=Account.AccountType.EQUITY,
                currency_id=eur.id,
                entity_id=entity.id,
            )
            session.add_all([bank, equity])
            session.commit()
            rng = random.Random(2)

            def post(count: int) -> int:
                for i in range(count):
                    entry = JournalEntry(
                        narration=f"transfer {i}",
                        transaction_date=datetime.now(),
                        account_id=bank.id,
                        entity_id=entity.id,
                    )
                    session.add(entry)
                    session.flush()
                    item = LineItem(
                        narration="line",
                        account_id=equity.id,
                        amount=Decimal(rng.randint(1, 100_000)) / 100,
                        entity_id=entity.id,
                    )
                    session.add(item)
                    session.flush()
                    entry.line_items.add(item)
                    session.add(entry)
                    entry.post(session)
                    session.commit()
                return count

            post(3)  # warm-up
            n = settings.peer_transfers
            tps = statistics.median(timed(lambda: post(n)) for _ in range(settings.peer_rounds))
    finally:
        engine.dispose()
    results["python_accounting_tps"] = round(tps, 1)
    log(f"  {tps:10,.1f}/s   ({settings.peer_rounds} rounds of {n} entries)")


# ---------------------------------------------------------------- report


def check_aims(results: dict[str, Any]) -> None:
    peer = results.get("python_accounting_tps")
    sqlite1 = results["sqlite_batch1_tps"]
    results["ratio_vs_python_accounting"] = round(sqlite1 / peer, 2) if peer else None
    if peer:
        log(
            f"== finplug unbatched SQLite vs python-accounting: "
            f"{results['ratio_vs_python_accounting']:.1f}x =="
        )
    report_aims(
        results,
        [
            Aim(
                f"SQLite batch 1,000 >= {AIM_SQLITE_BATCH:,.0f}/s",
                results["sqlite_batch1000_tps"],
                AIM_SQLITE_BATCH,
                at_least=True,
            ),
            Aim(
                f"PostgreSQL batch 1,000 >= {AIM_PG_BATCH:,.0f}/s",
                results["pg_batch1000_tps"],
                AIM_PG_BATCH,
                at_least=True,
            ),
            Aim(
                f"SQLite unbatched >= {AIM_SQLITE_UNBATCHED:,.0f}/s",
                sqlite1,
                AIM_SQLITE_UNBATCHED,
                at_least=True,
            ),
            Aim(
                "SQLite unbatched >= 20x python-accounting",
                results["ratio_vs_python_accounting"],
                20.0,
                at_least=True,
            ),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(
        __doc__, argv, quick_help="few rounds and batches (for tests)", database_url=True
    )
    settings = QUICK if args.quick else FULL

    log(
        f"finplug ledger benchmark ({'quick' if settings.quick else 'full'}):"
        f" Python {pyplatform.python_version()}, SQLAlchemy {sqlalchemy.__version__},"
        f" {sys.platform}"
    )
    load = load_average()
    if load is not None:
        log(f"load average before start: {load} (other processes skew every figure)")
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": settings.quick}
    folder = Path(tempfile.mkdtemp(prefix="finplug-bench-"))
    try:
        bench_backend("sqlite", f"sqlite:///{folder}/{{tenant}}.db", settings, results)
        if args.database_url:
            bench_backend("pg", args.database_url, settings, results)
        else:
            log(f"== PostgreSQL: skipped (no --database-url and no ${PG_ENV}) ==")
            null_backend("pg", results)
        bench_python_accounting(settings, folder, results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    check_aims(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    results["loadavg_1m"] = load_average()
    log(f"done in {results['elapsed_s']} s")
    print(json.dumps(results, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
