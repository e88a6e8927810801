"""Daily settlement files: what a simulated channel says it did on one day, as CSV.

An acquirer sends its merchant a settlement report per day: every capture,
its fee, every refund and payout, as the acquirer booked them. The sim writes
the same from its journal, so the reconciliation plugin can import it and
match it against the ledger; scripted :class:`~finplug_channels_sim.Discrepancy`
entries make the file differ from the truth on purpose.

The channel's fee is rounded here and only here: ``fee_rate * amount +
fee_fixed`` computed exactly, then rounded once to the currency's minor unit,
half to even (:func:`channel_fee`).
"""

from __future__ import annotations

import contextlib
import csv
import decimal
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finplug import FinplugError, Money, MoneyError, exact_product
from finplug.sockets.payments import ChannelInfo, ChannelOperation
from finplug_channels_sim._connector import JournalEntry, SimConnector
from finplug_channels_sim._settings import Discrepancy, RowType

__all__ = [
    "COLUMNS",
    "SettlementDiscrepancyError",
    "SettlementFileError",
    "SettlementRow",
    "channel_fee",
    "settlement_file",
    "settlement_rows",
    "write_settlement_file",
]

#: The columns of a settlement file, in order (the header row).
COLUMNS = (
    "booked_on",
    "value_date",
    "type",
    "reference",
    "payment_reference",
    "amount",
    "currency",
    "account",
    "description",
)

_OP = ChannelOperation
_CAPTURES = frozenset({_OP.CAPTURE, _OP.SALE})


class SettlementFileError(FinplugError, ValueError):
    """A settlement file that cannot be written as asked (bad day or time zone)."""


class SettlementDiscrepancyError(SettlementFileError):
    """A scripted discrepancy that cannot be applied.

    It selects no row, its ``by`` is finer than the currency allows, or (passed
    to :func:`settlement_file`) its ``day`` cannot change that file.
    :attr:`field` names it: ``settlement_discrepancies[2]`` for the channel's
    settings, ``discrepancies[0]`` for those passed in.
    """

    def __init__(self, channel: str, field: str, message: str) -> None:
        super().__init__(f"channel {channel!r}, {field}: {message}")
        self.channel = channel
        """The channel whose file was being written."""
        self.field = field
        """Which discrepancy: ``settlement_discrepancies[<i>]`` or ``discrepancies[<i>]``."""


@dataclass(frozen=True, slots=True)
class SettlementRow:
    """One line of a settlement file, signed from the merchant's side (money in positive)."""

    booked_on: date
    """The local day the channel booked it."""
    value_date: date
    """The day the money is valued; the booking day unless a discrepancy moved it."""
    type: RowType
    """``capture``, ``fee``, ``refund``, ``payout`` or ``payout_return``."""
    reference: str
    """The channel's reference of the operation (a fee carries its capture's)."""
    payment_reference: str
    """The payment id of the request; for a payout, the request's reference."""
    amount: Money
    """Signed: captures and payout returns positive; fees, refunds and payouts negative."""
    account: str
    """The channel's name."""
    description: str
    """A short text for people."""

    def cells(self) -> list[str]:
        """The row as the file's cells, in :data:`COLUMNS` order."""
        return [
            self.booked_on.isoformat(),
            self.value_date.isoformat(),
            self.type,
            self.reference,
            self.payment_reference,
            str(self.amount.amount),
            self.amount.currency.code,
            self.account,
            self.description,
        ]


def channel_fee(info: ChannelInfo, amount: Money) -> Money:
    """The channel's fee on capturing ``amount``: the sim's one rounding point for fees.

    ``info.fee_rate * amount + info.fee_fixed``, computed exactly, then rounded
    once to the currency's minor unit, half to even: 1.4 % of 7.50 EUR plus 0.25
    is 0.355, so 0.36 (rounding the product first would give 0.10 + 0.25 = 0.35).
    """
    total = _exact_sum(exact_product(amount.amount, info.fee_rate), info.fee_fixed)
    return Money.of(total, amount.currency, rounding=decimal.ROUND_HALF_EVEN)


def _exact_sum(a: Decimal, b: Decimal) -> Decimal:
    """``a + b`` without losing a digit, whatever their exponents."""
    low = min(int(a.as_tuple().exponent), int(b.as_tuple().exponent))
    high = max(a.adjusted(), b.adjusted(), 0) + 2
    context = decimal.Context(prec=max(high - low, 1) + 1, traps=[decimal.Inexact])
    return context.add(a, b)


