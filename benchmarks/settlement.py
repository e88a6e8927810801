"""Settlement benchmark: one run settling 1,000,000 captures of 10,000 merchants, beside plain SQL.

Run ``python benchmarks/settlement.py`` (full: two to three minutes per
database on two busy cores, half of it writing the captures) or ``python
benchmarks/settlement.py --quick`` (20,000 captures of 200 merchants, for
tests), with ``--database-url postgresql+psycopg://...`` (alias ``--pg-url``;
default ``FINPLUG_TEST_DATABASE_URL``) to include PostgreSQL; without either,
the PostgreSQL figures are ``null``. ``--captures N --merchants M`` picks
another size (for profiling). It prints human-readable lines, then, as its
last line, one JSON object with every figure. It always exits 0: the aims
are informational.

What is measured, and how, on each database:

1. **Setup** (untimed, ``<db>_setup_s``): a tenant with ``settlement``,
   ``payments`` and ``channels-sim`` (an SQLite file in a temporary folder,
   or a PostgreSQL schema); settlement settings: a daily T+1 schedule in UTC
   with the default ``00:00`` cut-off, no split rules, no reserve, no
   minimum payout. The captures do not go through payments (far too slow
   for a million): they are posted straight to the ledger with
   ``ledger.post_batch``, 5,000 entries a transaction, shaped as payments
   books a capture: debit ``payments:clearing:sim:EUR`` (asset, overdraft
   unlimited), credit ``payments:merchant:m<i>:EUR`` (liability, overdraft
   unlimited), key ``bench:cap:<n>``, amounts from 1.00 to 999.99 EUR,
   capture ``n`` going to merchant ``n % merchants``. Every one is posted at
   the tenant clock's time, Monday 6 October 2025 09:00 UTC, so all are due
   on Tuesday the 7th (a TARGET business day).
2. **The run** (``<db>_settle_s``; ``<db>_settle_1m_s`` for 1,000,000
   captures of 10,000 merchants, ``null`` for any other size, never
   extrapolated; ``<db>_per_capture_us``): ``settlement.run(tuesday)``,
   timed whole, once, the garbage collector on (as in a real job): for
   each merchant its postings read from the ledger, their value dates, the
   batch row, one batch entry per posting, the ledger entry moving the net
   to ``settlement:payouts:EUR`` and the cursor. Checked afterwards: one batch
   per merchant and none failed or carried, the batches' nets summing
   exactly to the captures' sum (integer minor units), every merchant's
   payable at zero, the in-transit account holding the sum. Then
   ``<db>_rerun_s`` (``rerun_s``: SQLite's): the same run again, which must
   make nothing new.
3. **The SQL baseline** (``<db>_sql_s``): one ``SELECT credit_id,
   SUM(amount) FROM ledger_transfers JOIN ledger_accounts ... WHERE code
   LIKE 'payments:merchant:%' GROUP BY credit_id`` over the same postings,
   on the same tenant before the run, rows fetched; the median of three
   (the first warms the cache). Its total is checked against the captures'
   sum too. ``ratio_vs_sql`` (SQLite) and ``pg_ratio_vs_sql`` are the run's
   time / the baseline's: what settling costs over merely netting.

``setup_s``, ``rerun_s`` and ``ratio_vs_sql`` without a prefix are SQLite's.
``loadavg_1m`` records how busy the machine was when the script started;
``loadavg_1m_end`` when it ended.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select

from _bench import PG_ENV, Aim, load_average, log, parse_args, report_aims
from finplug import Money, Tenant
from finplug.ledger.schema import accounts, transfers
from finplug.ledger.values import EntryRequest, Leg
from finplug.sockets.settlement import SETTLEMENT
from finplug.testing import isolated_tenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin
from finplug_settlement._schema import batches

EUR: Final = "EUR"
CLEARING: Final = f"payments:clearing:sim:{EUR}"
MERCHANT_PREFIX: Final = "payments:merchant:"
TRANSIT: Final = f"settlement:payouts:{EUR}"
MONDAY: Final = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
TUESDAY: Final = date(2025, 10, 7)
#: Capture entries per ``post_batch`` transaction while setting up.
CHUNK: Final = 5_000
FULL: Final = (1_000_000, 10_000)
QUICK: Final = (20_000, 200)
SETTINGS: Final[dict[str, Any]] = {
    "channels-sim": {"channels": [{"name": "sim", "methods": ["card"], "currencies": [EUR]}]},
    "settlement": {"schedule": {"kind": "daily", "delay_days": 1, "timezone": "UTC"}},
}


def merchant(i: int) -> str:
    """The payable account of merchant ``i``."""
    return f"{MERCHANT_PREFIX}m{i}:{EUR}"


def amount_of(n: int) -> int:
    """Capture ``n``'s amount in cents: 1.00 to 999.99 EUR."""
    return 100 + (n * 7919) % 99_900


