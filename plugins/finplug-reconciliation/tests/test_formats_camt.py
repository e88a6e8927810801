"""camt.053/camt.054: the real genkgo files, generated documents of every version, broken ones."""

from __future__ import annotations

from datetime import date

import pytest

from finplug import Money
from finplug.sockets.reconciliation import StatementFormatError
from finplug_reconciliation.formats import (
    CamtParser,
    Mt940Parser,
    builtin_parsers,
    check_balance,
    detect,
)
from recon_helpers import STATEMENTS

DATA = STATEMENTS
CAMT053 = DATA / "camt" / "genkgo-camt053.v8.xml"
CAMT054 = DATA / "camt" / "genkgo-camt054.v8.xml"


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


def test_the_reference_files_are_there() -> None:
    assert CAMT053.is_file(), CAMT053
    assert CAMT054.is_file(), CAMT054


def test_genkgo_camt053_v8() -> None:
    [st] = CamtParser().parse(CAMT053.read_bytes(), "genkgo-camt053.v8.xml")
    assert st.format == "camt.053.001.08"
    assert st.source == "genkgo-camt053.v8.xml"
    assert (st.account, st.currency) == ("NL26VAYB8060476890", "EUR")  # from Acct/Id/Othr/Id
    assert st.number == "253EURNL26VAYB8060476890"
    assert (st.opened_on, st.closed_on) == (date(2007, 10, 18), date(2007, 10, 18))
    assert st.opening == eur("18.15")
    # CLBD is SEK in an EUR statement: reported, not used, not a crash.
    assert st.closing is None
    assert st.problems == (
        "balance CLBD (line 74) is in SEK, not the account's EUR: not used",
        "balance OPAV (line 86) is in CHF, not the account's EUR: not used",
        "balance CLAV (line 98) is in JPY, not the account's EUR: not used",
    )
    [line] = st.lines
    assert line.index == 0
    assert line.amount == eur("8.85")
    assert line.booked_on == date(2014, 12, 31)  # BookgDt/DtTm, its date as written
    assert line.value_date == date(2015, 1, 2)
    assert line.reference == "MUELL/FINP/RA12345"
    assert line.bank_reference == "AAAASESS-FP-CN_98765/01"
    assert line.description == "4654654654654654"  # no Ustrd: the structured reference
    assert line.counterparty == "NAME NAME"  # a credit: the debtor, v08 Dbtr/Pty/Nm
    assert line.counterparty_account == "NL56AGDH9619008421"
    assert line.kind == "PMNT/RCDT/BOOK"
    assert line.source_line == 110


def test_genkgo_camt054_v8() -> None:
    [st] = CamtParser().parse(CAMT054.read_bytes(), "genkgo-camt054.v8.xml")
    assert st.format == "camt.054.001.08"
    assert (st.account, st.currency, st.number) == (
        "CH2801234000123456789",
        "SEK",
        "AAAASESS-FP-ACCR001",
    )
    assert st.opening is None  # notifications carry no balances
    assert st.closing is None
    assert st.problems == ()  # a valid IBAN, nothing to balance
    [line] = st.lines
    assert line.amount == Money("-200000", "SEK")
    assert line.booked_on == line.value_date == date(2007, 10, 18)
    assert line.bank_reference == "ACSR160617103200001"
    assert line.reference == "UXC06170000006PI00001EE00001"  # the first TxDtls
    assert line.counterparty == "Example Creditor 3 - V1"  # a debit: the creditor
    assert line.counterparty_account == "CH4112345003131313131"
    assert line.kind == "PMNT/ICDT/DMCT"
    assert line.description == (
        "Unstructured Remittance Information V1"
        " Unstructured Remittance Information V3 block 1"
        " Unstructured Remittance Information V3 block 2"
    )
    assert line.source_line == 63


def test_detect_picks_camt_for_both_files() -> None:
    for path in (CAMT053, CAMT054):
        data = path.read_bytes()
        assert isinstance(detect(data, path.name, builtin_parsers()), CamtParser)
        assert not Mt940Parser().sniff(data, path.name)


def test_a_statement_that_does_not_balance_is_a_problem_not_an_error() -> None:
    data = CAMT053.read_bytes().replace(
        b'<Amt Ccy="SEK">27.00</Amt>', b'<Amt Ccy="EUR">27.00</Amt>'
    )
    [st] = CamtParser().parse(data, "edited.xml")
    # CLBD is DBIT: -27.00, while 18.15 + 8.85 = 27.00.
    assert st.closing == eur("-27.00")
    assert (
        "does not balance: opening 18.15 EUR + 1 lines 8.85 EUR = 27.00 EUR,"
        " but the closing balance is -27.00 EUR (difference -54.00 EUR)"
    ) in st.problems
    assert check_balance(st) == st  # checking again adds nothing


