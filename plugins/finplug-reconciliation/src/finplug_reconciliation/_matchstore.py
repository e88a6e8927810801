"""Matches in storage: the items taken, a run's matches written in bulk, undone and read back.

An item is taken at most once: the primary key of ``recon_matched_items``
(side, item) says so, whatever runs at the same time. A run's matches are
numbered from its id (:func:`run_match_ids`), written in columns a part at a
time (:class:`MatchBatch`, :func:`save_matches`: ``executemany`` on SQLite,
``COPY`` on PostgreSQL, the taken items in key order), and found again from
the run alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import polars as pl
from sqlalchemy import Connection, delete, insert, select, update

from finplug import Money, as_utc
from finplug.sockets.reconciliation import Match, MatchSide
from finplug_reconciliation._bulk import (
    bulk_driver,
    driver_cursor,
    driver_table,
    roomy_cache,
    write_columns,
)
from finplug_reconciliation._schema import decode_items, encode_items, matched_items, matches
from finplug_reconciliation._store import Item, add_audit
from finplug_reconciliation.matching import Match as FoundMatch

__all__ = [
    "MatchBatch",
    "MatchPart",
    "MatchRow",
    "live_run_matches",
    "load_match",
    "run_match_ids",
    "save_match",
    "save_matches",
    "taken",
    "undo_match",
]

#: Rows per ``IN`` list.
_CHUNK: Final = 500
#: Ids per probe of :func:`taken` through the driver (SQLite allows 32,766 parameters).
_PROBE: Final = 5_000


def taken(conn: Connection, side: MatchSide, ids: Iterable[str]) -> dict[str, str]:
    """Which of ``ids`` (items of ``side``) are taken, and by which live match.

    Probes the primary key of ``recon_matched_items`` a chunk of ids at a
    time (an ``IN`` list on SQLite, ``= ANY`` of an array on PostgreSQL),
    so a million items cost a million index lookups, whatever the table holds.
    """
    wanted = list(ids)
    found: dict[str, str] = {}
    driver = bulk_driver(conn)
    c = matched_items.c
    if driver is None:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(c.item, c.match_id).where(c.side == side.value, c.item.in_(chunk))
            found.update((item, match) for item, match in conn.execute(query))
        return found
    table = driver_table(conn, matched_items)
    with driver_cursor(conn) as cursor:
        for start in range(0, len(wanted), _PROBE):
            chunk = wanted[start : start + _PROBE]
            if driver == "sqlite":
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT item, match_id FROM {table} WHERE side = ? AND item IN ({marks})"
                cursor.execute(sql, (side.value, *chunk))
            else:
                sql = f"SELECT item, match_id FROM {table} WHERE side = %s AND item = ANY(%s)"
                cursor.execute(sql, (side.value, chunk))
            found.update(cursor.fetchall())
    return found


def save_match(
    conn: Connection,
    *,
    ident: str,
    account: str,
    run_id: str | None,
    rule: str,
    score: int,
    code: str,
    items: Sequence[Item],
    created_by: str,
    now: datetime,
) -> None:
    """Write a live match and take its items (an item already taken: IntegrityError)."""
    statement_total = sum(i.amount for i in items if i.side is MatchSide.STATEMENT)
    ledger_total = sum(i.amount for i in items if i.side is MatchSide.LEDGER)
    save_matches(
        conn,
        [(ident, run_id, rule, score, statement_total, ledger_total, items)],
        account=account,
        code=code,
        created_by=created_by,
        now=now,
    )


def run_match_ids(run_id: str, count: int, start: int = 0, stop: int | None = None) -> list[str]:
    """The ids of matches ``start`` to ``stop`` of the ``count`` a run made.

    ``mat_<the run's hex>_<n>``, ``n`` zero-padded to one width per run: the
    ids sort as the matches were found, so the primary key grows at one end,
    and a run's matches are found from the run alone (no index on
    ``run_id``: a run writes a million of them).
    """
    width = len(str(max(count - 1, 0)))
    prefix = f"mat_{run_id.removeprefix('run_')}_"
    return [f"{prefix}{n:0{width}d}" for n in range(start, count if stop is None else stop)]


#: One match to write: id, run, rule, score, statement total, ledger total, items.
MatchRow = tuple[str, str | None, str, int, int, int, Sequence[Item]]


#: One part of a :class:`MatchBatch`: its matches' columns, and their items' columns.
MatchPart = tuple[dict[str, Sequence[Any]], dict[str, Sequence[Any] | pl.Series]]
#: Matches per part: what is built and written at a time.
_PART: Final = 100_000
#: The columns of ``recon_matched_items`` a batch writes.
_TAKEN_SCHEMA: Final = {"side": pl.Utf8, "item": pl.Utf8, "match_id": pl.Utf8}


class MatchBatch:
    """Matches to write at once, built in columns a part at a time (:func:`save_matches`).

    A part holds a value per match in each of ``id``, ``run_id``, ``rule``,
    ``score``, ``statement_total``, ``ledger_total``, ``statement_items``
    and ``ledger_items`` (or ``run_id`` is one of :attr:`constants`), and a
    value per item taken in each of ``side``, ``item`` and ``match_id``.
    """

    def __init__(
        self,
        count: int,
        parts: Callable[[], Iterator[MatchPart]],
        constants: dict[str, object] | None = None,
    ) -> None:
        self.count = count
        """How many matches."""
        self.parts = parts
        """The parts, in order, built as they are asked for."""
        self.constants: dict[str, object] = constants or {}
        """Columns of the matches with one value for all of them."""

    @classmethod
    def of_rows(cls, rows: Iterable[MatchRow]) -> MatchBatch:
        """The batch of ``rows``, in one part."""
        heads: list[tuple[Any, ...]] = []
        items: list[Item] = []
        owners: list[str] = []
        for ident, run_id, rule, score, statement_total, ledger_total, members in rows:
            listed = [
                encode_items([i.id for i in members if i.side is side])
                for side in (MatchSide.STATEMENT, MatchSide.LEDGER)
            ]
            heads.append((ident, run_id, rule, score, statement_total, ledger_total, *listed))
            items += members
            owners += [ident] * len(members)
        names = (
            "id",
            "run_id",
            "rule",
            "score",
            "statement_total",
            "ledger_total",
            "statement_items",
            "ledger_items",
        )
        columns = list(zip(*heads, strict=True)) if heads else [() for _ in names]
        part: MatchPart = (
            dict(zip(names, columns, strict=True)),
            {
                "side": [i.side.value for i in items],
                "item": [i.id for i in items],
                "match_id": owners,
            },
        )
        return cls(len(heads), lambda: iter([part]))

    @classmethod
    def of_result(cls, found: Sequence[FoundMatch], run_id: str) -> MatchBatch:
        """The matches a run found, with the ids :func:`run_match_ids` gives, in order."""

        def parts() -> Iterator[MatchPart]:
            for start in range(0, len(found), _PART):
                some = found[start : start + _PART]
                ids = run_match_ids(run_id, len(found), start, start + len(some))
                heads: dict[str, Sequence[Any]] = {
                    "id": ids,
                    "rule": [m.rule for m in some],
                    "score": [m.score for m in some],
                    "statement_total": [m.statement_total for m in some],
                    "ledger_total": [m.ledger_total for m in some],
                    "statement_items": [encode_items(m.statement_ids) for m in some],
                    "ledger_items": [encode_items(m.ledger_ids) for m in some],
                }
                side_of: list[str] = []
                items: list[str] = []
                owners: list[str] = []
                for side, chosen in (
                    (MatchSide.STATEMENT, [m.statement_ids for m in some]),
                    (MatchSide.LEDGER, [m.ledger_ids for m in some]),
                ):
                    flat = list(itertools.chain.from_iterable(chosen))
                    side_of += [side.value] * len(flat)
                    items += flat
                    if len(flat) == len(chosen):  # one item each: one_to_one, the usual
                        owners += ids
                    else:
                        owners += [i for i, of in zip(ids, chosen, strict=True) for _ in of]
                yield heads, {"side": side_of, "item": items, "match_id": owners}

        return cls(len(found), parts, {"run_id": run_id})


def save_matches(
    conn: Connection,
    rows: Iterable[MatchRow] | MatchBatch,
    *,
    account: str,
    code: str,
    created_by: str,
    now: datetime,
) -> int:
    """Write many live matches at once and take their items; how many matches.

    In bulk on the drivers finplug's storage runs on: ``executemany`` on
    the driver's cursor (SQLite), ``COPY`` (psycopg); Core statements on
    others. An item already taken is an ``IntegrityError`` (the primary key
    of ``recon_matched_items``), whatever the driver.
    """
    batch = rows if isinstance(rows, MatchBatch) else MatchBatch.of_rows(rows)
    if not batch.count:
        return 0
    every = {
        **batch.constants,
        "account": account,
        "currency": code,
        "created_by": created_by,
        "created_at": now,
        "live": True,
    }
    driver = bulk_driver(conn)
    if driver is not None:
        taken_parts = []
        with roomy_cache(conn, batch.count):
            for heads, items in batch.parts():
                write_columns(conn, driver, matches, heads, every)
                taken_parts.append(pl.DataFrame(items, schema=_TAKEN_SCHEMA))
            # In key order: a B-tree filled in order writes each page once (at random: 4x slower).
            everything = pl.concat(taken_parts).sort("side", "item")
            del taken_parts
            for start in range(0, everything.height, _PART):
                part = everything.slice(start, _PART)
                write_columns(conn, driver, matched_items, {n: part[n] for n in part.columns})
        return batch.count
    for heads, items in batch.parts():
        conn.execute(insert(matches), [{**row, **every} for row in _rows(heads)])
        conn.execute(insert(matched_items), _rows({k: list(v) for k, v in items.items()}))
    return batch.count


def _rows(columns: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def live_run_matches(conn: Connection, run_id: str, count: int) -> list[str]:
    """The ids of a run's matches still live, in order (``count``: how many the run made)."""
    live: list[str] = []
    everything = run_match_ids(run_id, count)
    for start in range(0, len(everything), _CHUNK):
        chunk = everything[start : start + _CHUNK]
        query = select(matches.c.id).where(matches.c.id.in_(chunk), matches.c.live.is_(True))
        live += sorted(conn.execute(query).scalars())
    return live