def set_up(tenant: Tenant, captures: int, merchants: int) -> int:
    """Open the accounts and post the captures; their sum in cents."""
    with tenant.ledger.session() as ledger:
        ledger.open_account(CLEARING, "asset", EUR, overdraft="unlimited")
        for i in range(merchants):
            ledger.open_account(merchant(i), "liability", EUR, overdraft="unlimited")
    total = 0
    for start in range(0, captures, CHUNK):
        requests = []
        for n in range(start, min(start + CHUNK, captures)):
            cents = amount_of(n)
            total += cents
            money = Money.from_minor(cents, EUR)
            requests.append(
                EntryRequest(
                    f"bench:cap:{n}",
                    (Leg.debit(CLEARING, money), Leg.credit(merchant(n % merchants), money)),
                    "capture",
                )
            )
        tenant.ledger.post_batch(requests)
    return total


def sql_baseline(tenant: Tenant, merchants: int, total: int) -> float:
    """Seconds of the plain aggregation (median of three); checks its answer."""
    t, a = transfers.c, accounts.c
    query = (
        select(t.credit_id, func.sum(t.amount))
        .select_from(transfers.join(accounts, a.id == t.credit_id))
        .where(a.code.like(f"{MERCHANT_PREFIX}%"), t.flow == 0)
        .group_by(t.credit_id)
    )
    times = []
    with tenant.storage.begin() as conn:
        for _ in range(3):
            start = time.perf_counter()
            rows = conn.execute(query).all()
            times.append(time.perf_counter() - start)
    assert len(rows) == merchants, (len(rows), merchants)
    assert sum(int(s) for _, s in rows) == total
    return statistics.median(times)


def check_settled(tenant: Tenant, merchants: int, total: int, made: int) -> None:
    """One batch per merchant, nets summing to the captures, every payable at zero."""
    assert made == merchants, (made, merchants)
    with tenant.storage.begin() as conn:
        count, nets = conn.execute(
            select(func.count(), func.sum(batches.c.net)).where(batches.c.value_date == TUESDAY)
        ).one()
        owing = conn.execute(
            select(func.count()).where(
                accounts.c.code.like(f"{MERCHANT_PREFIX}%"),
                accounts.c.debits_posted != accounts.c.credits_posted,
            )
        ).scalar_one()
    assert count == merchants, (count, merchants)
    assert Money.from_minor(int(nets), EUR) == Money.from_minor(total, EUR), (nets, total)
    assert owing == 0, f"{owing} merchant payables are not at zero"
    assert tenant.ledger.balance(TRANSIT).posted == Money.from_minor(total, EUR)
    assert tenant.ledger.balance(merchant(0)).posted == Money.zero(EUR)


