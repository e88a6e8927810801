"""Benchmark scripts run (quick mode) and end with their JSON line; no timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]


def quick_run(script: str) -> dict[str, Any]:
    """Run ``benchmarks/<script> --quick``; its last line, the JSON figures."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def assert_positive(figures: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        assert isinstance(figures[key], float | int), key
        assert figures[key] > 0, key


def test_kernel_benchmark_quick_run_reports_every_figure() -> None:
    figures = quick_run("kernel.py")
    assert_positive(
        figures,
        (
            "hook_ratio_1",
            "hook_ratio_5",
            "hook_ratio_20",
            "assembly_us",
            "tenants_10k_s",
            "tenants_10k_kb_each",
        ),
    )
    assert figures["quick"] is True


def test_ledger_benchmark_quick_run_reports_every_figure() -> None:
    figures = quick_run("ledger.py")
    assert figures["quick"] is True
    assert_positive(
        figures,
        (
            "sqlite_batch1_tps",
            "sqlite_batch1000_tps",
            "sqlite_ratio_vs_core",
            "sqlite_sql_floor_batch1000_tps",
        ),
    )
    # PostgreSQL figures are measured when the test database is configured (the
    # script reads the same variable), null otherwise; python-accounting is optional.
    with_pg = bool(os.environ.get("FINPLUG_TEST_DATABASE_URL"))
    for key in ("pg_batch1_tps", "pg_batch1000_tps", "pg_ratio_vs_core"):
        assert (figures[key] > 0) if with_pg else (figures[key] is None), key
    ratio = figures["ratio_vs_python_accounting"]
    assert ratio is None or ratio > 0


def test_payments_benchmark_quick_run_reports_every_figure() -> None:
    figures = quick_run("payments.py")
    assert figures["quick"] is True
    assert_positive(
        figures,
        (
            "routing_p50_us",
            "routing_p99_us",
            "routing_naive_p50_us",
            "sqlite_flows_per_s",
            "sqlite_ledger_only_flows_per_s",
            "ratio_vs_ledger_only",
            "sqlite_sql_floor_flows_per_s",
        ),
    )
    assert figures["routing_p50_us"] <= figures["routing_p99_us"]
    assert figures["pg_sql_floor_flows_per_s"] is None  # SQLite's trace only
    assert figures["ratio_vs_ledger_only"] == figures["sqlite_ratio_vs_ledger_only"]
    # PostgreSQL figures are measured when the test database is configured (the
    # script reads the same variable), null otherwise.
    with_pg = bool(os.environ.get("FINPLUG_TEST_DATABASE_URL"))
    for key in ("pg_flows_per_s", "pg_ledger_only_flows_per_s", "pg_ratio_vs_ledger_only"):
        assert (figures[key] > 0) if with_pg else (figures[key] is None), key


def test_payments_floor_replays_traced_values_as_parameters() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _bench import parameterized
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    sql, values = parameterized(
        """INSERT INTO "t2" (a, "key", b2) VALUES ('it''s 12', x'0aff', 12, 3.5, NULL)"""
    )
    assert sql == 'INSERT INTO "t2" (a, "key", b2) VALUES (?, ?, ?, ?, NULL)'
    assert values == ("it's 12", b"\n\xff", 12, 3.5)
    sql, values = parameterized("UPDATE c SET n = n + 1 WHERE id = 1 RETURNING n")
    assert (sql, values) == ("UPDATE c SET n = n + ? WHERE id = ? RETURNING n", (1, 1))


def test_risk_benchmark_quick_run_reports_every_figure() -> None:
    figures = quick_run("risk.py")
    assert figures["quick"] is True
    assert_positive(
        figures,
        ("table_p50_us", "zen_p50_us", "ratio_vs_zen", "assess_p99_us", "backtest_s"),
    )
    # Quick mode replays fewer than a million decisions: the figure is absent, not guessed.
    assert figures["backtest_1m_s"] is None
    assert figures["backtest_decisions"] < 1_000_000


def test_split_properties_benchmark_quick_run_checks_every_case() -> None:
    figures = quick_run("split_properties.py")
    assert figures["quick"] is True
    assert figures["cases"] == 20_000
    assert figures["violations"] == 0
    assert_positive(figures, ("elapsed_s", "cases_per_s", "allocate_per_s", "refunds"))
    # The naive baseline (each share rounded on its own) is off on some of the same cases.
    lost, gained = figures["naive_lost_cases"], figures["naive_gained_cases"]
    assert figures["naive_mismatch_cases"] == lost + gained > 0


