"""ISO 20022 camt.053 statements and camt.054 notifications, versions .001.02 to .001.08.

One :class:`Statement` per ``Stmt`` (camt.053) or ``Ntfctn`` (camt.054).
Only booked entries (``Sts`` ``BOOK``) are statement lines; the others
(pending ``PDNG``, information ``INFO``) are counted in a problem. The sign
of an entry is its ``CdtDbtInd`` (``CRDT`` in, ``DBIT`` out), also for a
reversal: ISO 20022 defines ``CdtDbtInd`` of a reversal entry as the
direction of the reversal itself (``CRDT`` with ``RvslInd`` true undoes a
debit), so ``RvslInd`` only decides which party of the original payment is
the counterparty.

The XML is read with entity expansion, network access, DTDs and huge trees
off; a document with a ``DOCTYPE`` is refused.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type information

from finplug import Money
from finplug.sockets.reconciliation import Statement, StatementFormatError, StatementLine
from finplug_reconciliation.formats._base import (
    add_problems,
    check_balance,
    currency_code,
    iban_problem,
    money,
    shown,
    unsigned_decimal,
)

__all__ = ["CamtParser"]

_NAMESPACE: Final = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(05[34])\.001\.(0[2-8])")
_SNIFF: Final = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[34]\.001\.0[2-8]")
# The message element under Document and the statement element under it, per message.
_MESSAGES: Final = {"053": ("BkToCstmrStmt", "Stmt"), "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
_DATE: Final = re.compile(r"[ \t\r\n]*([0-9]{4}-[0-9]{2}-[0-9]{2})")
_OPENING: Final = ("OPBD", "PRCD")
_CLOSING: Final = "CLBD"

Element = Any
"""An lxml element (lxml ships no type information)."""


def _xml_parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
    )


@dataclass(frozen=True, slots=True)
class _Doc:
    """One document being read: its namespace and file name, and path helpers."""

    ns: str
    source: str

    def q(self, path: str) -> str:
        """``Acct/Id/IBAN`` in this document's namespace, for ``find``."""
        return "/".join(f"{{{self.ns}}}{step}" for step in path.split("/"))

    def find(self, element: Element, path: str) -> Element | None:
        """The first element at ``path`` under ``element``, or ``None``."""
        return element.find(self.q(path))

    def findall(self, element: Element, path: str) -> list[Element]:
        """Every element at ``path`` under ``element``, in document order."""
        return list(element.findall(self.q(path)))

    def text(self, element: Element, *paths: str) -> str:
        """The stripped text of the first of ``paths`` that has some, or ``""``."""
        for path in paths:
            found = self.find(element, path)
            if found is not None and found.text and found.text.strip():
                return str(found.text).strip()
        return ""

    def error(self, message: str, element: Element, field: str) -> StatementFormatError:
        """A located error at ``element``'s line about ``field``."""
        return StatementFormatError(
            message, source=self.source, line=element.sourceline, field=field
        )

    def required(self, element: Element, path: str, where: str) -> Element:
        """The element at ``path`` under ``element``, or a located error naming it."""
        found = self.find(element, path)
        if found is None:
            raise self.error(f"missing required element {path}", element, f"{where}/{path}")
        return found

    def day(self, element: Element, field: str) -> date:
        """The date an ``xs:date`` or ``xs:dateTime`` element holds (its date part, as written)."""
        text = str(element.text or "")
        match = _DATE.match(text)
        try:
            if match is None:
                raise ValueError(text)
            return date.fromisoformat(match.group(1))
        except ValueError:
            raise self.error(
                f"expected a date such as 2024-01-31 or 2024-01-31T12:00:00, got {shown(text)}",
                element,
                field,
            ) from None

    def choice_date(self, element: Element, path: str, field: str) -> date | None:
        """The date of a ``Dt``/``DtTm`` choice at ``path``, or ``None`` when absent."""
        for leaf in ("Dt", "DtTm"):
            found = self.find(element, f"{path}/{leaf}")
            if found is not None:
                return self.day(found, f"{field}/{path}/{leaf}")
        return None

    def amount(self, element: Element, where: str) -> Money:
        """The signed ``Amt`` (with its ``Ccy``) and ``CdtDbtInd`` of a ``Bal`` or ``Ntry``."""
        amt = self.required(element, "Amt", where)
        code = amt.get("Ccy")
        if not code:
            raise self.error("missing required attribute Ccy", amt, f"{where}/Amt/@Ccy")
        value = unsigned_decimal(
            str(amt.text or ""), source=self.source, line=amt.sourceline, field=f"{where}/Amt"
        )
        indicator = self.text(element, "CdtDbtInd")
        if indicator not in ("CRDT", "DBIT"):
            raise self.error(
                f"expected CdtDbtInd CRDT or DBIT, got {shown(indicator)}",
                self.find(element, "CdtDbtInd") if indicator else element,
                f"{where}/CdtDbtInd",
            )
        signed = value if indicator == "CRDT" else -value
        return money(
            signed, str(code), source=self.source, line=amt.sourceline, field=f"{where}/Amt"
        )