def undo_match(conn: Connection, ident: str, at: datetime, actor: str) -> None:
    """Mark a match undone and give its items back; the audit keeps which they were."""
    c = matched_items.c
    row = conn.execute(
        select(matches.c.statement_items, matches.c.ledger_items).where(matches.c.id == ident)
    ).one()
    items = [
        (side.value, item)
        for side, text in (
            (MatchSide.LEDGER, row.ledger_items),
            (MatchSide.STATEMENT, row.statement_items),
        )
        for item in sorted(decode_items(text))
    ]
    conn.execute(update(matches).where(matches.c.id == ident).values(live=False))
    for side in (MatchSide.STATEMENT, MatchSide.LEDGER):
        mine = [item for s, item in items if s == side.value]
        for start in range(0, len(mine), _CHUNK):
            conn.execute(
                delete(matched_items).where(
                    c.side == side.value,
                    c.item.in_(mine[start : start + _CHUNK]),
                    c.match_id == ident,
                )
            )
    add_audit(conn, at, actor, "undone", ident, " ".join(f"{s}:{i}" for s, i in items))


def load_match(conn: Connection, row: Any) -> Match:
    """A live match from its row, with its items."""
    return Match(
        id=row.id,
        run_id=row.run_id,
        rule=row.rule,
        score=row.score,
        statement_items=tuple(sorted(decode_items(row.statement_items))),
        ledger_items=tuple(sorted(decode_items(row.ledger_items))),
        statement_total=Money.from_minor(row.statement_total, row.currency),
        ledger_total=Money.from_minor(row.ledger_total, row.currency),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
    )
