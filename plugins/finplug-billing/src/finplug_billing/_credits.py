"""Credit notes on finalized invoices: computed exactly, numbered, booked as what they credit.

The amounts come from :func:`~finplug_billing.credit_notes.credit` over the
invoice's stored totals and the notes issued before, so no sequence of
notes exceeds the invoice and the one crediting the rest leaves every line
and tax code at exactly zero. A note is numbered in its own gapless series
(``CN-000001``) and reverses in the ledger exactly what it credits: revenue
(or deferred revenue, for fees paid in advance) by its net, each tax
payable by its tax; the other side is where the money goes:

* ``balance`` — off what the invoice still owes (the receivable); at most
  the amount due;
* ``wallet`` — to the customer's prepaid credits (the wallet's liability);
* ``refund`` — back to the customer through what was paid: at most the
  amount paid; booked against the collection account (the host's payment
  channel returns the money; :meth:`collect` charges went through payments).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from finplug import Event, FastSQL, Leg, Money, UnitOfWork, as_utc, request_digest
from finplug.sockets.billing import (
    BillingError,
    BillingInputError,
    BillingNotFoundError,
    CollectionStatus,
    CreditNote,
    CreditNoteLine,
    CreditTarget,
    InvoiceStatus,
)
from finplug_billing._booking import Books, next_number
from finplug_billing._invoices import totals_of
from finplug_billing._prices import Catalog
from finplug_billing._schema import credit_note_lines, credit_notes, invoices
from finplug_billing._wallets import add_credit
from finplug_billing.credit_notes import CreditNoteAmounts, CreditRequest, credit
from finplug_billing.credit_notes import CreditNoteLine as AmountLine

__all__ = ["CreditNotes", "load_credit_note", "notes_of"]


def notes_of(conn: Connection, invoice_id: str) -> list[CreditNoteAmounts]:
    """The amounts of an invoice's credit notes, oldest first."""
    c, nl = credit_notes.c, credit_note_lines.c
    ids = conn.execute(
        select(c.id).where(c.invoice_id == invoice_id).order_by(c.created_at, c.number)
    ).scalars()
    found = []
    for ident in ids:
        rows = conn.execute(
            select(credit_note_lines).where(nl.credit_note_id == ident).order_by(nl.line_id)
        )
        found.append(
            CreditNoteAmounts(
                tuple(
                    AmountLine(
                        r.line_id,
                        int(r.amount),
                        tuple((code, int(tax)) for code, tax in json.loads(r.taxes)),
                    )
                    for r in rows
                )
            )
        )
    return found


def load_credit_note(conn: Connection, ident: str) -> CreditNote:
    """A credit note by id; :class:`BillingNotFoundError` if there is none."""
    row = FastSQL.of(conn).select_one(conn, credit_notes, {"id": ident})
    if row is None:
        raise BillingNotFoundError(f"no credit note {ident!r}")
    head = FastSQL.of(conn).select_one(conn, invoices, {"id": row.invoice_id})
    assert head is not None
    code = head.currency

    def money(minor: int) -> Money:
        return Money.from_minor(int(minor), code)

    nl = credit_note_lines.c
    lines = tuple(
        CreditNoteLine(
            line_id=r.line_id,
            amount=money(r.amount),
            taxes=tuple((c, money(t)) for c, t in json.loads(r.taxes)),
        )
        for r in conn.execute(
            select(credit_note_lines).where(nl.credit_note_id == ident).order_by(nl.line_id)
        )
    )
    return CreditNote(
        id=row.id,
        number=row.number,
        invoice_id=row.invoice_id,
        target=CreditTarget(row.target),
        lines=lines,
        amount=money(row.amount),
        tax=money(row.tax),
        total=money(row.total),
        reason=row.reason,
        created_at=as_utc(row.created_at),
    )


