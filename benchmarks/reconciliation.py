"""Reconciliation benchmark: 1,000,000 statement lines against 1,000,000 ledger transfers.

Run ``python benchmarks/reconciliation.py`` (full: a few minutes per
database, most of it posting the transfers and importing the statement) or
``python benchmarks/reconciliation.py --quick`` (20,000 transfers, for
tests), with ``--database-url postgresql+psycopg://...`` (alias
``--pg-url``; default ``FINPLUG_TEST_DATABASE_URL``) to include PostgreSQL;
without either, the PostgreSQL figures are ``null``. ``--transfers N`` picks
another size (for profiling). It prints human-readable lines, then, as its
last line, one JSON object with every figure. It always exits 0: the aims
are informational.

What is measured, and how, on each database:

1. **Setup** (untimed but for the import, ``<db>_setup_s``; then the
   storage is settled: SQLite's log checkpointed, files synced): a tenant with
   ``reconciliation`` (an SQLite file in a temporary folder, or a PostgreSQL
   schema) reconciling account ``bank``: statement account
   ``DE89370400440532013000`` in EUR against ledger account ``bank:EUR``
   (sign 1), ``reference: key``, time zone Europe/Berlin, German business
   days, the default rules (exact reference, then fuzzy reference at 850 per
   mille; exact amounts; a window of 2 business days). ``N`` transfers are
   posted with ``ledger.post_batch`` (5,000 a transaction), a fifth a day
   from Monday 6 to Friday 10 October 2025: nine in ten debit ``bank:EUR``
   against ``income:sales:EUR`` (money in), one in ten credit it against
   ``expense:payouts:EUR`` (money out). Transfer ``n`` is keyed ``PAY-``
   and 16 hex digits of a hash of ``n`` (its reference) and moves ``100 +
   (n * 7,919 mod 999,900)`` cents, so amounts hardly repeat. The statement
   is one CSV file per booking day, generated from the same transfers and
   imported with ``import_statement`` (timed apart: ``<db>_import_s``, and
   ``import_1m_s``, SQLite's for a million, informational). A line is
   booked on its transfer's day or, three in ten, the next business day.
   Injected, by ``n * 7,777 mod 10,000`` (exact shares for a multiple of
   10,000 transfers):

   ========================  =======  =========================================
   what                      share    the break it must give
   ========================  =======  =========================================
   line missing              0.7 %    ``missing_in_statement``
   extra line (no transfer)  0.4 %    ``missing_in_ledger``
   amount off by 1.50 EUR    0.3 %    ``amount_mismatch``
   booked 7 days late        0.3 %    ``timing`` (5 business days > 2)
   line given twice          0.3 %    ``duplicate``
   ========================  =======  =========================================

   So 2 % of the transfers give a break, and the statement has ``N`` lines
   too. Another 2 % of the lines carry their reference with one character
   replaced by a ``Z`` (a typo): only the fuzzy rule matches them.
2. **The run** (``<db>_match_s``; ``match_1m_s`` is SQLite's for a million
   and ``pg_match_1m_s`` PostgreSQL's, ``null`` for any other size, never
   extrapolated): ``recon.run("bank", 6 October, 17 October)``, timed
   whole, once, the garbage collector on: the account locked, both sides
   read (the ledger's postings included), matched, the matches and breaks
   written, the transaction committed.
3. **The baseline** (``<db>_join_s``), before the run, on the same tenant:
   what a user without the plugin would write: ``pl.read_database`` of the
   statement lines and of the ledger rows on ``bank:EUR`` (signed in SQL),
   and one polars inner join on reference and amount. Its pair count is
   checked. ``ratio_vs_plain_join`` (SQLite's; ``pg_ratio_vs_plain_join``)
   is the run's time over the baseline's.
4. **Checks**, after the timed part: every injected break is found with its
   class and its items (``breaks_found`` and ``breaks_injected`` are
   SQLite's totals, ``<db>_breaks`` the counts per class); the fuzzy rule
   matched exactly the typos; every match's two totals agree; no item is in
   two matches (the primary key of ``recon_matched_items`` guarantees it; it
   is counted anyway); matched plus broken items equal the items read, on
   both sides.

``peak_mb`` is the process's peak resident memory (``ru_maxrss``), setup
included (posting, generating and importing the statement, the baseline,
the run). ``<db>_run_peak_mb`` is the peak during the run alone, where Linux
lets the process reset its high-water mark (``/proc/self/clear_refs``),
else ``null``. ``loadavg_1m`` records how busy the machine was when the
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
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl
from sqlalchemy import Connection, func, select

from _bench import PG_ENV, Aim, load_average, log, parse_args, report_aims
from finplug import Money, Tenant
from finplug.ledger.schema import transfers as ledger_transfers
from finplug.ledger.values import EntryRequest, Leg
from finplug.sockets.reconciliation import RECONCILIATION, ReconciliationRun
from finplug.testing import isolated_tenant
from finplug_reconciliation import ReconciliationPlugin
from finplug_reconciliation._schema import break_items, breaks, matched_items, matches
from finplug_reconciliation._schema import statement_lines as lines_table

EUR: Final = "EUR"
BANK: Final = f"bank:{EUR}"
SALES: Final = f"income:sales:{EUR}"
PAYOUTS: Final = f"expense:payouts:{EUR}"
IBAN: Final = "DE89370400440532013000"
ACCOUNT: Final = "bank"
FIRST_DAY: Final = date(2025, 10, 6)  # a Monday
LEDGER_DAYS: Final = 5  # Monday to Friday
LAST_DAY: Final = date(2025, 10, 17)  # the Friday after: late lines fall in the period
RUN_AT: Final = datetime(2025, 10, 20, 6, 0, tzinfo=UTC)
CHUNK: Final = 5_000
FULL: Final = 1_000_000
QUICK: Final = 20_000
#: Per 10,000 transfers, by :func:`bucket`: the upper bound of each injection.
MISSING, AMOUNT, LATE, TWICE, TYPO = 70, 100, 130, 160, 360
#: Extra statement lines (no transfer) per 10,000 transfers.
EXTRA_PER_10K: Final = 40
OFF_BY: Final = 150  # cents
CLASSES: Final = (
    "missing_in_statement",
    "missing_in_ledger",
    "amount_mismatch",
    "timing",
    "duplicate",
)
SETTINGS: Final[dict[str, Any]] = {
    "reconciliation": {
        "accounts": {
            ACCOUNT: {
                "statement_account": IBAN,
                "currency": EUR,
                "ledger_accounts": {BANK: 1},
                "reference": "key",
                "timezone": "Europe/Berlin",
                "calendar_country": "DE",
                "owner": "treasury",
            }
        },
        "csv_formats": [
            {
                "name": "bank-export",
                "columns": {
                    "booked_on": "booked_on",
                    "amount": "amount",
                    "reference": "reference",
                    "counterparty": "counterparty",
                    "description": "description",
                },
                "currency": EUR,
                "account": IBAN,
            }
        ],
    }
}

# ---------------------------------------------------------------- the data


def bucket(n: int) -> int:
    """Transfer ``n``'s place in ``[0, 10,000)``: which injection it gets, if any."""
    return (n * 7_777) % 10_000


