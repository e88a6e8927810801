"""Invoices and credit notes rendered as HTML and PDF, in the customer's locale.

What a document shows
---------------------
The issuer (the tenant: :class:`Issuer`) at the top; the customer's name and
tax ids; the document's number, status and dates; one row per line
(description, period, quantity, unit price, amount, discount, taxes); then the
totals: subtotal, discount, each tax by its code, total, prepaid credits,
credited, paid and amount due. An invoice's credit notes, when given, are
listed after the totals. A draft has no number yet: ``DRAFT`` (in the
customer's language) is printed in its place, and the draft carries a visible
mark, a banner and a watermark; a voided invoice carries a ``VOID`` mark.

Figures are printed as the values hold them: nothing here computes or rounds
an amount. Amounts the customer subtracts (discount, prepaid credits,
credited, paid) are printed negative. The taxes of the totals are the sums of
the lines' taxes per code, in the order the codes first appear; if those sums
do not add up to the document's own tax figure, the document's figure is
printed as one "Tax" row instead (the document's figures always win). A
period is printed with its last day, the day before the value's exclusive
``period_end``. A credit note's date is the day of its ``created_at`` in the
customer's time zone.

Locale
------
``customer.locale`` is a CLDR locale id (``de_DE``, ``fr_FR``, ``ja_JP``,
``zh_Hans_CN``; the BCP 47 spelling ``de-DE`` is read too). Babel formats the
money (``format_currency`` in the amount's own currency: ``1.234,56 €`` in
``de_DE``, ``￥1,235`` for JPY in ``ja_JP``) and the dates (``format_date``,
medium). Money is never rounded for printing: an amount prints with its
currency's digits, and a unit price or quantity finer than that prints with
all its digits. An id Babel does not know (or an empty one) falls back to
English (``en``). The fixed labels (Invoice, Due date, Subtotal …) come from
one small table in English, German and French, looked up by the locale's
language; any other language gets the English labels (a Japanese customer
gets Japanese money and dates with English labels). The table keeps to
languages written in Latin script so that the labels always print in the
PDF's default font.

HTML
----
:func:`render_html` and :func:`render_credit_note_html` fill a Jinja2 template
(:mod:`finplug_billing.templates`) with autoescaping on, so every value from
the customer, the catalog or the issuer is escaped (a customer named
``<script>…`` prints as text). The page is self-contained: its CSS is inline
and it loads nothing (no fonts, images, scripts or links).

PDF
---
:func:`render_pdf` and :func:`render_credit_note_pdf` lay the same content
out with fpdf2 (pure Python) as real, extractable text. Fonts, encoding, the
handling of scripts the fonts lack (CJK by default) and determinism are
described in :mod:`finplug_billing._pdf`: in short, DejaVu Sans (shipped by
matplotlib) covers Latin, Greek and Cyrillic; a character the fonts lack
prints as its compatibility form (``￥`` as ``¥``) or as ``�``, with a
footnote, unless :class:`PdfFonts` names fallback fonts that have it; and the
same input gives the same bytes (the PDF's dates come from the document, not
the clock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from finplug import Money
from finplug.sockets.billing import (
    CreditNote,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from finplug_billing import _pdf, templates
from finplug_billing._pdf import PdfFonts, default_fonts

__all__ = [
    "FALLBACK_LOCALE",
    "Issuer",
    "PdfFonts",
    "default_fonts",
    "render_credit_note_html",
    "render_credit_note_pdf",
    "render_html",
    "render_pdf",
]

FALLBACK_LOCALE: Final = "en"
"""The locale of a customer whose ``locale`` Babel does not know."""

_LANGUAGES: Final = ("en", "de", "fr")

# The fixed labels, one row per label: (English, German, French).
_LABELS: Final[Mapping[str, tuple[str, str, str]]] = {
    "invoice": ("Invoice", "Rechnung", "Facture"),
    "credit_note": ("Credit note", "Gutschrift", "Avoir"),
    "number": ("Number", "Nummer", "Numéro"),
    "draft": ("DRAFT", "ENTWURF", "BROUILLON"),
    "draft_note": (
        "Draft: not valid for payment.",
        "Entwurf: nicht zur Zahlung gültig.",
        "Brouillon : non valable pour paiement.",
    ),
    "void": ("VOID", "STORNIERT", "ANNULÉE"),
    "void_note": (
        "Voided: nothing is owed on this invoice.",
        "Storniert: aus dieser Rechnung ist nichts zu zahlen.",
        "Annulée : rien n'est dû au titre de cette facture.",
    ),
    "status": ("Status", "Status", "Statut"),
    "issue_date": ("Issue date", "Rechnungsdatum", "Date d'émission"),
    "due_date": ("Due date", "Fälligkeitsdatum", "Date d'échéance"),
    "period": ("Period", "Zeitraum", "Période"),
    "date": ("Date", "Datum", "Date"),
    "reason": ("Reason", "Grund", "Motif"),
    "credited_to": ("Credited to", "Gutgeschrieben auf", "Crédité sur"),
    "bill_to": ("Bill to", "Rechnungsempfänger", "Facturé à"),
    "tax_id": ("Tax ID", "USt-IdNr.", "N° de TVA"),
    "email": ("Email", "E-Mail", "E-mail"),
    "description": ("Description", "Beschreibung", "Description"),
    "quantity": ("Quantity", "Menge", "Quantité"),
    "unit_price": ("Unit price", "Einzelpreis", "Prix unitaire"),
    "amount": ("Amount", "Betrag", "Montant"),
    "discount": ("Discount", "Rabatt", "Remise"),
    "taxes": ("Taxes", "Steuern", "Taxes"),
    "subtotal": ("Subtotal", "Zwischensumme", "Sous-total"),
    "tax": ("Tax", "Steuer", "Taxe"),
    "total": ("Total", "Gesamtbetrag", "Total"),
    "prepaid_credits": ("Prepaid credits", "Guthaben", "Crédits prépayés"),
    "credited": ("Credited", "Gutgeschrieben", "Crédité"),
    "paid": ("Paid", "Bezahlt", "Payé"),
    "amount_due": ("Amount due", "Offener Betrag", "Montant dû"),
    "credit_notes": ("Credit notes", "Gutschriften", "Avoirs"),
    "status_draft": ("Draft", "Entwurf", "Brouillon"),
    "status_finalized": ("Finalized", "Festgeschrieben", "Émise"),
    "status_paid": ("Paid", "Bezahlt", "Payée"),
    "status_voided": ("Voided", "Storniert", "Annulée"),
    "status_uncollectible": ("Uncollectible", "Uneinbringlich", "Irrécouvrable"),
    "target_refund": ("Refund", "Erstattung", "Remboursement"),
    "target_wallet": ("Prepaid wallet", "Guthabenkonto", "Portefeuille prépayé"),
    "target_balance": ("Invoice balance", "Rechnungssaldo", "Solde de la facture"),
    "unshown": (
        "Characters the fonts of this PDF lack are shown as {mark}.",
        "Zeichen, die den Schriften dieses PDF fehlen, erscheinen als {mark}.",
        "Les caractères absents des polices de ce PDF apparaissent comme {mark}.",
    ),
}

_NO_VALUE: Final = "—"


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who issues the documents (the tenant): printed at the top of each."""

    name: str
    """The tenant's legal name."""
    address_lines: tuple[str, ...] = ()
    """The postal address, one printed line each."""
    tax_id: str = ""
    """The tenant's own tax id (VAT number …); empty: not printed."""
    email: str = ""
    """A contact address for billing questions; empty: not printed."""


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of cells under headings; a cell is one or more printed lines."""

    headings: tuple[str, ...]
    """One per column."""
    numeric: tuple[bool, ...]
    """Per column: right-aligned figures."""
    widths: tuple[int, ...]
    """Relative column widths in the PDF."""
    rows: tuple[tuple[tuple[str, ...], ...], ...]
    """Per row, per column, the cell's lines."""
    caption: str = ""
    """A title above the table; empty: none."""