def test_settlement_benchmark_quick_run_reports_every_figure() -> None:
    figures = quick_run("settlement.py")
    assert figures["quick"] is True
    assert (figures["captures"], figures["merchants"]) == (20_000, 200)
    assert_positive(
        figures, ("sqlite_settle_s", "sqlite_sql_s", "ratio_vs_sql", "setup_s", "rerun_s")
    )
    assert figures["ratio_vs_sql"] == figures["sqlite_ratio_vs_sql"]
    # Quick mode settles fewer than a million captures: the figures are absent, not guessed.
    assert figures["sqlite_settle_1m_s"] is None
    assert figures["pg_settle_1m_s"] is None
    # PostgreSQL figures are measured when the test database is configured (the
    # script reads the same variable), null otherwise.
    with_pg = bool(os.environ.get("FINPLUG_TEST_DATABASE_URL"))
    for key in ("pg_settle_s", "pg_sql_s", "pg_ratio_vs_sql", "pg_rerun_s"):
        assert (figures[key] > 0) if with_pg else (figures[key] is None), key


def test_reconciliation_benchmark_quick_run_finds_every_injected_break() -> None:
    figures = quick_run("reconciliation.py")
    assert figures["quick"] is True
    assert figures["transfers"] == 20_000
    assert_positive(
        figures,
        ("sqlite_match_s", "sqlite_join_s", "ratio_vs_plain_join", "peak_mb", "sqlite_import_s"),
    )
    assert figures["ratio_vs_plain_join"] == figures["sqlite_ratio_vs_plain_join"]
    # Every injected break is found, with its class (the script checks each break's items too).
    assert figures["breaks_found"] == figures["breaks_injected"] == 400
    assert figures["sqlite_breaks"] == {
        "missing_in_statement": 140,
        "missing_in_ledger": 80,
        "amount_mismatch": 60,
        "timing": 60,
        "duplicate": 60,
    }
    # Quick mode matches fewer than a million lines: the figures are absent, not guessed.
    assert figures["match_1m_s"] is None
    assert figures["pg_match_1m_s"] is None
    assert figures["import_1m_s"] is None
    # PostgreSQL figures are measured when the test database is configured (the
    # script reads the same variable), null otherwise.
    with_pg = bool(os.environ.get("FINPLUG_TEST_DATABASE_URL"))
    for key in ("pg_match_s", "pg_join_s", "pg_ratio_vs_plain_join"):
        assert (figures[key] > 0) if with_pg else (figures[key] is None), key
    if with_pg:
        assert figures["pg_breaks_found"] == figures["pg_breaks_injected"] == 400


def test_billing_benchmark_quick_run_reports_every_figure() -> None:
    figures = quick_run("billing.py")
    assert figures["quick"] is True
    assert (figures["subscriptions"], figures["events"], figures["batch"]) == (200, 20_000, 10_000)
    assert_positive(
        figures,
        (
            "sqlite_ingest_eps",
            "sqlite_group_by_s",
            "sqlite_invoice_run_s",
            "ratio_vs_group_by",
            "sqlite_rerun_s",
            "peak_mb",
        ),
    )
    assert figures["ratio_vs_group_by"] == figures["sqlite_ratio_vs_group_by"]
    # Quick mode is smaller than the size: the figures are absent, not guessed.
    for key in ("ingest_1m_eps", "invoice_run_10k_s"):
        assert figures[f"sqlite_{key}"] is None, key
        assert figures[f"pg_{key}"] is None, key
    assert figures["aims_total"] == 0
    # PostgreSQL figures are measured when the test database is configured (the
    # script reads the same variable), null otherwise; both databases bill the same.
    with_pg = bool(os.environ.get("FINPLUG_TEST_DATABASE_URL"))
    for key in ("pg_ingest_eps", "pg_group_by_s", "pg_invoice_run_s", "pg_ratio_vs_group_by"):
        assert (figures[key] > 0) if with_pg else (figures[key] is None), key
    if with_pg:
        assert figures["pg_invoiced_cents"] == figures["sqlite_invoiced_cents"]
