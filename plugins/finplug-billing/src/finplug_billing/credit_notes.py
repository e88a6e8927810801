"""Credit notes on a finalized invoice: how much of each line, net and tax, they credit.

Pure integer arithmetic on the :class:`~finplug_billing.totals.InvoiceTotals` of an
invoice: no database, no floats. How the credit reaches the customer (a refund
through payments, or credit put on a wallet) is the caller's business; this module
decides the amounts.

What is credited
----------------
A line of an invoice holds parts: its base (net, after discounts) and one tax per
tax code it carries; its total is their sum. A credit note credits amounts **tax
included**, as the customer paid them (as Lago does): each amount is a part of a
line's total, and the credit note splits it into net and taxes itself. A request
(:class:`CreditRequest`) is either

* per line: an amount for some lines (:class:`CreditedLine`), each at most what is
  left of that line; or
* one amount for the invoice, at most what is left of it, spread over the lines in
  proportion to what is left of each (largest remainder, earlier lines first on a
  tie), so no line receives more than it has left.

What is left of a line is its parts minus what the credit notes already issued on
the invoice credited of each part. A line's credited amount is split over the
line's parts in proportion to what is left of each part, by largest remainder
(:func:`~finplug_billing.totals.largest_remainder`, the net first on a tie). That
rule keeps every credit note within what is left, part by part, and it corrects
itself: rounding in an earlier note is taken up by the next, because the
proportions are always those of what is left. Crediting the whole of what is left
of a line credits exactly its remaining net and its remaining tax of each code, so
the credit note that credits the rest of an invoice brings every line, every tax
code and the total to exactly 0. The taxes credited are always taken from the
invoice's own rounded taxes, never recomputed from the credited amounts, so a
series of credit notes can never add up to more tax than the invoice charged.

The ceiling is the invoice's total (after discounts, with taxes): credits applied
from a wallet reduce what the customer had to pay, not what can be credited.

Refusals raise :class:`ValueError` saying how much is left: an amount above what is
left of a line or of the invoice, an unknown line key, an empty or zero request, or
notes already issued that do not fit the invoice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from finplug_billing.totals import InvoiceTotals, LineTotals, largest_remainder

__all__ = [
    "CreditNoteAmounts",
    "CreditNoteLine",
    "CreditRequest",
    "CreditedLine",
    "credit",
    "creditable",
]


def _check_units(value: object, what: str, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected {what} as an int of minor units, got {type(value).__name__}")
    if value < (1 if positive else 0):
        least = "more than 0" if positive else "at least 0"
        raise ValueError(f"expected {what} of {least} minor units, got {value}")


def _check_key(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected {what} as a non-empty string, got {value!r}")


@dataclass(frozen=True, slots=True)
class CreditedLine:
    """One line of a per-line :class:`CreditRequest`: credit ``amount`` of line ``key``.

    ``amount`` is an int of minor units, tax included, more than 0.
    """

    key: str
    """The invoice line's key."""
    amount: int
    """What to credit of the line, tax included, in minor units."""

    def __post_init__(self) -> None:
        _check_key(self.key, "the line key")
        _check_units(self.amount, f"line {self.key!r}: the amount to credit", positive=True)


@dataclass(frozen=True, slots=True)
class CreditRequest:
    """What a credit note should credit: some lines, or one amount over the invoice.

    Give exactly one of ``lines`` (a non-empty tuple of :class:`CreditedLine`, each key
    once) or ``amount`` (an int of minor units, tax included, more than 0, spread over
    the lines in proportion to what is left of them).
    """

    lines: tuple[CreditedLine, ...] = ()
    """Per-line amounts to credit, tax included."""
    amount: int | None = None
    """One amount to credit, tax included, spread over the lines."""

    def __post_init__(self) -> None:
        if not isinstance(self.lines, tuple) or not all(
            isinstance(line, CreditedLine) for line in self.lines
        ):
            raise ValueError("expected the credited lines as a tuple of CreditedLine")
        if bool(self.lines) == (self.amount is not None):
            raise ValueError(
                "expected exactly one of lines (amounts per line) or amount (one amount"
                " spread over the invoice)"
            )
        if self.amount is not None:
            _check_units(self.amount, "the amount to credit", positive=True)
        keys = [line.key for line in self.lines]
        if len(set(keys)) != len(keys):
            raise ValueError(f"expected each line key once, got {keys}")

    @classmethod
    def per_line(cls, amounts: Mapping[str, int]) -> CreditRequest:
        """A request crediting ``amounts[key]`` (tax included) of each line ``key``."""
        return cls(lines=tuple(CreditedLine(key, amount) for key, amount in amounts.items()))


