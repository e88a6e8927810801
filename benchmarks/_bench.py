"""What every benchmark script shares: output, timing rounds, aims and the command line.

The scripts import it as a sibling module (``python benchmarks/ledger.py`` puts
``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PG_ENV",
    "Aim",
    "alternate",
    "load_average",
    "log",
    "parse_args",
    "report_aims",
    "timed",
]

#: The variable naming the PostgreSQL test database (the tests and CI set it).
PG_ENV = "FINPLUG_TEST_DATABASE_URL"


def log(line: str = "") -> None:
    """Print a human-readable line at once (the figures are read while they come)."""
    print(line, flush=True)


def load_average() -> float | None:
    """The one-minute load average, where the platform has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def parse_args(
    doc: str | None, argv: list[str] | None, *, quick_help: str, database_url: bool
) -> argparse.Namespace:
    """``--quick`` and, for storage benchmarks, ``--database-url`` (default ``$PG_ENV``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if database_url:
        parser.add_argument(
            "--database-url",
            default=os.environ.get(PG_ENV) or None,
            help=f"PostgreSQL URL for the PostgreSQL figures (default: ${PG_ENV})",
        )
    return parser.parse_args(argv)


def timed(run: Callable[[], int]) -> float:
    """Operations per second of one round: ``run`` does the work and returns its count.

    The garbage collector is off while it runs, so no round pays for another's garbage.
    """
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        count = run()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return count / elapsed


def alternate(
    rounds: int, contestants: dict[str, Callable[[], Callable[[], int]]]
) -> dict[str, float]:
    """Median operations/s per contestant; the order of contestants flips every round.

    Each contestant is a factory of one round's work (see :func:`timed`).
    """
    figures: dict[str, list[float]] = {name: [] for name in contestants}
    names = list(contestants)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            figures[name].append(timed(contestants[name]()))
    return {name: statistics.median(values) for name, values in figures.items()}


@dataclass(frozen=True, slots=True)
class Aim:
    """A target from an issue: ``value`` must be at least (or at most) ``limit``."""

    label: str
    value: float | None
    """The measured figure; ``None`` when it was not measured (no PostgreSQL URL …)."""
    limit: float
    at_least: bool = False


def report_aims(results: dict[str, Any], aims: Sequence[Aim]) -> None:
    """Print PASS / MISS / SKIP per aim; record ``aims_passed`` and ``aims_total`` (measured)."""
    log("== aims (informational) ==")
    width = max(len(aim.label) for aim in aims)
    passed = total = 0
    for aim in aims:
        if aim.value is None:
            log(f"  SKIP  {aim.label:<{width}}  not measured")
            continue
        total += 1
        ok = aim.value >= aim.limit if aim.at_least else aim.value <= aim.limit
        passed += ok
        shown = f"{aim.value:,.1f}" if abs(aim.value) >= 100 else f"{aim.value:.4g}"
        log(f"  {'PASS' if ok else 'MISS'}  {aim.label:<{width}}  measured {shown}")
    results["aims_passed"] = passed
    results["aims_total"] = total
