"""Risk-engine benchmark: a 20-rule decision table beside zen-engine, a full assess, a backtest.

Run ``python benchmarks/risk.py`` (full: about a minute on two cores, most of
it writing the million logged decisions) or ``python benchmarks/risk.py
--quick`` (a few seconds, for tests). It prints human-readable lines, then,
as its last line, one JSON object with every figure. It always exits 0: the
aims are informational.

What is measured, and how:

1. **Decision table** (``table_p50_us``, ``zen_p50_us``, ``ratio_vs_zen``):
   one JDM graph (input → a ``first`` decision table of 20 rules over
   ``amount``, ``country`` and ``score`` → output), evaluated by this engine
   (``CompiledGraph.evaluate``) and by zen-engine's ``engine.evaluate(key,
   input)`` with a static loader (its fastest path), on the same 64 rotating
   inputs, rounds alternating, each call timed alone with
   ``perf_counter_ns``; the figures are medians (p50) and p99 over all calls,
   timer cost included (``timer_overhead_ns``). Both sides return the same
   result for every input (checked first). ``ratio_vs_zen`` is ours / zen's.
2. **A full assess** (``assess_p50_us``, ``assess_p99_us``): ``engine.assess``
   on SQLite (a temporary file, WAL) with a live rule set of three velocity
   features (count per card, sum per customer, distinct cards per customer)
   and rules over two lists (block, allow) and the table: the state read,
   the list lookup, the feature queries, the rules and the decision log
   write, each call timed alone; also ``assess_p999_us`` and
   ``assess_max_us``. WAL checkpoints run in the storage's background thread;
   under these back-to-back commits it cannot finish one (frames keep
   arriving), so about one commit in a thousand runs SQLite's fallback
   checkpoint: that is the maximum.
3. **Backtest** (``backtest_1m_s``): ``engine.backtest`` of a changed version
   over 1,000,000 logged decisions (written beforehand, untimed); quick mode
   replays 20,000 and reports ``backtest_s`` for them with ``backtest_1m_s``
   ``null`` (not measured, never extrapolated).
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import zen
from sqlalchemy import insert

from _bench import Aim, load_average, log, parse_args, report_aims
from finplug import Money
from finplug.sockets.risk import RiskContext
from finplug.testing import isolated_tenant
from finplug_risk_engine import RiskEngine, RiskEnginePlugin
from finplug_risk_engine.decision_log import decisions
from finplug_risk_engine.jdm import compile_graph, graph_from_json, same_json
from finplug_risk_engine.velocity import Outcome, Velocity

COUNTRIES = ["DE", "FR", "GB", "US", "KP", "NG", "BR", "CN"]


def table_graph() -> dict[str, Any]:
    """Input → a 20-rule ``first`` table over amount, country and score → output."""
    rules = []
    for i in range(19):
        low, high = i * 100, (i + 1) * 100
        country = COUNTRIES[i % len(COUNTRIES)]
        rules.append(
            {
                "_id": f"r{i}",
                "c-amount": f"[{low}..{high})",
                "c-country": f"'{country}'",
                "c-score": f"> {i * 5}",
                "o-band": f"'band-{i}'",
                "o-points": str(i * 3),
            }
        )
    rules.append(
        {
            "_id": "r19",
            "c-amount": "",
            "c-country": "",
            "c-score": "",
            "o-band": "'other'",
            "o-points": "0",
        }
    )
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {
                "id": "table",
                "type": "decisionTableNode",
                "name": "Bands",
                "position": {"x": 200, "y": 0},
                "content": {
                    "hitPolicy": "first",
                    "inputs": [
                        {"id": "c-amount", "name": "Amount", "field": "amount"},
                        {"id": "c-country", "name": "Country", "field": "country"},
                        {"id": "c-score", "name": "Score", "field": "score"},
                    ],
                    "outputs": [
                        {"id": "o-band", "name": "Band", "field": "band"},
                        {"id": "o-points", "name": "Points", "field": "points"},
                    ],
                    "rules": rules,
                },
            },
            {"id": "out", "type": "outputNode", "name": "Response", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "table", "type": "edge"},
            {"id": "e2", "sourceId": "table", "targetId": "out", "type": "edge"},
        ],
    }


def inputs() -> list[dict[str, Any]]:
    """64 inputs that hit rows all over the table (and the catch-all)."""
    return [
        {
            "amount": (i * 37) % 2100,
            "country": COUNTRIES[(i * 5) % len(COUNTRIES)],
            "score": (i * 7) % 100,
        }
        for i in range(64)
    ]


def per_call_ns(call: Callable[[Any], object], items: Sequence[Any], calls: int) -> list[int]:
    """Each call timed alone; the garbage collector off."""
    out: list[int] = []
    clock = time.perf_counter_ns
    n = len(items)
    gc.collect()
    gc.disable()
    try:
        for i in range(calls):
            item = items[i % n]
            start = clock()
            call(item)
            out.append(clock() - start)
    finally:
        gc.enable()
    return out


def pct(samples: Sequence[int], q: float) -> float:
    """The ``q`` quantile of ``samples`` (nanoseconds) in microseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def bench_table(results: dict[str, Any], quick: bool) -> None:
    log("== 20-rule decision table: this engine vs zen-engine's engine.evaluate ==")
    graph = table_graph()
    ours = compile_graph(graph_from_json(graph))
    engine = zen.ZenEngine({"loader": {"type": "static", "content": {"t20": graph}}})
    items = inputs()
    ours_items = [{k: Decimal(v) if isinstance(v, int) else v for k, v in x.items()} for x in items]
    for mine, theirs in zip(ours_items, items, strict=True):
        expected = engine.evaluate("t20", theirs)["result"]
        assert same_json(ours.evaluate(mine), expected), (mine, expected)
    calls = 2_000 if quick else 20_000
    rounds = 3 if quick else 11
    mine_ns: list[int] = []
    zen_ns: list[int] = []
    for r in range(rounds):
        pair: list[Callable[[], None]] = [
            lambda: mine_ns.extend(per_call_ns(ours.evaluate, ours_items, calls)),
            lambda: zen_ns.extend(per_call_ns(lambda x: engine.evaluate("t20", x), items, calls)),
        ]
        for run in pair if r % 2 == 0 else reversed(pair):
            run()
    timer = per_call_ns(lambda _: None, [0], 10_000)
    results["timer_overhead_ns"] = statistics.median(timer)
    results["table_p50_us"] = round(pct(mine_ns, 0.5), 3)
    results["table_p99_us"] = round(pct(mine_ns, 0.99), 3)
    results["zen_p50_us"] = round(pct(zen_ns, 0.5), 3)
    results["zen_p99_us"] = round(pct(zen_ns, 0.99), 3)
    results["ratio_vs_zen"] = round(results["table_p50_us"] / results["zen_p50_us"], 4)
    log(
        f"  ours p50 {results['table_p50_us']} us (p99 {results['table_p99_us']}),"
        f" zen p50 {results['zen_p50_us']} us (p99 {results['zen_p99_us']}),"
        f" ratio {results['ratio_vs_zen']}  (timer {results['timer_overhead_ns']} ns)"
    )


