"""Working breaks: assign, accept, match by hand, resolve with an adjusting entry.

Each action checks the break is open, does its work and writes one audit
record per break, in one transaction. Accepting, matching by hand and
resolving all *take* the break's items (a live match: rule ``accepted``,
``manual`` or ``adjustment``), so no later run matches them again and a
rerun keeps the work.

Resolving books ``statement total - ledger total`` on the account's first
ledger account against its adjustment account (``reconciliation:
adjustments:<CUR>``, an expense account, opened when first needed), keyed
``recon:break:<break id>`` and described with the break and the reason;
the new posting joins the break's items in the adjustment match, which
then balances. Up to the account's ``write_off_limit`` (absolute value) one
person may resolve; above it ``approved_by`` must name a second person.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from finplug import FastSQL, Leg, Money, UnitOfWork
from finplug.sockets.reconciliation import (
    Break,
    BreakAction,
    BreakStatus,
    Match,
    MatchSide,
    ReconciliationError,
)
from finplug_reconciliation._matchstore import load_match, save_match
from finplug_reconciliation._runs import Runs
from finplug_reconciliation._schema import breaks, matches
from finplug_reconciliation._store import Item, add_audit, break_items_of, load_break

__all__ = ["Breaks"]


def _person(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise ReconciliationError(f"{what} must name a person (1 to 128 characters), got {value!r}")
    return value.strip()


def _reason(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReconciliationError("a reason is required: say why (it goes in the audit trail)")
    return value.strip()[:2000]


class Breaks:
    """A tenant's break workflow."""

    def __init__(
        self,
        runs: Runs,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._runs = runs
        self._uow = unit_of_work
        self._clock = clock

    def _open(self, uow: UnitOfWork, break_id: str) -> Break:
        found = load_break(uow.conn, break_id, for_update=True)
        if found.status is not BreakStatus.OPEN:
            raise ReconciliationError(f"break {break_id} is {found.status}, not open")
        return found

    def assign(self, break_id: str, owner: str, actor: str) -> Break:
        """Give an open break to ``owner``."""
        owner, actor = _person(owner, "owner"), _person(actor, "actor")
        now = self._clock()
        with self._uow() as uow:
            self._open(uow, break_id)
            FastSQL.of(uow.conn).update(
                uow.conn, breaks, {"owner": owner, "updated_at": now}, {"id": break_id}
            )
            add_audit(uow.conn, now, actor, BreakAction.ASSIGNED, break_id, f"to {owner}")
            done = load_break(uow.conn, break_id)
            uow.commit()
        return done

    def accept(self, break_id: str, actor: str, reason: str) -> Break:
        """Accept an open break as it is: nothing booked, its items taken."""
        actor, reason = _person(actor, "actor"), _reason(reason)
        now = self._clock()
        with self._uow() as uow:
            found = self._open(uow, break_id)
            items = break_items_of(uow.conn, break_id)
            match_id = f"mat_{uuid.uuid4().hex[:24]}"
            self._take(uow, found, match_id, "accepted", items, actor, now)
            self._close(uow, break_id, BreakStatus.ACCEPTED, match_id, reason, None, now)
            add_audit(uow.conn, now, actor, BreakAction.ACCEPTED, break_id, reason)
            done = load_break(uow.conn, break_id)
            uow.commit()
        return done

    def match_by_hand(self, break_ids: Sequence[str], actor: str, reason: str) -> Match:
        """Match open breaks' items together; their two sides' totals must be equal."""
        actor, reason = _person(actor, "actor"), _reason(reason)
        ids = sorted(set(break_ids))
        if not ids:
            raise ReconciliationError("name at least one break to match")
        now = self._clock()
        with self._uow() as uow:
            found = [self._open(uow, i) for i in ids]
            accounts = {b.account for b in found}
            if len(accounts) != 1:
                raise ReconciliationError(
                    f"breaks of one account only can be matched together, got {sorted(accounts)}"
                )
            items = [item for i in ids for item in break_items_of(uow.conn, i)]
            lines = sum(i.amount for i in items if i.side is MatchSide.STATEMENT)
            postings = sum(i.amount for i in items if i.side is MatchSide.LEDGER)
            if lines != postings or not items:
                code = found[0].statement_total.currency
                raise ReconciliationError(
                    f"the statement side ({Money.from_minor(lines, code)}) and the ledger side"
                    f" ({Money.from_minor(postings, code)}) differ: resolve the difference instead"
                )
            match_id = f"mat_{uuid.uuid4().hex[:24]}"
            self._take(uow, found[0], match_id, "manual", items, actor, now)
            for i in ids:
                self._close(uow, i, BreakStatus.MATCHED, match_id, reason, None, now)
                add_audit(uow.conn, now, actor, BreakAction.MATCHED, i, f"{match_id}: {reason}")
            row = FastSQL.of(uow.conn).select_one(uow.conn, matches, {"id": match_id})
            assert row is not None
            made = load_match(uow.conn, row)
            uow.commit()
        return made

    def resolve(self, break_id: str, actor: str, reason: str, approved_by: str | None) -> Break:
        """Book an open break's difference (see the module docstring)."""
        actor, reason = _person(actor, "actor"), _reason(reason)
        now = self._clock()
        with self._uow() as uow:
            found = self._open(uow, break_id)
            account = self._runs.account(found.account)
            difference = found.difference
            if difference.minor_units == 0:
                raise ReconciliationError(
                    f"break {break_id} has no difference to book: accept it or match it"
                )
            limit = Money(account.write_off_limit, account.currency)
            if abs(difference) > limit:
                if approved_by is None:
                    raise ReconciliationError(
                        f"{difference} is above the write-off limit of {limit}: a second"
                        " person must approve (approved_by)"
                    )
                approved_by = _person(approved_by, "approved_by")
                if approved_by == actor:
                    raise ReconciliationError("the approver must be another person than the actor")
            main = account.main_ledger_account
            delta = difference if account.ledger_accounts[main] > 0 else -difference
            ledger = uow.ledger
            ledger.open_account(
                account.adjustments, "expense", account.currency, overdraft="unlimited"
            )
            debit_normal = ledger.account(main).normal == "debit"
            up = (delta.minor_units > 0) == debit_normal  # debit the main account?
            amount = abs(delta)
            entry = ledger.post(
                f"recon:break:{break_id}",
                [
                    Leg.debit(main if up else account.adjustments, amount),
                    Leg.credit(account.adjustments if up else main, amount),
                ],
                description=f"reconciliation break {break_id} ({found.kind}): {reason}"[:500],
            )
            items = break_items_of(uow.conn, break_id)
            items.append(
                Item(
                    MatchSide.LEDGER,
                    f"{entry.seq}:{main}",
                    difference.minor_units,
                    now.astimezone(ZoneInfo(account.timezone)).date(),
                )
            )
            match_id = f"mat_{uuid.uuid4().hex[:24]}"
            self._take(uow, found, match_id, "adjustment", items, actor, now)
            self._close(uow, break_id, BreakStatus.RESOLVED, match_id, reason, entry.seq, now)
            detail = f"entry {entry.seq}: {difference}; {reason}"
            if approved_by is not None:
                detail += f"; approved by {approved_by}"
            add_audit(uow.conn, now, actor, BreakAction.RESOLVED, break_id, detail)
            done = load_break(uow.conn, break_id)
            uow.commit()
        return done

    @staticmethod
    def _take(
        uow: UnitOfWork,
        found: Break,
        match_id: str,
        rule: str,
        items: list[Item],
        actor: str,
        now: datetime,
    ) -> None:
        save_match(
            uow.conn,
            ident=match_id,
            account=found.account,
            run_id=None,
            rule=rule,
            score=0,
            code=found.statement_total.currency.code,
            items=items,
            created_by=actor,
            now=now,
        )

    @staticmethod
    def _close(
        uow: UnitOfWork,
        break_id: str,
        status: BreakStatus,
        match_id: str,
        note: str,
        entry_seq: int | None,
        now: datetime,
    ) -> None:
        values: dict[str, object] = {
            "status": status.value,
            "match_id": match_id,
            "note": note,
            "updated_at": now,
        }
        if entry_seq is not None:
            values["entry_seq"] = entry_seq
        FastSQL.of(uow.conn).update(uow.conn, breaks, values, {"id": break_id})
