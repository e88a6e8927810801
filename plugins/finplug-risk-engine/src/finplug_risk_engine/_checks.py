"""The one check of a text argument the engine's services take (actors, reasons, keys)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["text"]


def text(
    field: str,
    value: object,
    limit: int,
    error: Callable[[str, str], Exception],
    *,
    empty: bool = False,
) -> str:
    """``value`` if it is a string of at most ``limit`` characters without NUL.

    Blank is refused unless ``empty``. ``error(field, message)`` builds the
    component's own error, so each service raises its own class.
    """
    if not isinstance(value, str):
        raise error(field, f"expected a string, got {type(value).__name__}")
    if not value.strip() and not empty:
        raise error(field, "must not be empty")
    if len(value) > limit:
        raise error(field, f"at most {limit} characters, got {len(value)}")
    if "\x00" in value:
        raise error(field, "must not contain NUL")
    return value
