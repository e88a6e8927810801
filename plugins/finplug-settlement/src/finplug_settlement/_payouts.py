"""Payouts: one per settlement batch, through a channel connector's ``PAYOUT`` operation.

The state machine, every move in a transaction that also books its money:

* ``pay(batch)``: risk is asked (operation ``settlement.payout``); anything
  but approve is ``failed`` at once (code ``risk_<verdict>``). Otherwise the
  payout is written ``sent`` and committed *before* the channel is called
  (reference ``payout:<batch>``, the same at every retry), so a crash
  between the two leaves a ``sent`` payout for the janitor, never a second
  payout;
* the channel's answer: paid (in transit → the channel's clearing account),
  refused (``failed``: in transit → the payee's payable again), or no answer
  (``unknown``);
* the janitor (:meth:`Payouts.resolve`) asks the channel about ``sent`` and
  ``unknown`` payouts (``lookup``; a payout the channel never received is
  sent again, same reference), and about payouts paid within
  ``return_window_days``: one the payee's bank sent back is ``returned``
  (the channel's clearing account → the payee's payable again).

A failed or returned payout's amount is back on the payee's payable, so the
next settlement run pays it again in a new batch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select

from finplug import FastSQL, Money, UnitOfWork, as_utc
from finplug.sockets.payments import (
    ChannelConnector,
    ChannelError,
    ChannelOperation,
    ChannelRequest,
    ChannelResult,
    ChannelTimeoutError,
    PaymentMethod,
    clearing_account,
)
from finplug.sockets.risk import RiskContext, RiskDecision, RiskVerdict
from finplug.sockets.settlement import (
    BatchStatus,
    Payout,
    PayoutReport,
    PayoutStatus,
    SettlementError,
    SettlementNotFoundError,
)
from finplug_settlement._runs import IN_TRANSIT
from finplug_settlement._schema import batches, payouts
from finplug_settlement._settings import SettlementSettings

__all__ = ["Payouts"]

_S = PayoutStatus
#: The code a paid payout's lookup answers when the payee's bank sent it back.
RETURNED_CODE: Final = "returned"


class Payouts:
    """A tenant's payouts."""

    def __init__(
        self,
        settings: SettlementSettings,
        unit_of_work: Callable[[], UnitOfWork],
        connectors: Callable[[], list[ChannelConnector]],
        assess: Callable[[RiskContext], RiskDecision],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._connectors = connectors
        self._assess = assess
        self._clock = clock

    # -- paying -------------------------------------------------------------

    def pay(self, batch_id: str) -> Payout:
        """Pay the batch out once (see the module docstring); the payout as it stands."""
        with self._uow() as uow:
            conn = uow.conn
            fast = FastSQL.of(conn)
            batch = fast.select_one(conn, batches, {"id": batch_id}, for_update=True)
            if batch is None:
                raise SettlementNotFoundError(f"no settlement batch {batch_id!r}")
            found = fast.select_one(conn, payouts, {"id": batch_id})
            if found is not None:
                return _payout(found)  # one payout per batch, however often asked
            amount = Money.from_minor(batch.net, batch.currency)
            decision = self._assess(
                RiskContext("settlement.payout", amount, merchant_id=batch.payee)
            )
            now = self._clock()
            row = {
                "id": batch_id,
                "account": batch.account,
                "payee": batch.payee,
                "currency": batch.currency,
                "amount": batch.net,
                "channel": "",
                "status": _S.SENT.value,
                "failure_code": "",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            if decision.verdict is not RiskVerdict.APPROVE:
                row["status"] = _S.FAILED.value
                row["failure_code"] = f"risk_{decision.verdict.name.lower()}"
                fast.insert(conn, payouts, row)
                transit = f"{IN_TRANSIT}{batch.currency}"
                self._restore(uow, batch_id, batch.account, amount, transit, "failed")
                uow.commit()
                return self.get(batch_id)
            connector = self._connector(batch.currency)
            row["channel"] = connector.info.name
            row["attempts"] = 1
            fast.insert(conn, payouts, row)
            uow.commit()  # sent, before the channel is asked: a crash leaves it to the janitor
        self._call(connector, batch_id, batch.payee, amount)
        return self.get(batch_id)

    def _connector(self, code: str) -> ChannelConnector:
        wanted = self._settings.payout_channel
        for connector in self._connectors():
            info = connector.info
            if not info.payouts or code not in info.currencies:
                continue
            if wanted is None or info.name == wanted:
                return connector
        named = f"channel {wanted!r}" if wanted else "no channel"
        raise SettlementError(f"{named} pays out {code}: set a channel's payouts: true")

    @staticmethod
    def _request(batch_id: str, payee: str, amount: Money) -> ChannelRequest:
        return ChannelRequest(
            ChannelOperation.PAYOUT,
            f"payout:{batch_id}",
            amount,
            PaymentMethod.BANK_TRANSFER,
            payee,
        )

    def _call(self, connector: ChannelConnector, batch_id: str, payee: str, amount: Money) -> None:
        request = self._request(batch_id, payee, amount)
        try:
            result = connector.execute(request)
        except ChannelTimeoutError:
            self._move(batch_id, _S.UNKNOWN)
        except ChannelError as exc:
            self._move(batch_id, _S.FAILED, exc.code)
        else:
            self._settle(batch_id, result)

    def _settle(self, batch_id: str, result: ChannelResult) -> None:
        self._move(batch_id, _S.PAID)
        if result.code == RETURNED_CODE:
            self._move(batch_id, _S.RETURNED, RETURNED_CODE)

    # -- moves --------------------------------------------------------------

    def _move(self, batch_id: str, to: PayoutStatus, code: str = "") -> bool:
        """Move a payout and book its money, if its state allows; whether it moved."""
        allowed = {
            _S.UNKNOWN: {_S.SENT},
            _S.PAID: {_S.SENT, _S.UNKNOWN},
            _S.FAILED: {_S.SENT, _S.UNKNOWN},
            _S.RETURNED: {_S.PAID},
        }[to]
        with self._uow() as uow:
            conn = uow.conn
            fast = FastSQL.of(conn)
            row = fast.select_one(conn, payouts, {"id": batch_id}, for_update=True)
            if row is None or _S(row.status) not in allowed:
                return False
            amount = Money.from_minor(row.amount, row.currency)
            if to is _S.PAID:
                clearing = clearing_account(row.channel, row.currency)
                uow.ledger.open_account(clearing, "asset", row.currency, overdraft="unlimited")
                uow.ledger.transfer(
                    f"settlement:payout:{batch_id}:paid",
                    debit=f"{IN_TRANSIT}{row.currency}",
                    credit=clearing,
                    amount=amount,
                    description=f"payout of {batch_id} via {row.channel}",
                )
            elif to is _S.FAILED:
                transit = f"{IN_TRANSIT}{row.currency}"
                self._restore(uow, batch_id, row.account, amount, transit, "failed")
            elif to is _S.RETURNED:
                clearing = clearing_account(row.channel, row.currency)
                self._restore(uow, batch_id, row.account, amount, clearing, "returned")
            values: dict[str, Any] = {"status": to.value, "updated_at": self._clock()}
            if code:
                values["failure_code"] = code[:64]
            fast.update(conn, payouts, values, {"id": batch_id})
            batch_status = {
                _S.PAID: BatchStatus.PAID,
                _S.FAILED: BatchStatus.FAILED,
                _S.RETURNED: BatchStatus.RETURNED,
            }.get(to)
            if batch_status is not None:
                fast.update(conn, batches, {"status": batch_status.value}, {"id": batch_id})
            uow.commit()
        return True

    @staticmethod
    def _restore(
        uow: UnitOfWork, batch_id: str, account: str, amount: Money, source: str, why: str
    ) -> None:
        """Put a payout's amount back on the payee's payable, from in transit or the channel."""
        uow.ledger.transfer(
            f"settlement:payout:{batch_id}:{why}",
            debit=source,
            credit=account,
            amount=amount,
            description=f"payout of {batch_id} {why}: back to the payee's payable",
        )

    # -- the janitor --------------------------------------------------------

    def resolve(self) -> PayoutReport:
        """Ask the channels about open payouts and recent paid ones (see the module docstring)."""
        now = self._clock()
        window = now - timedelta(days=self._settings.return_window_days)
        with self._uow() as uow:
            rows = uow.conn.execute(
                select(payouts).where(
                    (payouts.c.status.in_([_S.SENT.value, _S.UNKNOWN.value]))
                    | ((payouts.c.status == _S.PAID.value) & (payouts.c.updated_at >= window))
                )
            ).all()
        by_name = {c.info.name: c for c in self._connectors()}
        paid: list[str] = []
        failed: list[str] = []
        returned: list[str] = []
        unknown: list[str] = []
        for row in rows:
            connector = by_name.get(row.channel)
            if connector is None:
                unknown.append(row.id)
                continue
            amount = Money.from_minor(row.amount, row.currency)
            request = self._request(row.id, row.payee, amount)
            was = _S(row.status)
            try:
                answer = connector.lookup(request)
                if answer is None and was is not _S.PAID:
                    self._bump(row.id)
                    answer = connector.execute(request)  # never received: send it again
            except ChannelTimeoutError:
                if was is not _S.PAID:
                    self._move(row.id, _S.UNKNOWN)
                    unknown.append(row.id)
                continue
            except ChannelError as exc:
                answer = exc
            if isinstance(answer, ChannelResult):
                if was is not _S.PAID and self._move(row.id, _S.PAID):
                    paid.append(row.id)
                if answer.code == RETURNED_CODE and self._move(row.id, _S.RETURNED, RETURNED_CODE):
                    returned.append(row.id)
            elif (
                isinstance(answer, ChannelError)
                and was is not _S.PAID
                and self._move(row.id, _S.FAILED, answer.code)
            ):
                failed.append(row.id)
        return PayoutReport(
            paid=tuple(paid),
            failed=tuple(failed),
            returned=tuple(returned),
            still_unknown=tuple(unknown),
        )

    def _bump(self, batch_id: str) -> None:
        with self._uow() as uow:
            conn = uow.conn
            row = FastSQL.of(conn).select_one(conn, payouts, {"id": batch_id}, for_update=True)
            if row is not None:
                FastSQL.of(conn).update(
                    conn, payouts, {"attempts": row.attempts + 1}, {"id": batch_id}
                )
            uow.commit()

    # -- reading ------------------------------------------------------------

    def get(self, batch_id: str) -> Payout:
        """A batch's payout; :class:`SettlementNotFoundError` if there is none."""
        found = self.find(batch_id)
        if found is None:
            raise SettlementNotFoundError(f"no payout for batch {batch_id!r}")
        return found

    def find(self, batch_id: str) -> Payout | None:
        """A batch's payout, or ``None``."""
        with self._uow() as uow:
            row = FastSQL.of(uow.conn).select_one(uow.conn, payouts, {"id": batch_id})
        return None if row is None else _payout(row)


def _payout(row: Any) -> Payout:
    return Payout(
        id=row.id,
        payee=row.payee,
        amount=Money.from_minor(row.amount, row.currency),
        channel=row.channel,
        status=PayoutStatus(row.status),
        failure_code=row.failure_code,
        attempts=int(row.attempts),
        updated_at=as_utc(row.updated_at),
    )
