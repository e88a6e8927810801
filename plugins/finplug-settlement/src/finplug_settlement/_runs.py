"""Settlement runs: each payee account's due postings netted into one batch per value date.

A run for business day ``D`` looks at every payee account (merchants'
``payments:merchant:<id>:<CUR>``, partners' and sub-merchants'
``settlement:payee:<party>:<CUR>``) on its own, in a transaction of its own,
so one account that fails never stops the others:

1. the batch id is ``<account>@<D>``; its row is written first, so a second
   run (or a second worker) for the same day finds it and makes nothing new;
2. the account's postings not yet in a batch are read from the ledger; those
   whose value date (the schedule and the currency's business-day calendar
   applied to when they were posted) is on or before ``D`` are due;
3. reserves held earlier and due for release by ``D`` come back to the
   payable; a rolling reserve (``reserve.rate`` of the batch's new money:
   its movements less payouts that failed or came back, which were reserved
   on already; when positive, rounded down to the minor unit) is held back
   for ``reserve.days`` calendar days;
4. ``net = movements + released - held``. A net that is not positive, or
   below the currency's ``minimum_payout``, is carried: nothing is written,
   and the next run nets those postings again with what came in since;
5. otherwise ``net`` moves from the payable to ``settlement:payouts:<CUR>``
   (payouts in transit) and the batch lists every posting it settles:
   ``(entry, account)`` is a primary key, so no posting is settled twice.

Postings are read ahead in groups and value dates computed once per
calendar and capture day (see :mod:`finplug_settlement._reading`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select

from finplug import (
    Account,
    AccountType,
    FastSQL,
    Leg,
    Money,
    Posting,
    UnitOfWork,
    as_utc,
    currency,
)
from finplug.sockets.payments import MERCHANT_ACCOUNT_PREFIX
from finplug.sockets.settlement import (
    BatchStatus,
    RunReport,
    SettlementBatch,
    SettlementNotFoundError,
)
from finplug_settlement._reading import GROUP, PAGE, Ahead, ValueDates, batch_id, read_ahead, totals
from finplug_settlement._schema import batch_entries, batches, cursors, reserves
from finplug_settlement._settings import SettlementSettings
from finplug_settlement._splits import PAYEE
from finplug_settlement.calendars import BusinessCalendar, Schedule, calendar_for, value_date

__all__ = ["IN_TRANSIT", "RESERVE", "Runs", "batch_id"]

#: Money settled and not yet paid out, per currency (liability).
IN_TRANSIT: Final = "settlement:payouts:"
#: Reserves held back from a payee, per payee account (liability).
RESERVE: Final = "settlement:reserve:"
#: Entry numbers per ``IN`` list when looking up which postings are settled.
_IN_CHUNK: Final = 500


def _payee(account: str) -> tuple[str, str] | None:
    """(payee, currency) of a payee account code, ``None`` for any other account."""
    for prefix in (MERCHANT_ACCOUNT_PREFIX, PAYEE):
        if account.startswith(prefix):
            payee, _, code = account[len(prefix) :].rpartition(":")
            return (payee, code) if payee and len(code) == 3 else None
    return None


@dataclass(slots=True)
class _Due:
    """What one account has due for one run."""

    movements: list[tuple[int, int]]  # (seq, amount) of due postings
    carried_in: int  # the part of the movements due before the run's day
    reservable: int  # the movements less payouts put back (reserved on already)
    through: int  # every posting up to this seq is settled once the batch is


@dataclass(slots=True)
class _Pass:
    """What one run keeps as it goes from account to account."""

    day: date
    dates: ValueDates
    transits: set[str]  # in-transit accounts known open, as ``_in_transit`` opens them


def _is_transit(account: Account) -> bool:
    """Whether ``account`` is an in-transit account as :meth:`Runs._in_transit` opens it."""
    return (
        account.code == f"{IN_TRANSIT}{account.currency.code}"
        and account.type is AccountType.LIABILITY
        and (account.overdraft, account.overdraft_limit.minor_units) == ("none", 0)
    )


class Runs:
    """A tenant's settlement runs and batches."""

    def __init__(
        self,
        settings: SettlementSettings,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._clock = clock
        schedule = settings.schedule
        self._schedule = Schedule(
            kind=schedule.kind,
            timezone=schedule.timezone,
            delay_days=schedule.delay_days,
            weekday=schedule.weekday,
            day_of_month=schedule.day_of_month,
            cutoff=schedule.cutoff,
        )
        self._calendars: dict[tuple[str, str | None], BusinessCalendar] = {}

    def today(self) -> date:
        """Today's date in the schedule's time zone."""
        return self._clock().astimezone(ZoneInfo(self._settings.schedule.timezone)).date()

    def calendar(self, code: str, payee: str | None = None) -> BusinessCalendar:
        """The business-day calendar paying ``payee`` in currency ``code``.

        The payee's bank country (``payee_countries``) first, then the
        tenant's ``calendar_country``, then the currency's own calendar.
        """
        country = self._settings.payee_countries.get(payee or "", self._settings.calendar_country)
        found = self._calendars.get((code, country))
        if found is None:
            found = self._calendars[code, country] = calendar_for(code, country)
        return found

    def value_date(self, posted_at: datetime, code: str, payee: str | None = None) -> date:
        """When a posting made at ``posted_at`` in currency ``code`` is due to ``payee``."""
        return value_date(posted_at, self._schedule, self.calendar(code, payee))

    # -- a run --------------------------------------------------------------

    def run(self, as_of: date) -> RunReport:
        """Settle every payee account's postings due on or before ``as_of``."""
        created: list[str] = []
        existing: list[str] = []
        carried: list[str] = []
        failed: list[tuple[str, str]] = []
        with self._uow() as uow:
            found = uow.ledger.accounts()
        run = _Pass(as_of, ValueDates(self._schedule), {a.code for a in found if _is_transit(a)})
        payees = {a.code: p for a in found if (p := _payee(a.code)) is not None}
        ordered = sorted(payees)
        for start in range(0, len(ordered), GROUP):
            group = ordered[start : start + GROUP]
            try:
                made, ahead = read_ahead(self._uow, group, as_of)
            except Exception:  # each account reads its own, and reports what fails
                made, ahead = set(), {}
            for account in group:
                if account in made:  # its batch for the day was found made: it stays so
                    existing.append(batch_id(account, as_of))
                    continue
                payee, code = payees[account]
                try:
                    outcome = self._settle(account, payee, code, run, ahead.pop(account, None))
                except Exception as exc:  # one account's failure never stops the run
                    failed.append((account, f"{type(exc).__name__}: {str(exc)[:200]}"))
                    continue
                if outcome == "carried":
                    carried.append(account)
                elif outcome != "idle":
                    (created if outcome == "created" else existing).append(batch_id(account, as_of))
        return RunReport(
            as_of,
            created=tuple(created),
            existing=tuple(existing),
            carried=tuple(carried),
            failed=tuple(failed),
        )

    def _settle(self, account: str, payee: str, code: str, run: _Pass, ahead: Ahead | None) -> str:
        day = run.day
        ident = batch_id(account, day)
        with self._uow() as uow:
            conn = uow.conn
            fast = FastSQL.of(conn)
            now = self._clock()
            # The batch row first: a second worker waits here, then finds it.
            placeholder = {
                "id": ident,
                "account": account,
                "payee": payee,
                "currency": code,
                "value_date": day,
                "movements": 0,
                "carried_in": 0,
                "reserve_held": 0,
                "reserve_released": 0,
                "net": 0,
                "status": BatchStatus.SETTLED.value,
                "entry_seq": 0,
                "created_at": now,
            }
            if not fast.insert_new(conn, batches, placeholder, ("id",)):
                return "existing"
            found = fast.select_one(conn, cursors, {"account": account})
            cursor = None if found is None else int(found.through_seq)
            calendar = self.calendar(code, payee)
            due = self._due(uow, account, calendar, run, cursor, ahead)
            released = self._release(uow, account, code, day, ident)
            if not due.movements and not released:
                return "idle"  # nothing due: nothing written, nothing to report
            movements = sum(amount for _seq, amount in due.movements)
            held = 0
            if self._settings.reserve is not None and due.reservable > 0:
                share = Decimal(due.reservable) * self._settings.reserve.rate
                held = int(share.to_integral_value(rounding=ROUND_FLOOR))
            net = movements + sum(amount for _seq, amount in released) - held
            minimum = self._settings.minimum_payout.get(code)
            if net <= 0 or (minimum is not None and Money.from_minor(net, code).amount < minimum):
                return "carried"  # leaving the block uncommitted writes nothing
            rows = [("movement", seq, amount) for seq, amount in due.movements]
            rows += [("reserve", seq, amount) for seq, amount in released]
            if held:
                seq = self._hold(uow, account, code, day, ident, held)
                rows.append(("reserve", seq, -held))
            entry = uow.ledger.post(
                f"settlement:batch:{ident}",
                [
                    Leg.debit(account, Money.from_minor(net, code)),
                    Leg.credit(self._in_transit(uow, code, run), Money.from_minor(net, code)),
                ],
                description=f"settlement batch {ident}",
            )
            rows.append(("settlement", entry.seq, -net))
            conn.execute(
                insert(batch_entries),
                [
                    {
                        "entry_seq": seq,
                        "account": account,
                        "batch_id": ident,
                        "role": role,
                        "amount": amount,
                    }
                    for role, seq, amount in rows
                ],
            )
            fast.update(
                conn,
                batches,
                {
                    "movements": movements,
                    "carried_in": due.carried_in,
                    "reserve_held": held,
                    "reserve_released": sum(amount for _seq, amount in released),
                    "net": net,
                    "entry_seq": entry.seq,
                },
                {"id": ident},
            )
            # Up to the last posting read, never the batch's own entry: on PostgreSQL a
            # capture committed after the read may have a lower seq than that entry.
            through = due.through
            if cursor is None:
                fast.insert(conn, cursors, {"account": account, "through_seq": through})
            else:
                fast.update(conn, cursors, {"through_seq": through}, {"account": account})
            uow.commit()
        return "created"

    def _due(
        self,
        uow: UnitOfWork,
        account: str,
        calendar: BusinessCalendar,
        run: _Pass,
        cursor: int | None,
        ahead: Ahead | None,
    ) -> _Due:
        after = cursor or 0
        postings = self._unsettled(uow, account, after, ahead)
        # Without a cursor the account has no batch yet, so no posting of it is in one.
        settled = set() if cursor is None else self._settled(uow, account, postings)
        day, dates = run.day, run.dates
        movements: list[tuple[int, int]] = []
        carried = reservable = 0
        through = after
        contiguous = True
        for posting in postings:
            seq = posting.seq
            if seq in settled:
                through = seq if contiguous else through
                continue
            due_on = dates(posting.posted_at, calendar)
            if due_on <= day:
                amount = posting.amount.minor_units
                movements.append((seq, amount))
                if due_on < day:
                    carried += amount
                if not posting.key.startswith("settlement:payout:"):
                    reservable += amount
                through = seq if contiguous else through
            else:
                contiguous = False
        return _Due(movements, carried, reservable, through)

    def _unsettled(
        self, uow: UnitOfWork, account: str, after: int, ahead: Ahead | None
    ) -> list[Posting]:
        """The account's postings after ``after``, all of them as of now."""
        if ahead is None or ahead.after > after:  # none read ahead, or not from far enough
            return self._postings(uow, account, after)
        postings = [p for p in ahead.postings if p.seq > after]
        if not ahead.complete or totals(uow, account) != ahead.totals:
            postings += self._postings(uow, account, max(ahead.through, after))
        return postings

    @staticmethod
    def _postings(uow: UnitOfWork, account: str, after: int) -> list[Posting]:
        """The account's postings after ``after``, read page by page."""
        out: list[Posting] = []
        while True:
            page = uow.ledger.postings([account], after=after, limit=PAGE)
            if not page:
                return out
            out += page
            after = page[-1].seq  # pages hold whole entries: go on until one is empty

    @staticmethod
    def _settled(uow: UnitOfWork, account: str, postings: Sequence[Posting]) -> set[int]:
        """Which of ``postings`` are in a batch already."""
        seqs = [p.seq for p in postings]
        settled: set[int] = set()
        for start in range(0, len(seqs), _IN_CHUNK):
            chunk = seqs[start : start + _IN_CHUNK]
            entries = batch_entries.c
            query = select(entries.entry_seq).where(
                entries.account == account, entries.entry_seq.in_(chunk)
            )
            settled.update(uow.conn.execute(query).scalars())
        return settled

    # -- reserves -----------------------------------------------------------

    def _reserve_account(self, uow: UnitOfWork, account: str, code: str) -> str:
        reserve = f"{RESERVE}{account}"
        uow.ledger.open_account(reserve, "liability", code)
        return reserve

    @staticmethod
    def _in_transit(uow: UnitOfWork, code: str, run: _Pass) -> str:
        transit = f"{IN_TRANSIT}{code}"
        if transit not in run.transits:
            uow.ledger.open_account(transit, "liability", code)
            uow.after_commit(lambda: run.transits.add(transit))
        return transit

    def _hold(
        self, uow: UnitOfWork, account: str, code: str, day: date, ident: str, held: int
    ) -> int:
        assert self._settings.reserve is not None
        entry = uow.ledger.transfer(
            f"settlement:reserve:hold:{ident}",
            debit=account,
            credit=self._reserve_account(uow, account, code),
            amount=Money.from_minor(held, code),
            description=f"rolling reserve of batch {ident}",
        )
        FastSQL.of(uow.conn).insert(
            uow.conn,
            reserves,
            {
                "batch_id": ident,
                "account": account,
                "currency": code,
                "amount": held,
                "release_on": day + timedelta(days=self._settings.reserve.days),
                "released_in": None,
            },
        )
        return entry.seq

    def _release(
        self, uow: UnitOfWork, account: str, code: str, day: date, ident: str
    ) -> list[tuple[int, int]]:
        conn = uow.conn
        due = conn.execute(
            select(reserves)
            .where(
                reserves.c.account == account,
                reserves.c.release_on <= day,
                reserves.c.released_in.is_(None),
            )
            .order_by(reserves.c.batch_id)
        ).all()
        released: list[tuple[int, int]] = []
        for row in due:
            entry = uow.ledger.transfer(
                f"settlement:reserve:release:{row.batch_id}",
                debit=self._reserve_account(uow, account, code),
                credit=account,
                amount=Money.from_minor(row.amount, code),
                description=f"reserve of batch {row.batch_id} released into {ident}",
            )
            FastSQL.of(conn).update(
                conn, reserves, {"released_in": ident}, {"batch_id": row.batch_id}
            )
            released.append((entry.seq, int(row.amount)))
        return released

    # -- reading ------------------------------------------------------------

    def batch(self, conn: Connection, ident: str) -> SettlementBatch:
        """One batch, with the entries it settles."""
        row = conn.execute(select(batches).where(batches.c.id == ident)).first()
        if row is None:
            raise SettlementNotFoundError(f"no settlement batch {ident!r}")
        return self._batch(conn, row)

    def batches(self, conn: Connection, payee: str | None, limit: int) -> list[SettlementBatch]:
        """Batches, newest value date first."""
        query = select(batches).order_by(batches.c.value_date.desc(), batches.c.id)
        if payee is not None:
            query = query.where(batches.c.payee == payee)
        return [self._batch(conn, r) for r in conn.execute(query.limit(limit))]

    @staticmethod
    def _batch(conn: Connection, row: Any) -> SettlementBatch:
        cur = currency(row.currency)
        seqs = conn.execute(
            select(batch_entries.c.entry_seq)
            .where(batch_entries.c.batch_id == row.id, batch_entries.c.role != "settlement")
            .order_by(batch_entries.c.entry_seq)
        ).scalars()

        def money(minor: int) -> Money:
            return Money.from_minor(minor, cur)

        return SettlementBatch(
            id=row.id,
            account=row.account,
            payee=row.payee,
            currency=row.currency,
            value_date=row.value_date,
            entries=tuple(int(s) for s in seqs),
            movements=money(row.movements),
            carried_in=money(row.carried_in),
            reserve_held=money(row.reserve_held),
            reserve_released=money(row.reserve_released),
            net=money(row.net),
            status=BatchStatus(row.status),
            entry_seq=int(row.entry_seq),
            created_at=as_utc(row.created_at),
        )
