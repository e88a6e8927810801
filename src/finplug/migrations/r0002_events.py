"""Kernel revision 0002: create the event outbox.

Calls :func:`finplug._events.install_events`, which creates the tables
declared in :mod:`finplug._events` (``events_outbox``, ``events_counter``,
``events_dispatcher``) and their single rows. As with revision 0001, this
creates the outbox *as that module declares it when it runs*: freeze this
revision into explicit DDL before changing those tables, and make the change
in a new revision.
"""

from __future__ import annotations

from alembic import op

from finplug._events import install_events

revision = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    """Create the event outbox in the tenant's schema (PostgreSQL) or file (SQLite)."""
    install_events(op.get_bind())