@dataclass(frozen=True, slots=True)
class TotalRow:
    """One row of the totals."""

    label: str
    """What it is."""
    value: str
    """The formatted amount."""
    strong: bool = False
    """Printed in bold (the total, the amount due)."""


@dataclass(frozen=True, slots=True)
class Document:
    """An invoice or a credit note made ready to print: every value formatted.

    Shared by the HTML template and the PDF layout, so both print the same.
    """

    lang: str
    """The locale as a BCP 47 tag (``de-DE``)."""
    title: str
    """``Invoice`` or ``Credit note``, in the locale's language."""
    number: str
    """The number, or the draft mark of a draft."""
    mark: str
    """``DRAFT``, ``VOID`` or empty, in the locale's language."""
    mark_note: str
    """What the mark means; empty without a mark."""
    issuer: Issuer
    """Who issues it."""
    customer_name: str
    """Who it is for."""
    customer_tax_ids: tuple[str, ...]
    """The customer's tax ids."""
    facts: tuple[tuple[str, str], ...]
    """``(label, value)``: number, status, dates, period …"""
    lines: Table
    """The document's lines."""
    totals: tuple[TotalRow, ...]
    """From the subtotal to the amount due."""
    related: Table | None
    """An invoice's credit notes, or ``None``."""
    labels: Mapping[str, str]
    """The fixed labels in the locale's language."""
    created: dt.datetime
    """When the document was made (the PDF's dates: never the clock)."""