RULES: dict[str, Any] = {
    "features": [
        {"name": "per_card_1h", "aggregate": "count", "key": "card_fingerprint", "window": "1h"},
        {
            "name": "eur_per_customer_24h",
            "aggregate": "sum",
            "key": "customer",
            "window": "24h",
            "currency": "EUR",
        },
        {
            "name": "cards_per_customer_24h",
            "aggregate": "distinct",
            "key": "customer",
            "window": "24h",
            "of": "card_fingerprint",
        },
    ],
    "graphs": {"bands": table_graph()},
    "rules": [
        {"code": "trusted", "action": "allow", "when": "lists.allow.customer"},
        {
            "code": "listed",
            "action": "block",
            "when": "lists.block.customer or lists.block.card_fingerprint",
        },
        {"code": "card_velocity", "action": "block", "when": "features.per_card_1h >= 10"},
        {"code": "spend", "action": "review", "when": "features.eur_per_customer_24h > 5000"},
        {"code": "many_cards", "action": "review", "when": "features.cards_per_customer_24h >= 4"},
        {"code": "band_19", "action": "review", "when": "graphs.bands.band == 'band-18'"},
    ],
}
CHANGED = {
    **RULES,
    "rules": [
        *RULES["rules"][:-1],
        {"code": "band_any", "action": "review", "when": "graphs.bands.points > 30"},
    ],
}


def context(i: int) -> RiskContext:
    return RiskContext(
        "payment.authorize",
        Money(f"{(i * 37) % 2100}.00", "EUR"),
        merchant_id="m1",
        customer_id=f"c{i % 50}",
        country=COUNTRIES[i % len(COUNTRIES)],
        payment_method="card",
        attributes={"card_fingerprint": f"fp{i % 200}", "score": str(i % 100)},
    )


