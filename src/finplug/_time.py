"""Times in finplug: timezone-aware and in UTC, whatever the database gives back.

SQLite stores a datetime's wall-clock digits without its offset and returns
it naive; every time finplug stores is UTC, so a naive time read back is
UTC. Times a caller passes in are checked by the component that takes them
(a naive one is ambiguous there, and refused).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "utc_now"]


def utc_now() -> datetime:
    """The current time, aware, in UTC: the default clock."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC: an aware time converted, a naive one (as read back) taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
