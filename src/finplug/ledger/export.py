"""Export a tenant's ledger as a Beancount file that ``bean-check`` verifies.

The export reads the ledger only through its public read API
(:meth:`~finplug.components.LedgerAPI.accounts`,
:meth:`~finplug.components.LedgerAPI.entries`,
:meth:`~finplug.components.LedgerAPI.balance`) and writes, in order:

* ``option`` lines: the title and the operating currencies;
* an ``open`` directive per account, under the Beancount root of its type
  (asset → ``Assets``, liability → ``Liabilities``, equity → ``Equity``,
  income → ``Income``, expense → ``Expenses``), constrained to its currency and
  carrying the finplug code as ``code`` metadata;
* a transaction per entry that moves posted money (``posted``,
  ``post_pending`` and ``reversal`` entries), with ``seq``, ``key``,
  ``posted-at`` and ``hash`` metadata and the description as narration.
  Beancount's sign convention is finplug's: debits positive, credits negative;
* a ``note`` per account leg of a hold, and of a hold's void or expiry:
  pending amounts are not part of Beancount's model, so they are recorded,
  not booked;
* a ``balance`` assertion per account, dated the day after the last entry,
  with an explicit tolerance of zero (``~ 0``): ``bean-check`` then proves
  that the booked legs add up exactly to the ledger's own balances.

Dates are the UTC dates of the entries' ``posted_at``. The output is a
function of the ledger's content only (no export time is written), so the
same ledger always exports to the same text.

Account names
    A finplug code becomes a single Beancount name component, so that no
    account is the parent of another (Beancount's balance assertions on a
    parent include its children). The mapping is deterministic and injective
    (every name decodes back to exactly one code) and reads naturally for
    the usual codes:

    * lower-case ASCII letters, digits and ``-`` are kept; the first letter
      is capitalised (``m-001`` → ``M-001``, ``bank`` → ``Bank``);
    * ``:`` followed by a lower-case letter other than ``x`` becomes that
      letter in upper case (``wallet:cust-1`` → ``WalletCust-1``);
    * any other character is written ``X<hex code point>X``
      (``Cash`` → ``0X43Xash``, ``a_b`` → ``AX5fXb``);
    * a code that does not start with a lower-case letter or a digit 1-9
      gets a ``0`` in front (Beancount names must start with an upper-case
      letter or a digit; the ``0`` says "no capitalised first letter here").
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import IO, Final, TextIO

from finplug._money import Money, currency
from finplug._time import as_utc
from finplug.components import LedgerAPI
from finplug.ledger.values import Account, AccountType, Entry, Leg

__all__ = [
    "ROOTS",
    "account_component",
    "beancount_account",
    "code_from_component",
    "export_beancount",
]

#: Beancount's five root accounts, per finplug account type.
ROOTS: Final[dict[AccountType, str]] = {
    AccountType.ASSET: "Assets",
    AccountType.LIABILITY: "Liabilities",
    AccountType.EQUITY: "Equity",
    AccountType.INCOME: "Income",
    AccountType.EXPENSE: "Expenses",
}

_PAGE: Final = 1000
_SPOOL_BYTES: Final = 16 * 2**20
_LOWER: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LITERAL: Final = _LOWER | frozenset("0123456789-")
_ESCAPE: Final = "X"
_CAMEL: Final = _LOWER - {_ESCAPE.lower()}


# ---------------------------------------------------------------- account names


def account_component(code: str) -> str:
    """The Beancount name component for a finplug account code (see the module docs)."""
    out: list[str] = []
    if code[:1] in _LOWER:
        out.append(code[0].upper())
        i = 1
    elif code[:1] in frozenset("123456789"):
        out.append(code[0])
        i = 1
    else:
        out.append("0")
        i = 0
    n = len(code)
    while i < n:
        ch = code[i]
        if ch in _LITERAL:
            out.append(ch)
            i += 1
        elif ch == ":" and i + 1 < n and code[i + 1] in _CAMEL:
            out.append(code[i + 1].upper())
            i += 2
        else:
            out.append(f"{_ESCAPE}{ord(ch):x}{_ESCAPE}")
            i += 1
    return "".join(out)


def code_from_component(component: str) -> str:
    """The finplug code that :func:`account_component` turned into ``component``.

    Raises :class:`ValueError` for a component it cannot have produced.
    """
    if not component:
        raise ValueError("an empty component encodes no code")
    first = component[0]
    out: list[str] = []
    if first in _UPPER:
        out.append(first.lower())
    elif first in "123456789":
        out.append(first)
    elif first != "0":
        raise ValueError(f"{component!r} does not start with an upper-case letter or a digit")
    i, n = 1, len(component)
    while i < n:
        ch = component[i]
        if ch in _LITERAL:
            out.append(ch)
            i += 1
        elif ch == _ESCAPE:
            end = component.find(_ESCAPE, i + 1)
            digits = component[i + 1 : end]
            if end < 0 or not digits or digits.strip("0123456789abcdef"):
                raise ValueError(f"bad escape in {component!r} at {i}")
            out.append(chr(int(digits, 16)))
            i = end + 1
        elif ch in _UPPER:
            out.append(":" + ch.lower())
            i += 1
        else:
            raise ValueError(f"unexpected {ch!r} in {component!r}")
    return "".join(out)


def beancount_account(account: Account) -> str:
    """The Beancount account name of a finplug account: root of its type, then its code."""
    return f"{ROOTS[account.type]}:{account_component(account.code)}"


# ---------------------------------------------------------------- formatting


def _quote(text: str) -> str:
    """A Beancount string literal (C-style escapes; other characters are kept as they are)."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _number(value: Decimal) -> str:
    """An exact decimal, never in exponent notation."""
    return f"{value:f}"


