"""CSV statements through a declared mapping: layouts, every kind of bad cell, round trips."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from finplug import Money, currency
from finplug.sockets.reconciliation import StatementFormatError
from finplug_reconciliation.formats import (
    CsvMapping,
    CsvParser,
    Mt940Parser,
    builtin_parsers,
    detect,
)
from recon_helpers import STATEMENTS

DATA = STATEMENTS

SIGNED = CsvMapping(
    name="channel",
    columns={
        "booked_on": "Date",
        "amount": "Amount",
        "currency": "Currency",
        "account": "Account",
        "reference": "Reference",
        "description": "Text",
    },
)
SIGNED_COLUMNS: dict[str, str] = {str(key): name for key, name in SIGNED.columns.items()}
SIGNED_CSV = (
    "Date,Amount,Currency,Account,Reference,Text\n"
    "2026-12-01,12.34,EUR,acct-1,R1,first\n"
    "2026-12-01,-2.00,EUR,acct-1,R2,second\n"
    "2026-12-02,1500,JPY,acct-1,R3,yen\n"
    "\n"
    '2026-12-02,0.10,EUR,acct-2,R4,"two\nlines"\n'
    "2026-12-03,-0.34,EUR,acct-1,R5,last\n"
)


def parse(mapping: CsvMapping, text: str, encoding: str = "utf-8") -> list[Any]:
    return CsvParser(mapping).parse(text.encode(encoding), "file.csv")


def test_one_statement_per_account_and_currency_lines_in_file_order() -> None:
    statements = parse(SIGNED, SIGNED_CSV)
    assert [(s.account, s.currency) for s in statements] == [
        ("acct-1", "EUR"),
        ("acct-1", "JPY"),
        ("acct-2", "EUR"),
    ]
    eur1, jpy, eur2 = statements
    assert [line.amount for line in eur1.lines] == [
        Money("12.34", "EUR"),
        Money("-2.00", "EUR"),
        Money("-0.34", "EUR"),
    ]
    assert [line.index for line in eur1.lines] == [0, 1, 2]
    assert [line.reference for line in eur1.lines] == ["R1", "R2", "R5"]
    assert [line.source_line for line in eur1.lines] == [2, 3, 8]  # after a 2-line cell
    assert jpy.lines[0].amount == Money(1500, "JPY")
    assert eur2.lines[0].description == "two\nlines"
    assert eur2.lines[0].source_line == 6
    for s in statements:
        assert s.format == "csv:channel"
        assert (s.source, s.number, s.opening, s.closing, s.problems) == (
            "file.csv",
            "",
            None,
            None,
            (),
        )
    assert eur1.lines[0].booked_on == date(2026, 12, 1)


GERMAN = CsvMapping(
    name="bank-de",
    delimiter=";",
    encoding="cp1252",
    columns={
        "booked_on": "Buchungstag",
        "value_date": "Valuta",
        "debit": "Soll",
        "credit": "Haben",
        "counterparty": "Auftraggeber",
        "kind": "Art",
    },
    date_format="%d.%m.%Y",
    decimal_separator=",",
    thousands_separator=".",
    currency="EUR",
    account="DE89370400440532013000",
)


def test_debit_and_credit_columns_with_german_numbers() -> None:
    text = (
        "Buchungstag;Valuta;Soll;Haben;Auftraggeber;Art\n"
        "01.12.2026;02.12.2026;1.234,56;;M\u00fcller GmbH;Lastschrift\n"
        "01.12.2026;;;99,90;Kunde;Gutschrift\n"
        "03.12.2026;03.12.2026;0,00;1.000.000,01;Gro\u00dfkunde;Gutschrift\n"
    )
    [st] = parse(GERMAN, text, "cp1252")
    assert (st.account, st.currency, st.format) == ("DE89370400440532013000", "EUR", "csv:bank-de")
    assert [line.amount for line in st.lines] == [
        Money("-1234.56", "EUR"),
        Money("99.90", "EUR"),
        Money("1000000.01", "EUR"),
    ]
    assert st.lines[0].counterparty == "M\u00fcller GmbH"
    assert st.lines[0].kind == "Lastschrift"
    assert [line.value_date for line in st.lines] == [date(2026, 12, 2), None, date(2026, 12, 3)]
    assert st.problems == ()


def test_sign_flip() -> None:
    flipped = SIGNED.model_copy(update={"sign": "flip"})
    [eur1, *_] = parse(flipped, SIGNED_CSV)
    assert [line.amount.minor_units for line in eur1.lines] == [-1234, 200, 34]


def test_an_invalid_iban_account_is_a_problem() -> None:
    text = "Date,Amount,Currency,Account,Reference,Text\n"
    text += "2026-12-01,1.00,EUR,DE88370400440532013000,,\n"
    [st] = parse(SIGNED, text)
    assert st.problems == (
        "account DE88370400440532013000 is not a valid IBAN: invalid checksum digits",
    )


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("2026-12-01,\"12,3.4\",EUR,a,,", "Amount",
         "amount: expected a decimal such as 12.34, got '12,3.4'"),
        ("2026-12-01,1e3,EUR,a,,", "Amount", "amount: expected a decimal such as 12.34, got '1e3'"),
        ("2026-12-01,,EUR,a,,", "Amount", "amount: expected a decimal such as 12.34, got ''"),
        ("2026-12-01,1.5.0,EUR,a,,", "Amount",
         "amount: expected a decimal such as 12.34, got '1.5.0'"),
        ("2026-12-01,12.345,EUR,a,,", "Amount",
         "amount: '12.345' has more decimals than EUR allows (2); expected whole minor units"),
        ("2026-12-01,12.5,JPY,a,,", "Amount",
         "amount: '12.5' has more decimals than JPY allows (0); expected whole minor units"),
        ("01.12.2026,1.00,EUR,a,,", "Date",
         "booked_on: expected a date such as 2024-01-31 (%Y-%m-%d), got '01.12.2026'"),
        ("2026-02-30,1.00,EUR,a,,", "Date",
         "booked_on: expected a date such as 2024-01-31 (%Y-%m-%d), got '2026-02-30'"),
        ("2026-12-01,1.00,EURO,a,,", "Currency",
         "expected an ISO 4217 currency code such as EUR, got 'EURO'"),
        ("2026-12-01,1.00,EUR,,,", "Account", "account: expected an account, got an empty cell"),
        ("2026-12-01,1.00,EUR,a,", None, "expected 6 cells as in the header, got 5"),
    ],
)  # fmt: skip
def test_every_bad_cell_is_located_and_says_what_was_expected(
    row: str, field: str | None, message: str
) -> None:
    text = "Date,Amount,Currency,Account,Reference,Text\n2026-12-01,1.00,EUR,a,,\n" + row + "\n"
    with pytest.raises(StatementFormatError) as caught:
        parse(SIGNED, text)
    error = caught.value
    assert (error.source, error.line, error.field) == ("file.csv", 3, field)
    assert str(error).endswith(f": {message}")


def test_three_decimal_currencies_are_exact() -> None:
    text = "Date,Amount,Currency,Account,Reference,Text\n2026-12-01,-1.234,KWD,a,,\n"
    [st] = parse(SIGNED, text)
    assert st.lines[0].amount == Money.from_minor(-1234, "KWD")


def test_debit_and_credit_cells_must_say_one_direction() -> None:
    head = "Buchungstag;Valuta;Soll;Haben;Auftraggeber;Art\n01.12.2026;;1,00;;x;y\n"
    cases = {
        "01.12.2026;;1,00;2,00;x;y": "debit: expected an amount in exactly one of the debit",
        "01.12.2026;;;;x;y": "debit: expected an amount in exactly one of the debit",
        "01.12.2026;;-1,00;;x;y": "debit: expected an unsigned amount",
        "01.12.2026;;1.00;;x;y": "debit: expected a decimal such as 1.234,56, got '1.00'",
        "01.12.2026;;12.34,5;;x;y": "debit: expected a decimal such as 1.234,56, got '12.34,5'",
    }
    for row, message in cases.items():
        with pytest.raises(StatementFormatError, match=message) as caught:
            parse(GERMAN, head + row + "\n", "cp1252")
        assert caught.value.line == 3


def test_header_problems() -> None:
    with pytest.raises(
        StatementFormatError, match="column 'Amount' \\(mapped to amount\\) is missing"
    ) as caught:
        parse(SIGNED, "Date,Betrag,Currency,Account,Reference,Text\n")
    assert (caught.value.line, caught.value.field) == (1, "Amount")
    with pytest.raises(StatementFormatError, match="2 times in the header"):
        parse(SIGNED, "Date,Amount,Amount,Currency,Account,Reference,Text\n")
    with pytest.raises(StatementFormatError, match="empty file"):
        parse(SIGNED, "\n\n")
    with pytest.raises(StatementFormatError, match="not utf-8-sig text") as caught:
        CsvParser(SIGNED).parse(SIGNED_CSV.encode() + b"2026-12-04,1.00,EUR,a,\xff,x\n", "f.csv")
    assert caught.value.line == 9
    assert parse(SIGNED, "Date,Amount,Currency,Account,Reference,Text\n") == []


def test_sniff_needs_the_mapped_header_and_detect_uses_it() -> None:
    parser = CsvParser(SIGNED)
    data = ("\ufeff" + SIGNED_CSV).encode()
    assert parser.name == "csv:channel"
    assert parser.sniff(data, "x.csv")
    assert not parser.sniff(b"Date,Amount\n2026-12-01,1.00\n", "x.csv")
    assert not parser.sniff((DATA / "mt940" / "cmxl-mt940.sta").read_bytes(), "x.sta")
    parsers = [*builtin_parsers(), parser]
    assert detect(data, "x.csv", parsers) is parser
    assert isinstance(
        detect((DATA / "mt940" / "jejik-rabobank-iban.sta").read_bytes(), "j.sta", parsers),
        Mt940Parser,
    )
    [first, *_] = parser.parse(data, "x.csv")  # a BOM before the header is fine
    assert first.lines[0].amount == Money("12.34", "EUR")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": {"amount": "A", "currency": "C", "account": "X"}}, "booked_on"),
        ({"columns": {**SIGNED_COLUMNS, "debit": "D", "credit": "K"}}, "not both"),
        ({"columns": {"booked_on": "D", "debit": "S", "currency": "C", "account": "X"}},
         "both debit and credit"),
        ({"currency": "EUR"}, "either a fixed currency or a currency column"),
        ({"account": "x"}, "either a fixed account or an account column"),
        ({"name": "has space"}, "name"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"date_format": "%Y"}, "does not read back"),
        ({"decimal_separator": ",", "thousands_separator": ","}, "must differ"),
        ({"encoding": "no-such-codec"}, "unknown text encoding"),
        ({"columns": {**SIGNED_COLUMNS, "balance": "B"}}, "columns"),
        ({"rounding": "half-up"}, "rounding"),
    ],
)  # fmt: skip
def test_a_mapping_is_validated(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CsvMapping.model_validate({**SIGNED.model_dump(), **change})


def test_a_mapping_is_frozen_and_round_trips_as_json() -> None:
    with pytest.raises(ValidationError):
        SIGNED.delimiter = ";"  # type: ignore[misc]
    assert CsvMapping.model_validate_json(GERMAN.model_dump_json()) == GERMAN
    with pytest.raises(ValidationError, match="unknown currency"):
        GERMAN.model_validate({**GERMAN.model_dump(), "currency": "EURO"})


# ---------------------------------------------------------------- round trip

CURRENCIES = ("EUR", "JPY", "KWD")


def written(minor: int, code: str, decimal: str, thousands: str) -> str:
    """``minor`` units of ``code`` as a bank would write them: separators, no exponent."""
    exponent = currency(code).exponent
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    whole, fraction = (digits[:-exponent], digits[-exponent:]) if exponent else (digits, "")
    groups: list[str] = []
    while len(whole) > 3:
        whole, group = whole[:-3], whole[-3:]
        groups.insert(0, group)
    text = thousands.join([whole, *groups]) + (decimal + fraction if fraction else "")
    return ("-" if minor < 0 else "") + text


rows = st.lists(
    st.tuples(
        st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
        st.integers(min_value=-(10**15), max_value=10**15),
        st.sampled_from(CURRENCIES),
        st.sampled_from(["acct-a", "acct-b"]),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
    ),
    max_size=40,
)
layouts = st.sampled_from([(",", ".", ""), (";", ",", "."), ("\t", ".", ","), (";", ",", " ")])


@settings(max_examples=150, deadline=None)
@given(rows=rows, layout=layouts)
def test_parse_of_write_round_trips_amounts_exactly(
    rows: list[tuple[date, int, str, str, str]], layout: tuple[str, str, str]
) -> None:
    delimiter, decimal, thousands = layout
    mapping = CsvMapping(
        name="generated",
        delimiter=delimiter,
        columns={
            "booked_on": "day",
            "amount": "amount",
            "currency": "ccy",
            "account": "account",
            "description": "text",
        },
        date_format="%d/%m/%Y",
        decimal_separator=decimal,
        thousands_separator=thousands,
    )
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["text", "day", "amount", "ccy", "account"])
    for day, minor, code, account, text in rows:
        writer.writerow(
            [text, day.strftime("%d/%m/%Y"), written(minor, code, decimal, thousands), code,
             account]
        )  # fmt: skip
    statements = CsvParser(mapping).parse(out.getvalue().encode("utf-8"), "gen.csv")

    expected: dict[tuple[str, str], list[tuple[date, int, str]]] = {}
    for day, minor, code, account, text in rows:
        expected.setdefault((account, code), []).append((day, minor, text.strip()))
    assert [(s.account, s.currency) for s in statements] == list(expected)
    for s in statements:
        want = expected[(s.account, s.currency)]
        assert [(x.booked_on, x.amount.minor_units, x.description) for x in s.lines] == want
        assert sum(x.amount for x in s.lines) == sum(
            (Money.from_minor(m, s.currency) for _, m, _ in want), Money.zero(s.currency)
        )
        assert [x.index for x in s.lines] == list(range(len(want)))