class CreditNotes:
    """A tenant's credit notes."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        books: Books,
    ) -> None:
        self._catalog = catalog
        self._uow = unit_of_work
        self._clock = clock
        self._books = books

    def list(self, invoice_id: str) -> list[CreditNote]:
        """An invoice's credit notes, oldest first."""
        c = credit_notes.c
        with self._uow() as uow:
            conn = uow.conn
            ids = conn.execute(
                select(c.id).where(c.invoice_id == invoice_id).order_by(c.created_at, c.number)
            ).scalars()
            return [load_credit_note(conn, ident) for ident in ids]

    def issue(
        self,
        key: str,
        invoice_id: str,
        amount: Money | None,
        lines: Mapping[str, Money] | None,
        target: CreditTarget,
        reason: str,
    ) -> CreditNote:
        """Issue a credit note (see the module docstring)."""
        catalog = self._catalog()
        target = CreditTarget(target)
        args = {
            "invoice": invoice_id,
            "amount": None if amount is None else str(amount),
            "lines": None if lines is None else {k: str(v) for k, v in sorted(lines.items())},
            "target": target.value,
            "reason": reason,
        }
        if not isinstance(key, str) or not 0 < len(key) <= 255:
            raise BillingInputError("expected a key of 1 to 255 characters", field="key")
        with self._uow() as uow:
            conn = uow.conn
            stored = uow.idempotency.claim(key, "credit", request_digest("credit", args))
            if stored is not None:
                if stored.response is None:
                    raise BillingError(f"the request under key {key!r} is still running")
                return load_credit_note(conn, stored.response)
            row = FastSQL.of(conn).select_one(conn, invoices, {"id": invoice_id}, for_update=True)
            if row is None:
                raise BillingNotFoundError(f"no invoice {invoice_id!r}")
            if row.status not in (InvoiceStatus.FINALIZED.value, InvoiceStatus.PAID.value):
                raise BillingError(
                    f"invoice {invoice_id!r} is {row.status}: only a finalized invoice is credited"
                )
            request = _request(row.currency, amount, lines)
            totals = totals_of(conn, invoice_id)
            try:
                note = credit(totals, notes_of(conn, invoice_id), request)
            except ValueError as exc:
                raise BillingInputError(
                    str(exc), field="amount" if amount is not None else "lines"
                ) from None
            due = int(row.total) - int(row.credits) - int(row.credited_balance) - int(row.paid)
            if target is CreditTarget.BALANCE and note.total > due:
                left = Money.from_minor(max(due, 0), row.currency)
                raise BillingInputError(
                    f"a credit note to the balance takes at most what is due ({left});"
                    " credit to the wallet, or refund",
                    field="target",
                )
            if target is CreditTarget.REFUND and note.total > int(row.paid):
                paid = Money.from_minor(int(row.paid), row.currency)
                raise BillingInputError(
                    f"a refund takes at most what was paid ({paid})", field="target"
                )
            ident = self._write(uow, catalog, row, note, target, reason)
            uow.idempotency.finish(key, ident, resource=ident)
            found = load_credit_note(conn, ident)
            uow.commit()
        return found

    def _write(
        self,
        uow: UnitOfWork,
        catalog: Catalog,
        row: Any,
        note: CreditNoteAmounts,
        target: CreditTarget,
        reason: str,
    ) -> str:
        conn = uow.conn
        invoice = row
        invoice_id: str = invoice.id
        code: str = invoice.currency
        customer_id: str = invoice.customer_id
        now = self._clock()
        numbering = catalog.settings.invoices
        number = next_number(
            conn, numbering.credit_note_prefix, numbering.digits, False, now.date()
        )
        ident = f"crn_{uuid.uuid4().hex[:24]}"
        legs: list[Leg] = []
        earned = sum(line.net for line in note.lines if not line.key.startswith("advance:"))
        later = sum(line.net for line in note.lines if line.key.startswith("advance:"))
        if earned:
            legs.append(
                Leg.debit(self._books.account(uow, "revenue", code), Money.from_minor(earned, code))
            )
        if later:
            legs.append(
                Leg.debit(self._books.account(uow, "deferred", code), Money.from_minor(later, code))
            )
        for tax_code, tax in note.tax_by_code:
            if tax:
                payable = self._books.account(uow, "tax", code, tax=tax_code)
                legs.append(Leg.debit(payable, Money.from_minor(tax, code)))
        total = Money.from_minor(note.total, code)
        if target is CreditTarget.BALANCE:
            other = self._books.account(uow, "receivable", code, customer=customer_id)
        elif target is CreditTarget.WALLET:
            other = self._books.account(uow, "wallet", code, customer=customer_id)
        else:
            other = self._books.account(uow, "cash", code)
        seq = None
        if note.total:
            legs.append(Leg.credit(other, total))
            seq = uow.ledger.post(f"billing:credit_note:{ident}", legs, f"credit note {number}").seq
        FastSQL.of(conn).insert(
            conn,
            credit_notes,
            {
                "id": ident,
                "number": number,
                "invoice_id": invoice_id,
                "target": target.value,
                "amount": note.net,
                "tax": note.tax,
                "total": note.total,
                "reason": reason,
                "entry_seq": seq,
                "created_at": now,
            },
        )
        if note.lines:
            conn.execute(
                credit_note_lines.insert(),
                [
                    {
                        "credit_note_id": ident,
                        "line_id": line.key,
                        "amount": line.net,
                        "taxes": json.dumps([[c, t] for c, t in line.taxes]),
                    }
                    for line in note.lines
                ],
            )
        if target is CreditTarget.WALLET and note.total:
            add_credit(conn, customer_id, code, note.total, None, seq, now)
        values: dict[str, object] = {"credited": int(invoice.credited) + note.total}
        settled = int(invoice.credited_balance)
        if target is CreditTarget.BALANCE:
            settled += note.total
            values["credited_balance"] = settled
        due = int(invoice.total) - int(invoice.credits) - settled - int(invoice.paid)
        if target is CreditTarget.BALANCE and due == 0:
            values["status"] = InvoiceStatus.PAID.value
            values["collection"] = CollectionStatus.SUCCEEDED.value
        FastSQL.of(conn).update(conn, invoices, values, {"id": invoice_id})
        uow.events.emit(
            Event(
                "billing.credit_note.issued",
                f"invoice:{invoice_id}",
                {
                    "credit_note": ident,
                    "number": number,
                    "total": str(total.amount),
                    "target": target.value,
                },
            )
        )
        return ident


def _request(code: str, amount: Money | None, lines: Mapping[str, Money] | None) -> CreditRequest:
    def minor(value: object, field: str) -> int:
        if not isinstance(value, Money):
            raise BillingInputError(f"expected Money, got {type(value).__name__}", field=field)
        if value.currency.code != code:
            raise BillingInputError(
                f"the invoice is in {code}, not {value.currency.code} (a currency mismatch)",
                field=field,
            )
        if value.minor_units <= 0:
            raise BillingInputError(f"expected more than 0, got {value}", field=field)
        return value.minor_units

    if (amount is None) == (lines is None):
        raise BillingInputError("give amount or lines, not both and not neither", field="amount")
    if amount is not None:
        return CreditRequest(amount=minor(amount, "amount"))
    assert lines is not None
    return CreditRequest.per_line(
        {key: minor(value, f"lines.{key}") for key, value in lines.items()}
    )