def _amount(money: Money) -> str:
    return f"{_number(money.amount)} {money.currency.code}"


def _day(moment: datetime) -> date:
    return as_utc(moment).date()


def _meta(lines: list[str], key: str, value: str) -> None:
    lines.append(f"  {key}: {value}")


def _entry_meta(entry: Entry) -> list[str]:
    lines: list[str] = []
    _meta(lines, "seq", str(entry.seq))
    _meta(lines, "key", _quote(entry.key))
    if entry.kind != "posted":
        _meta(lines, "kind", _quote(entry.kind))
    if entry.pending_seq is not None:
        _meta(lines, "pending-seq", str(entry.pending_seq))
    if entry.reverses_seq is not None:
        _meta(lines, "reverses-seq", str(entry.reverses_seq))
    if entry.timeout_at is not None:
        _meta(lines, "timeout-at", _quote(as_utc(entry.timeout_at).isoformat()))
    _meta(lines, "posted-at", _quote(as_utc(entry.posted_at).isoformat()))
    if entry.hash:
        _meta(lines, "hash", _quote(entry.hash.hex()))
    return lines


class _Writer:
    """Renders entries into ``body`` and remembers each account's first use."""

    def __init__(self, body: IO[str], name_of: Callable[[str], str]) -> None:
        self.body = body
        self.name_of = name_of
        self.first_used: dict[str, date] = {}

    def _use(self, code: str, day: date) -> str:
        if code not in self.first_used:
            self.first_used[code] = day
        return self.name_of(code)

    def entry(self, entry: Entry) -> None:
        day = _day(entry.posted_at)
        if entry.kind == "pending":
            self._notes(entry, day, entry.legs, f"hold {entry.seq}: pending")
        elif entry.legs:
            self._transaction(entry, day)
        if entry.released and entry.kind in ("void", "expire"):
            verb = "voided" if entry.kind == "void" else "expired"
            self._notes(
                entry, day, entry.released, f"hold {entry.pending_seq} {verb}: released pending"
            )

    def _transaction(self, entry: Entry, day: date) -> None:
        postings = [(self._use(leg.account, day), _signed(leg)) for leg in entry.legs]
        width = max(len(name) for name, _ in postings)
        number_width = max(len(_number(m.amount)) for _, m in postings)
        lines = [f"{day.isoformat()} * {_quote(entry.description)}", *_entry_meta(entry)]
        for name, money in postings:
            number = _number(money.amount)
            lines.append(f"  {name:<{width}}  {number:>{number_width}} {money.currency.code}")
        self.body.write("\n".join(lines) + "\n\n")

    def _notes(self, entry: Entry, day: date, legs: Iterable[Leg], what: str) -> None:
        lines: list[str] = []
        for leg in legs:
            text = f"{what} {leg.side} {_amount(leg.amount)}"
            if entry.description:
                text += f": {entry.description}"
            name = self._use(leg.account, day)
            lines.append(f"{day.isoformat()} note {name} {_quote(text)}")
            lines.extend(_entry_meta(entry))
        self.body.write("\n".join(lines) + "\n\n")


def _signed(leg: Leg) -> Money:
    """Beancount's sign convention: debits positive, credits negative."""
    return leg.amount if leg.side == "debit" else -leg.amount