def test_the_same_file_balances_when_its_closing_balance_is_right() -> None:
    data = CAMT053.read_bytes().replace(
        b'<Amt Ccy="SEK">27.00</Amt>', b'<Amt Ccy="EUR">27.00</Amt>'
    )
    data = data.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>CRDT</CdtDbtInd>", 1)
    [st] = CamtParser().parse(data, "edited.xml")
    assert st.closing == eur("27.00")
    assert not any("balance" in p and "does not" in p for p in st.problems)
    assert st.opening is not None
    assert st.opening + sum((line.amount for line in st.lines), eur("0")) == st.closing


def test_a_truncated_file_is_a_located_error() -> None:
    data = CAMT053.read_bytes()
    cut = data[: len(data) // 2]
    with pytest.raises(StatementFormatError, match="not well-formed XML") as caught:
        CamtParser().parse(cut, "cut.xml")
    assert caught.value.source == "cut.xml"
    assert caught.value.line == cut.count(b"\n") + 1


@pytest.mark.parametrize(
    ("edit", "field", "line"),
    [
        ((b'<Amt Ccy="EUR">8.85</Amt>', b""), "Stmt[1]/Ntry[1]/Amt", 110),
        ((b'<Amt Ccy="EUR">8.85</Amt>', b"<Amt>8.85</Amt>"), "Stmt[1]/Ntry[1]/Amt/@Ccy", 111),
        ((b"8.85", b"8.855"), "Stmt[1]/Ntry[1]/Amt", 111),
        ((b"8.85", b"8,85"), "Stmt[1]/Ntry[1]/Amt", 111),
        ((b"8.85", b"1e3"), "Stmt[1]/Ntry[1]/Amt", 111),
        ((b"<Cd>BOOK</Cd>", b""), "Stmt[1]/Ntry[1]/Sts", 113),
        ((b"<CdtDbtInd>CRDT</CdtDbtInd>\n                <Sts>", b"<Sts>"),
         "Stmt[1]/Ntry[1]/CdtDbtInd", 110),
        ((b"<Dt>2015-01-02</Dt>", b"<Dt>2015-13-02</Dt>"), "Stmt[1]/Ntry[1]/ValDt/Dt", 120),
        ((b"<Id>NL26VAYB8060476890</Id>", b""), "Stmt[1]/Acct/Id", 44),
    ],
)  # fmt: skip
def test_a_missing_or_bad_element_is_named_with_its_line(
    edit: tuple[bytes, bytes], field: str, line: int
) -> None:
    data = CAMT053.read_bytes()
    assert edit[0] in data
    with pytest.raises(StatementFormatError) as caught:
        CamtParser().parse(data.replace(edit[0], edit[1], 1), "bad.xml")
    assert (caught.value.field, caught.value.line) == (field, line)
    assert str(caught.value).startswith(f"bad.xml:{line} ({field}): ")


def test_entities_and_doctypes_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&b;</Document>'
    )
    with pytest.raises(StatementFormatError, match="DOCTYPE"):
        CamtParser().parse(bomb, "bomb.xml")
    external = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&x;</Document>'
    )
    with pytest.raises(StatementFormatError, match="DOCTYPE"):
        CamtParser().parse(external, "xxe.xml")


def test_other_messages_and_versions_are_refused_with_what_is_expected() -> None:
    for ns in ("camt.053.001.09", "camt.052.001.08", "pain.001.001.03"):
        doc = f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{ns}"/>'.encode()
        with pytest.raises(StatementFormatError, match=r"expected a Document in a camt\.053"):
            CamtParser().parse(doc, "other.xml")
        assert not CamtParser().sniff(doc, "other.xml")


def _party(version: int, role: str, name: str, iban: str) -> str:
    who = f"<Nm>{name}</Nm>" if version < 8 else f"<Pty><Nm>{name}</Nm></Pty>"
    return f"<{role}>{who}</{role}><{role}Acct><Id><IBAN>{iban}</IBAN></Id></{role}Acct>"


