"""Small text helpers shared by error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["SHOWN_CHARS", "cut", "did_you_mean", "shorten"]

#: How many characters of a caller's value an error message repeats at most.
SHOWN_CHARS = 40


def shorten(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long the original was.

    Error messages repeat what the caller passed so the caller can find it, but
    never all of it: a 100,000-digit string must not become a 100 KB message.

    >>> shorten("abc")
    "'abc'"
    >>> shorten("x" * 100, limit=10)
    "'xxxxxxxx… (100 characters)"
    """
    if isinstance(value, int) and value.bit_length() > 10_000:
        # repr() of an int above sys.get_int_max_str_digits raises; never print it.
        return f"<an int of about {int(value.bit_length() * 0.30103)} digits>"
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str | bytes) else len(text)
    return f"{text[: limit - 1]}… ({size} characters)"


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` itself when short, else its first ``limit - 1`` characters and its length.

    >>> cut("y" * 50, limit=5)
    'yyyy… (50 characters)'
    """
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text)} characters)"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` to ``name``, or ``""``.

    >>> did_you_mean("finplug_asess_risk", ["finplug_assess_risk", "finplug_on_event"])
    "; did you mean 'finplug_assess_risk'?"
    """
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""
