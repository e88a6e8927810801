"""The reconciliation plugin's tenant settings: reconciled accounts, match rules, CSV formats.

Example (YAML)::

    reconciliation:
      accounts:
        card-eu:                                  # the reconciled account's name
          statement_account: card-eu              # as the files name it (IBAN, channel)
          currency: EUR
          ledger_accounts:                        # ledger account -> sign, as the statement sees it
            payments:clearing:card-eu:EUR: 1
            payments:fees:card-eu:EUR: -1
          reference: payment                      # ledger reference: the key up to its first ':'
          reference_patterns: ['^settlement:(?P<ref>payout:.+):[a-z]+$']  # tried first
          timezone: Europe/Berlin                 # which day a posting belongs to
          calendar_country: DE                    # business days of date windows (default: Mon-Fri)
          owner: treasury                         # who works its breaks
          write_off_limit: "5.00"                 # one person may resolve up to this
      rules:                                      # default: see DEFAULT_RULES
        - {name: exact, priority: 10, shape: one_to_one, reference: {mode: exact},
           date: {window: 2}}
      csv_formats:                                # see finplug_reconciliation.formats.csv
        - {name: channel-settlement, columns: {booked_on: booked_on, amount: amount, ...}}

Amounts are strings or integers, never floats.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Final, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from finplug.types import Amount, CountryCode, CurrencyCode
from finplug_reconciliation.formats.csv import CsvMapping
from finplug_reconciliation.matching import MatchRule

__all__ = ["DEFAULT_RULES", "AccountSettings", "ReconciliationSettings"]


def _zone(name: str) -> str:
    if name not in available_timezones():
        raise ValueError(f"expected an IANA time zone such as 'Europe/Berlin', got {name!r}")
    return name


def _pattern(text: str) -> str:
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc}): {text!r}") from None
    if compiled.groupindex.get("ref") != 1:
        raise ValueError(f"the first group must be named ref, as in '^(?P<ref>[^:]+):': {text!r}")
    return text


def _sign(value: int) -> int:
    if value not in (1, -1):
        raise ValueError(f"a sign is 1 or -1, got {value!r}")
    return value


class AccountSettings(BaseModel):
    """One reconciled account: a statement account against the ledger accounts it mirrors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    statement_account: str = Field(
        min_length=1, max_length=128, description="The account as statement files name it."
    )
    currency: CurrencyCode
    ledger_accounts: dict[str, Annotated[int, AfterValidator(_sign)]] = Field(
        min_length=1,
        description="Ledger account -> 1 or -1: how its postings show on the statement.",
    )
    reference: Literal["key", "payment"] = Field(
        default="payment",
        description="A posting's reference: its entry key, or the key up to its first ':'.",
    )
    reference_patterns: tuple[Annotated[str, AfterValidator(_pattern)], ...] = Field(
        default=(),
        description=(
            "Regular expressions over a posting's key, tried in order; the first that"
            " matches gives the reference (its first group, named ref); none: `reference`."
        ),
    )
    timezone: Annotated[str, AfterValidator(_zone)] = "UTC"
    calendar_country: CountryCode | None = None
    owner: str = Field(default="unassigned", min_length=1, max_length=128)
    write_off_limit: Amount = Field(
        default=Decimal(0),
        ge=0,
        description="Breaks up to this may be resolved by one person; above, two.",
    )
    adjustment_account: str | None = Field(
        default=None,
        description="The other side of adjusting entries (reconciliation:adjustments:<CUR>).",
    )

    @property
    def main_ledger_account(self) -> str:
        """The ledger account adjusting entries are booked on: the first listed."""
        return next(iter(self.ledger_accounts))

    @property
    def adjustments(self) -> str:
        """The other side of adjusting entries."""
        return self.adjustment_account or f"reconciliation:adjustments:{self.currency}"


#: The rules a tenant gets when it names none: an exact reference, then a fuzzy
#: one, both with the exact amount, within two business days.
DEFAULT_RULES: Final[tuple[MatchRule, ...]] = (
    MatchRule.model_validate(
        {
            "name": "reference",
            "priority": 10,
            "shape": "one_to_one",
            "reference": {"mode": "exact"},
            "date": {"window": 2},
        }
    ),
    MatchRule.model_validate(
        {
            "name": "fuzzy-reference",
            "priority": 20,
            "shape": "one_to_one",
            "reference": {"mode": "fuzzy", "threshold": 850},
            "date": {"window": 2},
        }
    ),
)


class ReconciliationSettings(BaseModel):
    """A tenant's reconciliation settings (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: dict[str, AccountSettings] = Field(default_factory=dict)
    rules: tuple[MatchRule, ...] = Field(default=DEFAULT_RULES, min_length=1)
    csv_formats: tuple[CsvMapping, ...] = Field(
        default=(), description="CSV layouts the tenant imports (each read as csv:<name>)."
    )

    @model_validator(mode="after")
    def _unique(self) -> ReconciliationSettings:
        seen: dict[tuple[str, str], str] = {}
        for name, account in self.accounts.items():
            key = (account.statement_account.replace(" ", "").upper(), account.currency)
            if key in seen:
                raise ValueError(
                    f"accounts {seen[key]!r} and {name!r} both read statement account"
                    f" {account.statement_account!r} in {account.currency}"
                )
            seen[key] = name
        for what, names in (
            ("rule", [rule.name for rule in self.rules]),
            ("csv format", [mapping.name for mapping in self.csv_formats]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what} names must be unique: {', '.join(twice)}")
        return self

    def account_for(self, statement_account: str, code: str) -> str | None:
        """The reconciled account reading ``statement_account`` in currency ``code``."""
        wanted = (statement_account.replace(" ", "").upper(), code)
        for name, account in self.accounts.items():
            if (account.statement_account.replace(" ", "").upper(), account.currency) == wanted:
                return name
        return None