def _locale(tag: str) -> Locale:
    """The Babel locale for ``tag``, or :data:`FALLBACK_LOCALE` when unknown."""
    text = tag.strip()
    sep = "-" if "-" in text and "_" not in text else "_"
    try:
        return Locale.parse(text, sep=sep)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(FALLBACK_LOCALE)


def _labels(locale: Locale) -> dict[str, str]:
    """The fixed labels in ``locale``'s language, English when it has none."""
    language = locale.language if locale.language in _LANGUAGES else "en"
    index = _LANGUAGES.index(language)
    return {key: texts[index] for key, texts in _LABELS.items()}


class _Formatter:
    """Babel's formatting in one locale; never rounds."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale

    def money(self, money: Money, *, negate: bool = False) -> str:
        """``money`` in its own currency (negated for amounts subtracted)."""
        amount = -money.amount if negate and money.amount else money.amount
        return self.price(amount, money.currency.code)

    def price(self, amount: Decimal, currency: str) -> str:
        """An exact amount of ``currency``, with all its digits."""
        return format_currency(amount, currency, locale=self.locale, decimal_quantization=False)

    def quantity(self, value: Decimal) -> str:
        """A quantity with all its digits."""
        return format_decimal(value, locale=self.locale, decimal_quantization=False)

    def day(self, value: dt.date | None) -> str:
        """A date, medium format; a dash for none."""
        if value is None:
            return _NO_VALUE
        return format_date(value, "medium", locale=self.locale)

    def period(self, start: dt.date, end: dt.date) -> str:
        """``start`` to the day before the exclusive ``end``."""
        last = end - dt.timedelta(days=1)
        if last <= start:
            return self.day(start)
        return f"{self.day(start)} \u2013 {self.day(last)}"  # an en dash

    def taxes(self, taxes: Sequence[tuple[str, Money]]) -> tuple[str, ...]:
        """One ``code: amount`` line per tax; a dash for none."""
        return tuple(f"{code}: {self.money(amount)}" for code, amount in taxes) or (_NO_VALUE,)


def _tax_rows(
    fmt: _Formatter,
    labels: Mapping[str, str],
    taxes: Sequence[tuple[str, Money]],
    total_tax: Money,
) -> list[TotalRow]:
    """Each tax code's sum, or one row of ``total_tax`` if the sums disagree with it."""
    by_code: dict[str, Money] = {}
    for code, amount in taxes:
        by_code[code] = by_code[code] + amount if code in by_code else amount
    if by_code and sum(by_code.values(), Money.zero(total_tax.currency)) == total_tax:
        return [TotalRow(f"{labels['tax']} {code}", fmt.money(v)) for code, v in by_code.items()]
    return [TotalRow(labels["tax"], fmt.money(total_tax))]