@dataclass(frozen=True, slots=True)
class CreditNoteLine:
    """What a credit note credits of one invoice line: its net and its tax per code."""

    key: str
    """The invoice line's key."""
    net: int
    """The net (tax excluded) credited, in minor units."""
    taxes: tuple[tuple[str, int], ...] = ()
    """``(code, tax)`` credited per tax code of the line, in the line's order."""

    def __post_init__(self) -> None:
        _check_key(self.key, "the line key")
        _check_units(self.net, f"line {self.key!r}: the net credited")
        if not isinstance(self.taxes, tuple):
            raise ValueError(f"line {self.key!r}: expected the taxes as a tuple of (code, int)")
        for entry in self.taxes:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise ValueError(f"line {self.key!r}: expected the taxes as (code, int) pairs")
            _check_key(entry[0], f"line {self.key!r}: a tax code")
            _check_units(entry[1], f"line {self.key!r}: tax {entry[0]!r}")
        codes = [code for code, _ in self.taxes]
        if len(set(codes)) != len(codes):
            raise ValueError(f"line {self.key!r}: expected each tax code once, got {codes}")

    @property
    def tax(self) -> int:
        """The sum of the taxes credited on the line."""
        return sum(tax for _, tax in self.taxes)

    @property
    def total(self) -> int:
        """The net plus the taxes credited on the line."""
        return self.net + self.tax

    def tax_of(self, code: str) -> int:
        """The tax credited for ``code`` on the line (0 if none)."""
        return next((tax for taxed, tax in self.taxes if taxed == code), 0)


@dataclass(frozen=True, slots=True)
class CreditNoteAmounts:
    """The amounts of one credit note: per line, and their sums.

    Built by :func:`credit` (and :func:`creditable`); a caller may also rebuild one
    from stored rows to pass as a note already issued.
    """

    lines: tuple[CreditNoteLine, ...]
    """The lines credited, in the invoice's order (each key once)."""

    def __post_init__(self) -> None:
        if not isinstance(self.lines, tuple) or not all(
            isinstance(line, CreditNoteLine) for line in self.lines
        ):
            raise ValueError("expected the credit note's lines as a tuple of CreditNoteLine")
        keys = [line.key for line in self.lines]
        if len(set(keys)) != len(keys):
            raise ValueError(f"expected each line key once in a credit note, got {keys}")

    @property
    def net(self) -> int:
        """The net credited, all lines together."""
        return sum(line.net for line in self.lines)

    @property
    def tax(self) -> int:
        """The tax credited, all lines and codes together."""
        return sum(line.tax for line in self.lines)

    @property
    def total(self) -> int:
        """The whole amount credited: ``net + tax``."""
        return self.net + self.tax

    @property
    def tax_by_code(self) -> tuple[tuple[str, int], ...]:
        """``(code, tax)`` credited per tax code, in order of first appearance."""
        sums: dict[str, int] = {}
        for line in self.lines:
            for code, tax in line.taxes:
                sums[code] = sums.get(code, 0) + tax
        return tuple(sums.items())

    def line(self, key: str) -> CreditNoteLine | None:
        """The credited line with ``key``, or ``None`` if the note does not credit it."""
        return next((line for line in self.lines if line.key == key), None)

    def tax_of(self, code: str) -> int:
        """The tax credited for ``code`` (0 if none)."""
        return sum(line.tax_of(code) for line in self.lines)


def _shown(units: int, exponent: int) -> str:
    """Minor units written in major units: ``8199`` with exponent 2 is ``81.99``."""
    return str(Decimal(f"{units}E-{exponent}"))  # built from text: exact at any size


def _parts(line: LineTotals) -> list[int]:
    """A line's parts: its base, then its tax per code in the line's order."""
    return [line.base, *(tax for _, tax in line.taxes)]


