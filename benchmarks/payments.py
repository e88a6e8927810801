"""Payments benchmark: routing decision time, and payment flows beside the ledger alone.

Run ``python benchmarks/payments.py`` (full: about 40 s with PostgreSQL on
two busy cores) or ``python benchmarks/payments.py --quick`` (a few seconds,
for tests), with ``--database-url postgresql+psycopg://...`` (or
``FINPLUG_TEST_DATABASE_URL``) to include PostgreSQL; without either, the
PostgreSQL figures are ``null``.
It prints human-readable lines, then, as its last line, one JSON object with
every figure. It always exits 0: the aims are informational.

What is measured, and how:

1. **Routing** (``routing_p50_us``, ``routing_p99_us``): one
   ``RoutingTable.route(request, stats)`` decision on a table built from 10
   channels (mixed methods, currencies, amount bounds, fees; one disabled) and
   20 rules, of which 18 never match the payments used, so a typical decision
   scans every rule before it applies the default plan or one of the last two.
   Each decision is timed alone with ``time.perf_counter_ns`` (the figures
   include the timer's own cost, reported as ``routing_timer_overhead_ns``),
   over a rotating set of 64 requests built beforehand, after a warm-up. The
   headline is the ``priority`` strategy; ``routing_<strategy>_p50_us`` and
   ``..._p99_us`` give every built-in strategy. The baseline,
   ``routing_naive_*``, is a plain loop over the same 10 channels: keep those
   that accept the payment, sort them by the priority list, take three (no
   rules, no fallback). ``routing_ratio_vs_naive`` is table p50 / naive p50.
2. **Payment flows** (``<db>_flows_per_s``): one flow is
   ``payments.authorize(key, amount=Money("12.34", "EUR"), merchant_id="m1",
   method="card")`` then ``payments.capture(key, payment.id)`` on a tenant with
   ``finplug-payments`` and ``finplug-channels-sim`` (two card channels, no
   latency, no failures): idempotency records, routing, the channel calls,
   the attempts and transitions, the ledger hold and its posting, and the
   outbox events. The baseline (``<db>_ledger_only_flows_per_s``) is the
   ledger alone doing the same postings on another tenant of the same
   database: ``ledger.hold`` then ``ledger.post_pending`` between the same
   accounts, each in its own transaction, nothing else.
   ``<db>_ratio_vs_ledger_only`` is payments flows/s ÷ ledger-only flows/s:
   the share of the bare bookkeeping speed the payment layer keeps (below 1;
   0.1 means a flow costs ten times its postings). ``ratio_vs_ledger_only``
   is the SQLite one. ``sqlite_statements_per_flow`` (and the ledger-only
   twin) counts the SQL statements SQLite runs per flow (its trace callback:
   ``BEGIN``, ``COMMIT`` and savepoints included, raw-cursor statements too,
   trigger echoes not), in an untimed pass afterwards; ``null`` on PostgreSQL.
   ``<db>_durability`` records what a commit waits for.
3. **The SQL floor** (``sqlite_sql_floor_flows_per_s``): the statements
   and commits of 200 traced flows, replayed with their values on a copy of
   the database taken before them, through a bare ``sqlite3`` connection:
   what the flows would cost if every line of Python (finplug's,
   SQLAlchemy's, the channel simulator's) took no time. No aim can be met
   above it without changing what a flow writes.

Every store is a fresh tenant (an SQLite file in a temporary folder, in the
storage's default WAL mode with ``synchronous=NORMAL``, or a PostgreSQL
schema), dropped afterwards. Rounds alternate between the contestants (A then
B, then B then A, …) with the garbage collector off while timing; each figure
is the median over rounds. ``loadavg_1m`` and ``cpu_count`` record the
machine: other processes skew every figure.
"""

from __future__ import annotations

import gc
import json
import os
import platform as pyplatform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Engine

from _bench import (
    PG_ENV,
    Aim,
    alternate,
    load_average,
    log,
    parse_args,
    replay_floor,
    report_aims,
    sqlite_trace,
)
from finplug import Money, Platform, Tenant
from finplug.sockets.payments import (
    PAYMENTS,
    ChannelInfo,
    ChannelStats,
    PaymentMethod,
    PaymentStatus,
    RouteRequest,
)
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_payments.routing import BUILTIN_STRATEGIES, RoutingSettings, RoutingTable