def amount_of(n: int) -> int:
    """Transfer ``n``'s amount in cents, signed as the bank sees it (money out negative)."""
    cents = 100 + (n * 7919) % 999_900
    return -cents if n % 10 == 9 else cents


def reference_of(n: int) -> str:
    """Transfer ``n``'s key, which is its reference: 16 hex digits of a hash of ``n``.

    Two references share little (a common subsequence of a dozen characters
    out of twenty at most), so no two transfers' references come near the
    fuzzy rule's threshold, and one typo still does (950 per mille).
    """
    return "PAY-" + hashlib.blake2b(n.to_bytes(8, "big"), digest_size=8).hexdigest().upper()


def typo(reference: str, n: int) -> str:
    """``reference`` with one of its digits replaced by a letter no key has."""
    at = 4 + n % 16
    return f"{reference[:at]}Z{reference[at + 1 :]}"


def extra_reference(i: int) -> str:
    """The reference of extra line ``i``: like no key."""
    return f"CASH DEPOSIT {i:06d}"


def business_day_after(day: date) -> date:
    """The next Monday-to-Friday day (the benchmark's weeks have no holiday)."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def ledger_day(n: int, transfers: int) -> date:
    """The day transfer ``n`` is posted on."""
    return FIRST_DAY + timedelta(days=n * LEDGER_DAYS // transfers)


def request_of(n: int) -> EntryRequest:
    """Transfer ``n`` as the ledger posts it."""
    cents = amount_of(n)
    money = Money.from_minor(abs(cents), EUR)
    if cents > 0:
        legs = (Leg.debit(BANK, money), Leg.credit(SALES, money))
        return EntryRequest(reference_of(n), legs, "sale")
    legs = (Leg.debit(PAYOUTS, money), Leg.credit(BANK, money))
    return EntryRequest(reference_of(n), legs, "payout")


class Clock:
    """The tenant's clock: moved along while the transfers are posted."""

    def __init__(self) -> None:
        self.at = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def post_transfers(tenant: Tenant, clock: Clock, transfers: int) -> None:
    """Open the accounts and post the transfers, each day's from 08:00 UTC (10:00 in Berlin)."""
    with tenant.ledger.session() as ledger:
        ledger.open_account(BANK, "asset", EUR, overdraft="unlimited")
        ledger.open_account(SALES, "income", EUR, overdraft="unlimited")
        ledger.open_account(PAYOUTS, "expense", EUR, overdraft="unlimited")
    by_day: dict[date, list[int]] = {}
    for n in range(transfers):
        by_day.setdefault(ledger_day(n, transfers), []).append(n)
    for day, numbers in by_day.items():
        for start in range(0, len(numbers), CHUNK):
            clock.at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(
                seconds=start // 100
            )
            tenant.ledger.post_batch([request_of(n) for n in numbers[start : start + CHUNK]])


