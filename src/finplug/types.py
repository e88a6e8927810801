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

For credentials (API keys, passwords, webhook secrets):

* :data:`Credential` is a :class:`~pydantic.SecretStr` that must come from a
  ``${VAR}`` or ``${file:PATH}`` reference: a key written into the config
  file itself is refused. Code that builds settings directly (tests, a host
  holding its own secrets) passes a :class:`~pydantic.SecretStr`, which is
  accepted as it is.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, SecretStr

from finplug._errors import MoneyError
from finplug._money import MAX_DIGITS, currency, decimal_from_string
from finplug._sources import ResolvedSecret

__all__ = ["Amount", "CountryCode", "Credential", "CurrencyCode", "PositiveAmount", "Rate"]

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
            # Money's one grammar: ASCII digits only, no separators, no NaN.
            return decimal_from_string(value)
        except MoneyError:
            # Never echo the input: it may be a secret pasted in the wrong place.
            raise ValueError(
                "expected a decimal number written with ASCII digits, such as '10.50'"
            ) from None
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


def _credential_source(value: Any) -> Any:
    if isinstance(value, ResolvedSecret):
        return SecretStr(str(value))
    if isinstance(value, str):
        # Never echo it: this is exactly the secret that must not be in the file.
        raise ValueError(
            "a credential must not be written into the config; put it in an environment"
            ' variable or a file and write "${VAR}" or "${file:PATH}" here'
        )
    return value  # a SecretStr built in code; anything else fails SecretStr's own check


def _credential_given(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError(
            "expected a credential, got an empty value (is the variable or file empty?)"
        )
    return value


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

#: A secret (:class:`~pydantic.SecretStr`, not blank) that a config can only give as a
#: ``${VAR}`` or ``${file:PATH}`` reference; code may pass a ``SecretStr`` directly.
Credential = Annotated[
    SecretStr, BeforeValidator(_credential_source), AfterValidator(_credential_given)
]