def _left(totals: InvoiceTotals, already: Sequence[CreditNoteAmounts]) -> dict[str, list[int]]:
    """What is left of each line's parts after ``already``; refuses notes that do not fit."""
    if not isinstance(totals, InvoiceTotals):
        raise ValueError("expected the invoice as InvoiceTotals")
    left = {line.key: _parts(line) for line in totals.lines}
    codes = {line.key: [code for code, _ in line.taxes] for line in totals.lines}
    for number, note in enumerate(already):
        if not isinstance(note, CreditNoteAmounts):
            raise ValueError("expected the credit notes already issued as CreditNoteAmounts")
        for credited in note.lines:
            if credited.key not in left:
                raise ValueError(
                    f"credit note {number} already issued credits line {credited.key!r},"
                    " which the invoice does not have"
                )
            unknown = [code for code, _ in credited.taxes if code not in codes[credited.key]]
            if unknown:
                raise ValueError(
                    f"credit note {number} already issued credits tax {unknown} on line"
                    f" {credited.key!r}, which does not carry it"
                )
            taken = [credited.net, *(credited.tax_of(code) for code in codes[credited.key])]
            remaining = [have - take for have, take in zip(left[credited.key], taken, strict=True)]
            if any(part < 0 for part in remaining):
                raise ValueError(
                    f"the credit notes already issued credit more than line {credited.key!r}"
                    " holds (net or a tax code): they do not belong to this invoice"
                )
            left[credited.key] = remaining
    return left


def _note(totals: InvoiceTotals, parts: Mapping[str, list[int]]) -> CreditNoteAmounts:
    """A credit note from each line's credited parts (lines crediting nothing left out)."""
    return CreditNoteAmounts(
        lines=tuple(
            CreditNoteLine(
                key=line.key,
                net=parts[line.key][0],
                taxes=tuple(
                    (code, tax)
                    for (code, _), tax in zip(line.taxes, parts[line.key][1:], strict=True)
                ),
            )
            for line in totals.lines
            if line.key in parts and any(parts[line.key])
        )
    )


def creditable(totals: InvoiceTotals, already: Sequence[CreditNoteAmounts]) -> CreditNoteAmounts:
    """What is left to credit of the invoice after the notes ``already`` issued.

    The result has the shape of a credit note: its ``total`` is what a request may
    still credit, and each line's ``total`` what is left of that line. Crediting
    ``CreditRequest(amount=creditable(totals, already).total)`` closes the invoice.
    Raises :class:`ValueError` if the notes ``already`` issued do not fit the invoice.
    """
    return _note(totals, _left(totals, already))


def credit(
    totals: InvoiceTotals, already: Sequence[CreditNoteAmounts], request: CreditRequest
) -> CreditNoteAmounts:
    """The amounts of a new credit note on the invoice ``totals``.

    ``already`` are the credit notes issued on the invoice before this one;
    ``request`` says what to credit, tax included. Each line's credited amount is
    split into net and taxes in proportion to what is left of them, so a note that
    credits the rest of a line credits exactly its remaining net and taxes (see the
    module docstring).

    Raises :class:`ValueError`, saying how much is left, for an amount above what is
    left of a line or of the invoice, and for an unknown line key.
    """
    if not isinstance(request, CreditRequest):
        raise ValueError("expected the request as a CreditRequest")
    left = _left(totals, already)
    exponent = totals.exponent
    left_total = {key: sum(parts) for key, parts in left.items()}
    invoice_left = sum(left_total.values())
    asked: dict[str, int]
    if request.amount is not None:
        if request.amount > invoice_left:
            raise ValueError(
                f"only {_shown(invoice_left, exponent)} is left to credit on the invoice"
                f" (of {_shown(totals.total, exponent)}); asked {_shown(request.amount, exponent)}"
            )
        keys = list(left_total)
        shares = largest_remainder(request.amount, [left_total[key] for key in keys])
        asked = dict(zip(keys, shares, strict=True))
    else:
        asked = {}
        for wanted in request.lines:
            if wanted.key not in left_total:
                raise ValueError(
                    f"the invoice has no line {wanted.key!r}; its lines are {list(left_total)}"
                )
            if wanted.amount > left_total[wanted.key]:
                raise ValueError(
                    f"only {_shown(left_total[wanted.key], exponent)} is left to credit on line"
                    f" {wanted.key!r}; asked {_shown(wanted.amount, exponent)}"
                )
            asked[wanted.key] = wanted.amount
    parts = {key: largest_remainder(amount, left[key]) for key, amount in asked.items() if amount}
    return _note(totals, parts)