@dataclass
class Injected:
    """What the generated data must give: breaks (and their references), typos, counts."""

    breaks: Counter[tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=Counter)
    typos: int = 0
    lines: int = 0
    transfers: int = 0
    join_pairs: int = 0

    def by_class(self) -> dict[str, int]:
        """Injected breaks per class."""
        counts = dict.fromkeys(CLASSES, 0)
        for (kind, _, _), count in self.breaks.items():
            counts[kind] += count
        return counts


def _csv_amount(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def statement_files(transfers: int) -> tuple[dict[date, bytes], Injected]:
    """The statement, one CSV file per booking day, and what was injected into it."""
    injected = Injected(transfers=transfers)
    by_day: dict[date, list[str]] = {}

    def line(day: date, cents: int, reference: str, n: int) -> None:
        party = f"Customer {n % 997}" if cents > 0 else f"Supplier {n % 89}"
        text = "SEPA credit" if cents > 0 else "SEPA debit"
        by_day.setdefault(day, []).append(
            f"{day.isoformat()},{_csv_amount(cents)},{reference},{party},{text}"
        )
        injected.lines += 1

    for n in range(transfers):
        b, ref, cents = bucket(n), reference_of(n), amount_of(n)
        day = ledger_day(n, transfers)
        booked = business_day_after(day) if n % 10 < 3 else day
        if b < MISSING:
            injected.breaks["missing_in_statement", (), (ref,)] += 1
            continue
        if b < AMOUNT:
            off = cents + (OFF_BY if cents > 0 else -OFF_BY)
            injected.breaks["amount_mismatch", (ref,), (ref,)] += 1
            line(booked, off, ref, n)
            continue
        if b < LATE:
            injected.breaks["timing", (ref,), (ref,)] += 1
            injected.join_pairs += 1
            line(day + timedelta(days=7), cents, ref, n)
            continue
        if b < TWICE:
            injected.breaks["duplicate", (ref,), ()] += 1
            injected.join_pairs += 2
            line(booked, cents, ref, n)
            line(booked, cents, ref, n)
            continue
        if b < TYPO:
            injected.typos += 1
            line(booked, cents, typo(ref, n), n)
            continue
        injected.join_pairs += 1
        line(booked, cents, ref, n)
    for i in range(transfers * EXTRA_PER_10K // 10_000):
        ref = extra_reference(i)
        injected.breaks["missing_in_ledger", (ref,), ()] += 1
        line(FIRST_DAY + timedelta(days=i % LEDGER_DAYS), 5_000_000_00 + i, ref, i)
    header = "booked_on,amount,reference,counterparty,description"
    files = {
        day: ("\n".join([header, *rows]) + "\n").encode() for day, rows in sorted(by_day.items())
    }
    return files, injected


# ---------------------------------------------------------------- measuring


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (``ru_maxrss`` is in KB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_high_water_mark() -> bool:
    """Reset Linux's peak RSS of this process (``VmHWM``) to its current RSS; whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def high_water_mark_mb() -> float | None:
    """``VmHWM`` of this process in MB, where ``/proc`` has it."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for row in status.splitlines():
        if row.startswith("VmHWM:"):
            return round(int(row.split()[1]) / 1024, 1)
    return None


def settle(tenant: Tenant) -> None:
    """Untimed: the storage quiet before anything is timed, as it is long after an import.

    SQLite: the log the setup wrote is checkpointed into the file (else the
    background checkpointer copies it while the run goes). Both: written
    files synced, so no setup write is flushed during the run.
    """
    url = tenant.storage.url
    if url.startswith("sqlite:///"):
        copy = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            copy.close()
    os.sync()


def plain_join(tenant: Tenant, injected: Injected) -> float:
    """Seconds of the baseline: both sides read with ``pl.read_database``, one inner join."""
    statement_sql = (
        "SELECT id, reference, amount, booked_on FROM recon_statement_lines"
        f" WHERE account = '{ACCOUNT}' AND booked_on >= '{FIRST_DAY}'"
        f" AND booked_on <= '{LAST_DAY}'"
    )
    ledger_sql = (
        "SELECT t.seq, t.key AS reference,"
        " CASE WHEN t.debit_id = a.id THEN t.amount ELSE -t.amount END AS amount, t.posted_at"
        " FROM ledger_transfers t JOIN ledger_accounts a"
        " ON a.id = t.debit_id OR a.id = t.credit_id"
        f" WHERE a.code = '{BANK}' AND t.flow = 0"
    )
    gc.collect()
    with tenant.storage.begin() as conn:
        start = time.perf_counter()
        statement = pl.read_database(statement_sql, conn)
        ledger = pl.read_database(ledger_sql, conn)
        pairs = statement.join(ledger, on=["reference", "amount"], how="inner")
        seconds = time.perf_counter() - start
    assert statement.height == injected.lines, (statement.height, injected.lines)
    assert ledger.height == injected.transfers, (ledger.height, injected.transfers)
    assert pairs.height == injected.join_pairs, (pairs.height, injected.join_pairs)
    return seconds


def _ledger_keys(conn: Connection, seqs: list[int]) -> dict[int, str]:
    t = ledger_transfers.c
    found: dict[int, str] = {}
    for start in range(0, len(seqs), 1000):
        chunk = seqs[start : start + 1000]
        query = select(t.seq, t.key).where(t.seq.in_(chunk), t.pair == 0)
        found.update((int(seq), key) for seq, key in conn.execute(query))
    return found


def check(tenant: Tenant, run: ReconciliationRun, injected: Injected) -> dict[str, int]:
    """Every check of the run's outcome (module docstring, point 4); breaks found per class."""
    assert run.statement_items == injected.lines, (run.statement_items, injected.lines)
    assert run.ledger_items == injected.transfers, (run.ledger_items, injected.transfers)
    with tenant.storage.begin() as conn:
        b, bi, sl = breaks.c, break_items.c, lines_table.c
        rows = conn.execute(
            select(b.id, b.kind, bi.side, bi.item, sl.reference)
            .select_from(
                breaks.join(break_items, bi.break_id == b.id).outerjoin(
                    lines_table, (bi.side == "statement") & (sl.id == bi.item)
                )
            )
            .where(b.account == ACCOUNT, b.status == "open")
        ).all()
        seqs = sorted(
            {int(item.split(":", 1)[0]) for _, _, side, item, _ in rows if side == "ledger"}
        )
        keys = _ledger_keys(conn, seqs)
        by_rule: dict[str, int] = dict(
            conn.execute(
                select(matches.c.rule, func.count())
                .where(matches.c.live.is_(True))
                .group_by(matches.c.rule)
            ).all()
        )
        unequal = conn.execute(
            select(func.count()).where(matches.c.statement_total != matches.c.ledger_total)
        ).scalar_one()
        mi = matched_items.c
        taken: dict[str, int] = dict(
            conn.execute(select(mi.side, func.count()).group_by(mi.side)).all()
        )
        twice = conn.execute(
            select(func.count()).select_from(
                select(mi.side, mi.item)
                .group_by(mi.side, mi.item)
                .having(func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    found: dict[str, tuple[str, list[str], list[str]]] = {}
    for ident, kind, side, item, reference in rows:
        _, statement_refs, ledger_refs = found.setdefault(ident, (kind, [], []))
        if side == "statement":
            statement_refs.append(reference)
        else:
            ledger_refs.append(keys[int(item.split(":", 1)[0])])
    got = Counter((kind, tuple(sorted(st)), tuple(sorted(le))) for kind, st, le in found.values())
    missed = injected.breaks - got
    assert not missed, f"breaks not found: {list(missed.items())[:5]}"
    surplus = got - injected.breaks
    assert not surplus, f"breaks not injected: {list(surplus.items())[:5]}"
    assert by_rule.get("fuzzy-reference", 0) == injected.typos, (by_rule, injected.typos)
    assert sum(by_rule.values()) == run.matches, (by_rule, run.matches)
    assert unequal == 0, f"{unequal} matches whose totals differ"
    assert twice == 0, f"{twice} items in two matches"
    assert taken.get("statement", 0) == run.matched_statement_items, taken
    assert taken.get("ledger", 0) == run.matched_ledger_items, taken
    broken = Counter(side for _, _, side, _, _ in rows)
    assert run.matched_statement_items + broken["statement"] == run.statement_items
    assert run.matched_ledger_items + broken["ledger"] == run.ledger_items
    counts = dict.fromkeys(CLASSES, 0)
    for kind, _, _ in found.values():
        counts[kind] += 1
    assert dict(run.breaks) == {k: v for k, v in counts.items() if v}, (run.breaks, counts)
    return counts


@contextmanager
def tenant_on(db: str, url: str | None, clock: Clock) -> Iterator[Tenant]:
    """A fresh benchmark tenant: an SQLite file in a temporary folder, or a PostgreSQL schema."""
    folder = Path(tempfile.mkdtemp(prefix="finplug-recon-bench-"))
    database_url = f"sqlite:///{folder}/{{tenant}}.db" if db == "sqlite" else url
    try:
        with isolated_tenant(
            [ReconciliationPlugin], settings=SETTINGS, database_url=database_url, clock=clock
        ) as tenant:
            yield tenant
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench(db: str, url: str | None, transfers: int, results: dict[str, Any]) -> None:
    """Set up, baseline, run, check on one database; figures under ``<db>_``."""
    label = "SQLite" if db == "sqlite" else "PostgreSQL"
    log(f"== {label}: reconcile {transfers:,} transfers ==")
    clock = Clock()
    with tenant_on(db, url, clock) as tenant:
        start = time.perf_counter()
        post_transfers(tenant, clock, transfers)
        files, injected = statement_files(transfers)
        setup_s = time.perf_counter() - start
        log(f"  setup (untimed): {transfers:,} transfers posted, statement made in {setup_s:.1f} s")
        recon = tenant.component(RECONCILIATION)
        clock.at = RUN_AT
        start = time.perf_counter()
        for day, data in files.items():
            report = recon.import_statement(data, f"{IBAN}-{day}.csv")
            assert not report.problems, report.problems
        import_s = time.perf_counter() - start
        log(f"  import: {injected.lines:,} lines in {len(files)} files, {import_s:.1f} s")
        del files
        settle(tenant)
        join_s = plain_join(tenant, injected)
        log(f"  plain polars join (read both sides, join): {join_s:.2f} s")
        gc.collect()
        resettable = reset_high_water_mark()
        start = time.perf_counter()
        run = recon.run(ACCOUNT, FIRST_DAY, LAST_DAY)
        match_s = time.perf_counter() - start
        run_peak = high_water_mark_mb() if resettable else None
        total = sum(n for _, n in run.breaks)
        log(f"  run: {run.matches:,} matches, {total:,} breaks in {match_s:.2f} s")
        found = check(tenant, run, injected)
        expected = injected.by_class()
        assert found == expected, (found, expected)
        log(f"  checked: breaks by class {found}, {injected.typos:,} typos matched by fuzzy")
    full = transfers == FULL
    results[f"{db}_setup_s"] = round(setup_s, 2)
    results[f"{db}_import_s"] = round(import_s, 2)
    results[f"{db}_join_s"] = round(join_s, 3)
    results[f"{db}_match_s"] = round(match_s, 3)
    results[f"{db}_match_1m_s"] = round(match_s, 3) if full else None
    results[f"{db}_ratio_vs_plain_join"] = round(match_s / join_s, 2)
    results[f"{db}_lines_per_minute"] = round(injected.lines / match_s * 60)
    results[f"{db}_run_peak_mb"] = run_peak
    results[f"{db}_breaks"] = found
    results[f"{db}_breaks_found"] = sum(found.values())
    results[f"{db}_breaks_injected"] = sum(expected.values())
    results[f"{db}_typos"] = injected.typos
    results[f"{db}_statement_lines"] = injected.lines


def arguments(argv: list[str] | None) -> tuple[argparse.Namespace, int]:
    """The command line: the shared options, ``--pg-url``, and the size."""
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--pg-url", default=None)
    extra.add_argument("--transfers", type=int, default=None)
    known, rest = extra.parse_known_args(argv)
    args = parse_args(__doc__, rest, quick_help="20,000 transfers (for tests)", database_url=True)
    if known.pg_url:
        args.database_url = known.pg_url
    transfers = known.transfers or (QUICK if args.quick else FULL)
    if transfers < 1_000:
        raise SystemExit("--transfers must be at least 1,000")
    return args, transfers


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures (the last line: JSON)."""
    args, transfers = arguments(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "quick": args.quick,
        "transfers": transfers,
        "loadavg_1m": load_average(),
    }
    bench("sqlite", None, transfers, results)
    if args.database_url:
        bench("pg", args.database_url, transfers, results)
    else:
        log(f"== PostgreSQL: skipped (no --database-url and no ${PG_ENV}) ==")
        for key in [k for k in results if k.startswith("sqlite_")]:
            results[f"pg_{key.removeprefix('sqlite_')}"] = None
    for key in ("match_1m_s", "ratio_vs_plain_join", "breaks_found", "breaks_injected"):
        results[key] = results[f"sqlite_{key}"]
    results["import_1m_s"] = results["sqlite_import_s"] if transfers == FULL else None
    results["peak_mb"] = peak_mb()
    report_aims(
        results,
        [
            Aim("match 1,000,000 lines <= 20 s (SQLite)", results["sqlite_match_1m_s"], 20),
            Aim("match 1,000,000 lines <= 20 s (PostgreSQL)", results["pg_match_1m_s"], 20),
            Aim("peak memory <= 2,048 MB (whole process)", results["peak_mb"], 2048),
        ],
    )
    results["loadavg_1m_end"] = load_average()
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    log(f"done in {results['elapsed_s']} s, peak RSS {results['peak_mb']} MB")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
