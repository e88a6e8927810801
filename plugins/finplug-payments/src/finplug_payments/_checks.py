"""Argument checks: what a caller passes, refused before anything is read or written.

Each check raises the socket's :class:`~finplug.sockets.payments.PaymentValidationError`
naming the argument, and shows the caller's value cut to a few dozen
characters (:func:`shown`). The limits of ids that become part of ledger
account codes live with the codes, in :mod:`finplug_payments._booking`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from finplug import Money
from finplug.sockets.payments import PaymentMethod, PaymentValidationError

__all__ = [
    "MAX_ID",
    "MAX_KEY",
    "MAX_PAYMENT_ID",
    "MAX_TEXT",
    "check_amount",
    "check_attributes",
    "check_bool",
    "check_method",
    "check_text",
    "shown",
]

#: The longest description, attribute value or transition reason.
MAX_TEXT: Final = 500
#: The longest id that is only stored (an authorization's ``customer_id``).
MAX_ID: Final = 128
#: The longest idempotency key.
MAX_KEY: Final = 200
#: The longest payment id a call accepts (ours are 30 characters).
MAX_PAYMENT_ID: Final = 40
#: How many characters of a caller's value an error message repeats at most.
_SHOWN: Final = 40


def shown(value: object) -> str:
    """``repr(value)``, cut to a few dozen characters for an error message."""
    text = repr(value)
    if len(text) <= _SHOWN:
        return text
    size = len(value) if isinstance(value, str) else len(text)
    return f"{text[: _SHOWN - 1]}… ({size} characters)"


def check_text(
    field: str, value: object, max_length: int, *, empty: bool = False, why: str = ""
) -> str:
    """``value`` as a string of at most ``max_length`` characters, without NUL.

    ``empty`` allows ``""``; ``why`` is added to the length error (the
    account code an id becomes part of).
    """
    if not isinstance(value, str):
        raise PaymentValidationError(field, f"expected a string, got {type(value).__name__}")
    if not value and not empty:
        raise PaymentValidationError(field, "must not be empty")
    if len(value) > max_length:
        raise PaymentValidationError(
            field, f"at most {max_length} characters{why}, got {len(value)}"
        )
    if "\x00" in value:
        raise PaymentValidationError(field, "must not contain NUL")
    return value


def check_attributes(attributes: object) -> dict[str, str]:
    """The attributes as a plain dict of strings, or a validation error naming them."""
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise PaymentValidationError(
            "attributes",
            f"expected a mapping of strings to strings, got {type(attributes).__name__}",
        )
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(name, str):
            raise PaymentValidationError(
                "attributes",
                f"keys must be strings, got {type(name).__name__} key {shown(name)}",
            )
        check_text(f"attributes[{shown(name)}]", value, MAX_TEXT, empty=True)
        checked[name] = value
    return checked


def check_amount(field: str, amount: object, expected_currency: str | None = None) -> Money:
    """A positive :class:`~finplug.Money`, in ``expected_currency`` when one is given."""
    if not isinstance(amount, Money):
        raise PaymentValidationError(field, f"expected finplug.Money, got {type(amount).__name__}")
    if amount.amount <= 0:
        raise PaymentValidationError(field, f"must be positive, got {amount}")
    if expected_currency is not None and amount.currency.code != expected_currency:
        raise PaymentValidationError(
            field, f"currency {amount.currency.code} differs from the payment's {expected_currency}"
        )
    return amount


def check_method(method: object) -> PaymentMethod:
    """The :class:`~finplug.sockets.payments.PaymentMethod` named by ``method``."""
    try:
        return PaymentMethod(cast("str", method))
    except ValueError:
        allowed = ", ".join(m.value for m in PaymentMethod)
        raise PaymentValidationError(
            "method", f"expected one of {allowed}, got {method!r}"
        ) from None


def check_bool(field: str, value: object) -> bool:
    """``value`` if it is a real ``bool`` (not ``1`` or ``"yes"``)."""
    if not isinstance(value, bool):
        raise PaymentValidationError(field, f"expected a bool, got {type(value).__name__}")
    return value
