"""Billing benchmark: 1,000,000 usage events of 10,000 subscriptions, then the month's invoices.

Run ``python benchmarks/billing.py`` (full: several minutes per database,
much of it creating the customers and subscriptions one call at a time) or
``python benchmarks/billing.py --quick`` (20,000 events of 200
subscriptions, for tests), with ``--database-url postgresql+psycopg://...``
(alias ``--pg-url``; default ``FINPLUG_TEST_DATABASE_URL``) to include
PostgreSQL; without either, the PostgreSQL figures are ``null``.
``--subscriptions N --events M`` picks another size and ``--batch B`` another
batch size (default 10,000 events a call). It prints human-readable lines,
then, as its last line, one JSON object with every figure. It always exits
0: the aims are informational.

What is measured, and how, on each database:

1. **Setup** (untimed, ``<db>_setup_s``): a tenant with ``billing`` (an
   SQLite file in a temporary folder, or a PostgreSQL schema) whose catalog
   has two metrics, ``api_calls`` (count) and ``volume`` (sum of an
   ``amount`` with 2 decimals), one monthly plan ``scale`` in arrears: a
   fixed fee of 29.00 EUR, a graduated charge on ``api_calls`` (0 to 40
   calls free, 40 to 80 at 0.02, above 80 at 0.01 plus a flat 0.50 once
   that tier is reached) and a percentage charge on ``volume`` (1.5 % of
   each transaction plus 0.05 each), VAT at 19 % by default. ``N``
   customers in EUR, in turn in Europe/Berlin, America/New_York,
   Asia/Tokyo, Asia/Kolkata and UTC, each subscribed to ``scale`` from 1
   March 2026 (calendar billing), one ``upsert_customer`` and one
   ``subscribe`` call each. The tenant's clock stands at 1 April 2026,
   12:00 UTC throughout.
2. **Ingest** (``<db>_ingest_s``, ``<db>_ingest_eps``; ``<db>_ingest_1m_eps``
   for the full size only, ``null`` otherwise): ``M`` events sent through
   ``billing.ingest(batch)``, ``--batch`` events a call; only the calls are
   timed (each batch's ``UsageEvent`` objects are built before its call),
   the garbage collector on. Event ``n`` has the id ``evt_`` and 16 hex
   digits of a hash of ``n`` (ids in no order, as clients' UUIDs are),
   belongs to subscription ``(n x 2,654,435,761 mod 2^32) mod N`` (so the
   subscriptions have unequal counts, about ``M / N`` each), is a ``volume``
   event of ``1.00`` to ``999.99`` EUR when ``n mod 10 >= 7`` and an
   ``api_calls`` event otherwise, and happens at 2 March 2026 00:00 UTC
   plus ``n`` 29-day-``M``ths: in order of ``n``, and in March in every
   zone above. Checked: every event accepted. Then the first batch is sent
   again (untimed): all duplicates, nothing accepted.
3. **The baseline** (``<db>_group_by_s``): ``SELECT subscription_id,
   metric, count(*), sum(value) FROM billing_events GROUP BY
   subscription_id, metric`` on a driver cursor of the tenant's
   connection, every row fetched; the median of three (the first warms the
   cache). Its counts and sums are checked against the generated events.
   Before it, the storage is settled (SQLite's log checkpointed, files
   synced), as it is long after an ingestion.
4. **The invoice run** (``<db>_invoice_run_s``; ``<db>_invoice_run_10k_s``
   for 10,000 subscriptions only, ``null`` otherwise, never extrapolated;
   ``<db>_per_invoice_ms``): ``billing.run_cycle(date(2026, 4, 1))``,
   timed whole, once, the garbage collector on: each subscription's usage
   for March aggregated, its invoice drafted, stored, finalized (numbered,
   booked in the ledger). ``ratio_vs_group_by`` (SQLite's;
   ``pg_ratio_vs_group_by``) is the run's time over the baseline's.
   Checked afterwards: one invoice per subscription, none failed; the
   numbers are ``INV-000001`` to ``INV-<N>`` with no gap; every invoice
   finalized; the sum of the invoice totals equals what the ledger's
   receivable accounts hold; and for a few subscriptions (the first, the
   last, three between) every line, the tax and the total equal an
   independent computation from the baseline's rows (the fee, the
   graduated tiers, 1.5 % of the sum plus 0.05 per transaction, each line
   rounded half up to the cent, the tax 19 % of the subtotal rounded once).
   Then ``<db>_rerun_s``: the same run again, which must make no invoice.

``peak_mb`` is the process's peak resident memory (``ru_maxrss``), the
setup included. ``loadavg_1m`` records how busy the machine was when the
script started; ``loadavg_1m_end`` when it ended.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, func, select

from _bench import PG_ENV, Aim, load_average, log, parse_args, report_aims
from finplug import Tenant, driver_cursor
from finplug.ledger.schema import accounts
from finplug.sockets.billing import BILLING, BillingAPI, Customer, InvoiceStatus, UsageEvent
from finplug.testing import isolated_tenant
from finplug_billing import BillingPlugin
from finplug_billing._schema import invoices

EUR: Final = "EUR"
PLAN: Final = "scale"
STARTED: Final = date(2026, 3, 1)
CYCLE: Final = date(2026, 4, 1)
NOW: Final = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
FIRST_EVENT: Final = datetime(2026, 3, 2, tzinfo=UTC)
SPAN_US: Final = 29 * 24 * 3600 * 1_000_000
ZONES: Final = (
    ("Europe/Berlin", "de_DE"),
    ("America/New_York", "en_US"),
    ("Asia/Tokyo", "ja_JP"),
    ("Asia/Kolkata", "en_IN"),
    ("UTC", "en"),
)
FULL: Final = (10_000, 1_000_000)
QUICK: Final = (200, 20_000)
BATCH: Final = 10_000
RECEIVABLE_PREFIX: Final = "asset:billing:receivable:"
# The prices of the catalog below, again, for the independent computation.
FEE: Final = Decimal("29.00")
TIERS: Final = ((40, 80, Decimal("0.02"), Decimal(0)), (80, None, Decimal("0.01"), Decimal("0.50")))
RATE: Final = Decimal("0.015")
PER_TRANSACTION: Final = Decimal("0.05")
VAT: Final = Decimal("0.19")
CATALOG: Final[dict[str, Any]] = {
    "metrics": {
        "api_calls": {"aggregation": "count"},
        "volume": {"aggregation": "sum", "field": "amount", "decimals": 2},
    },
    "plans": {
        PLAN: {
            "name": "Scale",
            "currency": EUR,
            "interval": "monthly",
            "amount": "29.00",
            "charges": [
                {
                    "metric": "api_calls",
                    "model": "graduated",
                    "properties": {
                        "tiers": [
                            {"from_value": "0", "to_value": "40", "per_unit_amount": "0"},
                            {"from_value": "40", "to_value": "80", "per_unit_amount": "0.02"},
                            {
                                "from_value": "80",
                                "per_unit_amount": "0.01",
                                "flat_amount": "0.50",
                            },
                        ]
                    },
                },
                {
                    "metric": "volume",
                    "model": "percentage",
                    "properties": {"rate": "0.015", "fixed_amount": "0.05"},
                },
            ],
        }
    },
    "taxes": {"vat_de": {"rate": "0.19"}},
    "default_taxes": ["vat_de"],
}

#: The baseline's rows: (subscription id, metric) -> (count, sum of stored values).
Grouped = dict[tuple[str, str], tuple[int, int]]

# ---------------------------------------------------------------- the data


def subscription_of(n: int, subscriptions: int) -> int:
    """The index of the subscription event ``n`` belongs to (a multiplicative hash of ``n``)."""
    return (n * 2_654_435_761) % 2**32 % subscriptions


def is_volume(n: int) -> bool:
    """Whether event ``n`` is a ``volume`` event (three in ten), else ``api_calls``."""
    return n % 10 >= 7


def cents_of(n: int) -> int:
    """A ``volume`` event's amount in cents: 1.00 to 999.99 EUR."""
    return 100 + (n * 7919) % 99_900


