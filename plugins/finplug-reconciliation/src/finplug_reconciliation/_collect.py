"""The items a run matches: a reconciled account's statement lines and ledger postings of a period.

Both sides come out as polars frames with the matching engine's columns
(``id``, ``amount``, ``on``, ``reference``, ``counterparty``, ``text``),
amounts as signed integers in minor units, signed as the statement sees
them. Items already taken (in a live match) are left out.

A ledger posting's day is its ``posted_at`` in the account's time zone;
its reference is the first group of the first ``reference_patterns``
entry matching its key; else its entry key, or (``reference: payment``)
the key up to its first ``:`` (payments keys ``<payment id>:capture`` …).

Both sides are read in bulk, straight into columns, on the two drivers
finplug's storage runs on (:mod:`._bulk`: SQLite's JSON lines,
PostgreSQL's ``COPY`` as CSV, which polars parses). A posting is exactly
what :meth:`finplug.LedgerSession.postings`
gives (one per entry and account that moved posted money on it: holds make
none, a capture one at its own ``seq``, a void none; the sum of the entry's
posted rows on the account, debits positive, negated for a credit-normal
account), read from the ledger's tables in one statement per account: the
union of the account's debit and credit index ranges over the entries made
in the period. That range is found on the ``posted_at`` index: entries'
times never decrease along the chain (the ledger stamps each with the later
of the clock and the previous entry's time), so the entries of a period are
one range of ``seq``. Other drivers read through the ledger's API and Core
statements, with the same result.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import holidays
import polars as pl
from sqlalchemy import Connection, select

from finplug import AccountNotFoundError, UnitOfWork, as_utc
from finplug.ledger.schema import accounts as ledger_accounts
from finplug.ledger.schema import transfers as ledger_transfers
from finplug.sockets.reconciliation import MatchSide
from finplug_reconciliation._bulk import BulkDriver, bulk_driver, driver_table, read_frame
from finplug_reconciliation._matchstore import taken
from finplug_reconciliation._schema import matched_items, statement_lines
from finplug_reconciliation._settings import AccountSettings
from finplug_reconciliation.matching import Calendar

__all__ = ["ITEM_SCHEMA", "calendar_of", "ledger_items", "statement_items"]

#: The columns (and types) of the frames handed to the matching engine.
ITEM_SCHEMA: Final = {
    "id": pl.Utf8,
    "amount": pl.Int64,
    "on": pl.Date,
    "reference": pl.Utf8,
    "counterparty": pl.Utf8,
    "text": pl.Utf8,
}
#: Postings read per ledger page (other drivers, through the ledger's API).
_PAGE: Final = 10_000
#: Entry heads looked up per statement.
_CHUNK: Final = 500
#: What ``str.strip()`` strips: every character Python counts as white space (none is
#: above U+3000).
_WHITESPACE: Final = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
#: How SQLite stores a ``DateTime`` (SQLAlchemy's format; the ledger writes the same).
_STORED_TIME: Final = "%Y-%m-%d %H:%M:%S%.f"
_PG_TIME: Final = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_US: Final = 60_000_000

_LINE_SCHEMA: Final = {
    "id": pl.Utf8,
    "amount": pl.Int64,
    "on": pl.Utf8,
    "reference": pl.Utf8,
    "counterparty": pl.Utf8,
    "text": pl.Utf8,
}
_ROW_SCHEMA: Final = {
    "seq": pl.Int64,
    "delta": pl.Int64,
    "posted_at": pl.Utf8,
    "key": pl.Utf8,
    "description": pl.Utf8,
}
_HEAD_SCHEMA: Final = {
    "seq": pl.Int64,
    "posted_at": pl.Utf8,
    "key": pl.Utf8,
    "description": pl.Utf8,
}


# ---------------------------------------------------------------- statement lines


def _line_rows(
    conn: Connection, name: str, start: date, end: date, *, untaken: bool
) -> pl.DataFrame:
    """The account's lines booked ``start`` to ``end``: the columns :func:`statement_items` uses.

    ``untaken``: only lines no live match has taken (the driver path leaves
    the others out in SQL: an anti-join on ``recon_matched_items``' key).
    """
    driver = bulk_driver(conn)
    c = statement_lines.c
    if driver is None:
        query = select(
            c.id,
            c.amount,
            c.booked_on,
            c.reference,
            c.counterparty,
            c.description + " " + c.bank_reference,
        ).where(c.account == name, c.booked_on >= start, c.booked_on <= end)
        rows = [tuple(row) for row in conn.execute(query)]
        frame = pl.DataFrame(rows, schema={**_LINE_SCHEMA, "on": pl.Date}, orient="row")
        return _untaken(conn, MatchSide.STATEMENT, frame) if untaken else frame
    booked = "booked_on" if driver == "sqlite" else "to_char(booked_on, 'YYYY-MM-DD')"
    quote = conn.dialect.identifier_preparer.quote
    on, text = quote("on"), quote("text")
    mark = "?" if driver == "sqlite" else "%s"
    sql = (
        f"SELECT id, amount, {booked} AS {on}, reference, counterparty,"
        f" description || ' ' || bank_reference AS {text}"
        f" FROM {driver_table(conn, statement_lines)} AS lines"
        f" WHERE account = {mark} AND booked_on >= {mark} AND booked_on <= {mark}"
    )
    if untaken:
        sql += (
            f" AND NOT EXISTS (SELECT 1 FROM {driver_table(conn, matched_items)} AS taken"
            f" WHERE taken.side = '{MatchSide.STATEMENT.value}' AND taken.item = lines.id)"
        )
    bind = c.booked_on.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    bounds = (start, end) if bind is None else (bind(start), bind(end))
    frame = read_frame(conn, driver, sql, (name, *bounds), _LINE_SCHEMA)
    return frame.with_columns(pl.col("on").str.to_date("%Y-%m-%d"))


def statement_items(
    conn: Connection, name: str, start: date, end: date, *, all_items: bool = False
) -> pl.DataFrame:
    """The account's statement lines booked ``start`` to ``end``, not yet taken (or all)."""
    frame = _line_rows(conn, name, start, end, untaken=not all_items).select(
        "id",
        "amount",
        "on",
        "reference",
        "counterparty",
        pl.col("text").str.strip_chars(_WHITESPACE),
    )
    return frame.sort("id")


def _untaken(conn: Connection, side: MatchSide, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s items that no live match has taken."""
    done = taken(conn, side, frame["id"].to_list())
    if not done:
        return frame
    return frame.filter(~pl.col("id").is_in(pl.Series(list(done), dtype=pl.Utf8)))


# ---------------------------------------------------------------- ledger postings


def _bounds(account: AccountSettings, start: date, end: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(account.timezone)
    first = datetime.combine(start, time(0), zone)
    after = datetime.combine(end + timedelta(days=1), time(0), zone)
    return first, after


def _micros(moment: datetime) -> int:
    """``moment`` as microseconds since the epoch (UTC)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _postings(
    uow: UnitOfWork, code: str, until: datetime
) -> Iterator[tuple[int, int, datetime, str, str]]:
    after = 0
    while True:
        try:
            page = uow.ledger.postings([code], after=after, until=until, limit=_PAGE)
        except AccountNotFoundError:
            return  # not opened yet: nothing was ever posted on it
        if not page:
            return
        for p in page:
            yield p.seq, p.amount.minor_units, p.posted_at, p.key, p.description
        after = page[-1].seq


def _posting_frame_api(
    uow: UnitOfWork, code: str, first: datetime, after: datetime
) -> pl.DataFrame:
    """One account's postings made ``first`` to ``after`` through the ledger's API."""
    rows = [
        (seq, amount, _micros(posted_at), key, description)
        for seq, amount, posted_at, key, description in _postings(uow, code, after)
        if first <= posted_at < after
    ]
    schema = {
        "seq": pl.Int64,
        "amount": pl.Int64,
        "at": pl.Int64,
        "key": pl.Utf8,
        "description": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _seq_span(conn: Connection, first: datetime, after: datetime) -> tuple[int, int] | None:
    """The first and last ``seq`` of the entries made ``first`` (inclusive) to ``after``."""
    t = ledger_transfers.c
    start, stop = as_utc(first), as_utc(after)
    low = conn.execute(
        select(t.seq).where(t.posted_at >= start).order_by(t.posted_at, t.seq).limit(1)
    ).scalar()
    high = conn.execute(
        select(t.seq).where(t.posted_at < stop).order_by(t.posted_at.desc(), t.seq.desc()).limit(1)
    ).scalar()
    if low is None or high is None or int(low) > int(high):
        return None
    return int(low), int(high)


def _posting_rows(
    conn: Connection,
    driver: BulkDriver,
    account_id: int,
    span: tuple[int, int],
    untaken_as: str | None,
) -> pl.DataFrame:
    """The posted rows of entries ``span`` on one account: seq, signed amount, head columns.

    The head columns (time, key, description) are null but on an entry's first row.
    ``untaken_as``: the account's code, to leave out in SQL the postings a
    live match has taken (their item id is ``<seq>:<code>``); ``None``: all.
    """
    table = driver_table(conn, ledger_transfers)
    mark = "?" if driver == "sqlite" else "%s"
    posted = "posted_at" if driver == "sqlite" else _PG_TIME.format("posted_at")
    unmatched = ""
    if untaken_as is not None:
        unmatched = (
            f" AND NOT EXISTS (SELECT 1 FROM {driver_table(conn, matched_items)} AS taken"
            f" WHERE taken.side = '{MatchSide.LEDGER.value}'"
            f" AND taken.item = CAST(legs.seq AS TEXT) || {mark})"
        )
    members = [
        f"SELECT seq, {delta} AS delta, {posted} AS posted_at, key, description"
        f" FROM {table} AS legs"
        f" WHERE {side} = {mark} AND seq >= {mark} AND seq <= {mark} AND flow = 0{unmatched}"
        for side, delta in (("debit_id", "amount"), ("credit_id", "-amount"))
    ]
    suffix = () if untaken_as is None else (f":{untaken_as}",)
    params = (account_id, *span, *suffix) * 2
    return read_frame(conn, driver, " UNION ALL ".join(members), params, _ROW_SCHEMA)


def _heads(conn: Connection, driver: BulkDriver, seqs: list[int]) -> pl.DataFrame:
    """The head columns (time, key, description) of entries ``seqs``."""
    table = driver_table(conn, ledger_transfers)
    posted = "posted_at" if driver == "sqlite" else _PG_TIME.format("posted_at")
    head = f"SELECT seq, {posted} AS posted_at, key, description FROM {table} WHERE pair = 0 AND"
    frames = []
    for start in range(0, len(seqs), _CHUNK):
        chunk = seqs[start : start + _CHUNK]
        if driver == "sqlite":
            sql = f"{head} seq IN ({', '.join('?' * len(chunk))})"
            frames.append(read_frame(conn, driver, sql, chunk, _HEAD_SCHEMA))
        else:
            frames.append(read_frame(conn, driver, f"{head} seq = ANY(%s)", (chunk,), _HEAD_SCHEMA))
    return pl.concat(frames) if frames else pl.DataFrame(schema=_HEAD_SCHEMA)


def _stored_micros(text: pl.Series) -> pl.Series:
    """Stored times (UTC, SQLite's text format) as microseconds since the epoch."""
    parsed = text.str.to_datetime(_STORED_TIME, time_unit="us", strict=False).dt.epoch("us")
    odd = parsed.is_null() & text.is_not_null()
    if not odd.any():
        return parsed
    values = parsed.to_list()
    for i in odd.arg_true().to_list():  # another ISO form: as the ledger reads it back
        moment = datetime.fromisoformat(text[i])
        values[i] = _micros(as_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC)))
    return pl.Series(text.name, values, dtype=pl.Int64)


def _posting_frame_sql(
    conn: Connection,
    driver: BulkDriver,
    account_id: int,
    span: tuple[int, int],
    untaken_as: str | None,
) -> pl.DataFrame:
    """One account's postings of entries ``span``: seq, amount (debits positive), ``at``, head.

    ``at`` is the entry's time in microseconds since the epoch;
    ``untaken_as`` as for :func:`_posting_rows`.
    """
    rows = _posting_rows(conn, driver, account_id, span, untaken_as)
    sums = rows.group_by("seq").agg(pl.col("delta").sum().alias("amount"))
    heads = (
        rows.filter(pl.col("key").is_not_null())  # an entry's head (ck_ledger_transfers_head)
        .unique("seq", keep="first")
        .select("seq", "posted_at", "key", "description")
    )
    lacking = sums.join(heads, on="seq", how="anti")["seq"]
    if lacking.len():  # the account's rows of these entries all follow their head
        heads = pl.concat([heads, _heads(conn, driver, sorted(lacking.to_list()))])
    found = sums.join(heads, on="seq", how="inner").sort("seq")
    return found.select(
        "seq", "amount", _stored_micros(found["posted_at"]).alias("at"), "key", "description"
    )


def _local_days(at: pl.Series, zone: ZoneInfo) -> pl.Series:
    """Each time's date in ``zone``, exactly as ``datetime.astimezone(zone).date()`` gives it.

    The zone is asked once per distinct minute (its offset at the minute's
    first and last microsecond); a minute in which the offset or the date
    changes (none, in practice) is worked out time by time.
    """
    minutes = (at // _MINUTE_US).unique().to_list()
    days: list[date | None] = []
    for minute in minutes:
        begin = _EPOCH + timedelta(microseconds=minute * _MINUTE_US)
        local = begin.astimezone(zone)
        last = (begin + timedelta(microseconds=_MINUTE_US - 1)).astimezone(zone)
        same = local.utcoffset() == last.utcoffset() and local.date() == last.date()
        days.append(local.date() if same else None)
    table = pl.DataFrame(
        {"minute": minutes, "day": days}, schema={"minute": pl.Int64, "day": pl.Date}
    )
    joined = pl.DataFrame({"at": at}).with_columns(minute=pl.col("at") // _MINUTE_US)
    out = joined.join(table, on="minute", how="left", maintain_order="left")["day"]
    odd = out.is_null()
    if not odd.any():
        return out
    values = out.to_list()
    for i in odd.arg_true().to_list():
        values[i] = (_EPOCH + timedelta(microseconds=at[i])).astimezone(zone).date()
    return pl.Series("day", values, dtype=pl.Date)


def _account_rows(conn: Connection, codes: Sequence[str]) -> dict[str, tuple[int, str]]:
    """``code -> (id, normal side)`` of the ledger accounts that exist among ``codes``."""
    a = ledger_accounts.c
    query = select(a.code, a.id, a.normal).where(a.code.in_(list(codes)))
    return {code: (int(ident), normal) for code, ident, normal in conn.execute(query)}


def ledger_items(
    uow: UnitOfWork,
    name: str,
    account: AccountSettings,
    start: date,
    end: date,
    *,
    all_items: bool = False,
) -> pl.DataFrame:
    """The postings on the account's ledger accounts made ``start`` to ``end``, not yet taken."""
    conn = uow.conn
    first, after = _bounds(account, start, end)
    zone = ZoneInfo(account.timezone)
    driver = bulk_driver(conn)
    known = _account_rows(conn, list(account.ledger_accounts)) if driver else {}
    span = _seq_span(conn, first, after) if driver else None
    low, high = _micros(first), _micros(after)
    reference = pl.col("key")
    if account.reference == "payment":
        reference = reference.str.splitn(":", 2).struct.field("field_0")
    if account.reference_patterns:  # the first pattern matching the key, else the above
        extracted = [pl.col("key").str.extract(p, 1) for p in account.reference_patterns]
        reference = pl.coalesce(*extracted, reference)
    frames = []
    for code, sign in account.ledger_accounts.items():
        if driver is None:
            found = _posting_frame_api(uow, code, first, after)
        elif code not in known or span is None:
            continue  # not opened yet (nothing was ever posted on it), or no entry then
        else:
            ident, normal = known[code]
            found = _posting_frame_sql(conn, driver, ident, span, None if all_items else code)
            if normal == "credit":
                found = found.with_columns(-pl.col("amount"))
            found = found.filter(pl.col("at") >= low, pl.col("at") < high)
        found = found.filter(pl.col("amount") != 0)
        frames.append(
            found.select(
                pl.format("{}:{}", pl.col("seq"), pl.lit(code)).alias("id"),
                (pl.col("amount") * sign).alias("amount"),
                _local_days(found["at"], zone).alias("on"),
                reference.alias("reference"),
                pl.lit("").alias("counterparty"),
                pl.col("description").alias("text"),
            )
        )
    if not frames:
        return pl.DataFrame(schema=ITEM_SCHEMA)
    found = pl.concat(frames)
    if driver is None and not all_items:  # the driver path left them out in SQL
        found = _untaken(conn, MatchSide.LEDGER, found)
    return found.cast(pl.Schema(ITEM_SCHEMA))


@functools.lru_cache(maxsize=64)
def _holidays(country: str, first: int, last: int) -> frozenset[date]:
    found = holidays.country_holidays(country, years=range(first, last + 1))
    return frozenset(found)


def calendar_of(account: AccountSettings, start: date, end: date) -> Calendar:
    """The business days date windows count in: Monday to Friday, less the country's holidays."""
    if account.calendar_country is None:
        return Calendar()
    days = _holidays(account.calendar_country, start.year - 1, end.year + 1)
    return Calendar(holidays=days)
