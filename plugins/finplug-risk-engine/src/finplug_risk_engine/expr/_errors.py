"""The expression language's errors: one for compile time, one for evaluation."""

from __future__ import annotations

from finplug import FinplugError

__all__ = ["EvaluationError", "ExpressionError"]


class ExpressionError(FinplugError):
    """An expression that does not compile: located and saying what was expected.

    Raised by :func:`~finplug_risk_engine.expr.compile_expression` and
    :func:`~finplug_risk_engine.expr.compile_unary`, never during evaluation.
    ``str(error)`` reads ``node 'Fees' row 'r1': expected ')' at offset 10 in
    'a + (b * 2' (found end of text)``. Attributes: ``message`` (what was
    expected, or what is wrong), ``found`` (the token met instead, or ``""``),
    ``text``, ``offset`` and ``where``.
    """

    def __init__(
        self, message: str, *, text: str, offset: int, where: str = "", found: str = ""
    ) -> None:
        self.message = message
        self.found = found
        self.text = text
        self.offset = offset
        self.where = where
        prefix = f"{where}: " if where else ""
        suffix = f" (found {found})" if found else ""
        super().__init__(f"{prefix}{message} at offset {offset} in {text!r}{suffix}")


class EvaluationError(FinplugError):
    """A compiled expression met values it cannot combine (``1 + 'a'``, ``'a' < 1``).

    zen-engine fails the evaluation in the same cases; the message names the
    operation and the types, and ``text`` is the expression's source.
    """

    def __init__(self, message: str, *, text: str = "") -> None:
        self.message = message
        self.text = text
        super().__init__(f"{message} in {text!r}" if text else message)
