"""Located errors of the JDM graph engine."""

from __future__ import annotations

from dataclasses import dataclass

from finplug import FinplugError

__all__ = ["JdmError", "JdmEvaluationError", "Location"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a JDM file a problem sits; unknown parts are ``None``.

    ``str(location)`` reads ``file:line: node 'Fees' (id) row 'r1' column
    'Amount' (id)``, leaving out what is unknown.
    """

    source: str | None = None
    """The file (or the name the caller gave the text), if any."""
    line: int | None = None
    """1-based line, for text that is not valid JSON."""
    column: int | None = None
    """1-based character column on ``line``, for text that is not valid JSON."""
    node_id: str | None = None
    """The node's ``id``."""
    node_name: str | None = None
    """The node's ``name``."""
    row_id: str | None = None
    """The decision-table row's ``_id``."""
    column_id: str | None = None
    """The decision-table column's ``id`` (or an expression's ``id``)."""
    column_name: str | None = None
    """The decision-table column's ``name`` (or an expression's ``key``)."""
    edge_id: str | None = None
    """The edge's ``id``, for edge problems."""

    def describe(self) -> str:
        """The location without the file part: ``node 'Fees' (n1) row 'r1' ...``."""
        parts: list[str] = []
        if self.node_id is not None or self.node_name is not None:
            parts.append(f"node {self.node_name!r} ({self.node_id})")
        if self.row_id is not None:
            parts.append(f"row {self.row_id!r}")
        if self.column_id is not None or self.column_name is not None:
            parts.append(f"column {self.column_name!r} ({self.column_id})")
        if self.edge_id is not None:
            parts.append(f"edge {self.edge_id!r}")
        return " ".join(parts)

    def __str__(self) -> str:
        head = ""
        if self.source is not None:
            head = self.source
            if self.line is not None:
                head += f":{self.line}"
                if self.column is not None:
                    head += f":{self.column}"
        inner = self.describe()
        if head and inner:
            return f"{head}: {inner}"
        return head or inner


class JdmError(FinplugError):
    """A JDM graph is malformed or uses something this engine does not support.

    Raised when a graph is loaded (never later for anything a load can see):
    carries the :class:`Location` and says what was expected there.
    """

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.location: Location = location if location is not None else Location()
        """Where the problem is."""
        self.message: str = message
        """What is wrong and what was expected, without the location."""
        where = str(self.location)
        super().__init__(f"{where}: {message}" if where else message)


class JdmEvaluationError(JdmError):
    """An expression node failed while a decision was being evaluated.

    Decision-table cells and switch conditions never raise: as in zen, a cell
    that fails simply does not match.
    """
