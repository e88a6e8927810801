"""MT940/MT942: the real cmxl, jejik and self-provided files, edited and cut ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from finplug import Money
from finplug.sockets.reconciliation import Statement, StatementFormatError
from finplug_reconciliation.formats import (
    CamtParser,
    Mt940Parser,
    builtin_parsers,
    detect,
)
from recon_helpers import STATEMENTS

DATA = STATEMENTS
CMXL = DATA / "mt940" / "cmxl-mt940.sta"
JEJIK = DATA / "mt940" / "jejik-rabobank-iban.sta"
MT942 = DATA / "mt940" / "self-provided-mt942.sta"


def parse(path: Path) -> list[Statement]:
    return Mt940Parser().parse(path.read_bytes(), path.name)


def balances(st: Statement) -> None:
    """Opening + Σ lines == closing, exactly, and nothing reported about it."""
    assert st.opening is not None
    assert st.closing is not None
    total = sum((line.amount for line in st.lines), Money.zero(st.currency))
    assert st.opening + total == st.closing
    assert not any(p.startswith("does not balance") for p in st.problems)


def test_the_reference_files_are_there() -> None:
    for path in (CMXL, JEJIK, MT942):
        assert path.is_file(), path


def test_cmxl_has_three_statements_that_balance() -> None:
    dem, eur, pln = parse(CMXL)
    assert [st.format for st in (dem, eur, pln)] == ["mt940"] * 3
    assert [st.currency for st in (dem, eur, pln)] == ["DEM", "EUR", "PLN"]
    for st in (dem, eur, pln):
        balances(st)
        assert [line.index for line in st.lines] == list(range(len(st.lines)))


def test_cmxl_dem_statement() -> None:
    dem = parse(CMXL)[0]
    assert (dem.account, dem.number) == ("45050050/76198810", "27/01")
    assert (dem.opening, dem.closing) == (Money("84349.74", "DEM"), Money("84437.04", "DEM"))
    assert (dem.opened_on, dem.closed_on) == (date(2013, 10, 16), date(2013, 10, 17))
    assert dem.problems == ()  # not an IBAN: not checked
    assert [line.amount.amount for line in dem.lines] == [
        Money(a, "DEM").amount
        for a in ("-6800", "-620.30", "18500", "-14220", "-1507", "4200", "-19900", "-400",
                  "3656.74", "23040", "-5862.14")
    ]  # fmt: skip
    first, last = dem.lines[0], dem.lines[-1]
    assert (first.booked_on, first.value_date) == (date(2013, 10, 17), date(2013, 10, 17))
    assert (first.kind, first.reference, first.source_line) == ("NCHK", "16703074", 5)
    assert first.description == "999PN5477SCHECK-NR. 0000016703074"
    assert (last.amount, last.booked_on, last.source_line) == (
        Money("-5862.14", "DEM"),
        date(2013, 10, 27),
        25,
    )
    # The entry out of date order stays where the file has it.
    assert (dem.lines[3].booked_on, dem.lines[3].amount) == (
        date(2013, 10, 15),
        Money("-14220", "DEM"),
    )


def test_cmxl_eur_statement_structured_86() -> None:
    eur = parse(CMXL)[1]
    assert (eur.account, eur.number) == ("10020030/1234567", "5/1")
    assert (eur.opening, eur.closing) == (Money("2187.95", "EUR"), Money("4387.95", "EUR"))
    rent, salary = eur.lines
    assert rent.amount == Money("-800", "EUR")
    assert (rent.value_date, rent.booked_on) == (date(2002, 11, 1), date(2002, 11, 2))
    assert (rent.reference, rent.bank_reference, rent.kind) == ("", "55555", "NSTO")  # NONREF
    assert rent.description == "Miete November"  # ?20
    assert rent.counterparty == "MUELLER"  # ?32
    assert rent.counterparty_account == "10020030/234567"  # ?30/?31
    assert rent.source_line == 36
    assert salary.amount == Money("3000", "EUR")
    assert salary.counterparty_account == "50060400/0847564700"  # ?31 across a line break
    assert salary.description.startswith("Gehalt Oktober")  # ?20 across a line break
    assert salary.source_line == 38


def test_cmxl_pln_statement_iban_subfield_and_odd_dates() -> None:
    pln = parse(CMXL)[2]
    assert (pln.account, pln.number) == ("BPHKPLPK/320000546101", "00084/001")
    assert [line.amount for line in pln.lines] == [
        Money("20000", "PLN"),
        Money("-10000", "PLN"),
        Money("40", "PLN"),
    ]
    card, transfer, interest = pln.lines
    assert card.counterparty_account == "PL08106000760000777777777777"  # ?38, over two lines
    assert card.counterparty == "HUTA SZKLA TOPIC ULPRZEMYSLOWA 67 32-669 WROCLAW"  # ?32 + ?33
    assert card.bank_reference == "8327000090031789"
    assert card.kind == "FMSC"
    assert "FAKTURA 333/2003." in card.description
    assert transfer.reference == "REF 25611247"
    assert interest.description == "Odsetki od lokaty nr 101000022086"
    assert interest.counterparty_account == ""
    assert [line.source_line for line in pln.lines] == [53, 62, 70]
    # The file's closing balance is dated before its opening one: said, not raised.
    assert pln.problems == (
        "the closing balance is dated 2002-03-25, before the opening balance's 2003-10-02",
    )


def test_jejik_two_statements_and_a_failing_iban_checksum() -> None:
    first, second = parse(JEJIK)
    for st in (first, second):
        assert (st.account, st.currency, st.number) == ("NL71RABO0123456789", "EUR", "0")
        assert "account NL71RABO0123456789 is not a valid IBAN: invalid checksum digits" in (
            st.problems
        )
        balances(st)
        assert [line.amount for line in st.lines] == [Money("-25", "EUR"), Money("-10", "EUR")]
        assert [line.kind for line in st.lines] == ["N102", "N154"]
    assert (first.opening, first.closing) == (Money("1000", "EUR"), Money("965", "EUR"))
    assert (second.opening, second.closing) == (Money("965", "EUR"), Money("930", "EUR"))
    assert (first.opened_on, first.closed_on) == (date(2013, 1, 1), date(2013, 1, 8))
    assert (second.opened_on, second.closed_on) == (date(2013, 1, 8), date(2013, 1, 15))
    assert [line.source_line for line in first.lines + second.lines] == [6, 10, 18, 22]
    eref = first.lines[0]
    # The :86: lines wrap mid-word; joined as written.
    assert eref.description == (
        "/EREF/01-01-2013 12:00 0030000987654321/BENM//NAME/CONTRA ACCOUNT HOLDER"
        "/REMI//ISDT/2013-07-11"
    )
    assert eref.counterparty_account == "NL70ABNA0987654321"  # :61: supplementary details
    assert eref.reference == "EREF"
    assert second.lines[1].booked_on == date(2013, 1, 9)


def test_mt942_interim_report() -> None:
    [st] = parse(MT942)
    assert st.format == "mt942"
    assert (st.account, st.currency, st.number) == ("GJB0291077111", "EUR", "03917/00001")
    assert (st.opening, st.closing) == (None, None)
    assert (st.opened_on, st.closed_on) == (None, date(2016, 10, 30))  # :13D:
    [line] = st.lines
    assert line.amount == Money("-0.42", "EUR")
    assert (line.value_date, line.booked_on) == (date(2016, 10, 30), date(2016, 10, 31))
    assert (line.kind, line.reference, line.bank_reference) == ("MCI0", "", "055001022000001")
    assert line.description == "REMIT:Costs to MT940 Parsing. This is Somuchfun."
    assert line.source_line == 7
    # :90D: in the file does not add up with its one line: reported.
    assert st.problems == (
        ":90D: says 1 entries totalling 2.30 EUR, the lines have 1 totalling 0.42 EUR",
    )


def test_detect_picks_mt940_for_the_sta_files() -> None:
    for path in (CMXL, JEJIK, MT942):
        data = path.read_bytes()
        assert isinstance(detect(data, path.name, builtin_parsers()), Mt940Parser)
        assert not CamtParser().sniff(data, path.name)
    with pytest.raises(StatementFormatError, match="expected one of camt, mt940"):
        detect(b"date,amount\n2024-01-01,1.00\n", "x.csv", builtin_parsers())


def test_a_statement_that_does_not_balance_is_a_problem_not_an_error() -> None:
    data = JEJIK.read_bytes().replace(b":62F:C130108EUR000000000965,00", b":62F:C130108EUR960,00")
    first, second = Mt940Parser().parse(data, "edited.sta")
    assert first.closing == Money("960", "EUR")
    assert (
        "does not balance: opening 1000.00 EUR + 2 lines -35.00 EUR = 965.00 EUR,"
        " but the closing balance is 960.00 EUR (difference -5.00 EUR)"
    ) in first.problems
    balances(second)


def test_a_truncated_file_is_a_located_error() -> None:
    data = CMXL.read_bytes()
    cut = data[: len(data) // 2]
    with pytest.raises(StatementFormatError) as caught:
        Mt940Parser().parse(cut, "cut.sta")
    assert caught.value.source == "cut.sta"
    assert caught.value.line is not None
    assert 1 <= caught.value.line <= cut.count(b"\n") + 1


def test_every_cut_of_a_file_parses_or_is_a_located_format_error() -> None:
    data = CMXL.read_bytes()
    for end in range(1, len(data), 13):
        try:
            statements = Mt940Parser().parse(data[:end], "cut.sta")
        except StatementFormatError as error:
            assert error.line is not None, (end, error)
        else:
            assert all(st.lines or st.closing for st in statements)


@pytest.mark.parametrize(
    ("old", "new", "line", "field"),
    [
        (b":61:131017D620,3NSTON", b":61:1310XXD620,3NSTON", 7, ":61:"),
        (b":61:131017D620,3NSTON", b":61:131017D620,3", 7, ":61:"),
        (b":60F:C131016DEM84349,74", b":60F:C131316DEM84349,74", 4, ":60F:"),
        (b":60F:C131016DEM84349,74", b":60F:C131016XYZ84349,74", 4, ":60F:"),
        (b":60F:C131016DEM84349,74", b":60F:C131016DEM84349,745", 4, ":60F:"),
        (b":25:45050050/76198810\n", b"", 1, ":25:"),
        (b":62F:C131017DEM84437,04", b"", 26, ":62F:"),
    ],
)
def test_a_broken_tag_is_named_with_its_line(old: bytes, new: bytes, line: int, field: str) -> None:
    data = CMXL.read_bytes()
    assert old in data
    with pytest.raises(StatementFormatError) as caught:
        Mt940Parser().parse(data.replace(old, new, 1), "bad.sta")
    assert (caught.value.line, caught.value.field) == (line, field)


def test_reversal_marks_are_signed_like_the_money_moves() -> None:
    data = (
        b":20:REV\r\n:25:DE89370400440532013000\r\n:28C:1/1\r\n:60F:C240301EUR100,00\r\n"
        b":61:2403010301RC10,00NTRFNONREF//B1\r\n:86:reversed credit\r\n"
        b":61:2403010301RD2,50NTRFK2//B2\r\n"
        b":62F:C240301EUR92,50\r\n-\r\n"
    )
    [st] = Mt940Parser().parse(data, "rev.sta")
    assert [line.amount for line in st.lines] == [Money("-10", "EUR"), Money("2.50", "EUR")]
    assert [line.reference for line in st.lines] == ["", "K2"]
    assert st.lines[0].description == "reversed credit"
    assert st.problems == ()
    balances(st)


def test_swift_envelope_and_other_encodings() -> None:
    body = ":20:ENV\n:25:AT611904300234573201\n:28C:7\n:60F:C240301EUR0,00\n"
    body += ":61:240301C1,00NTRFNONREF\n:86:Zahlung M\u00fcller\n:62F:C240301EUR1,00\n"
    data = ("{1:F01BANKATWWAXXX0000000000}{2:O940}{4:\n" + body + "-}").encode("latin-1")
    [st] = Mt940Parser().parse(data, "env.sta")
    assert st.lines[0].description == "Zahlung M\u00fcller"  # not UTF-8: read as Latin-1
    assert st.problems == ()
    with pytest.raises(StatementFormatError, match="not utf-8 text") as caught:
        Mt940Parser(encoding="utf-8").parse(data, "env.sta")
    assert caught.value.line == 7
