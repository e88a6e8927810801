"""Worked examples for finplug_billing.credit_notes, with Lago's credit-note rounding bugs."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from finplug_billing.credit_notes import (
    CreditedLine,
    CreditNoteAmounts,
    CreditNoteLine,
    CreditRequest,
    credit,
    creditable,
)
from finplug_billing.totals import (
    DiscountInput,
    InvoiceTotals,
    LineInput,
    TaxRate,
    compute,
    round_minor,
)

VAT10 = TaxRate("VAT10", Decimal("0.10"))
VAT19 = TaxRate("VAT19", Decimal("0.19"))
VAT20 = TaxRate("VAT20", Decimal("0.20"))
VAT25 = TaxRate("VAT25", Decimal("0.25"))
CITY = TaxRate("CITY", Decimal("0.02"))


def lago_2643_invoice() -> InvoiceTotals:
    return compute(
        [
            LineInput("a", 6833, (VAT20,)),
            LineInput("b", 6833, (VAT20,)),
            LineInput("c", 5750, (VAT20,)),
            LineInput("d", 8500, (VAT20,)),
        ],
        exponent=2,
    )


def issue(
    totals: InvoiceTotals, notes: list[CreditNoteAmounts], request: CreditRequest
) -> CreditNoteAmounts:
    note = credit(totals, notes, request)
    notes.append(note)
    return note


def assert_closed(totals: InvoiceTotals, notes: list[CreditNoteAmounts]) -> None:
    """The notes credit exactly the invoice: per line (net and each tax), per code, in total."""
    assert creditable(totals, notes).lines == ()
    assert sum(note.total for note in notes) == totals.total
    for code, tax in totals.tax_by_code:
        assert sum(note.tax_of(code) for note in notes) == tax
    for line in totals.lines:
        credited = [n.line(line.key) for n in notes]
        assert sum(c.net for c in credited if c) == line.base
        for code, tax in line.taxes:
            assert sum(c.tax_of(code) for c in credited if c) == tax


# ---------------------------------------------------------------- Lago regressions


def test_regression_lago_2643_per_item_credit_notes_cannot_exceed_the_invoice() -> None:
    """Four per-item credit notes add up to the invoice's 334.99, never 335.00.

    getlago/lago-api#2643: items 68.33 + 68.33 + 57.50 + 85.00 at 20%; the invoice taxed
    the sum (334.99) while each credit note taxed its item (82.00 + 82.00 + 69.00 + 102.00
    = 335.00), so the last note failed validation. Here a note credits the invoice's own
    line amounts: item b holds 81.99 (the invoice's tax of 55.83 went 13.67 / 13.66 / 11.50
    / 17.00 by largest remainder), and 82.00 on it is refused.
    """
    totals = lago_2643_invoice()
    assert totals.total == 33499
    notes: list[CreditNoteAmounts] = []
    issue(totals, notes, CreditRequest.per_line({"a": 8200}))
    with pytest.raises(
        ValueError, match=r"only 81\.99 is left to credit on line 'b'; asked 82\.00"
    ):
        credit(totals, notes, CreditRequest.per_line({"b": 8200}))
    for key in "bcd":
        issue(totals, notes, CreditRequest.per_line({key: totals.line(key).total}))
    assert [note.total for note in notes] == [8200, 8199, 6900, 10200]
    assert sum(note.total for note in notes) == 33499
    assert sum(note.tax for note in notes) == 5583
    assert_closed(totals, notes)
    with pytest.raises(ValueError, match=r"only 0\.00 is left to credit on the invoice"):
        credit(totals, notes, CreditRequest(amount=1))


def test_regression_lago_829_831_credit_note_vat_is_the_invoices_vat() -> None:
    """Credit notes on three items of 0.15 at 10% credit 0.05 of VAT, as the invoice charged.

    getlago/lago-api#829 and #831: the VAT of credit notes was derived from rounded item
    amounts (0.02 per item, 0.06 in all) against an invoice VAT of 0.05.
    """
    totals = compute([LineInput(key, 15, (VAT10,)) for key in "abc"], exponent=2)
    notes: list[CreditNoteAmounts] = []
    for key in "abc":
        issue(totals, notes, CreditRequest.per_line({key: totals.line(key).total}))
    assert [note.tax for note in notes] == [2, 2, 1]
    assert_closed(totals, notes)


def test_regression_lago_4313_partial_credit_notes_keep_the_invoices_tax() -> None:
    """A prorated 193.33 at 25% (241.66): two credit notes credit 48.33 of tax together.

    getlago/lago-api#4313: a credit note rounded its tax per tax and came to 241.66 where
    the invoice (which kept the unrounded 193.333...) said 241.67. Here the line is rounded
    once before tax (see test_billing_totals), and the notes split what they credit in
    proportion to what is left of the line's net and tax, so together they credit exactly
    the invoice's 193.33 and 48.33.
    """
    totals = compute(
        [LineInput("prorated", round_minor(Fraction(200 * 29, 30), 2), (VAT25,))], exponent=2
    )
    notes: list[CreditNoteAmounts] = []
    first = issue(totals, notes, CreditRequest(amount=12000))
    # 120.00 of 241.66: net 96.0026..., tax 23.9973...; the missing cent goes to the tax.
    assert (first.net, first.tax) == (9600, 2400)
    rest = issue(totals, notes, CreditRequest(amount=creditable(totals, notes).total))
    assert (rest.net, rest.tax) == (9733, 2433)
    assert_closed(totals, notes)


# ---------------------------------------------------------------- requests


def test_one_amount_is_spread_over_the_lines_by_what_is_left() -> None:
    totals = compute(
        [LineInput("a", 10000, (VAT19,)), LineInput("b", 5000, (VAT19,)), LineInput("c", 0)],
        exponent=2,
    )
    notes: list[CreditNoteAmounts] = []
    first = issue(totals, notes, CreditRequest(amount=3000))
    # Lines hold 119.00 and 59.50: 30.00 is split 20.00 and 10.00.
    assert [(line.key, line.total) for line in first.lines] == [("a", 2000), ("b", 1000)]
    second = issue(totals, notes, CreditRequest.per_line({"a": 9900}))
    assert second.lines == (CreditNoteLine("a", 8319, (("VAT19", 1581),)),)
    third = issue(totals, notes, CreditRequest(amount=1000))
    # a has 0 left, so b takes the whole amount.
    assert [line.key for line in third.lines] == ["b"]
    issue(totals, notes, CreditRequest(amount=creditable(totals, notes).total))
    assert_closed(totals, notes)


def test_a_line_with_several_rates_closes_per_code() -> None:
    totals = compute(
        [LineInput("a", 999, (VAT19, CITY)), LineInput("b", 1001, (VAT19, CITY))],
        exponent=2,
    )
    notes: list[CreditNoteAmounts] = []
    for amount in (1, 1, 7, 333):
        note = issue(totals, notes, CreditRequest(amount=amount))
        assert note.total == amount
    issue(totals, notes, CreditRequest.per_line({"a": creditable(totals, notes).lines[0].total}))
    issue(totals, notes, CreditRequest.per_line({"b": creditable(totals, notes).lines[0].total}))
    assert_closed(totals, notes)


def test_an_inclusive_and_discounted_line_is_credited_up_to_what_was_charged() -> None:
    totals = compute(
        [LineInput("a", 11900, (VAT19,), inclusive=True), LineInput("b", 10000, (VAT19,))],
        [DiscountInput("TEN", rate=Decimal("0.10"))],
        exponent=2,
    )
    assert totals.line("a").total == 10710
    assert totals.line("b").total == 10710
    notes: list[CreditNoteAmounts] = []
    with pytest.raises(ValueError, match=r"only 107\.10 is left to credit on line 'a'"):
        credit(totals, notes, CreditRequest.per_line({"a": 11900}))
    issue(totals, notes, CreditRequest.per_line({"a": 10710, "b": 5000}))
    issue(totals, notes, CreditRequest(amount=5710))
    assert_closed(totals, notes)


def test_creditable_has_the_shape_of_a_credit_note() -> None:
    totals = lago_2643_invoice()
    left = creditable(totals, [])
    assert left.total == totals.total
    assert left.tax_by_code == totals.tax_by_code
    assert [line.total for line in left.lines] == [line.total for line in totals.lines]
    assert left.line("z") is None


def test_credits_applied_from_a_wallet_do_not_lower_the_ceiling() -> None:
    totals = compute([LineInput("a", 1000, (VAT10,))], credits=1100, exponent=2)
    assert totals.amount_due == 0
    note = credit(totals, [], CreditRequest(amount=1100))
    assert (note.net, note.tax) == (1000, 100)


def test_zero_decimal_currency_message() -> None:
    totals = compute([LineInput("a", 500)], exponent=0)
    with pytest.raises(ValueError, match="only 500 is left to credit on the invoice"):
        credit(totals, [], CreditRequest(amount=501))


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CreditedLine("a", 0), "more than 0"),
        (lambda: CreditedLine("a", -5), "more than 0"),
        (lambda: CreditedLine("a", 1.5), "int of minor units"),  # type: ignore[arg-type]
        (lambda: CreditedLine("", 1), "line key"),
        (lambda: CreditRequest(), "exactly one"),
        (lambda: CreditRequest((CreditedLine("a", 1),), 5), "exactly one"),
        (lambda: CreditRequest(amount=0), "more than 0"),
        (lambda: CreditRequest(lines=[CreditedLine("a", 1)]), "tuple of CreditedLine"),  # type: ignore[arg-type]
        (
            lambda: CreditRequest((CreditedLine("a", 1), CreditedLine("a", 2))),
            "each line key once",
        ),
        (lambda: CreditNoteLine("a", -1), "at least 0"),
        (lambda: CreditNoteLine("a", 1, (("T", -1),)), "at least 0"),
        (lambda: CreditNoteLine("a", 1, (("T", 1), ("T", 1))), "each tax code once"),
        (lambda: CreditNoteLine("a", 1, (("T",),)), r"\(code, int\) pairs"),  # type: ignore[arg-type]
        (
            lambda: CreditNoteAmounts((CreditNoteLine("a", 1), CreditNoteLine("a", 1))),
            "each line key once",
        ),
    ],
)
def test_value_refusals(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=message):
        build()


def test_unknown_line_is_refused() -> None:
    totals = lago_2643_invoice()
    with pytest.raises(ValueError, match=r"no line 'z'; its lines are \['a', 'b', 'c', 'd'\]"):
        credit(totals, [], CreditRequest.per_line({"z": 1}))


def test_amount_above_the_invoice_is_refused_with_what_is_left() -> None:
    totals = lago_2643_invoice()
    notes = [credit(totals, [], CreditRequest.per_line({"a": 100}))]
    with pytest.raises(
        ValueError,
        match=r"only 333\.99 is left to credit on the invoice \(of 334\.99\); asked 334\.00",
    ):
        credit(totals, notes, CreditRequest(amount=33400))


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (CreditNoteAmounts((CreditNoteLine("z", 1),)), "does not have"),
        (CreditNoteAmounts((CreditNoteLine("a", 1, (("CITY", 1),)),)), "does not carry it"),
        (CreditNoteAmounts((CreditNoteLine("a", 6834),)), "credit more than line 'a' holds"),
        (
            CreditNoteAmounts((CreditNoteLine("a", 0, (("VAT20", 1368),)),)),
            "credit more than line 'a' holds",
        ),
    ],
)
def test_notes_already_issued_must_fit_the_invoice(note: CreditNoteAmounts, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        credit(lago_2643_invoice(), [note], CreditRequest(amount=1))


def test_wrong_argument_types_are_refused() -> None:
    totals = lago_2643_invoice()
    with pytest.raises(ValueError, match="CreditRequest"):
        credit(totals, [], 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="InvoiceTotals"):
        credit(object(), [], CreditRequest(amount=1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CreditNoteAmounts"):
        credit(totals, [object()], CreditRequest(amount=1))  # type: ignore[list-item]
