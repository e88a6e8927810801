"""Input items: validation of either side, and the derived columns the matcher uses.

Each side is a polars DataFrame with columns ``id`` (String, unique),
``amount`` (integer minor units, signed), ``on`` (Date) and, optionally,
``reference``, ``counterparty``, ``text`` (String; missing or null read as
``""``). A sequence of :class:`Item` is accepted as well. Anything else is
refused with a located :class:`~._errors.MatchInputError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from finplug._text import shorten
from finplug_reconciliation.matching._calendar import Calendar
from finplug_reconciliation.matching._errors import (
    DuplicateIdError,
    MatchInputError,
    NonIntegerAmountError,
)
from finplug_reconciliation.matching._text import normalise_series

__all__ = ["SCHEMA", "Item", "prepare", "to_frame"]

#: The validated frame's columns and types.
SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "amount": pl.Int64(),
    "on": pl.Date(),
    "reference": pl.String(),
    "counterparty": pl.String(),
    "text": pl.String(),
}
_TEXTS = ("reference", "counterparty", "text")
#: Amounts must stay below this in magnitude, so differences never overflow Int64.
AMOUNT_LIMIT = 2**62
_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass(frozen=True, slots=True)
class Item:
    """One statement line or ledger transfer: an amount in minor units on a date."""

    id: str
    amount: int
    on: date
    reference: str = ""
    counterparty: str = ""
    text: str = ""


def _items_to_frame(side: str, items: Sequence[Item]) -> pl.DataFrame:
    columns: dict[str, list[object]] = {name: [] for name in SCHEMA}
    for row, item in enumerate(items):
        if not isinstance(item, Item):
            raise MatchInputError(side, "item", f"expected an Item, got {shorten(item)}", row=row)
        if isinstance(item.amount, bool) or not isinstance(item.amount, int):
            raise NonIntegerAmountError(
                side,
                "amount",
                f"expected an int of minor units, got {type(item.amount).__name__} "
                f"{shorten(item.amount)}",
                row=row,
            )
        if abs(item.amount) >= AMOUNT_LIMIT:
            raise MatchInputError(side, "amount", "expected |amount| < 2**62 minor units", row=row)
        if isinstance(item.on, datetime) or not isinstance(item.on, date):
            raise MatchInputError(side, "on", f"expected a date, got {shorten(item.on)}", row=row)
        for name in ("id", *_TEXTS):
            value = getattr(item, name)
            if not isinstance(value, str):
                raise MatchInputError(side, name, f"expected str, got {shorten(value)}", row=row)
        for name in SCHEMA:
            columns[name].append(getattr(item, name))
    return pl.DataFrame(columns, schema=SCHEMA)


def _as_object(value: object) -> object:
    return value


def _first_row(mask: pl.Series) -> int:
    return int(mask.arg_true()[0])


def _check_column(side: str, frame: pl.DataFrame, name: str) -> pl.Series:
    column = frame.get_column(name)
    dtype = column.dtype
    if name == "amount":
        if dtype.is_float() or dtype.is_decimal():
            raise NonIntegerAmountError(
                side,
                "amount",
                f"expected integer minor units (Int64), got a {dtype} column; "
                "convert to minor units first (e.g. cents)",
            )
        if not isinstance(dtype, _INTEGERS):
            raise MatchInputError(side, "amount", f"expected Int64 minor units, got {dtype}")
        if dtype == pl.UInt64:
            too_big = column >= AMOUNT_LIMIT
            if too_big.any():
                raise MatchInputError(
                    side, "amount", "expected |amount| < 2**62", row=_first_row(too_big)
                )
        column = column.cast(pl.Int64)
        too_big = (column >= AMOUNT_LIMIT) | (column <= -AMOUNT_LIMIT)
        if too_big.any():
            raise MatchInputError(
                side, "amount", "expected |amount| < 2**62 minor units", row=_first_row(too_big)
            )
    elif name == "on":
        if dtype != pl.Date:
            raise MatchInputError(side, "on", f"expected a Date column, got {dtype}")
    elif dtype in (pl.Categorical, pl.Enum) or isinstance(dtype, pl.Enum | pl.Categorical):
        column = column.cast(pl.String)
    elif dtype != pl.String:
        raise MatchInputError(side, name, f"expected a String column, got {dtype}")
    if name in _TEXTS:
        return column.fill_null("")
    nulls = column.is_null()
    if nulls.any():
        raise MatchInputError(side, name, "expected a value, got null", row=_first_row(nulls))
    return column


def to_frame(side: str, data: pl.DataFrame | Sequence[Item]) -> pl.DataFrame:
    """Validate one side and return it with exactly the :data:`SCHEMA` columns.

    Raises :class:`~._errors.NonIntegerAmountError` for float or decimal
    amounts, :class:`~._errors.DuplicateIdError` for an id used twice, and
    :class:`~._errors.MatchInputError` for anything else that is not as
    expected (a missing column, a null, an empty id, a datetime for a date).
    """
    if isinstance(data, pl.DataFrame):
        for name in ("id", "amount", "on"):
            if name not in data.columns:
                raise MatchInputError(side, name, f"missing column; columns are {data.columns}")
        columns = {}
        for name in SCHEMA:
            if name in data.columns:
                columns[name] = _check_column(side, data, name)
            else:
                columns[name] = pl.Series(name, [""] * data.height, dtype=pl.String)
        frame = pl.DataFrame(columns)
    elif isinstance(given := _as_object(data), str | bytes) or not isinstance(given, Sequence):
        raise MatchInputError(
            side, "items", f"expected a polars DataFrame or a sequence of Item, got {shorten(data)}"
        )
    else:
        frame = _items_to_frame(side, data)
    empty = frame.get_column("id") == ""
    if empty.any():
        raise MatchInputError(side, "id", "expected a non-empty id", row=_first_row(empty))
    duplicated = frame.get_column("id").is_duplicated()
    if duplicated.any():
        rows = duplicated.arg_true()
        first = frame.get_column("id")[int(rows[0])]
        same = [int(r) for r in rows if frame.get_column("id")[int(r)] == first]
        raise DuplicateIdError(
            side, "id", f"expected unique ids, {shorten(first)} is on rows {same}", row=same[1]
        )
    return frame


def prepare(
    frame: pl.DataFrame, calendar: Calendar, *, counterparty: bool, text: bool
) -> pl.DataFrame:
    """The validated frame sorted by id, with the matcher's columns added.

    ``idx`` (rank in id order: the item's identity inside the engine, and
    ordering by it is ordering by id), ``sign``
    (-1, 0, 1), ``bdi`` (business-day index, see :mod:`._calendar`) and
    ``ref_n`` (normalised reference); ``cp_n`` and ``text_n`` when asked.
    """
    frame = frame.sort("id")
    extra = [normalise_series(frame.get_column("reference")).alias("ref_n")]
    if counterparty:
        extra.append(normalise_series(frame.get_column("counterparty")).alias("cp_n"))
    if text:
        extra.append(normalise_series(frame.get_column("text")).alias("text_n"))
    return (
        frame.sort("id")
        .with_row_index("idx")
        .with_columns(
            pl.col("idx").cast(pl.Int64),
            pl.col("amount").sign().cast(pl.Int8).alias("sign"),
            calendar.index_expr(pl.col("on")).alias("bdi"),
            *extra,
        )
    )