class CamtParser:
    """ISO 20022 camt.053 (statement) and camt.054 (notification), .001.02 to .001.08."""

    name: str = "camt"
    """The parser's name."""

    def sniff(self, data: bytes, filename: str) -> bool:
        """Whether ``data`` is XML naming a camt.053 or camt.054 namespace near its start."""
        head = data[:8192]
        return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") and bool(_SNIFF.search(head))

    def parse(self, data: bytes, filename: str) -> list[Statement]:
        """Every ``Stmt``/``Ntfctn`` of the document, in document order."""
        try:
            root = etree.fromstring(data, _xml_parser())
        except etree.XMLSyntaxError as error:
            raise StatementFormatError(
                f"not well-formed XML: {error.msg}", source=filename, line=error.lineno
            ) from None
        if root.getroottree().docinfo.doctype:
            raise StatementFormatError(
                "a DOCTYPE is not allowed in a camt document", source=filename, line=1
            )
        qname = etree.QName(root)
        match = _NAMESPACE.fullmatch(qname.namespace or "")
        if match is None or qname.localname != "Document":
            raise StatementFormatError(
                "expected a Document in a camt.053 or camt.054 namespace, versions .001.02 to"
                f" .001.08 (urn:iso:std:iso:20022:tech:xsd:camt.053.001.08), got {qname.text}",
                source=filename,
                line=root.sourceline,
                field="Document",
            )
        kind, version = match.groups()
        doc = _Doc(qname.namespace, filename)
        message_tag, statement_tag = _MESSAGES[kind]
        message = doc.required(root, message_tag, "Document")
        fmt = f"camt.{kind}.001.{version}"
        return [
            _statement(doc, element, f"{statement_tag}[{i}]", fmt)
            for i, element in enumerate(doc.findall(message, statement_tag), start=1)
        ]


@dataclass(frozen=True, slots=True)
class _Balance:
    code: str
    amount: Money
    line: int | None


def _balances(doc: _Doc, statement: Element, where: str) -> list[_Balance]:
    found = []
    for i, bal in enumerate(doc.findall(statement, "Bal"), start=1):
        here = f"{where}/Bal[{i}]"
        code = doc.text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if not code:
            raise doc.error("missing required element Tp/CdOrPrtry/Cd", bal, f"{here}/Tp")
        found.append(_Balance(code, doc.amount(bal, here), bal.sourceline))
    return found


def _account(doc: _Doc, statement: Element, where: str) -> str:
    acct = doc.required(statement, "Acct", where)
    account = doc.text(acct, "Id/IBAN", "Id/Othr/Id")
    if not account:
        raise doc.error(
            "missing required element Acct/Id/IBAN or Acct/Id/Othr/Id", acct, f"{where}/Acct/Id"
        )
    return account


def _statement(doc: _Doc, element: Element, where: str, fmt: str) -> Statement:
    account = _account(doc, element, where)
    balances = _balances(doc, element, where)
    lines: list[StatementLine] = []
    skipped: Counter[str] = Counter()
    for i, ntry in enumerate(doc.findall(element, "Ntry"), start=1):
        here = f"{where}/Ntry[{i}]"
        status = _status(doc, ntry, here)
        if status != "BOOK":
            doc.amount(ntry, here)  # still a well-formed entry, or an error
            skipped[status] += 1
            continue
        lines.append(_line(doc, ntry, here, len(lines)))
    code = _currency(doc, element, where, lines, balances)
    problems = _currency_problems(code, lines, balances)
    if skipped:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(skipped.items()))
        problems.append(
            f"{sum(skipped.values())} entries not booked ({counts}) were skipped:"
            " only booked entries are statement lines"
        )
    bad_iban = iban_problem(account)
    if bad_iban:
        problems.insert(0, bad_iban)
    statement = Statement(
        format=fmt,
        source=doc.source,
        account=account,
        currency=code,
        number=doc.text(element, "Id", "ElctrncSeqNb", "LglSeqNb"),
        lines=tuple(lines),
        opened_on=_period(doc, element, "FrDtTm", where),
        closed_on=_period(doc, element, "ToDtTm", where),
        opening=_pick(balances, _OPENING, code),
        closing=_pick(balances, (_CLOSING,), code),
    )
    return check_balance(add_problems(statement, *problems))


def _period(doc: _Doc, statement: Element, leaf: str, where: str) -> date | None:
    found = doc.find(statement, f"FrToDt/{leaf}")
    return None if found is None else doc.day(found, f"{where}/FrToDt/{leaf}")


def _pick(balances: list[_Balance], codes: tuple[str, ...], currency: str) -> Money | None:
    for code in codes:
        for balance in balances:
            if balance.code == code and balance.amount.currency.code == currency:
                return balance.amount
    return None