def _aware(moment: dt.datetime) -> dt.datetime:
    """``moment`` with a time zone (UTC when it has none)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _local_day(moment: dt.datetime, timezone: str) -> dt.date:
    """The day of ``moment`` in ``timezone`` (UTC when the zone is unknown)."""
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return _aware(moment).astimezone(zone).date()


def _mark(status: InvoiceStatus, number: str | None, labels: Mapping[str, str]) -> tuple[str, str]:
    """The mark of a draft or voided invoice and its note, else empty strings."""
    if number is None or status is InvoiceStatus.DRAFT:
        return labels["draft"], labels["draft_note"]
    if status is InvoiceStatus.VOIDED:
        return labels["void"], labels["void_note"]
    return "", ""


def invoice_document(
    invoice: Invoice,
    customer: Customer,
    issuer: Issuer,
    *,
    credit_notes: Sequence[CreditNote] = (),
) -> Document:
    """``invoice`` formatted for printing in ``customer``'s locale."""
    locale = _locale(customer.locale)
    labels = _labels(locale)
    fmt = _Formatter(locale)
    number = invoice.number if invoice.number is not None else labels["draft"]
    mark, note = _mark(invoice.status, invoice.number, labels)
    facts = (
        (labels["number"], number),
        (labels["status"], labels[f"status_{invoice.status.value}"]),
        (labels["issue_date"], fmt.day(invoice.issued_on)),
        (labels["due_date"], fmt.day(invoice.due_on)),
        (labels["period"], fmt.period(invoice.period_start, invoice.period_end)),
    )
    lines = Table(
        headings=tuple(
            labels[key]
            for key in (
                "description",
                "period",
                "quantity",
                "unit_price",
                "amount",
                "discount",
                "taxes",
            )
        ),
        numeric=(False, False, True, True, True, True, True),
        widths=(45, 29, 19, 22, 22, 19, 24),
        rows=tuple(_invoice_row(fmt, line, invoice.currency) for line in invoice.lines),
    )
    line_taxes = [tax for line in invoice.lines for tax in line.taxes]
    totals = [
        TotalRow(labels["subtotal"], fmt.money(invoice.subtotal)),
        TotalRow(labels["discount"], fmt.money(invoice.discount, negate=True)),
        *_tax_rows(fmt, labels, line_taxes, invoice.tax),
        TotalRow(labels["total"], fmt.money(invoice.total), strong=True),
        TotalRow(labels["prepaid_credits"], fmt.money(invoice.credits, negate=True)),
        TotalRow(labels["credited"], fmt.money(invoice.credited, negate=True)),
        TotalRow(labels["paid"], fmt.money(invoice.paid, negate=True)),
        TotalRow(labels["amount_due"], fmt.money(invoice.amount_due), strong=True),
    ]
    related = None
    if credit_notes:
        related = Table(
            headings=(
                labels["number"],
                labels["date"],
                labels["credited_to"],
                labels["reason"],
                labels["total"],
            ),
            numeric=(False, False, False, False, True),
            widths=(30, 26, 34, 60, 30),
            rows=tuple(
                (
                    (note.number,),
                    (fmt.day(_local_day(note.created_at, customer.timezone)),),
                    (labels[f"target_{note.target.value}"],),
                    (note.reason or _NO_VALUE,),
                    (fmt.money(note.total),),
                )
                for note in credit_notes
            ),
            caption=labels["credit_notes"],
        )
    if invoice.issued_on is not None:
        created = dt.datetime.combine(invoice.issued_on, dt.time(), tzinfo=dt.UTC)
    else:
        created = _aware(invoice.created_at)
    return Document(
        lang=_bcp47(locale),
        title=labels["invoice"],
        number=number,
        mark=mark,
        mark_note=note,
        issuer=issuer,
        customer_name=customer.name,
        customer_tax_ids=customer.tax_ids,
        facts=facts,
        lines=lines,
        totals=tuple(totals),
        related=related,
        labels=labels,
        created=created,
    )


def _invoice_row(fmt: _Formatter, line: InvoiceLine, currency: str) -> tuple[tuple[str, ...], ...]:
    """One invoice line's cells."""
    return (
        (line.description,),
        (fmt.period(line.period_start, line.period_end),),
        (fmt.quantity(line.quantity),),
        (fmt.price(line.unit_price, currency),),
        (fmt.money(line.amount),),
        (fmt.money(line.discount),),
        fmt.taxes(line.taxes),
    )


