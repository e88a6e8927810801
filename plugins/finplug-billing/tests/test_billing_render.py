"""Invoices and credit notes rendered as HTML and PDF in the customer's locale."""

from __future__ import annotations

import dataclasses
import html
import io
import logging
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from finplug import Money
from finplug.sockets.billing import (
    CollectionStatus,
    CreditNote,
    CreditNoteLine,
    CreditTarget,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from finplug_billing.render import (
    Issuer,
    PdfFonts,
    default_fonts,
    render_credit_note_html,
    render_credit_note_pdf,
    render_html,
    render_pdf,
)

ISSUER = Issuer(
    name="Nordlicht Software GmbH",
    address_lines=("Hauptstraße 5", "10115 Berlin"),
    tax_id="DE123456789",
    email="billing@nordlicht.example",
)

# One exclusive line of 1234.56 + 19 % VAT = 234.57 (a worked value, exact to the cent).
AMOUNT = Decimal("1234.56")
VAT = Decimal("234.57")


def money(amount: Decimal | int | str, currency: str) -> Money:
    return Money(Decimal(amount), currency)


def make_customer(
    locale: str,
    currency: str = "EUR",
    name: str = "Zoë Müller-Łukasiewicz",
    tax_ids: tuple[str, ...] = ("DE987654321",),
) -> Customer:
    return Customer(
        id="cus-1",
        name=name,
        currency=currency,
        timezone="Europe/Berlin",
        locale=locale,
        tax_ids=tax_ids,
    )


def make_invoice(
    currency: str = "EUR",
    *,
    amount: Decimal = AMOUNT,
    tax: Decimal = VAT,
    number: str | None = "INV-2025-0042",
    status: InvoiceStatus = InvoiceStatus.FINALIZED,
    description: str = "API calls (graduated)",
    paid: Decimal = Decimal(0),
) -> Invoice:
    """A one-line invoice for March 2025: ``amount`` plus ``tax`` (code VAT19)."""
    zero = money(0, currency)
    total = money(amount + tax, currency)
    line = InvoiceLine(
        id="line-1",
        kind="charge",
        description=description,
        period_start=date(2025, 3, 1),
        period_end=date(2025, 4, 1),
        quantity=Decimal("123456"),
        unit_price=Decimal("0.01"),
        amount=money(amount, currency),
        discount=zero,
        taxes=(("VAT19", money(tax, currency)),),
        total=total,
    )
    return Invoice(
        id="inv-1",
        number=number,
        customer_id="cus-1",
        subscription_id="sub-1",
        currency=currency,
        status=status,
        collection=CollectionStatus.PENDING,
        period_start=date(2025, 3, 1),
        period_end=date(2025, 4, 1),
        issued_on=date(2025, 4, 1) if number is not None else None,
        due_on=date(2025, 4, 15) if number is not None else None,
        lines=(line,),
        subtotal=money(amount, currency),
        discount=zero,
        tax=money(tax, currency),
        total=total,
        credits=zero,
        credited=zero,
        paid=money(paid, currency),
        amount_due=total - money(paid, currency),
        created_at=datetime(2025, 4, 1, 0, 5, tzinfo=UTC),
    )


def make_credit_note(invoice: Invoice, amount: Decimal, tax: Decimal) -> CreditNote:
    currency = invoice.currency
    return CreditNote(
        id="cn-1",
        number="CN-2025-0007",
        invoice_id=invoice.id,
        target=CreditTarget.WALLET,
        lines=(
            CreditNoteLine(
                line_id="line-1",
                amount=money(amount, currency),
                taxes=(("VAT19", money(tax, currency)),),
            ),
        ),
        amount=money(amount, currency),
        tax=money(tax, currency),
        total=money(amount + tax, currency),
        reason="Service outage on 12 March",
        # 23:30 UTC on 9 April is 10 April in Berlin: the customer's day is printed.
        created_at=datetime(2025, 4, 9, 23, 30, tzinfo=UTC),
    )


def text_of(html_page: str) -> str:
    """The page's visible text: style and tags dropped, entities decoded, ASCII spaces folded.

    No-break and narrow no-break spaces stay as they are (Babel prints them).
    """
    body = re.sub(r"<style>.*?</style>", " ", html_page, flags=re.DOTALL)
    return re.sub(r"[ \t\r\n]+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


# ------------------------------------------------------------------ HTML, per locale


def test_html_de_de_formats_money_and_dates_the_german_way() -> None:
    page = render_html(make_invoice(), make_customer("de_DE"), ISSUER)
    text = text_of(page)
    assert '<html lang="de-DE">' in page
    assert "1.234,56\xa0€" in text  # the subtotal
    assert "1.469,13\xa0€" in text  # total and amount due
    assert "VAT19: 234,57\xa0€" in text  # the line's tax
    assert "01.04.2025" in text
    assert "15.04.2025" in text
    assert "01.03.2025 \u2013 31.03.2025" in text  # the period, its last day inclusive
    assert "123.456" in text  # the quantity
    assert "0,01\xa0€" in text  # the unit price
    for label in ("Rechnung", "Fälligkeitsdatum", "Zwischensumme", "Offener Betrag", "Steuer"):
        assert label in text
    assert "Festgeschrieben" in text  # the status
    assert "INV-2025-0042" in text
    assert "Zoë Müller-Łukasiewicz" in text
    assert "DE987654321" in text
    assert "DE123456789" in text
    assert "Hauptstraße 5" in text


def test_html_en_us_formats_money_and_dates_the_american_way() -> None:
    invoice = make_invoice("USD", paid=Decimal("100.00"))
    text = text_of(render_html(invoice, make_customer("en_US", "USD"), ISSUER))
    assert "$1,234.56" in text
    assert "$1,469.13" in text  # the total
    assert "-$100.00" in text  # paid, subtracted
    assert "$1,369.13" in text  # the amount due
    assert "Apr 1, 2025" in text
    assert "Apr 15, 2025" in text
    assert "Mar 1, 2025 \u2013 Mar 31, 2025" in text
    for label in ("Invoice", "Due date", "Subtotal", "Discount", "Tax VAT19", "Amount due"):
        assert label in text


def test_html_ja_jp_prints_yen_without_decimals() -> None:
    invoice = make_invoice("JPY", amount=Decimal(123456), tax=Decimal(12346))
    page = render_html(invoice, make_customer("ja_JP", "JPY", name="山田太郎"), ISSUER)
    text = text_of(page)
    assert '<html lang="ja-JP">' in page
    assert "￥123,456" in text
    assert "￥135,802" in text  # the total
    assert "￥123,456." not in text  # no decimals for the yen
    assert "2025/04/01" in text
    assert "山田太郎" in text
    assert "Amount due" in text  # no Japanese label table: English labels


def test_html_fr_fr_uses_narrow_spaces_and_french_labels() -> None:
    text = text_of(render_html(make_invoice(), make_customer("fr_FR"), ISSUER))
    assert "1\u202f234,56\xa0€" in text
    assert "1\u202f469,13\xa0€" in text
    assert "1 avr. 2025" in text
    assert "Facture" in text
    assert "Montant dû" in text
    assert "Date d'échéance" in text


def test_html_unknown_locale_falls_back_to_english() -> None:
    for tag in ("xx_YY", "", "not a locale"):
        page = render_html(make_invoice(), make_customer(tag), ISSUER)
        assert '<html lang="en">' in page
        assert "€1,469.13" in text_of(page)
        assert "Amount due" in text_of(page)


def test_html_reads_bcp47_tags_and_other_languages_get_english_labels() -> None:
    page = render_html(make_invoice(), make_customer("de-AT"), ISSUER)
    assert '<html lang="de-AT">' in page
    assert "Rechnung" in page
    text = text_of(render_html(make_invoice(), make_customer("es_ES"), ISSUER))
    assert "1469,13\xa0€" in text or "1.469,13\xa0€" in text  # Spanish money
    assert "Amount due" in text  # English labels


def test_html_escapes_every_customer_and_catalog_value() -> None:
    script = "<script>alert(1)</script>"
    customer = make_customer("en_US", name=script, tax_ids=("<b>TAX</b>",))
    invoice = make_invoice(description='<img src=x onerror="alert(2)">', number="<i>N</i>")
    issuer = dataclasses.replace(ISSUER, name="<style>*{}</style>", address_lines=("a & b",))
    page = render_html(invoice, customer, issuer)
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>" not in page
    assert "<i>" not in page
    assert page.count("<style") == 1  # the page's own stylesheet only
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a &amp; b" in page
    assert script in text_of(page)


def test_html_is_self_contained() -> None:
    page = render_html(make_invoice(), make_customer("de_DE"), ISSUER)
    assert page.startswith("<!DOCTYPE html>")
    for reference in ("<link", "<script", "src=", "href=", "url(", "@import", "http"):
        assert reference not in page


def test_html_draft_has_no_number_and_a_visible_mark() -> None:
    invoice = make_invoice(number=None, status=InvoiceStatus.DRAFT)
    page = render_html(invoice, make_customer("en_US"), ISSUER)
    assert 'class="mark"' in page
    assert 'class="banner"' in page
    text = text_of(page)
    assert "DRAFT · Draft: not valid for payment." in text
    assert "Number DRAFT" in text
    assert "Issue date — Due date —" in text
    german = text_of(render_html(invoice, make_customer("de_DE"), ISSUER))
    assert "ENTWURF" in german


def test_html_finalized_invoice_has_no_mark_and_voided_has_one() -> None:
    page = render_html(make_invoice(), make_customer("en_US"), ISSUER)
    assert 'class="mark"' not in page
    assert "DRAFT" not in page
    voided = render_html(make_invoice(status=InvoiceStatus.VOIDED), make_customer("en"), ISSUER)
    assert "VOID · Voided" in text_of(voided)


def test_html_totals_show_every_row_in_order() -> None:
    text = text_of(render_html(make_invoice(), make_customer("en_US"), ISSUER))
    labels = [
        "Subtotal",
        "Discount",
        "Tax VAT19",
        "Total",
        "Prepaid credits",
        "Credited",
        "Paid",
        "Amount due",
    ]
    totals = text[text.rindex("Subtotal") :]
    positions = [totals.index(label) for label in labels]
    assert positions == sorted(positions)
    assert "Discount €0.00" in totals  # zero is printed as zero, never "-0"


def test_html_tax_breakdown_gives_way_to_the_invoice_figure_when_it_disagrees() -> None:
    invoice = dataclasses.replace(make_invoice(), tax=money("234.58", "EUR"))
    text = text_of(render_html(invoice, make_customer("en_US"), ISSUER))
    assert "Tax €234.58" in text
    assert "Tax VAT19" not in text


def test_html_lists_the_invoice_credit_notes() -> None:
    invoice = make_invoice()
    note = make_credit_note(invoice, Decimal("100.00"), Decimal("19.00"))
    text = text_of(render_html(invoice, make_customer("de_DE"), ISSUER, credit_notes=[note]))
    assert "Gutschriften" in text
    assert "CN-2025-0007" in text
    assert "10.04.2025" in text
    assert "119,00\xa0€" in text
    assert "Guthabenkonto" in text


def test_html_unit_price_and_quantity_keep_all_their_digits() -> None:
    invoice = make_invoice()
    line = dataclasses.replace(
        invoice.lines[0], unit_price=Decimal("0.00125"), quantity=Decimal("2.5")
    )
    invoice = dataclasses.replace(invoice, lines=(line,))
    text = text_of(render_html(invoice, make_customer("de_DE"), ISSUER))
    assert "0,00125\xa0€" in text
    assert "2,5" in text


def test_credit_note_html() -> None:
    invoice = make_invoice()
    note = make_credit_note(invoice, Decimal("100.00"), Decimal("19.00"))
    page = render_credit_note_html(note, invoice, make_customer("de_DE"), ISSUER)
    text = text_of(page)
    assert "Gutschrift" in text
    assert "CN-2025-0007" in text
    assert "Rechnung INV-2025-0042" in text  # the invoice credited
    assert "10.04.2025" in text  # the customer's day (Berlin), not UTC's
    assert "API calls (graduated)" in text  # the invoice line's description
    assert "100,00\xa0€" in text
    assert "Steuer VAT19 19,00\xa0€" in text
    assert "119,00\xa0€" in text
    assert "Service outage on 12 March" in text
    assert "Guthabenkonto" in text


def test_credit_note_html_escapes_its_reason() -> None:
    invoice = make_invoice()
    note = dataclasses.replace(
        make_credit_note(invoice, Decimal(1), Decimal(0)), reason="<script>x()</script>"
    )
    page = render_credit_note_html(note, invoice, make_customer("en"), ISSUER)
    assert "<script" not in page
    assert "&lt;script&gt;" in page


# ------------------------------------------------------------------ PDF


def test_pdf_is_a_pdf_and_deterministic() -> None:
    invoice, customer = make_invoice(), make_customer("de_DE")
    first = render_pdf(invoice, customer, ISSUER)
    assert first.startswith(b"%PDF-")
    assert first.rstrip().endswith(b"%%EOF")
    assert render_pdf(invoice, customer, ISSUER) == first
    reader = PdfReader(io.BytesIO(first))
    assert reader.metadata is not None
    assert reader.metadata.creation_date == datetime(2025, 4, 1, tzinfo=UTC)  # the issue day


def test_pdf_text_is_extractable_with_locale_money_and_accents() -> None:
    data = render_pdf(make_invoice(), make_customer("de_DE"), ISSUER)
    text = pdf_text(data)
    assert "INV-2025-0042" in text
    assert "1.469,13" in text
    assert "€" in text
    assert "1.469,13\xa0€" in text.replace(" ", "\xa0")
    assert "Zoë Müller-Łukasiewicz" in text
    assert "Hauptstraße 5" in text
    assert "Offener Betrag" in text


def test_pdf_french_and_american_money() -> None:
    french = pdf_text(render_pdf(make_invoice(), make_customer("fr_FR"), ISSUER))
    assert re.search(r"1\s?469,13\s?€", french)
    american = pdf_text(render_pdf(make_invoice("USD"), make_customer("en_US", "USD"), ISSUER))
    assert "$1,469.13" in american


def test_pdf_draft_is_marked_and_dated_from_its_creation() -> None:
    invoice = make_invoice(number=None, status=InvoiceStatus.DRAFT)
    data = render_pdf(invoice, make_customer("en_US"), ISSUER)
    text = pdf_text(data)
    assert "DRAFT · Draft: not valid for payment." in text
    metadata = PdfReader(io.BytesIO(data)).metadata
    assert metadata is not None
    assert metadata.creation_date == datetime(2025, 4, 1, 0, 5, tzinfo=UTC)


def test_pdf_depends_on_its_input() -> None:
    customer = make_customer("de_DE")
    assert render_pdf(make_invoice(), customer, ISSUER) != render_pdf(
        make_invoice(paid=Decimal(1)), customer, ISSUER
    )


def test_pdf_yen_prints_in_the_default_font_and_cjk_degrades_visibly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    invoice = make_invoice("JPY", amount=Decimal(123456), tax=Decimal(12346), description="利用料")
    customer = make_customer("ja_JP", "JPY", name="山田太郎")
    with caplog.at_level(logging.WARNING, logger="finplug_billing._pdf"):
        data = render_pdf(invoice, customer, ISSUER)
    text = pdf_text(data)
    assert "¥135,802" in text  # the full-width yen sign printed as its compatible form
    assert "\ufffd" * 4 in text  # the name, one mark per character: not dropped
    assert "\ufffd" * 3 in text  # the description
    assert "INV-2025-0042" in text
    assert "2025/04/01" in text
    assert "Characters the fonts of this PDF lack are shown as \ufffd." in text
    assert caplog.text.rstrip().endswith(": 7")  # the count of characters replaced


def test_pdf_fonts_can_be_replaced() -> None:
    fonts = default_fonts()
    regular_only = PdfFonts(regular=fonts.regular)
    data = render_pdf(make_invoice(), make_customer("de_DE"), ISSUER, fonts=regular_only)
    assert "Zoë Müller-Łukasiewicz" in pdf_text(data)
    with pytest.raises(FileNotFoundError):
        render_pdf(
            make_invoice(),
            make_customer("de_DE"),
            ISSUER,
            fonts=PdfFonts(regular=Path("/nonexistent/font.ttf")),
        )


def test_pdf_many_lines_break_pages_and_keep_every_line() -> None:
    invoice = make_invoice()
    lines = tuple(
        dataclasses.replace(invoice.lines[0], id=f"line-{n}", description=f"Charge number {n}")
        for n in range(120)
    )
    data = render_pdf(dataclasses.replace(invoice, lines=lines), make_customer("en"), ISSUER)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 1
    text = pdf_text(data)
    for n in range(120):
        assert f"Charge number {n}\n" in text or f"Charge number {n} " in text


def test_pdf_survives_long_words_control_characters_and_empty_values() -> None:
    invoice = make_invoice()
    line = dataclasses.replace(invoice.lines[0], description="X" * 400 + " tab\tnul\x00 end")
    odd = dataclasses.replace(invoice, lines=(line,))
    text = pdf_text(render_pdf(odd, make_customer("de_DE", name=""), Issuer(name="")))
    assert "X" * 40 in text.replace("\n", "")  # wrapped, not cut
    assert "tab nul\ufffd end" in text  # a tab prints as a space, a NUL as the mark
    empty = dataclasses.replace(invoice, lines=())
    assert "Offener Betrag" in pdf_text(render_pdf(empty, make_customer("de_DE"), ISSUER))


def test_credit_note_pdf() -> None:
    invoice = make_invoice()
    note = make_credit_note(invoice, Decimal("100.00"), Decimal("19.00"))
    customer = make_customer("de_DE")
    data = render_credit_note_pdf(note, invoice, customer, ISSUER)
    assert data.startswith(b"%PDF-")
    assert render_credit_note_pdf(note, invoice, customer, ISSUER) == data
    text = pdf_text(data)
    assert "Gutschrift" in text
    assert "CN-2025-0007" in text
    assert "INV-2025-0042" in text
    assert "119,00" in text
    assert "Zoë Müller-Łukasiewicz" in text