# ---------------------------------------------------------------- export


def _balances_at(
    ledger: LedgerAPI, accounts: Iterable[Account], last: Entry | None
) -> dict[str, Money] | None:
    """Each account's net posted balance (debits - credits) just after entry ``last``.

    ``None`` if an entry after ``last`` was committed meanwhile with the same
    ``posted_at`` (the ``as_of`` lookups may have counted it): the caller
    exports it too and asks again. Entries posted later than ``last`` do not
    disturb the snapshot, so the export converges under a steady write load.
    """
    out: dict[str, Money] = {}
    with ledger.session() as session:
        for account in accounts:
            if last is None:
                out[account.code] = Money.zero(account.currency)
            else:
                balance = session.balance(account.code, as_of=last.posted_at)
                out[account.code] = balance.debits_posted - balance.credits_posted
        later = session.entries(last.seq if last else 0, 1)
    if later and (last is None or later[0].posted_at <= last.posted_at):
        return None
    return out


def _operating_currencies(accounts: Iterable[Account]) -> list[str]:
    counts = Counter(a.currency.code for a in accounts)
    return sorted(counts, key=lambda code: (-counts[code], code))


def export_beancount(
    ledger: LedgerAPI,
    out: TextIO,
    *,
    title: str = "finplug ledger",
    operating_currencies: Sequence[str] | None = None,
) -> None:
    """Write ``ledger`` to ``out`` as a Beancount file (see the module docs for the format).

    ``out`` must accept any Unicode text (open files with ``encoding="utf-8"``).
    ``operating_currencies`` defaults to every currency the ledger's accounts
    use, the most used first.

    Entries are read a page at a time (each page its own short transaction)
    and spooled, so that the ``open`` directives can be written first. The
    balances asserted are the ledger's own, as of the last entry exported:
    the file is a consistent snapshot even while other writers post.
    """
    accounts: dict[str, Account] = {a.code: a for a in ledger.accounts()}
    names: dict[str, str] = {}

    def name_of(code: str) -> str:
        name = names.get(code)
        if name is None:
            account = accounts.get(code)
            if account is None:  # opened after the export started
                account = accounts[code] = ledger.account(code)
            name = names[code] = beancount_account(account)
        return name

    with tempfile.SpooledTemporaryFile(
        max_size=_SPOOL_BYTES, mode="w+", encoding="utf-8", newline="\n"
    ) as body:
        writer = _Writer(body, name_of)
        last: Entry | None = None
        while True:
            page = ledger.entries(last.seq if last else 0, _PAGE)
            for entry in page:
                writer.entry(entry)
                last = entry
            if len(page) == _PAGE:
                continue
            accounts.update((a.code, a) for a in ledger.accounts())
            balances = _balances_at(ledger, accounts.values(), last)
            if balances is not None:
                break

        ordered = sorted(accounts.values(), key=lambda a: a.code)
        opens = {
            a.code: min(_day(a.opened_at), writer.first_used.get(a.code, date.max)) for a in ordered
        }
        out.write(
            "; A finplug ledger, exported by finplug.export_beancount. Dates are UTC;\n"
            "; pending holds are notes, not postings; balances are asserted exactly.\n"
        )
        out.write(f"option {_quote('title')} {_quote(title)}\n")
        chosen = (
            _operating_currencies(ordered)
            if operating_currencies is None
            else [currency(c).code for c in operating_currencies]
        )
        for code in chosen:
            out.write(f"option {_quote('operating_currency')} {_quote(code)}\n")
        out.write("\n")
        for account in ordered:
            out.write(
                f"{opens[account.code].isoformat()} open {name_of(account.code)}"
                f" {account.currency.code}\n"
                f"  code: {_quote(account.code)}\n"
                f"  overdraft: {_quote(account.overdraft)}\n"
            )
        if ordered:
            out.write("\n")
        body.seek(0)
        shutil.copyfileobj(body, out)

    if not ordered:
        return
    latest = max([*opens.values(), *([_day(last.posted_at)] if last else [])])
    check_day = (latest + timedelta(days=1)).isoformat()
    width = max(len(name_of(a.code)) for a in ordered)
    out.write(f"; balances after entry {last.seq if last else 0}, checked exactly (~ 0)\n")
    for account in ordered:
        money = balances[account.code]
        out.write(
            f"{check_day} balance {name_of(account.code):<{width}}"
            f"  {_number(money.amount)} ~ 0 {money.currency.code}\n"
        )
