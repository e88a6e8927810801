"""One helper: run in the caller's transaction when given one, else in a new one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection

__all__ = ["joined"]


@contextmanager
def joined(
    begin: Callable[[], AbstractContextManager[Connection]], conn: Connection | None
) -> Iterator[Connection]:
    """``conn`` itself, or a new transaction from ``begin`` (committed on success)."""
    if conn is not None:
        yield conn
        return
    with begin() as own:
        yield own