AIM_ROUTING_P99_US = 50.0
AIM_SQLITE_FLOWS = 1_000.0
HEADLINE_STRATEGY = "priority"
FLOW_AMOUNT = Money("12.34", "EUR")
CLEARING = "payments:clearing:card-a:EUR"  # the accounts the payments layer books on
MERCHANT = "payments:merchant:m1:EUR"


@dataclass(frozen=True)
class Settings:
    """How much work each part does."""

    quick: bool
    routing_rounds: int
    routing_decisions: int  # per contestant and round
    flow_rounds: int
    flows: int  # per contestant and round
    warmup_flows: int
    count_flows: int  # untimed pass counting statements
    floor_flows: int  # flows traced, then replayed on the bare driver


FULL = Settings(
    quick=False,
    routing_rounds=5,
    routing_decisions=4_000,
    flow_rounds=7,
    flows=100,
    warmup_flows=20,
    count_flows=20,
    floor_flows=200,
)
QUICK = Settings(
    quick=True,
    routing_rounds=2,
    routing_decisions=1_000,
    flow_rounds=3,
    flows=10,
    warmup_flows=5,
    count_flows=5,
    floor_flows=10,
)


def percentile(ordered: Sequence[int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``ordered`` (sorted ascending)."""
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


# ---------------------------------------------------------------- 1. routing

_CARD, _WALLET, _BANK = PaymentMethod.CARD, PaymentMethod.WALLET, PaymentMethod.BANK_TRANSFER


def _channel(
    name: str,
    methods: set[PaymentMethod],
    currencies: set[str],
    *,
    rate: str = "0",
    fixed: str = "0",
    low: str | None = None,
    high: str | None = None,
    enabled: bool = True,
) -> ChannelInfo:
    return ChannelInfo(
        name,
        frozenset(methods),
        frozenset(currencies),
        min_amount=None if low is None else Decimal(low),
        max_amount=None if high is None else Decimal(high),
        fee_rate=Decimal(rate),
        fee_fixed=Decimal(fixed),
        enabled=enabled,
    )


#: Ten channels: cards, wallets and bank transfers, some bounded, one disabled.
ROUTING_CHANNELS: tuple[ChannelInfo, ...] = (
    _channel("card-eu-1", {_CARD}, {"EUR"}, rate="0.012", fixed="0.10"),
    _channel("card-eu-2", {_CARD}, {"EUR", "GBP"}, rate="0.014", low="1"),
    _channel(
        "card-global", {_CARD, _WALLET}, {"EUR", "USD", "GBP", "JPY"}, rate="0.029", fixed="0.30"
    ),
    _channel("card-us", {_CARD}, {"USD"}, rate="0.020", high="10000"),
    _channel("card-hv", {_CARD}, {"EUR", "USD"}, rate="0.008", low="500"),
    _channel("card-backup", {_CARD}, {"EUR", "USD", "GBP"}, rate="0.035", enabled=False),
    _channel("wallet-a", {_WALLET}, {"EUR", "USD", "CNY"}, rate="0.018"),
    _channel("wallet-b", {_WALLET}, {"CNY", "HKD"}, rate="0.006", high="5000"),
    _channel("bank-sepa", {_BANK}, {"EUR"}, fixed="0.20"),
    _channel("bank-uk", {_BANK}, {"GBP"}, fixed="0.15"),
)
_NAMES = [c.name for c in ROUTING_CHANNELS]
#: The priority list: deliberately not in name order.
PRIORITY = [
    "card-eu-2",
    "card-eu-1",
    "card-us",
    "card-global",
    "card-hv",
    "wallet-a",
    "wallet-b",
    "bank-sepa",
    "bank-uk",
    "card-backup",
]


def routing_rules() -> list[dict[str, Any]]:
    """Twenty rules: eighteen that the benchmark's requests never meet, then two that some do."""
    rules: list[dict[str, Any]] = [
        {"name": f"vip-{i}", "merchants": [f"vip-{i}"], "channels": ["card-hv", "card-global"]}
        for i in range(6)
    ]
    rules += [
        {"name": f"asia-{cur.lower()}", "currencies": [cur], "channels": ["wallet-b", "wallet-a"]}
        for cur in ("CNY", "HKD", "JPY")
    ]
    rules += [
        {
            "name": f"huge-{i}",
            "min_amount": str(20_000 * (i + 1)),
            "strategy": "lowest_cost",
            "exclude": ["card-us"],
        }
        for i in range(4)
    ]
    rules += [
        {"name": "bank-eur", "methods": ["bank_transfer"], "channels": ["bank-sepa"]},
        {
            "name": "bank-gbp",
            "methods": ["bank_transfer"],
            "currencies": ["GBP"],
            "channels": ["bank-uk"],
        },
        {
            "name": "tiny-wallet",
            "methods": ["wallet"],
            "max_amount": "0.50",
            "exclude": ["wallet-a"],
        },
        {"name": "blocked", "merchants": ["blocked-1", "blocked-2"], "exclude": _NAMES[:5]},
        {
            "name": "usd-mid-wallet",
            "methods": ["wallet"],
            "currencies": ["USD"],
            "min_amount": "9000",
            "strategy": "success_rate",
        },
    ]
    rules += [
        {
            "name": "high-value",
            "currencies": ["EUR", "USD"],
            "min_amount": "250",
            "channels": ["card-hv", "card-global", "card-eu-1"],
        },
        {"name": "merchant-m7", "merchants": ["m7"], "exclude": ["card-eu-2"]},
    ]
    assert len(rules) == 20, len(rules)
    return rules


def routing_settings(strategy: str) -> RoutingSettings:
    return RoutingSettings.model_validate(
        {
            "strategy": strategy,
            "priority": PRIORITY,
            "weights": {"card-eu-1": 3, "card-eu-2": 2, "card-global": 1, "card-us": 2},
            "rules": routing_rules(),
            "fallback": ["card-global"],
            "max_attempts": 3,
        }
    )


def route_requests(count: int = 64) -> list[RouteRequest]:
    """Card and wallet payments in EUR, USD and GBP, 2 to ~600 major units, merchants m1..m8."""
    currencies = ("EUR", "EUR", "USD", "GBP")
    out = []
    for i in range(count):
        cur = currencies[i % len(currencies)]
        units = 200 + (i * 7919) % 60_000  # minor units
        method = _WALLET if i % 5 == 4 else _CARD
        out.append(
            RouteRequest(
                f"pay-{i:04d}-{uuid.UUID(int=i).hex[:12]}",
                Money.from_minor(units, cur),
                method,
                f"m{1 + i % 8}",
                f"c{i}",
            )
        )
    return out


def naive_router(
    channels: Sequence[ChannelInfo], priority: Sequence[str], cap: int
) -> Callable[[RouteRequest, Mapping[str, ChannelStats]], list[str]]:
    """The least a router does: filter the eligible channels, sort them by priority, cut."""
    rank = {name: i for i, name in enumerate(priority)}

    def route(request: RouteRequest, stats: Mapping[str, ChannelStats]) -> list[str]:
        amount, method = request.amount, request.method
        eligible = [c.name for c in channels if c.accepts(amount, method)]
        eligible.sort(key=rank.__getitem__)
        return eligible[:cap]

    return route


def time_decisions(
    route: Callable[[RouteRequest, Mapping[str, ChannelStats]], list[str]],
    requests: Sequence[RouteRequest],
    stats: Mapping[str, ChannelStats],
    count: int,
    out: list[int],
) -> None:
    """Append ``count`` single-decision timings (ns) to ``out``, GC off."""
    clock = time.perf_counter_ns
    n = len(requests)
    gc.collect()
    gc.disable()
    try:
        for i in range(count):
            request = requests[i % n]
            start = clock()
            route(request, stats)
            out.append(clock() - start)
    finally:
        gc.enable()


def timer_overhead_ns(count: int = 20_000) -> float:
    """Median of back-to-back ``perf_counter_ns`` pairs: what every sample carries."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(count):
        start = clock()
        samples.append(clock() - start)
    return float(statistics.median(samples))


def bench_routing(settings: Settings, results: dict[str, Any]) -> None:
    log("== routing: one decision, 10 channels, 20 rules (18 never match) ==")
    requests = route_requests()
    stats = {
        name: ChannelStats(100, 60 + (i * 37) % 40) for i, name in enumerate(_NAMES) if i % 3
    }  # some channels have a record, others count as unused
    contestants: dict[str, Callable[[RouteRequest, Mapping[str, ChannelStats]], list[str]]] = {}
    for strategy in sorted(BUILTIN_STRATEGIES, key=lambda s: (s != HEADLINE_STRATEGY, s)):
        table = RoutingTable.build(routing_settings(strategy), ROUTING_CHANNELS)
        contestants[strategy] = table.route
    contestants["naive"] = naive_router(ROUTING_CHANNELS, PRIORITY, 3)

    # Sanity: every request gets a route, the rules do apply to some, and a
    # decision is a pure function of its inputs.
    headline = RoutingTable.build(routing_settings(HEADLINE_STRATEGY), ROUTING_CHANNELS)
    matched = sum(headline.rule_for(r) is not None for r in requests)
    assert all(headline.route(r, stats) for r in requests)
    assert [headline.route(r, stats) for r in requests] == [
        headline.route(r, stats) for r in requests
    ]
    for route in contestants.values():  # warm-up
        for request in requests * 20:
            route(request, stats)

    samples: dict[str, list[int]] = {name: [] for name in contestants}
    names = list(contestants)
    for i in range(settings.routing_rounds):
        for name in names if i % 2 == 0 else reversed(names):
            time_decisions(
                contestants[name], requests, stats, settings.routing_decisions, samples[name]
            )
    overhead = timer_overhead_ns()
    figures: dict[str, tuple[float, float]] = {}
    for name, values in samples.items():
        values.sort()
        figures[name] = (percentile(values, 50) / 1000, percentile(values, 99) / 1000)
    for name, (p50, p99) in figures.items():
        prefix = "routing_naive" if name == "naive" else f"routing_{name}"
        results[f"{prefix}_p50_us"] = round(p50, 3)
        results[f"{prefix}_p99_us"] = round(p99, 3)
        label = "naive filter+sort" if name == "naive" else f"table, {name}"
        headline_mark = "  <- headline" if name == HEADLINE_STRATEGY else ""
        log(f"  {label:<22} p50 {p50:7.2f} us   p99 {p99:7.2f} us{headline_mark}")
    p50, p99 = figures[HEADLINE_STRATEGY]
    results["routing_p50_us"] = round(p50, 3)
    results["routing_p99_us"] = round(p99, 3)
    results["routing_ratio_vs_naive"] = round(p50 / figures["naive"][0], 2)
    results["routing_timer_overhead_ns"] = round(overhead, 1)
    results["routing_rules_matched"] = f"{matched}/{len(requests)}"
    log(
        f"  table/naive at p50 ({HEADLINE_STRATEGY}): {results['routing_ratio_vs_naive']:.2f}x"
        " (rules scanned, plan, fallback, dedup vs a bare filter and sort)"
    )
    total = settings.routing_rounds * settings.routing_decisions
    log(
        f"  ({settings.routing_rounds} rounds, {total:,} decisions per contestant over"
        f" {len(requests)} requests, {matched} of which meet one of the last two rules;"
        f" each sample includes ~{overhead:.0f} ns of timer)"
    )


# ---------------------------------------------------------------- 2. flows


def flow_config(tenant_id: str) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "plugins": {
            "payments": {"routing": {"strategy": "priority", "priority": ["card-a", "card-b"]}},
            "channels-sim": {
                "seed": 1,
                "channels": [
                    {"name": "card-a", "methods": ["card"], "currencies": ["EUR", "USD"]},
                    {"name": "card-b", "methods": ["card"], "currencies": ["EUR"]},
                ],
            },
        },
    }


@contextmanager
def flow_tenants(url: str) -> Iterator[tuple[Tenant, Tenant]]:
    """A payments tenant and a ledger-only tenant on ``url``, dropped on the way out."""
    suffix = uuid.uuid4().hex[:8]
    with_payments = Platform([PaymentsPlugin, ChannelsSimPlugin], environ={}, database_url=url)
    ledger_only = Platform([], environ={}, database_url=url)
    made: list[Tenant] = []
    try:
        pid, lid = f"bench-pay-{suffix}", f"bench-ledger-{suffix}"
        with_payments.add_tenant(flow_config(pid))
        with_payments.upgrade(pid)
        made.append(with_payments.tenant(pid))
        ledger_only.add_tenant({"tenant": lid})
        ledger_only.upgrade(lid)
        made.append(ledger_only.tenant(lid))
        yield made[0], made[1]
    finally:
        for tenant in made:
            tenant.storage.drop()
        with_payments.close()
        ledger_only.close()


class PaymentsSide:
    """Authorize-then-capture flows through ``tenant.component(PAYMENTS)``."""

    def __init__(self, tenant: Tenant) -> None:
        self.payments = tenant.component(PAYMENTS)
        self.next_key = 0

    def flows(self, count: int) -> Callable[[], int]:
        keys = []
        for _ in range(count):
            self.next_key += 1
            keys.append((f"auth-{self.next_key}", f"capt-{self.next_key}"))
        authorize, capture = self.payments.authorize, self.payments.capture
        captured = PaymentStatus.CAPTURED

        def run() -> int:
            for auth_key, capture_key in keys:
                payment = authorize(auth_key, amount=FLOW_AMOUNT, merchant_id="m1", method="card")
                done = capture(capture_key, payment.id)
                assert done.status is captured, done
            return len(keys)

        return run


class LedgerSide:
    """The same postings on the ledger alone: a hold, then its posting, one transaction each."""

    def __init__(self, tenant: Tenant) -> None:
        self.ledger = tenant.ledger
        # The accounts and overdraft policies the payments layer opens for card-a / m1.
        self.ledger.open_account(CLEARING, "asset", "EUR", overdraft="unlimited")
        self.ledger.open_account(MERCHANT, "liability", "EUR")
        self.next_key = 0

    def flows(self, count: int) -> Callable[[], int]:
        keys = []
        for _ in range(count):
            self.next_key += 1
            keys.append((f"pay-{self.next_key}:hold", f"pay-{self.next_key}:capture"))
        hold, post_pending = self.ledger.hold, self.ledger.post_pending

        def run() -> int:
            for hold_key, capture_key in keys:
                entry = hold(
                    hold_key,
                    CLEARING,
                    MERCHANT,
                    FLOW_AMOUNT,
                    description=f"authorization {hold_key} via card-a",
                )
                post_pending(capture_key, entry.seq, FLOW_AMOUNT)
            return len(keys)

        return run


def statements_per_flow(engine: Engine, run: Callable[[], int]) -> float | None:
    """SQL statements SQLite runs per flow of ``run`` (untimed); ``None`` on other databases."""
    if engine.dialect.name != "sqlite":
        return None
    with sqlite_trace(engine) as seen:
        flows = run()
    return round(len(seen) / flows, 1)


def sql_floor(tenant: Tenant, side: PaymentsSide, flows: int, rounds: int) -> float:
    """Flows/s of ``flows`` flows' own SQL replayed on the bare sqlite3 driver (the floor).

    See :func:`_bench.replay_floor`: the same statements, rows, indexes,
    triggers and commits, with no Python logic and no SQLAlchemy.
    """
    return replay_floor(tenant.storage.engine, side.flows(flows), rounds)


def durability(db: str, tenant: Tenant) -> str:
    """What a commit waits for: SQLite's journal and synchronous modes, PostgreSQL's setting."""
    with tenant.storage.begin() as conn:
        if db == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            names = {0: "off", 1: "normal", 2: "full", 3: "extra"}
            return f"journal_mode={journal}, synchronous={names.get(int(level or 0), level)}"
        value = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        return f"synchronous_commit={value}"


def bench_flows(db: str, url: str, settings: Settings, results: dict[str, Any]) -> None:
    log(
        f"== {db}: payment flows/s (authorize + capture) beside the ledger alone"
        f" (same hold + post_pending) =="
    )
    with flow_tenants(url) as (pay_tenant, ledger_tenant):
        mode = durability(db, pay_tenant)
        results[f"{db}_durability"] = mode
        log(f"  durability: {mode}")
        pay = PaymentsSide(pay_tenant)
        bare = LedgerSide(ledger_tenant)
        # Warm-up: connections, statement caches, the accounts the first flow opens.
        pay.flows(settings.warmup_flows)()
        bare.flows(settings.warmup_flows)()

        n = settings.flows
        figures = alternate(
            settings.flow_rounds,
            {"payments": lambda: pay.flows(n), "ledger": lambda: bare.flows(n)},
        )
        pay_statements = statements_per_flow(
            pay_tenant.storage.engine, pay.flows(settings.count_flows)
        )
        bare_statements = statements_per_flow(
            ledger_tenant.storage.engine, bare.flows(settings.count_flows)
        )
        floor = None
        if db == "sqlite":
            floor = sql_floor(pay_tenant, pay, settings.floor_flows, settings.flow_rounds)
        for tenant in (pay_tenant, ledger_tenant):
            report = tenant.ledger.verify()
            assert report.ok, report.problems
    ratio = figures["payments"] / figures["ledger"]
    results[f"{db}_sql_floor_flows_per_s"] = None if floor is None else round(floor, 1)
    results[f"{db}_flows_per_s"] = round(figures["payments"], 1)
    results[f"{db}_ledger_only_flows_per_s"] = round(figures["ledger"], 1)
    results[f"{db}_ratio_vs_ledger_only"] = round(ratio, 4)
    results[f"{db}_statements_per_flow"] = pay_statements
    results[f"{db}_ledger_only_statements_per_flow"] = bare_statements
    log(
        f"  payments    {figures['payments']:9,.1f} flows/s"
        f"   ({1000 / figures['payments']:6.2f} ms a flow{statements(pay_statements)})"
    )
    log(
        f"  ledger only {figures['ledger']:9,.1f} flows/s"
        f"   ({1000 / figures['ledger']:6.2f} ms a flow{statements(bare_statements)})"
    )
    if floor is not None:
        log(
            f"  SQL alone   {floor:9,.1f} flows/s   ({1000 / floor:6.2f} ms a flow: the same"
            " statements and commits replayed on the bare sqlite3 driver, no Python logic)"
        )
    log(
        f"  ratio_vs_ledger_only = payments / ledger only = {ratio:.3f}: a payment flow costs"
        f" {1 / ratio:.1f}x its bare postings"
    )
    log(
        f"  ({settings.flow_rounds} rounds of {n} flows each; warm-up {settings.warmup_flows};"
        " both ledgers verified)"
    )


def statements(count: float | None) -> str:
    return "" if count is None else f", {count:g} SQL statements"


def null_flows(db: str, results: dict[str, Any]) -> None:
    for key in (
        "flows_per_s",
        "ledger_only_flows_per_s",
        "ratio_vs_ledger_only",
        "statements_per_flow",
        "ledger_only_statements_per_flow",
        "sql_floor_flows_per_s",
        "durability",
    ):
        results[f"{db}_{key}"] = None


# ---------------------------------------------------------------- report


def check_aims(results: dict[str, Any]) -> None:
    report_aims(
        results,
        [
            Aim(
                f"routing p99 <= {AIM_ROUTING_P99_US:.0f} us (10 channels, 20 rules)",
                results["routing_p99_us"],
                AIM_ROUTING_P99_US,
            ),
            Aim(
                f"SQLite flows >= {AIM_SQLITE_FLOWS:,.0f}/s",
                results["sqlite_flows_per_s"],
                AIM_SQLITE_FLOWS,
                at_least=True,
            ),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(
        __doc__, argv, quick_help="few rounds and flows (for tests)", database_url=True
    )
    settings = QUICK if args.quick else FULL

    log(
        f"finplug payments benchmark ({'quick' if settings.quick else 'full'}):"
        f" Python {pyplatform.python_version()}, SQLAlchemy {sqlalchemy.__version__},"
        f" {sys.platform}, {os.cpu_count()} CPUs"
    )
    load = load_average()
    if load is not None:
        log(f"load average before start: {load} (other processes skew every figure)")
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": settings.quick, "cpu_count": os.cpu_count()}
    bench_routing(settings, results)
    folder = Path(tempfile.mkdtemp(prefix="finplug-bench-"))
    try:
        bench_flows("sqlite", f"sqlite:///{folder}/{{tenant}}.db", settings, results)
        if args.database_url:
            bench_flows("pg", args.database_url, settings, results)
        else:
            log(f"== PostgreSQL: skipped (no --database-url and no ${PG_ENV}) ==")
            null_flows("pg", results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results["ratio_vs_ledger_only"] = results["sqlite_ratio_vs_ledger_only"]
    check_aims(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    results["loadavg_1m"] = load_average()
    log(f"done in {results['elapsed_s']} s (load average now {results['loadavg_1m']})")
    print(json.dumps(results, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