def bench_assess_and_backtest(results: dict[str, Any], quick: bool) -> None:
    log("== engine.assess on SQLite: 3 velocity features, 2 lists, 6 rules, the table ==")
    folder = Path(tempfile.mkdtemp(prefix="finplug-risk-bench-"))
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with isolated_tenant(
        [RiskEnginePlugin], database_url=f"sqlite:///{folder}/{{tenant}}.db", clock=lambda: now
    ) as tenant:
        velocity = Velocity(tenant.storage.begin, clock=lambda: now)
        engine = RiskEngine(tenant.storage.begin, features=velocity, clock=lambda: now)
        live = engine.versions.publish(RULES, actor="bench").version
        engine.versions.go_live(live, actor="bench")
        for i in range(20):
            engine.lists.add("block", "customer", f"blocked{i}", actor="bench")
            engine.lists.add("allow", "customer", f"vip{i}", actor="bench")
        velocity.record_many(
            Outcome(
                f"o{i}",
                "payment.authorized",
                now - timedelta(minutes=i % 600),
                {"customer": f"c{i % 50}", "card_fingerprint": f"fp{i % 200}"},
                Money("12.00", "EUR"),
            )
            for i in range(5_000)
        )
        for i in range(50):
            engine.assess(context(i))  # warm: compiled version, engines, statements
        calls = 500 if quick else 5_000
        ns = per_call_ns(lambda i: engine.assess(context(i)), list(range(calls)), calls)
        results["assess_p50_us"] = round(pct(ns, 0.5), 1)
        results["assess_p99_us"] = round(pct(ns, 0.99), 1)
        results["assess_p999_us"] = round(pct(ns, 0.999), 1)
        results["assess_max_us"] = round(max(ns) / 1000, 1)
        p50, p99 = results["assess_p50_us"], results["assess_p99_us"]
        log(
            f"  assess p50 {p50} us, p99 {p99} us, p99.9 {results['assess_p999_us']} us,"
            f" max {results['assess_max_us']} us ({calls} calls; the max is SQLite's"
            " fallback checkpoint under back-to-back commits)"
        )

        count = 20_000 if quick else 1_000_000
        log(f"== backtest of a changed version over {count:,} logged decisions ==")
        [sample] = engine.log.query(limit=1)
        row = {
            "at": sample.at,
            "operation": sample.operation,
            "ref": None,
            "customer": sample.customer,
            "merchant": sample.merchant,
            "verdict": sample.verdict,
            "version": sample.version,
            "fired": "[]",
            "latency_us": 0,
            "shadow_version": None,
            "shadow_verdict": None,
            "shadow_fired": None,
        }
        snapshots = [
            json.dumps(d.snapshot, sort_keys=True, separators=(",", ":"))
            for d in engine.log.query(limit=1000)
        ]
        written = 0
        while written < count:
            batch = min(20_000, count - written)
            with tenant.storage.begin() as conn:
                conn.execute(
                    insert(decisions),
                    [
                        {**row, "snapshot": snapshots[(written + j) % len(snapshots)]}
                        for j in range(batch)
                    ],
                )
            written += batch
        candidate = engine.versions.publish(CHANGED, actor="bench").version
        start = time.perf_counter()
        report = engine.backtest(candidate)
        elapsed = time.perf_counter() - start
        results["backtest_decisions"] = report.total
        results["backtest_s"] = round(elapsed, 3)
        results["backtest_per_decision_us"] = round(elapsed / report.total * 1e6, 2)
        results["backtest_1m_s"] = round(elapsed, 3) if report.total >= 1_000_000 else None
        each = results["backtest_per_decision_us"]
        log(f"  {report.total:,} decisions in {elapsed:.2f} s ({each} us each)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__, argv, quick_help="a few seconds, for tests", database_url=False)
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": args.quick, "loadavg_1m": load_average()}
    bench_table(results, args.quick)
    bench_assess_and_backtest(results, args.quick)
    report_aims(
        results,
        [
            Aim("table p50 <= 0.5x zen-engine", results["ratio_vs_zen"], 0.5),
            Aim("assess p99 <= 1000 us (SQLite)", results["assess_p99_us"], 1000),
            Aim("backtest of 1,000,000 <= 30 s", results["backtest_1m_s"], 30),
        ],
    )
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    log(f"done in {results['elapsed_s']} s")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
