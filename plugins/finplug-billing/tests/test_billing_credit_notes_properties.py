"""Property tests for finplug_billing.credit_notes: never above the invoice, closing at 0."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_billing.credit_notes import CreditNoteAmounts, CreditRequest, credit, creditable
from finplug_billing.totals import DiscountInput, InvoiceTotals, LineInput, TaxRate, compute

PROPERTY = settings(max_examples=200, deadline=None)

amounts = st.one_of(st.integers(0, 200), st.integers(0, 10**9))


@st.composite
def invoices(draw: st.DrawFn) -> InvoiceTotals:
    """A computed invoice: lines over a few tax codes, inclusive or not, with discounts."""
    rates = draw(st.lists(st.decimals(min_value=0, max_value=3, places=4), max_size=3))
    taxes = [TaxRate(f"T{i}", rate) for i, rate in enumerate(rates)]
    lines = [
        LineInput(
            f"line{i}",
            draw(amounts),
            tuple(draw(st.lists(st.sampled_from(taxes), unique=True))) if taxes else (),
            draw(st.booleans()),
        )
        for i in range(draw(st.integers(1, 5)))
    ]
    discounts = [
        DiscountInput(f"D{i}", rate=rate)
        for i, rate in enumerate(
            draw(st.lists(st.decimals(min_value=0, max_value=1, places=2), max_size=2))
        )
    ]
    return compute(lines, discounts, exponent=draw(st.sampled_from([0, 2, 3])))


def credited(totals: InvoiceTotals, notes: list[CreditNoteAmounts]) -> dict[str, list[int]]:
    """What the notes credited of each line's parts: net, then tax per code."""
    result: dict[str, list[int]] = {}
    for line in totals.lines:
        found = [note.line(line.key) for note in notes]
        result[line.key] = [
            sum(c.net for c in found if c),
            *(sum(c.tax_of(code) for c in found if c) for code, _ in line.taxes),
        ]
    return result


def assert_within(totals: InvoiceTotals, notes: list[CreditNoteAmounts]) -> None:
    """No line part, tax code or total is credited above what the invoice charged."""
    parts = credited(totals, notes)
    for line in totals.lines:
        assert all(c >= 0 for c in parts[line.key])
        assert parts[line.key][0] <= line.base
        for (_, tax), done in zip(line.taxes, parts[line.key][1:], strict=True):
            assert done <= tax
    for code, tax in totals.tax_by_code:
        assert sum(note.tax_of(code) for note in notes) <= tax
    assert sum(note.total for note in notes) <= totals.total
    left = creditable(totals, notes)
    assert left.total == totals.total - sum(note.total for note in notes)


@PROPERTY
@given(invoices(), st.data())
def test_any_sequence_of_credit_notes_stays_within_the_invoice_and_the_last_closes_it(
    totals: InvoiceTotals, data: st.DataObject
) -> None:
    notes: list[CreditNoteAmounts] = []
    for _ in range(data.draw(st.integers(0, 6))):
        left = creditable(totals, notes)
        if not left.lines:
            break
        fraction = data.draw(st.fractions(min_value=0, max_value=1))
        if data.draw(st.booleans()):
            amount = max(1, int(left.total * fraction))
            request = CreditRequest(amount=amount)
        else:
            chosen = data.draw(st.lists(st.sampled_from(left.lines), min_size=1, unique=True))
            request = CreditRequest.per_line(
                {line.key: max(1, int(line.total * fraction)) for line in chosen}
            )
        note = credit(totals, notes, request)
        assert note.total == (
            request.amount
            if request.amount is not None
            else sum(line.amount for line in request.lines)
        )
        assert all(line.net >= 0 and line.tax >= 0 for line in note.lines)
        notes.append(note)
        assert_within(totals, notes)
        # One unit more than what is left is refused, for the invoice and for a line.
        rest = creditable(totals, notes)
        with pytest.raises(ValueError, match="is left to credit"):
            credit(totals, notes, CreditRequest(amount=rest.total + 1))
        for line in totals.lines:
            left_line = rest.line(line.key)
            with pytest.raises(ValueError, match="is left to credit"):
                credit(
                    totals,
                    notes,
                    CreditRequest.per_line({line.key: (left_line.total if left_line else 0) + 1}),
                )
    rest = creditable(totals, notes)
    if rest.total:
        notes.append(credit(totals, notes, CreditRequest(amount=rest.total)))
    # The last note closed the invoice exactly: per line part, per tax code, in total.
    parts = credited(totals, notes)
    for line in totals.lines:
        assert parts[line.key] == [line.base, *(tax for _, tax in line.taxes)]
    for code, tax in totals.tax_by_code:
        assert sum(note.tax_of(code) for note in notes) == tax
    assert sum(note.total for note in notes) == totals.total
    assert creditable(totals, notes).lines == ()


@PROPERTY
@given(invoices(), st.fractions(min_value=0, max_value=1))
def test_a_partial_credit_of_a_line_splits_near_its_rates(
    totals: InvoiceTotals, fraction: Fraction
) -> None:
    line = max(totals.lines, key=lambda line: line.total)
    amount = int(line.total * fraction)
    if not amount:
        return
    note = credit(totals, [], CreditRequest.per_line({line.key: amount}))
    credited_line = note.lines[0]
    # On a fresh line each credited part is within 1 of its share of what was asked.
    for part, whole in zip(
        [credited_line.net, *(credited_line.tax_of(code) for code, _ in line.taxes)],
        [line.base, *(tax for _, tax in line.taxes)],
        strict=True,
    ):
        assert abs(part - Fraction(amount * whole, line.total)) < 1
    assert credited_line.total == amount
