"""What every benchmark script shares: output, timing rounds, aims and the command line.

The scripts import it as a sibling module (``python benchmarks/ledger.py`` puts
``benchmarks/`` on ``sys.path``).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

__all__ = [
    "PG_ENV",
    "Aim",
    "alternate",
    "load_average",
    "log",
    "parameterized",
    "parse_args",
    "replay_floor",
    "report_aims",
    "sqlite_trace",
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


# ---------------------------------------------------------------- the SQL floor


@contextmanager
def sqlite_trace(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement SQLite runs on ``engine``'s connections meanwhile, values inlined.

    Recorded by SQLite itself (``set_trace_callback`` on every connection
    checked out), so statements sent on raw DBAPI cursors count too;
    ``BEGIN``, ``COMMIT`` and savepoints included. Python's sqlite3 reports
    each trigger a statement fires (even one whose ``WHEN`` is false) as a
    repeat of that statement's text, so runs of one text are kept once.
    """
    seen: list[str] = []
    traced: list[Any] = []

    def trace(statement: str) -> None:
        if statement.startswith("--"):  # a trigger body, as some versions report it
            return
        if seen and seen[-1] == statement:  # a trigger's echo of its statement
            return
        seen.append(statement)

    def checkout(dbapi_connection: Any, *_args: object) -> None:
        dbapi_connection.set_trace_callback(trace)
        traced.append(dbapi_connection)

    event.listen(engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", checkout)
        for dbapi_connection in traced:
            dbapi_connection.set_trace_callback(None)


_LITERAL = re.compile(
    r"""(?P<str>'(?:[^']|'')*')"""  # 'text', '' escapes a quote
    r"""|(?P<blob>[xX]'[0-9a-fA-F]*')"""
    r"""|(?P<ident>"(?:[^"]|"")*"|[A-Za-z_][A-Za-z_0-9$]*)"""  # names keep their digits
    r"""|(?P<num>\d+(?:\.\d+)?)"""
)


def parameterized(statement: str) -> tuple[str, tuple[Any, ...]]:
    """A traced statement back as (SQL with ``?`` marks, its values).

    The trace inlines values; putting them back as parameters lets SQLite's
    prepared-statement cache work as it does in a real flow (one compile per
    statement shape, not per statement).
    """
    values: list[Any] = []

    def mark(match: re.Match[str]) -> str:
        kind = match.lastgroup
        text = match.group()
        if kind == "str":
            values.append(text[1:-1].replace("''", "'"))
        elif kind == "blob":
            values.append(bytes.fromhex(text[2:-1]))
        elif kind == "num":
            values.append(float(text) if "." in text else int(text))
        else:
            return text
        return "?"

    return _LITERAL.sub(mark, statement), tuple(values)


def replay_floor(engine: Engine, run: Callable[[], int], rounds: int) -> float:
    """Units/s of ``run``'s own SQL, replayed on the bare sqlite3 driver: the floor under Python.

    A copy of the SQLite database behind ``engine`` is taken (the backup
    API); ``run()`` then runs once with every statement traced (values
    inlined; it returns how many units of work it did); the statements are
    replayed in order on fresh copies, through a plain ``sqlite3`` connection
    with the storage's settings (WAL, ``synchronous=NORMAL``, foreign keys
    on), each prepared once per shape as in the real run (see
    :func:`parameterized`), and timed. Only SQLite runs: the same
    statements, rows, indexes, triggers and commits, no Python logic and no
    SQLAlchemy. An ``executemany`` replays as one ``execute`` per row, a
    little slower than the real thing. The median of ``rounds`` replays.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database:
        raise ValueError("replay_floor needs an SQLite file database")
    folder = Path(tempfile.mkdtemp(prefix="finplug-floor-"))
    try:
        before = folder / "before.db"
        with engine.connect() as conn:
            target = sqlite3.connect(before)
            conn.connection.driver_connection.backup(target)  # type: ignore[union-attr]
            target.close()
        with sqlite_trace(engine) as seen:
            done = run()
        script = [parameterized(statement) for statement in seen]
        rates = []
        for n in range(rounds):
            copy = folder / f"replay-{n}.db"
            shutil.copyfile(before, copy)
            replay = sqlite3.connect(copy, isolation_level=None, cached_statements=1024)
            replay.execute("PRAGMA journal_mode=WAL")
            replay.execute("PRAGMA synchronous=NORMAL")
            replay.execute("PRAGMA foreign_keys=ON")
            gc.disable()
            try:
                started = time.perf_counter()
                for statement, values in script:
                    replay.execute(statement, values)
                elapsed = time.perf_counter() - started
            finally:
                gc.enable()
                replay.close()
            rates.append(done / elapsed)
        return statistics.median(rates)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