def settlement_rows(connector: SimConnector, *, timezone: str = "UTC") -> tuple[SettlementRow, ...]:
    """Every row the channel's journal gives, all days, before any discrepancy.

    In the order the channel applied them (a payout's return when it was
    reported); each booked on the local day, in ``timezone``, of its instant.
    Declined, unavailable and lost calls moved no money and give no row, nor
    do authorizations and voids.
    """
    zone = _zone(timezone)
    timed: list[tuple[datetime, SettlementRow]] = []
    for entry in connector.journal:
        timed.extend(_entry_rows(connector, entry, zone))
    timed.sort(key=lambda pair: pair[0])  # stable: ties keep the journal's order
    return tuple(row for _, row in timed)


def _entry_rows(
    connector: SimConnector, entry: JournalEntry, zone: ZoneInfo
) -> Iterable[tuple[datetime, SettlementRow]]:
    at = entry.applied_at
    if at is None:
        return
    request = entry.request
    operation = request.operation
    amount = request.amount
    day = at.astimezone(zone).date()
    account = connector.name

    def row(kind: RowType, signed: Money, text: str, payment: str) -> SettlementRow:
        return SettlementRow(
            day, day, kind, entry.channel_reference, payment, signed, account, text
        )

    if operation in _CAPTURES:
        yield at, row("capture", amount, operation.value, request.payment_id)
        fee = channel_fee(connector.info, amount)
        if fee:
            text = f"channel fee on the {operation.value}"
            yield at, row("fee", -fee, text, request.payment_id)
    elif operation is _OP.REFUND:
        yield at, row("refund", -amount, "refund", request.payment_id)
    elif operation is _OP.PAYOUT:
        payee = request.merchant_id
        yield at, row("payout", -amount, f"payout to {payee}", request.reference)
        back = entry.returned_at
        if back is not None:
            text = f"payout to {payee} returned by the payee's bank"
            returned = row("payout_return", amount, text, request.reference)
            day_back = back.astimezone(zone).date()
            yield back, replace(returned, booked_on=day_back, value_date=day_back)


def settlement_file(
    connector: SimConnector,
    day: date,
    *,
    timezone: str = "UTC",
    discrepancies: Sequence[Discrepancy] = (),
) -> bytes:
    """The channel's settlement file of ``day`` (a local day in ``timezone``), as CSV.

    UTF-8, a header row of :data:`COLUMNS`, ``,`` between cells, a line feed
    after each line. One row per movement of money booked that day, in the order
    applied (see :func:`settlement_rows`), then changed by the channel's
    ``settlement_discrepancies`` and by ``discrepancies``, in that order.
    Amounts are exact, with the currency's number of decimals.

    A settings discrepancy bound to a later ``day`` waits for that day's file.
    Raises :class:`SettlementDiscrepancyError` for a discrepancy that selects
    no row (or, passed in, changes no row of this file, or has a ``by`` finer
    than the currency), and :class:`SettlementFileError` for a bad ``day`` or
    ``timezone``.
    """
    if isinstance(day, datetime) or not isinstance(day, date):
        raise SettlementFileError(f"day: expected a date, got {type(day).__name__}")
    rows = settlement_rows(connector, timezone=timezone)
    named = [
        (f"settlement_discrepancies[{index}]", discrepancy, False)
        for index, discrepancy in enumerate(connector.channel.settlement_discrepancies)
    ]
    named += [(f"discrepancies[{index}]", d, True) for index, d in enumerate(discrepancies)]
    edits = [_Edit() for _ in rows]
    passed_in: list[tuple[str, Discrepancy, date | None, list[int]]] = []
    for field, discrepancy, direct in named:
        bound = discrepancy.day
        if bound is None and (direct or discrepancy.line is not None):
            bound = day  # a line, or a discrepancy passed in: the file's day
        if bound is not None and bound > day and not direct:
            continue  # cannot touch this file; checked when that day's file is written
        selected = _select(discrepancy, rows, bound)
        if not selected and not direct and discrepancy.amount is not None:
            continue  # like a script entry: it applies when a row of that amount comes
        if not selected:
            raise SettlementDiscrepancyError(
                connector.name, field, f"{_describe(discrepancy, bound)} selects no row"
            )
        for index in selected:
            _apply(discrepancy, rows[index], edits[index], connector.name, field)
        if direct:
            passed_in.append((field, discrepancy, bound, selected))
    for field, discrepancy, bound, selected in passed_in:
        # Passed in by a test: it must change this very file.
        if not any(day in (rows[i].booked_on, edits[i].day_of(rows[i])) for i in selected):
            raise SettlementDiscrepancyError(
                connector.name,
                field,
                f"{_describe(discrepancy, bound)} changes no row of the file of {day.isoformat()}",
            )
    out = io.StringIO()
    writer = csv.writer(out, delimiter=",", lineterminator="\n")
    writer.writerow(COLUMNS)
    for row, edit in zip(rows, edits, strict=True):
        final = edit.applied_to(row)
        if final.booked_on == day:
            for _ in range(edit.copies):
                writer.writerow(final.cells())
    return out.getvalue().encode("utf-8")