def event_id(n: int) -> str:
    """Event ``n``'s id: ``evt_`` and 16 hex digits of a hash of ``n``."""
    return "evt_" + hashlib.blake2b(n.to_bytes(8, "big"), digest_size=8).hexdigest()


def event_of(n: int, events: int, subscription_ids: list[str]) -> UsageEvent:
    """Event ``n`` of ``events`` (see the module docstring, point 2)."""
    at = FIRST_EVENT + timedelta(microseconds=n * SPAN_US // events)
    sub = subscription_ids[subscription_of(n, len(subscription_ids))]
    if is_volume(n):
        amount = Decimal(cents_of(n)).scaleb(-2)
        return UsageEvent(event_id(n), sub, "volume", at, {"amount": amount})
    return UsageEvent(event_id(n), sub, "api_calls", at)


def expected_groups(events: int, subscription_ids: list[str]) -> Grouped:
    """What the baseline must find: each subscription's and metric's count and sum."""
    found: dict[tuple[str, str], list[int]] = {}
    for n in range(events):
        sub = subscription_ids[subscription_of(n, len(subscription_ids))]
        if is_volume(n):
            acc = found.setdefault((sub, "volume"), [0, 0])
            acc[0] += 1
            acc[1] += cents_of(n)
        else:
            found.setdefault((sub, "api_calls"), [0, 0])[0] += 1
    return {key: (count, total) for key, (count, total) in found.items()}


def set_up(api: BillingAPI, subscriptions: int) -> list[str]:
    """The customers and their subscriptions; the subscription ids, by index."""
    ids = []
    for i in range(subscriptions):
        zone, locale = ZONES[i % len(ZONES)]
        customer_id = f"cust-{i:05d}"
        api.upsert_customer(
            Customer(customer_id, f"Customer {i}", EUR, timezone=zone, locale=locale)
        )
        ids.append(api.subscribe(f"bench:sub:{i}", customer_id, PLAN, on=STARTED).id)
    return ids


# ---------------------------------------------------------------- the prices, again


def cents(value: Decimal) -> int:
    """``value`` EUR rounded half up to whole cents."""
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def graduated(calls: int) -> int:
    """The graduated charge for ``calls``, in cents, from the tiers written out again."""
    exact = Decimal(0)
    for start, end, price, flat in TIERS:
        if calls <= start:
            break
        top = calls if end is None else min(calls, end)
        exact += (top - start) * price + flat
    return cents(exact)


def percentage(count: int, total_cents: int) -> int:
    """The percentage charge of ``count`` transactions adding up to ``total_cents``, in cents."""
    return cents(RATE * Decimal(total_cents).scaleb(-2) + PER_TRANSACTION * count)


def expected_invoice(groups: Grouped, subscription_id: str) -> tuple[list[int], int, int]:
    """A subscription's March invoice computed apart: its lines, its tax, its total (cents)."""
    calls, _ = groups.get((subscription_id, "api_calls"), (0, 0))
    count, total = groups.get((subscription_id, "volume"), (0, 0))
    lines = [cents(FEE), graduated(calls), percentage(count, total)]
    subtotal = sum(lines)
    tax = cents(Decimal(subtotal).scaleb(-2) * VAT)
    return lines, tax, subtotal + tax


# ---------------------------------------------------------------- measuring


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (``ru_maxrss`` is in KB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def settle(tenant: Tenant) -> None:
    """Untimed: SQLite's log checkpointed into its file, written files synced."""
    url = tenant.storage.url
    if url.startswith("sqlite:///"):
        copy = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            copy.close()
    os.sync()


def ingest(
    api: BillingAPI, events: int, batch: int, subscription_ids: list[str]
) -> tuple[float, int]:
    """Send every event, ``batch`` a call; seconds spent in the calls, the events accepted."""
    seconds = 0.0
    accepted = 0
    for start in range(0, events, batch):
        chunk = [
            event_of(n, events, subscription_ids) for n in range(start, min(start + batch, events))
        ]
        began = time.perf_counter()
        report = api.ingest(chunk)
        seconds += time.perf_counter() - began
        assert (report.accepted, report.duplicates) == (len(chunk), 0), report
        accepted += report.accepted
    return seconds, accepted


def table_name(conn: Connection, name: str) -> str:
    """``name`` quoted for raw SQL, with the tenant's schema where the storage has one."""
    prep = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    quoted = prep.quote(name)
    return f"{prep.quote_schema(schema)}.{quoted}" if schema else quoted


def group_by(tenant: Tenant, expected: Grouped) -> tuple[float, Grouped]:
    """Seconds of the plain aggregation (median of three) and its rows; its answer checked."""
    times = []
    rows: list[Any] = []
    gc.collect()
    with tenant.storage.begin() as conn:
        sql = (
            "SELECT subscription_id, metric, count(*), sum(value)"
            f" FROM {table_name(conn, 'billing_events')} GROUP BY subscription_id, metric"
        )
        with driver_cursor(conn) as cursor:
            for _ in range(3):
                start = time.perf_counter()
                cursor.execute(sql)
                rows = cursor.fetchall()
                times.append(time.perf_counter() - start)
    found: Grouped = {(s, m): (int(c), int(v or 0)) for s, m, c, v in rows}
    assert found == expected, "the GROUP BY disagrees with the events sent"
    return statistics.median(times), found


def check_invoices(
    tenant: Tenant, api: BillingAPI, subscription_ids: list[str], groups: Grouped
) -> int:
    """Every check of the run's outcome (module docstring, point 4); the invoices' total."""
    count = len(subscription_ids)
    with tenant.storage.begin() as conn:
        rows = conn.execute(
            select(invoices.c.id, invoices.c.subscription_id, invoices.c.number, invoices.c.status)
        ).all()
        total = conn.execute(select(func.sum(invoices.c.total))).scalar_one()
        a = accounts.c
        receivable = conn.execute(
            select(func.sum(a.debits_posted - a.credits_posted)).where(
                a.code.like(f"{RECEIVABLE_PREFIX}%")
            )
        ).scalar_one()
    assert len(rows) == count, (len(rows), count)
    numbers = sorted(number for _, _, number, _ in rows)
    assert numbers == [f"INV-{i:06d}" for i in range(1, count + 1)], "numbers have a gap"
    assert {status for *_, status in rows} == {InvoiceStatus.FINALIZED.value}
    assert int(total) == int(receivable), (total, receivable)
    by_subscription = {sub: ident for ident, sub, _, _ in rows}
    assert len(by_subscription) == count
    picks = sorted({0, count // 4, count // 2, 3 * count // 4, count - 1})
    for i in picks:
        sub = subscription_ids[i]
        invoice = api.invoice(by_subscription[sub])
        lines, tax, gross = expected_invoice(groups, sub)
        got = [line.amount.minor_units for line in invoice.lines]
        assert got == lines, (sub, got, lines)
        assert (invoice.tax.minor_units, invoice.total.minor_units) == (tax, gross), sub
        assert (invoice.period_start, invoice.period_end) == (STARTED, CYCLE)
    return int(total)


@contextmanager
def tenant_on(db: str, url: str | None) -> Iterator[Tenant]:
    """A fresh benchmark tenant: an SQLite file in a temporary folder, or a PostgreSQL schema."""
    folder = Path(tempfile.mkdtemp(prefix="finplug-billing-bench-"))
    database_url = f"sqlite:///{folder}/{{tenant}}.db" if db == "sqlite" else url
    try:
        with isolated_tenant(
            [BillingPlugin],
            settings={"billing": CATALOG},
            database_url=database_url,
            clock=lambda: NOW,
        ) as tenant:
            yield tenant
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench(
    db: str, url: str | None, size: tuple[int, int], batch: int, results: dict[str, Any]
) -> None:
    """Set up, ingest, baseline, invoice, check, re-run on one database; figures under ``<db>_``."""
    subscriptions, events = size
    label = "SQLite" if db == "sqlite" else "PostgreSQL"
    log(f"== {label}: {events:,} events of {subscriptions:,} subscriptions, then invoices ==")
    with tenant_on(db, url) as tenant:
        api: BillingAPI = tenant.component(BILLING)
        start = time.perf_counter()
        subscription_ids = set_up(api, subscriptions)
        setup_s = time.perf_counter() - start
        log(f"  setup (untimed): {subscriptions:,} customers and subscriptions in {setup_s:.1f} s")
        ingest_s, accepted = ingest(api, events, batch, subscription_ids)
        log(
            f"  ingest: {accepted:,} events in {ingest_s:.2f} s,"
            f" {accepted / ingest_s:,.0f} events/s ({batch:,} a call)"
        )
        again = api.ingest(
            [event_of(n, events, subscription_ids) for n in range(min(batch, events))]
        )
        assert (again.accepted, again.duplicates) == (0, min(batch, events)), again
        log(f"  re-sent the first batch: {again.duplicates:,} duplicates, nothing stored")
        settle(tenant)
        group_by_s, groups = group_by(tenant, expected_groups(events, subscription_ids))
        log(f"  plain SQL GROUP BY ({len(groups):,} rows): {group_by_s:.3f} s")
        gc.collect()
        start = time.perf_counter()
        report = api.run_cycle(CYCLE)
        run_s = time.perf_counter() - start
        assert not report.failed, report.failed[:3]
        assert len(report.created) == subscriptions, (len(report.created), subscriptions)
        log(f"  invoice run: {len(report.created):,} invoices in {run_s:.2f} s")
        billed = check_invoices(tenant, api, subscription_ids, groups)
        log(
            f"  checked: numbers gapless, all finalized, {billed / 100:,.2f} EUR invoiced"
            " = the receivables; spot-checked invoices equal the GROUP BY's prices"
        )
        gc.collect()
        start = time.perf_counter()
        rerun = api.run_cycle(CYCLE)
        rerun_s = time.perf_counter() - start
        assert rerun.created == (), "a re-run made invoices"
        assert not rerun.failed, rerun.failed[:3]
        log(f"  re-run: nothing new, {rerun_s:.2f} s")
    full = size == FULL
    results[f"{db}_setup_s"] = round(setup_s, 2)
    results[f"{db}_ingest_s"] = round(ingest_s, 3)
    results[f"{db}_ingest_eps"] = round(accepted / ingest_s)
    results[f"{db}_ingest_1m_eps"] = round(accepted / ingest_s) if full else None
    results[f"{db}_group_by_s"] = round(group_by_s, 4)
    results[f"{db}_invoice_run_s"] = round(run_s, 3)
    results[f"{db}_invoice_run_10k_s"] = round(run_s, 3) if full else None
    results[f"{db}_per_invoice_ms"] = round(run_s / subscriptions * 1000, 3)
    results[f"{db}_ratio_vs_group_by"] = round(run_s / group_by_s, 2)
    results[f"{db}_rerun_s"] = round(rerun_s, 3)
    results[f"{db}_invoiced_cents"] = billed


def arguments(argv: list[str] | None) -> tuple[argparse.Namespace, tuple[int, int], int]:
    """The command line: the shared options, ``--pg-url``, the size and the batch."""
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--pg-url", default=None)
    extra.add_argument("--subscriptions", type=int, default=None)
    extra.add_argument("--events", type=int, default=None)
    extra.add_argument("--batch", type=int, default=BATCH)
    known, rest = extra.parse_known_args(argv)
    args = parse_args(
        __doc__,
        rest,
        quick_help="20,000 events of 200 subscriptions (for tests)",
        database_url=True,
    )
    if known.pg_url:
        args.database_url = known.pg_url
    subscriptions, events = QUICK if args.quick else FULL
    subscriptions = known.subscriptions or subscriptions
    events = known.events or events
    if not 0 < subscriptions <= 999_999 or events < 1:
        raise SystemExit("--subscriptions must be 1 to 999,999 and --events at least 1")
    if not 0 < known.batch <= 1_000_000:
        raise SystemExit("--batch must be 1 to 1,000,000")
    return args, (subscriptions, events), known.batch


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures (the last line: JSON)."""
    args, size, batch = arguments(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "quick": args.quick,
        "subscriptions": size[0],
        "events": size[1],
        "batch": batch,
        "loadavg_1m": load_average(),
    }
    bench("sqlite", None, size, batch, results)
    if args.database_url:
        bench("pg", args.database_url, size, batch, results)
    else:
        log(f"== PostgreSQL: skipped (no --database-url and no ${PG_ENV}) ==")
        for key in [k for k in results if k.startswith("sqlite_")]:
            results[f"pg_{key.removeprefix('sqlite_')}"] = None
    results["ratio_vs_group_by"] = results["sqlite_ratio_vs_group_by"]
    results["peak_mb"] = peak_mb()
    report_aims(
        results,
        [
            Aim(
                "ingest 1,000,000 events >= 100,000 events/s, batched (SQLite)",
                results["sqlite_ingest_1m_eps"],
                100_000,
                at_least=True,
            ),
            Aim(
                "invoice 10,000 subscriptions <= 20 s (SQLite)",
                results["sqlite_invoice_run_10k_s"],
                20,
            ),
        ],
    )
    results["loadavg_1m_end"] = load_average()
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    log(f"done in {results['elapsed_s']} s, peak RSS {results['peak_mb']} MB")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