def _entry(version: int, amount: str, ind: str, status: str, ref: str, extra: str = "") -> str:
    sts = f"<Sts>{status}</Sts>" if version < 8 else f"<Sts><Cd>{status}</Cd></Sts>"
    role = "Dbtr" if (ind == "CRDT") != ("RvslInd" in extra) else "Cdtr"
    return f"""
      <Ntry>
        <NtryRef>N-{ref}</NtryRef>
        <Amt Ccy="EUR">{amount}</Amt>
        <CdtDbtInd>{ind}</CdtDbtInd>
        {extra}
        {sts}
        <BookgDt><Dt>2024-03-01</Dt></BookgDt>
        <ValDt><Dt>2024-03-02</Dt></ValDt>
        <AcctSvcrRef>BANK-{ref}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
        </BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-{ref}</EndToEndId></Refs>
          <RltdPties>{_party(version, role, f"Party {ref}", "NL91ABNA0417164300")}</RltdPties>
          <RmtInf><Ustrd>Invoice {ref}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""


def camt053(version: int) -> bytes:
    """A small camt.053 of ``version`` with a pending entry and a reversal."""
    entries = "".join(
        [
            _entry(version, "10.00", "CRDT", "BOOK", "1"),
            _entry(version, "30.50", "DBIT", "BOOK", "2"),
            _entry(version, "5.00", "CRDT", "PDNG", "3"),
            # A reversal of a debit: CdtDbtInd is the reversal's own direction.
            _entry(version, "1.00", "CRDT", "BOOK", "4", "<RvslInd>true</RvslInd>"),
        ]
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.0{version}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-02T06:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-1</Id>
      <ElctrncSeqNb>17</ElctrncSeqNb>
      <CreDtTm>2024-03-02T06:00:00</CreDtTm>
      <FrToDt><FrDtTm>2024-03-01T00:00:00</FrDtTm><ToDtTm>2024-03-01T23:59:59</ToDtTm></FrToDt>
      <Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-02-29</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">80.50</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-03-01</Dt></Dt></Bal>
      {entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


@pytest.mark.parametrize("version", range(2, 9))
def test_generated_camt053_parses_the_same_in_every_version(version: int) -> None:
    data = camt053(version)
    assert CamtParser().sniff(data, "gen.xml")
    [st] = CamtParser().parse(data, "gen.xml")
    assert st.format == f"camt.053.001.0{version}"
    reference = CamtParser().parse(camt053(8), "gen.xml")[0]
    assert st.lines == reference.lines
    assert (st.account, st.currency, st.number) == ("DE89370400440532013000", "EUR", "STMT-1")
    assert (st.opening, st.closing) == (eur("100.00"), eur("80.50"))
    assert (st.opened_on, st.closed_on) == (date(2024, 3, 1), date(2024, 3, 1))
    # Balances: 100.00 + 10.00 - 30.50 + 1.00 = 80.50; the pending 5.00 is not a line.
    assert st.problems == (
        "1 entries not booked (PDNG 1) were skipped: only booked entries are statement lines",
    )
    assert [line.amount for line in st.lines] == [eur("10.00"), eur("-30.50"), eur("1.00")]
    assert [line.reference for line in st.lines] == ["E2E-1", "E2E-2", "E2E-4"]
    assert [line.bank_reference for line in st.lines] == ["BANK-1", "BANK-2", "BANK-4"]
    assert [line.description for line in st.lines] == ["Invoice 1", "Invoice 2", "Invoice 4"]
    assert [line.counterparty for line in st.lines] == ["Party 1", "Party 2", "Party 4"]
    assert {line.counterparty_account for line in st.lines} == {"NL91ABNA0417164300"}
    assert {line.kind for line in st.lines} == {"PMNT/RCDT/ESCT"}
    assert [line.index for line in st.lines] == [0, 1, 2]


def test_a_wrong_iban_checksum_is_a_problem_and_a_non_iban_account_is_not_checked() -> None:
    bad = camt053(4).replace(b"DE89370400440532013000", b"DE88370400440532013000")
    [st] = CamtParser().parse(bad, "gen.xml")
    assert st.problems[0] == (
        "account DE88370400440532013000 is not a valid IBAN: invalid checksum digits"
    )
    other = camt053(4).replace(
        b"<IBAN>DE89370400440532013000</IBAN>", b"<Othr><Id>10020030/1234567</Id></Othr>"
    )
    [st] = CamtParser().parse(other, "gen.xml")
    assert st.account == "10020030/1234567"
    assert not any("IBAN" in p for p in st.problems)


def test_a_document_with_several_statements_gives_one_each() -> None:
    one = camt053(5).decode()
    start, end = one.index("<Stmt>"), one.index("</Stmt>") + len("</Stmt>")
    second = one[start:end].replace("STMT-1", "STMT-2")
    data = (one[:end] + second + one[end:]).encode()
    statements = CamtParser().parse(data, "two.xml")
    assert [st.number for st in statements] == ["STMT-1", "STMT-2"]
    first, second_lines = statements[0].lines, statements[1].lines
    assert [x.amount for x in first] == [x.amount for x in second_lines]
    # Each line's source_line is the line of its <Ntry>; the third <Ntry> of each is pending.
    ntry = [n for n, text in enumerate(data.decode().split("\n"), 1) if "<Ntry>" in text]
    assert len(ntry) == 8
    assert [x.source_line for x in first] == [ntry[0], ntry[1], ntry[3]]
    assert [x.source_line for x in second_lines] == [ntry[4], ntry[5], ntry[7]]
