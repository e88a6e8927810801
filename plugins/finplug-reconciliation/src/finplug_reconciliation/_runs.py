"""Match runs: a reconciled account's period matched, its breaks recorded; and their rollback.

A run takes the account's lock (one run per account at a time), collects
what is not taken yet on both sides (:mod:`._collect`), matches it with the
tenant's rules (:mod:`.matching`), and in the same transaction:

* writes each match and takes its items (an item is taken at most once:
  a primary key says so, whatever runs at the same time);
* records each break under an id derived from its account, class and
  items, so the same break found again by a rerun is the same row, with
  its owner and its notes; a break found before and now gone (its items
  matched, or regrouped into another break) is cleared;
* audits the run, each break found, reopened or cleared.

A dry run does all of it but the writing. A rollback undoes a run's
matches, reverses the adjusting entries of the breaks it found, undoes the
work done on them, and clears them; the items are free for the next run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import ValidationError
from sqlalchemy import Connection, select, update

from finplug import FastSQL, UnitOfWork
from finplug.sockets.reconciliation import (
    BreakAction,
    BreakClass,
    BreakStatus,
    MatchSide,
    ReconciliationError,
    ReconciliationNotFoundError,
    ReconciliationRun,
    RunStatus,
)
from finplug_reconciliation._collect import calendar_of, ledger_items, statement_items
from finplug_reconciliation._matchstore import (
    MatchBatch,
    live_run_matches,
    save_match,
    save_matches,
    undo_match,
)
from finplug_reconciliation._schema import break_items, breaks, locks, runs
from finplug_reconciliation._settings import AccountSettings, ReconciliationSettings
from finplug_reconciliation._store import (
    Item,
    add_audit,
    add_audits,
    break_id,
    break_items_of,
    open_breaks_holding,
)
from finplug_reconciliation.matching import MatchResult, MatchRule, match

__all__ = ["Runs", "load_run"]

#: Matches from which a run's transaction is a large write (:meth:`UnitOfWork.large_write`).
_LARGE: Final = 10_000


def load_run(row: Any) -> ReconciliationRun:
    """A run from its row."""
    return ReconciliationRun(
        id=row.id,
        account=row.account,
        start=row.start,
        end=row.end,
        status=RunStatus(row.status),
        dry_run=False,
        statement_items=row.statement_items,
        ledger_items=row.ledger_items,
        matched_statement_items=row.matched_statement_items,
        matched_ledger_items=row.matched_ledger_items,
        matches=row.matches,
        breaks=tuple((k, int(n)) for k, n in json.loads(row.breaks)),
        created_at=row.created_at,
    )


class Runs:
    """A tenant's match runs."""

    def __init__(
        self,
        settings: ReconciliationSettings,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._clock = clock

    def account(self, name: str) -> AccountSettings:
        """A reconciled account's settings; :class:`ReconciliationError` if there is none."""
        found = self._settings.accounts.get(name)
        if found is None:
            known = ", ".join(sorted(self._settings.accounts)) or "none"
            raise ReconciliationError(f"no reconciled account {name!r} (accounts: {known})")
        return found

    def rules(self, given: Sequence[Mapping[str, Any]] | None) -> tuple[MatchRule, ...]:
        """The rules a run uses: the tenant's, or ``given`` (validated) instead."""
        if given is None:
            return self._settings.rules
        try:
            rules = tuple(MatchRule.model_validate(rule) for rule in given)
        except ValidationError as exc:
            raise ReconciliationError(f"rules: {exc}") from None
        if not rules:
            raise ReconciliationError("rules: give at least one rule")
        return rules

    def run(
        self,
        name: str,
        start: date,
        end: date,
        *,
        rules: Sequence[Mapping[str, Any]] | None = None,
        dry_run: bool,
    ) -> ReconciliationRun:
        """Match ``name``'s items of ``start`` to ``end`` (see the module docstring)."""
        account = self.account(name)
        chosen = self.rules(rules)
        if not isinstance(start, date) or not isinstance(end, date) or start > end:
            raise ReconciliationError(f"expected dates with start <= end, got {start!r}, {end!r}")
        ident = f"run_{uuid.uuid4().hex[:24]}"
        now = self._clock()
        with self._uow() as uow:
            conn = uow.conn
            self._lock(conn, name, ident)
            lines = statement_items(conn, name, start, end)
            postings = ledger_items(uow, name, account, start, end)
            result = match(lines, postings, chosen, calendar_of(account, start, end))
            # Matches are written in columns (MatchBatch); only breaks need their items one by one.
            days, amounts = _broken_items(result, lines, postings)

            def items(statement_ids: Sequence[str], ledger_ids: Sequence[str]) -> list[Item]:
                return [
                    Item(side, i, amounts[side][i], days[side][i])
                    for side, ids in (
                        (MatchSide.STATEMENT, statement_ids),
                        (MatchSide.LEDGER, ledger_ids),
                    )
                    for i in ids
                ]

            counts: dict[str, int] = {}
            for found in result.breaks:
                counts[found.kind] = counts.get(found.kind, 0) + 1
            matched_lines = sum(len(m.statement_ids) for m in result.matches)
            matched_postings = sum(len(m.ledger_ids) for m in result.matches)
            report = ReconciliationRun(
                id=ident,
                account=name,
                start=start,
                end=end,
                status=RunStatus.DONE,
                dry_run=dry_run,
                statement_items=lines.height,
                ledger_items=postings.height,
                matched_statement_items=matched_lines,
                matched_ledger_items=matched_postings,
                matches=len(result.matches),
                breaks=tuple(sorted(counts.items())),
                created_at=now,
            )
            if dry_run:
                return report  # leaving the block uncommitted writes nothing
            if len(result.matches) >= _LARGE:
                uow.large_write()  # SQLite: the log's checkpoint is the background thread's
            batch = MatchBatch.of_result(result.matches, ident)
            save_matches(
                conn, batch, account=name, code=account.currency, created_by="run", now=now
            )
            self._breaks(conn, name, account, ident, result, items, start, end, now)
            FastSQL.of(conn).insert(
                conn,
                runs,
                {
                    "id": ident,
                    "account": name,
                    "start": start,
                    "end": end,
                    "status": RunStatus.DONE.value,
                    "statement_items": report.statement_items,
                    "ledger_items": report.ledger_items,
                    "matched_statement_items": matched_lines,
                    "matched_ledger_items": matched_postings,
                    "matches": report.matches,
                    "breaks": json.dumps([list(kv) for kv in report.breaks]),
                    "rules": json.dumps([r.model_dump(mode="json") for r in chosen]),
                    "created_at": now,
                },
            )
            add_audit(
                conn,
                now,
                "run",
                "run",
                ident,
                f"{name} {start}..{end}: {report.matches} matches, {sum(counts.values())} breaks",
            )
            uow.commit()
        return report

    def _pair(
        self, uow: UnitOfWork, name: str, adjusted: int, reversal: int, now: datetime
    ) -> None:
        """Take an adjusting posting and its reversal together: they cancel out (``reversal``)."""
        account = self.account(name)
        main = account.main_ledger_account
        sign = account.ledger_accounts[main]
        zone = ZoneInfo(account.timezone)
        members: list[Item] = []
        for seq in (adjusted, reversal):
            (posting,) = [
                p for p in uow.ledger.postings([main], after=seq - 1, limit=1) if p.seq == seq
            ]
            day = posting.posted_at.astimezone(zone).date()
            members.append(
                Item(MatchSide.LEDGER, f"{seq}:{main}", posting.amount.minor_units * sign, day)
            )
        save_match(
            uow.conn,
            ident=f"mat_{uuid.uuid4().hex[:24]}",
            account=name,
            run_id=None,
            rule="reversal",
            score=0,
            code=account.currency,
            items=members,
            created_by="rollback",
            now=now,
        )

    @staticmethod
    def _lock(conn: Connection, name: str, ident: str) -> None:
        fast = FastSQL.of(conn)
        if not fast.insert_new(conn, locks, {"account": name, "run_id": ident}, ("account",)):
            fast.select_one(conn, locks, {"account": name}, for_update=True)
            fast.update(conn, locks, {"run_id": ident}, {"account": name})

    def _breaks(
        self,
        conn: Connection,
        name: str,
        account: AccountSettings,
        ident: str,
        result: MatchResult,
        items: Callable[[Sequence[str], Sequence[str]], list[Item]],
        start: date,
        end: date,
        now: datetime,
    ) -> None:
        fast = FastSQL.of(conn)
        candidates = [items(c.statement_ids, c.ledger_ids) for c in result.breaks]
        everything = [i for members in candidates for i in members]
        holding = open_breaks_holding(conn, everything)
        found = self._kept(conn, name, result, candidates, holding)
        existing = (
            {
                row.id: row.status
                for row in conn.execute(
                    select(breaks.c.id, breaks.c.status).where(breaks.c.id.in_(list(found)))
                )
            }
            if found
            else {}
        )
        records: list[dict[str, Any]] = []
        new_items: list[dict[str, Any]] = []
        new_breaks: list[dict[str, Any]] = []
        for bid, (kind, members) in sorted(found.items()):
            status = existing.get(bid)
            if status == BreakStatus.OPEN.value:
                continue  # found again: it keeps its owner, notes and age
            if status is not None:  # cleared before (its run rolled back, regrouped): back
                fast.update(
                    conn, breaks, {"status": BreakStatus.OPEN.value, "updated_at": now}, {"id": bid}
                )
                records.append(_audit(now, BreakAction.REOPENED, bid, f"found again by {ident}"))
                continue
            statement_total = sum(i.amount for i in members if i.side is MatchSide.STATEMENT)
            ledger_total = sum(i.amount for i in members if i.side is MatchSide.LEDGER)
            new_breaks.append(
                {
                    "id": bid,
                    "account": name,
                    "kind": kind,
                    "status": BreakStatus.OPEN.value,
                    "currency": account.currency,
                    "statement_total": statement_total,
                    "ledger_total": ledger_total,
                    "found_on": min(i.on for i in members),
                    "last_on": max(i.on for i in members),
                    "owner": account.owner,
                    "run_id": ident,
                    "entry_seq": None,
                    "match_id": None,
                    "note": "",
                    "updated_at": now,
                }
            )
            new_items += [
                {
                    "break_id": bid,
                    "side": i.side.value,
                    "item": i.id,
                    "amount": i.amount,
                    "on": i.on,
                }
                for i in members
            ]
            records.append(_audit(now, BreakAction.FOUND, bid, f"{kind} by {ident}"))
        if new_breaks:  # one executemany each, not a statement per break
            conn.execute(breaks.insert(), new_breaks)
            conn.execute(break_items.insert(), new_items)
        # Open breaks now gone: those holding an item of a break found now (regrouped),
        # and those wholly in the period that were not found again (their items matched).
        stale = holding - set(found)
        inside = select(breaks.c.id).where(
            breaks.c.account == name,
            breaks.c.status == BreakStatus.OPEN.value,
            breaks.c.found_on >= start,
            breaks.c.last_on <= end,
        )
        stale |= set(conn.execute(inside).scalars()) - set(found)
        for bid in sorted(stale):
            fast.update(
                conn, breaks, {"status": BreakStatus.CLEARED.value, "updated_at": now}, {"id": bid}
            )
            records.append(_audit(now, BreakAction.CLEARED, bid, f"gone in {ident}"))
        add_audits(conn, records)

    @staticmethod
    def _kept(
        conn: Connection,
        name: str,
        result: MatchResult,
        candidates: list[list[Item]],
        holding: set[str],
    ) -> dict[str, tuple[str, list[Item]]]:
        """The breaks after a run: ``id -> (class, items)``.

        An open break all of whose items are still unmatched stays as it is
        (its id, class, owner and notes), unless one of its items is now in
        a break with an item no open break held (new information: say, the
        ledger's side of a line missing in the ledger arrived, with another
        amount); then the run's classification of those items wins. Without
        this, a rerun would classify a duplicate line afresh (its matched
        twin is no longer in the input) and call it something else.
        """

        def key(item: Item) -> tuple[MatchSide, str]:
            return item.side, item.id

        left = {key(i) for members in candidates for i in members}
        kept = {bid: break_items_of(conn, bid) for bid in sorted(holding)}
        kept = {bid: members for bid, members in kept.items() if {key(i) for i in members} <= left}
        while True:
            held = {key(i): bid for bid, members in kept.items() for i in members}
            fresh = [members for members in candidates if any(key(i) not in held for i in members)]
            gone = {held[key(i)] for members in fresh for i in members if key(i) in held}
            if not gone:
                break
            for bid in gone:
                del kept[bid]
        found: dict[str, tuple[str, list[Item]]] = {
            bid: ("", members)
            for bid, members in kept.items()  # found again: open already
        }
        for candidate, members in zip(result.breaks, candidates, strict=True):
            if any(key(i) not in held for i in members):
                found[break_id(name, BreakClass(candidate.kind), members)] = (
                    candidate.kind,
                    members,
                )
        return found

    def rollback(self, run_id: str, actor: str) -> ReconciliationRun:
        """Undo a run (see the module docstring)."""
        now = self._clock()
        with self._uow() as uow:
            conn = uow.conn
            fast = FastSQL.of(conn)
            row = fast.select_one(conn, runs, {"id": run_id}, for_update=True)
            if row is None:
                raise ReconciliationNotFoundError(f"no run {run_id!r}")
            if row.status != RunStatus.DONE.value:
                raise ReconciliationError(f"run {run_id} is {row.status}: nothing to roll back")
            self._lock(conn, row.account, run_id)
            for match_id in live_run_matches(conn, run_id, row.matches):
                undo_match(conn, match_id, now, actor)
            worked = conn.execute(select(breaks).where(breaks.c.run_id == run_id)).all()
            records: list[dict[str, Any]] = []
            for found in worked:
                if found.entry_seq is not None:
                    entry = uow.ledger.reverse(
                        f"recon:reverse:{found.id}:{run_id}",
                        int(found.entry_seq),
                        description=f"rollback of {run_id}: adjusting entry of break {found.id}",
                    )
                    records.append(
                        _audit(
                            now,
                            BreakAction.CLEARED,
                            found.id,
                            f"entry {found.entry_seq} reversed by {entry.seq}",
                            actor,
                        )
                    )
                if found.match_id is not None:
                    undo_match(conn, found.match_id, now, actor)
                if found.entry_seq is not None:
                    self._pair(uow, row.account, int(found.entry_seq), entry.seq, now)
                if found.status != BreakStatus.CLEARED.value:
                    records.append(
                        _audit(now, BreakAction.CLEARED, found.id, f"{run_id} rolled back", actor)
                    )
            conn.execute(
                update(breaks)
                .where(breaks.c.run_id == run_id)
                .values(
                    status=BreakStatus.CLEARED.value, updated_at=now, match_id=None, entry_seq=None
                )
            )
            fast.update(conn, runs, {"status": RunStatus.ROLLED_BACK.value}, {"id": run_id})
            records.append(_audit(now, "rollback", run_id, f"by {actor}", actor))
            add_audits(conn, records)
            row = fast.select_one(conn, runs, {"id": run_id})
            assert row is not None
            done = load_run(row)
            uow.commit()
        return done


def _broken_items(
    result: MatchResult, lines: pl.DataFrame, postings: pl.DataFrame
) -> tuple[dict[MatchSide, dict[str, date]], dict[MatchSide, dict[str, int]]]:
    """The day and the amount of every item of a break, by side and id."""
    days: dict[MatchSide, dict[str, date]] = {}
    amounts: dict[MatchSide, dict[str, int]] = {}
    for side, frame, ids in (
        (MatchSide.STATEMENT, lines, [i for b in result.breaks for i in b.statement_ids]),
        (MatchSide.LEDGER, postings, [i for b in result.breaks for i in b.ledger_ids]),
    ):
        found = frame.filter(pl.col("id").is_in(pl.Series(ids, dtype=pl.Utf8)))
        days[side] = dict(zip(found["id"], found["on"], strict=True))
        amounts[side] = dict(zip(found["id"], found["amount"], strict=True))
    return days, amounts


def _audit(
    at: datetime, action: str, subject: str, detail: str, actor: str = "run"
) -> dict[str, Any]:
    return {"at": at, "actor": actor, "action": str(action), "subject": subject, "detail": detail}