class _Edit:
    """What the discrepancies did to one row so far."""

    __slots__ = ("copies", "delta", "late")

    def __init__(self) -> None:
        self.copies = 1
        self.delta = Decimal(0)
        self.late = 0

    def day_of(self, row: SettlementRow) -> date:
        """The day ``row`` is booked on once moved."""
        return row.booked_on + timedelta(days=self.late)

    def applied_to(self, row: SettlementRow) -> SettlementRow:
        if not (self.delta or self.late):
            return row
        shift = timedelta(days=self.late)
        return replace(
            row,
            booked_on=row.booked_on + shift,
            value_date=row.value_date + shift,
            amount=Money(_exact_sum(row.amount.amount, self.delta), row.amount.currency),
        )


def _select(discrepancy: Discrepancy, rows: Sequence[SettlementRow], day: date | None) -> list[int]:
    """Indices into ``rows`` the discrepancy changes."""
    if discrepancy.line is not None:
        assert day is not None  # settlement_file binds a line to a day
        of_day = [index for index, row in enumerate(rows) if row.booked_on == day]
        if discrepancy.line >= len(of_day):
            return []
        candidates = [of_day[discrepancy.line]]
    elif discrepancy.amount is not None:
        size = discrepancy.amount
        payments = {
            row.payment_reference
            for row in rows
            if row.type != "fee" and abs(row.amount.amount) == size
        }
        candidates = [
            index
            for index, row in enumerate(rows)
            if (
                abs(row.amount.amount) == size
                if row.type != "fee"
                else row.payment_reference in payments
            )
            and (day is None or row.booked_on == day)
        ]
    else:
        candidates = [
            index
            for index, row in enumerate(rows)
            if row.payment_reference == discrepancy.payment
            and (day is None or row.booked_on == day)
        ]
    wanted = discrepancy.type
    if wanted is None and discrepancy.kind == "fee_off":
        wanted = "fee"
    if wanted is None and discrepancy.kind == "amount_off" and discrepancy.line is None:
        return [index for index in candidates if rows[index].type != "fee"]
    return [index for index in candidates if wanted is None or rows[index].type == wanted]


def _apply(
    discrepancy: Discrepancy, row: SettlementRow, edit: _Edit, channel: str, field: str
) -> None:
    kind = discrepancy.kind
    if kind == "missing":
        edit.copies = 0
    elif kind == "duplicate":
        edit.copies = edit.copies + 1 if edit.copies else 0
    elif kind == "late":
        assert discrepancy.days is not None  # the model requires it
        edit.late += discrepancy.days
    else:  # amount_off, fee_off
        by = discrepancy.by
        assert by is not None  # the model requires it
        try:
            Money(by, row.amount.currency)
        except MoneyError:
            code = row.amount.currency
            raise SettlementDiscrepancyError(
                channel,
                field,
                f"by {by} has more decimals than {code.code} allows ({code.exponent})",
            ) from None
        edit.delta = _exact_sum(edit.delta, by)


def _describe(discrepancy: Discrepancy, day: date | None) -> str:
    if discrepancy.line is not None:
        what = f"line {discrepancy.line}"
    elif discrepancy.amount is not None:
        what = f"amount {discrepancy.amount}"
    else:
        what = f"payment {discrepancy.payment!r}"
    if discrepancy.type is not None:
        what += f" of type {discrepancy.type}"
    elif discrepancy.kind == "fee_off":
        what += " of type fee"
    if day is not None:
        what += f" on {day.isoformat()}"
    return f"{discrepancy.kind} of {what}"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettlementFileError(
            f"timezone: expected an IANA time zone name such as 'Europe/Berlin', got {name!r}"
        ) from None


def write_settlement_file(folder: Path, channel: str, day: date, content: bytes) -> Path:
    """Write ``content`` as ``<folder>/<channel>-<YYYY-MM-DD>.csv``, atomically.

    The bytes go to a temporary file in ``folder`` (created if missing), are
    flushed to disk, and the file is then renamed over the final name, so a
    reader sees the whole file or none. Returns the final path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{channel}-{day.isoformat()}.csv"
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target
