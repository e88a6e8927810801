"""Pydantic field types for plugin settings that handle money safely.

Use them in a plugin's settings model so that every tenant config is checked
the same way::

    class Settings(BaseModel):
        currency: CurrencyCode
        rate: Rate
        limit: Amount

* :data:`Amount`, :data:`PositiveAmount` and :data:`Rate` are
  :class:`~decimal.Decimal` values that refuse floats: in YAML and TOML ``0.1``
  is a binary float, so amounts are written as strings (``"0.10"``) or
  integers. At most 38 significant digits. A rate is within [0, 1].
* :data:`CurrencyCode` is an ISO 4217 code known to finplug's currency data,
  normalised to upper case.
* :data:`CountryCode` is an ISO 3166-1 alpha-2 code, upper case.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from finplug._errors import MoneyError
from finplug._money import MAX_DIGITS, currency

__all__ = ["Amount", "CountryCode", "CurrencyCode", "PositiveAmount", "Rate"]

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _exact_decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a decimal number, got a boolean")
    if isinstance(value, float):
        raise ValueError(
            "expected a decimal string such as '10.50' or an integer;"
            " floats are not exact, so quote the number"
        )
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError("expected a decimal number such as '10.50'") from None
        if not parsed.is_finite():
            raise ValueError("expected a finite decimal number")
        return parsed
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("expected a finite decimal number")
    if len(value.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"expected at most {MAX_DIGITS} significant digits")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("expected an amount greater than zero")
    return value


def _rate(value: Decimal) -> Decimal:
    if not Decimal(0) <= value <= Decimal(1):
        raise ValueError("expected a rate between 0 and 1 (0.029 for 2.9%)")
    return value


def _currency_code(value: str) -> str:
    try:
        return currency(value).code
    except MoneyError:
        # Config errors never echo the input: it may be a secret pasted in the wrong place.
        raise ValueError("unknown currency: expected an ISO 4217 code such as 'EUR'") from None


def _country_code(value: str) -> str:
    upper = value.strip().upper()
    if not _COUNTRY.match(upper):
        raise ValueError("expected an ISO 3166-1 alpha-2 country code such as 'DE'")
    return upper


#: An exact decimal amount (no floats accepted).
Amount = Annotated[Decimal, BeforeValidator(_exact_decimal), AfterValidator(_finite)]

#: An exact decimal amount greater than zero (no floats accepted).
PositiveAmount = Annotated[
    Decimal, BeforeValidator(_exact_decimal), AfterValidator(_finite), AfterValidator(_positive)
]

#: An exact decimal rate within [0, 1] (no floats accepted).
Rate = Annotated[
    Decimal, BeforeValidator(_exact_decimal), AfterValidator(_finite), AfterValidator(_rate)
]

#: An ISO 4217 currency code, upper case.
CurrencyCode = Annotated[str, AfterValidator(_currency_code)]

#: An ISO 3166-1 alpha-2 country code, upper case.
CountryCode = Annotated[str, AfterValidator(_country_code)]