@contextmanager
def tenant_on(db: str, url: str | None) -> Iterator[Tenant]:
    """A fresh benchmark tenant: an SQLite file in a temporary folder, or a PostgreSQL schema."""
    folder = Path(tempfile.mkdtemp(prefix="finplug-settle-bench-"))
    database_url = f"sqlite:///{folder}/{{tenant}}.db" if db == "sqlite" else url
    try:
        with isolated_tenant(
            [SettlementPlugin, PaymentsPlugin, ChannelsSimPlugin],
            settings=SETTINGS,
            database_url=database_url,
            clock=lambda: MONDAY,
        ) as tenant:
            yield tenant
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench(db: str, url: str | None, captures: int, merchants: int, results: dict[str, Any]) -> None:
    """Set up, baseline, run, check, re-run on one database; figures under ``<db>_``."""
    label = "SQLite" if db == "sqlite" else "PostgreSQL"
    log(f"== {label}: settle {captures:,} captures of {merchants:,} merchants ==")
    with tenant_on(db, url) as tenant:
        start = time.perf_counter()
        total = set_up(tenant, captures, merchants)
        setup_s = time.perf_counter() - start
        log(f"  setup (untimed): {captures:,} captures posted in {setup_s:.1f} s")
        sql_s = sql_baseline(tenant, merchants, total)
        log(f"  plain SQL aggregation: {sql_s:.3f} s")
        settlement = tenant.component(SETTLEMENT)
        gc.collect()
        start = time.perf_counter()
        report = settlement.run(TUESDAY)
        settle_s = time.perf_counter() - start
        assert not report.failed, report.failed[:3]
        assert not report.carried, report.carried[:3]
        check_settled(tenant, merchants, total, len(report.created))
        log(f"  run: {len(report.created):,} batches in {settle_s:.2f} s (checked)")
        gc.collect()
        start = time.perf_counter()
        again = settlement.run(TUESDAY)
        rerun_s = time.perf_counter() - start
        assert again.created == (), "a re-run made batches"
        assert len(again.existing) == merchants, len(again.existing)
        log(f"  re-run: nothing new, {rerun_s:.2f} s")
    full = (captures, merchants) == FULL
    results[f"{db}_setup_s"] = round(setup_s, 2)
    results[f"{db}_sql_s"] = round(sql_s, 4)
    results[f"{db}_settle_s"] = round(settle_s, 3)
    results[f"{db}_settle_1m_s"] = round(settle_s, 3) if full else None
    results[f"{db}_rerun_s"] = round(rerun_s, 3)
    results[f"{db}_ratio_vs_sql"] = round(settle_s / sql_s, 2)
    results[f"{db}_per_capture_us"] = round(settle_s / captures * 1e6, 2)


def nothing_on(db: str, results: dict[str, Any]) -> None:
    """``null`` for every figure of a database not measured."""
    for key in ("setup_s", "sql_s", "settle_s", "settle_1m_s", "rerun_s", "ratio_vs_sql"):
        results[f"{db}_{key}"] = None
    results[f"{db}_per_capture_us"] = None


def arguments(argv: list[str] | None) -> tuple[argparse.Namespace, int, int]:
    """The command line: the shared options, ``--pg-url``, and the size."""
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--pg-url", default=None)
    extra.add_argument("--captures", type=int, default=None)
    extra.add_argument("--merchants", type=int, default=None)
    known, rest = extra.parse_known_args(argv)
    args = parse_args(
        __doc__, rest, quick_help="20,000 captures of 200 merchants (for tests)", database_url=True
    )
    if known.pg_url:
        args.database_url = known.pg_url
    captures, merchants = QUICK if args.quick else FULL
    captures = known.captures or captures
    merchants = known.merchants or merchants
    if not 0 < merchants <= captures:
        raise SystemExit("--merchants must be between 1 and --captures")
    return args, captures, merchants


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures (the last line: JSON)."""
    args, captures, merchants = arguments(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "quick": args.quick,
        "captures": captures,
        "merchants": merchants,
        "loadavg_1m": load_average(),
    }
    bench("sqlite", None, captures, merchants, results)
    if args.database_url:
        bench("pg", args.database_url, captures, merchants, results)
    else:
        log(f"== PostgreSQL: skipped (no --database-url and no ${PG_ENV}) ==")
        nothing_on("pg", results)
    results["setup_s"] = results["sqlite_setup_s"]
    results["rerun_s"] = results["sqlite_rerun_s"]
    results["ratio_vs_sql"] = results["sqlite_ratio_vs_sql"]
    report_aims(
        results,
        [Aim("settle 1,000,000 captures <= 60 s (SQLite)", results["sqlite_settle_1m_s"], 60)],
    )
    results["loadavg_1m_end"] = load_average()
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    log(f"done in {results['elapsed_s']} s")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