def _currency(
    doc: _Doc,
    statement: Element,
    where: str,
    lines: list[StatementLine],
    balances: list[_Balance],
) -> str:
    """The account's currency: ``Acct/Ccy``, else the first line's, else the opening balance's."""
    declared = doc.find(statement, "Acct/Ccy")
    if declared is not None and (declared.text or "").strip():
        return currency_code(
            str(declared.text).strip(),
            source=doc.source,
            line=declared.sourceline,
            field=f"{where}/Acct/Ccy",
        )
    if lines:
        return lines[0].amount.currency.code
    if balances:
        return min(balances, key=lambda b: b.code not in _OPENING).amount.currency.code
    raise doc.error(
        "no currency: expected Acct/Ccy, a booked entry or a balance", statement, f"{where}/Acct"
    )


def _currency_problems(
    code: str, lines: list[StatementLine], balances: list[_Balance]
) -> list[str]:
    problems = [
        f"balance {b.code} (line {b.line}) is in {b.amount.currency.code}, not the account's"
        f" {code}: not used"
        for b in balances
        if b.amount.currency.code != code
    ]
    problems += [
        f"entry {line.index} (line {line.source_line}) is in {line.amount.currency.code},"
        f" not the account's {code}"
        for line in lines
        if line.amount.currency.code != code
    ]
    return problems


def _status(doc: _Doc, ntry: Element, where: str) -> str:
    """``BOOK`` for a booked entry, else its status code (``PDNG``, ``INFO`` …)."""
    sts = doc.required(ntry, "Sts", where)
    code = doc.text(sts, "Cd", "Prtry") or str(sts.text or "").strip()
    if not code:
        raise doc.error("expected an entry status such as BOOK", sts, f"{where}/Sts")
    return "BOOK" if code == "BOOK" or code.upper() == "BOOKED" else code


def _line(doc: _Doc, ntry: Element, where: str, index: int) -> StatementLine:
    amount = doc.amount(ntry, where)
    booked_on = doc.choice_date(ntry, "BookgDt", where) or doc.choice_date(ntry, "ValDt", where)
    if booked_on is None:
        raise doc.error(
            "missing required element BookgDt/Dt (or ValDt/Dt)", ntry, f"{where}/BookgDt"
        )
    details = doc.findall(ntry, "NtryDtls/TxDtls")
    reversal = doc.text(ntry, "RvslInd").lower() in ("true", "1")
    # The original payment's direction: a reversal undoes the opposite one.
    incoming = (amount.amount > 0) != reversal
    role = "Dbtr" if incoming else "Cdtr"
    return StatementLine(
        index=index,
        booked_on=booked_on,
        amount=amount,
        value_date=doc.choice_date(ntry, "ValDt", where),
        reference=_first(doc, details, "Refs/EndToEndId", "RmtInf/Strd/CdtrRefInf/Ref"),
        bank_reference=doc.text(ntry, "AcctSvcrRef", "NtryRef")
        or _first(doc, details, "Refs/AcctSvcrRef"),
        description=_description(doc, ntry, details),
        counterparty=_first(doc, details, f"RltdPties/{role}/Nm", f"RltdPties/{role}/Pty/Nm"),
        counterparty_account=_first(
            doc, details, f"RltdPties/{role}Acct/Id/IBAN", f"RltdPties/{role}Acct/Id/Othr/Id"
        ),
        kind=_kind(doc, ntry) or next(filter(None, (_kind(doc, tx) for tx in details)), ""),
        source_line=ntry.sourceline,
    )


def _first(doc: _Doc, details: list[Element], *paths: str) -> str:
    """The first text at one of ``paths`` in the entry's transaction details.

    ``NOTPROVIDED``, ISO 20022's word for "no end-to-end id", counts as none.
    """
    for path in paths:
        for tx in details:
            text = doc.text(tx, path)
            if text and text != "NOTPROVIDED":
                return text
    return ""


def _description(doc: _Doc, ntry: Element, details: list[Element]) -> str:
    """Unstructured remittance lines; else the structured references; else ``AddtlNtryInf``."""
    for paths in (
        ("RmtInf/Ustrd",),
        ("RmtInf/Strd/CdtrRefInf/Ref", "RmtInf/Strd/AddtlRmtInf"),
    ):
        parts = [
            str(found.text).strip()
            for tx in details
            for path in paths
            for found in doc.findall(tx, path)
            if found.text and found.text.strip()
        ]
        if parts:
            return " ".join(parts)
    return doc.text(ntry, "AddtlNtryInf")


def _kind(doc: _Doc, element: Element) -> str:
    """``BkTxCd`` as ``PMNT/RCDT/ESCT`` (domain/family/sub-family), else its proprietary code."""
    domain = [
        doc.text(element, path)
        for path in ("BkTxCd/Domn/Cd", "BkTxCd/Domn/Fmly/Cd", "BkTxCd/Domn/Fmly/SubFmlyCd")
    ]
    if domain[0]:
        return "/".join(part for part in domain if part)
    return doc.text(element, "BkTxCd/Prtry/Cd")
