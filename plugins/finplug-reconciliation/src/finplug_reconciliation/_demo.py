"""The reconciliation plugin's part of ``finplug demo``: the day's channel report reconciled.

It runs after the other stories (the payments and the settlement payouts
of the day are booked by then): the channel's settlement report of today
is fetched through the built-in ``channels`` source and imported, the day
is reconciled, and each break is shown with how it is worked. The demo
tenant's channel script makes the report differ from the ledger on
purpose (a capture reported 0.10 too high, a refund left out, a capture
reported twice). Running the demo again replays: the report is a
duplicate, the run makes nothing new, and the breaks show as worked.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from rich.table import Table

from finplug.sockets.reconciliation import Break, BreakClass, BreakStatus
from finplug_reconciliation._service import Reconciliation

__all__ = ["play_story"]

#: How the demo works each class of break (a person would decide; the demo decides so).
_FIX = {
    BreakClass.AMOUNT_MISMATCH: "resolve",
    BreakClass.MISSING_IN_STATEMENT: "accept",
    BreakClass.DUPLICATE: "accept",
    BreakClass.TIMING: "accept",
    BreakClass.MISSING_IN_LEDGER: "accept",
}
_REASON = {
    BreakClass.AMOUNT_MISMATCH: "the channel charged it: booked to adjustments",
    BreakClass.MISSING_IN_STATEMENT: "the channel reports it tomorrow",
    BreakClass.DUPLICATE: "the channel's duplicate line, reported to the channel",
    BreakClass.TIMING: "booked by the channel later than by us",
    BreakClass.MISSING_IN_LEDGER: "the channel's own test transaction",
}


def _work(recon: Reconciliation, found: Break) -> Break:
    reason = _REASON[found.kind]
    if _FIX[found.kind] == "resolve":
        return recon.resolve(found.id, actor="demo-ops", reason=reason, approved_by="demo-lead")
    return recon.accept(found.id, actor="demo-ops", reason=reason)


def play_story(recon: Reconciliation, account: str, today: date) -> list[Any]:
    """Fetch today's channel report, reconcile the day, work each break; tables of it."""
    shown: list[Any] = []
    imported = recon.fetch("channels", today)
    lines = sum(report.lines for report in imported)
    again = sum(len(report.duplicates) for report in imported)
    run = recon.run(account, today, today)
    shown.append(
        f"reconciliation of {account} on {today}: {lines} report lines imported"
        f"{f' ({again} report(s) seen before)' if again else ''};"
        f" {run.matches} matched, {sum(n for _kind, n in run.breaks)} break(s) found"
    )
    table = Table(title="breaks and how they were worked", title_justify="left")
    for column in ("class", "statement", "ledger", "difference", "worked", "note"):
        table.add_column(column, overflow="fold")
    for found in recon.breaks(account):
        _work(recon, found)
    for found in recon.breaks(account, status=None):
        if found.status is BreakStatus.CLEARED:
            continue
        table.add_row(
            found.kind.value,
            str(found.statement_total),
            str(found.ledger_total),
            str(found.difference),
            found.status.value + (f" (entry {found.entry_seq})" if found.entry_seq else ""),
            found.note,
        )
    shown.append(table)
    data = json.loads(recon.report(account, today, today))
    rate = data["match_rate"]
    (day,) = data["balance"]
    shown.append(
        f"matched: {rate['statement']['matched']} of {rate['statement']['items']} report lines"
        f" ({rate['statement']['accepted']} accepted), {rate['ledger']['matched']} of"
        f" {rate['ledger']['items']} ledger postings ({rate['ledger']['accepted']} accepted);"
        f" difference {day['difference']} {data['currency']}, unexplained {day['unexplained']}"
    )
    return shown
