"""Settlement statements: a batch's lines, read back from the ledger, as JSON or CSV.

Every line is one ledger posting on the payee's payable account that the
batch settles, with the entry's seq, time, key and description, and a kind
read from the key (capture, fees, refund, split, reserve, payout back,
adjustment). The totals are recomputed from those lines: what the ledger
says, not what the batch row remembers, so a statement can be produced
again at any time from the ledger and the batch's list of entries.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from finplug import Money, Posting, UnitOfWork
from finplug.sockets.settlement import Payout, SettlementBatch, SettlementError

__all__ = ["FORMATS", "StatementLine", "render", "statement_lines"]

#: The formats :func:`render` writes.
FORMATS: Final = ("json", "csv")
#: How many postings one ledger read returns.
_PAGE: Final = 5_000


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One posting a batch settles."""

    entry: int
    """The ledger entry's seq."""
    posted_at: str
    """When it was posted (ISO 8601, UTC)."""
    kind: str
    """``capture``, ``fees``, ``refund``, ``split``, ``refund_split``, ``reserve_held``,
    ``reserve_released``, ``payout_back`` or ``adjustment``."""
    key: str
    """The entry's key."""
    description: str
    """The entry's description."""
    amount: Money
    """What it did to the payee's payable (positive: owed to the payee)."""


def _kind(key: str) -> str:
    if key.startswith("settlement:split:"):
        return "refund_split" if ":refund:" in key else "split"
    if key.startswith("settlement:reserve:hold:"):
        return "reserve_held"
    if key.startswith("settlement:reserve:release:"):
        return "reserve_released"
    if key.startswith("settlement:payout:"):
        return "payout_back"
    if key.endswith(":capture"):
        return "capture"
    if ":fees:" in key:
        return "fees"
    if ":refund:" in key:
        return "refund"
    return "adjustment"


def statement_lines(uow: UnitOfWork, batch: SettlementBatch) -> list[StatementLine]:
    """The batch's lines, from the ledger's postings of its entries on the payee's account."""
    wanted = set(batch.entries)
    if not wanted:
        return []
    found: list[Posting] = []
    cursor = min(wanted) - 1
    last = max(wanted)
    while cursor < last:
        page = uow.ledger.postings([batch.account], after=cursor, limit=_PAGE)
        if not page:
            break
        found.extend(p for p in page if p.seq in wanted)
        cursor = page[-1].seq
    if {p.seq for p in found} != wanted:
        missing = sorted(wanted - {p.seq for p in found})
        raise SettlementError(f"batch {batch.id}: the ledger has no postings for {missing[:5]}")
    return [
        StatementLine(
            entry=p.seq,
            posted_at=p.posted_at.isoformat(),
            kind=_kind(p.key),
            key=p.key,
            description=p.description,
            amount=p.amount,
        )
        for p in found
    ]


def _totals(batch: SettlementBatch, lines: Sequence[StatementLine]) -> dict[str, Money]:
    zero = Money.zero(batch.currency)
    held = sum((-ln.amount for ln in lines if ln.kind == "reserve_held"), zero)
    released = sum((ln.amount for ln in lines if ln.kind == "reserve_released"), zero)
    movements = sum((ln.amount for ln in lines), zero) + held - released
    return {
        "movements": movements,
        "reserve_held": held,
        "reserve_released": released,
        "net": movements + released - held,
    }


def render(
    batch: SettlementBatch,
    lines: Sequence[StatementLine],
    payout: Payout | None,
    fmt: Literal["json", "csv"] | str,
) -> str:
    """The statement as JSON (one object) or CSV (the lines, then the totals)."""
    totals = _totals(batch, lines)
    if totals["net"] != batch.net:
        raise SettlementError(
            f"batch {batch.id}: its ledger lines net {totals['net']}, the batch says {batch.net}"
        )
    if fmt == "json":
        document: dict[str, Any] = {
            "batch": batch.id,
            "payee": batch.payee,
            "account": batch.account,
            "currency": batch.currency,
            "value_date": batch.value_date.isoformat(),
            "status": batch.status.value,
            "payout": None
            if payout is None
            else {
                "status": payout.status.value,
                "channel": payout.channel,
                "failure_code": payout.failure_code,
                "reference": f"payout:{payout.id}",
            },
            "lines": [
                {
                    "entry": ln.entry,
                    "posted_at": ln.posted_at,
                    "kind": ln.kind,
                    "key": ln.key,
                    "description": ln.description,
                    "amount": str(ln.amount.amount),
                }
                for ln in lines
            ],
            "totals": {name: str(value.amount) for name, value in totals.items()},
        }
        return json.dumps(document, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["entry", "posted_at", "kind", "key", "description", "amount"])
        for ln in lines:
            row = [ln.entry, ln.posted_at, ln.kind, ln.key, ln.description, ln.amount.amount]
            writer.writerow(row)
        for name, value in totals.items():
            writer.writerow(["", "", f"total:{name}", "", "", value.amount])
        return out.getvalue()
    raise SettlementError(f"statement format must be one of {', '.join(FORMATS)}, got {fmt!r}")