def credit_note_document(
    note: CreditNote,
    invoice: Invoice,
    customer: Customer,
    issuer: Issuer,
) -> Document:
    """``note`` (on ``invoice``) formatted for printing in ``customer``'s locale."""
    locale = _locale(customer.locale)
    labels = _labels(locale)
    fmt = _Formatter(locale)
    invoice_lines = {line.id: line for line in invoice.lines}
    facts = (
        (labels["number"], note.number),
        (labels["date"], fmt.day(_local_day(note.created_at, customer.timezone))),
        (labels["invoice"], invoice.number if invoice.number is not None else labels["draft"]),
        (labels["credited_to"], labels[f"target_{note.target.value}"]),
        (labels["reason"], note.reason or _NO_VALUE),
    )
    rows = []
    for credited in note.lines:
        line = invoice_lines.get(credited.line_id)
        rows.append(
            (
                (line.description if line is not None else credited.line_id,),
                (
                    fmt.period(line.period_start, line.period_end)
                    if line is not None
                    else _NO_VALUE,
                ),
                (fmt.money(credited.amount),),
                fmt.taxes(credited.taxes),
            )
        )
    lines = Table(
        headings=(labels["description"], labels["period"], labels["amount"], labels["taxes"]),
        numeric=(False, False, True, True),
        widths=(70, 40, 30, 40),
        rows=tuple(rows),
    )
    note_taxes = [tax for credited in note.lines for tax in credited.taxes]
    totals = (
        TotalRow(labels["subtotal"], fmt.money(note.amount)),
        *_tax_rows(fmt, labels, note_taxes, note.tax),
        TotalRow(labels["total"], fmt.money(note.total), strong=True),
    )
    return Document(
        lang=_bcp47(locale),
        title=labels["credit_note"],
        number=note.number,
        mark="",
        mark_note="",
        issuer=issuer,
        customer_name=customer.name,
        customer_tax_ids=customer.tax_ids,
        facts=facts,
        lines=lines,
        totals=totals,
        related=None,
        labels=labels,
        created=_aware(note.created_at),
    )


def _bcp47(locale: Locale) -> str:
    """``locale`` as a BCP 47 tag (``zh-Hans-CN``)."""
    return str(locale).replace("_", "-")


_ENVIRONMENT: Final = jinja2.Environment(
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_HTML: Final = _ENVIRONMENT.from_string(templates.DOCUMENT)


def _html(doc: Document) -> str:
    """``doc`` as a self-contained HTML page."""
    return _HTML.render(doc=doc, L=doc.labels)


def render_html(
    invoice: Invoice,
    customer: Customer,
    issuer: Issuer,
    *,
    credit_notes: Sequence[CreditNote] = (),
) -> str:
    """``invoice`` as a self-contained HTML page in ``customer``'s locale.

    ``credit_notes`` (those issued on the invoice) are listed after the totals.
    """
    return _html(invoice_document(invoice, customer, issuer, credit_notes=credit_notes))


def render_pdf(
    invoice: Invoice,
    customer: Customer,
    issuer: Issuer,
    *,
    credit_notes: Sequence[CreditNote] = (),
    fonts: PdfFonts | None = None,
) -> bytes:
    """``invoice`` as a PDF in ``customer``'s locale: the same input, the same bytes.

    ``fonts`` replaces the default fonts (:func:`default_fonts`), for instance
    to add a CJK fallback font.
    """
    doc = invoice_document(invoice, customer, issuer, credit_notes=credit_notes)
    return _pdf.write(doc, fonts or default_fonts())


def render_credit_note_html(
    note: CreditNote,
    invoice: Invoice,
    customer: Customer,
    issuer: Issuer,
) -> str:
    """``note``, a credit note on ``invoice``, as a self-contained HTML page."""
    return _html(credit_note_document(note, invoice, customer, issuer))


def render_credit_note_pdf(
    note: CreditNote,
    invoice: Invoice,
    customer: Customer,
    issuer: Issuer,
    *,
    fonts: PdfFonts | None = None,
) -> bytes:
    """``note``, a credit note on ``invoice``, as a PDF: the same input, the same bytes."""
    doc = credit_note_document(note, invoice, customer, issuer)
    return _pdf.write(doc, fonts or default_fonts())
