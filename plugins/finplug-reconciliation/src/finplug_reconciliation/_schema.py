"""The reconciliation plugin's tables (created by its migrations, read and written here).

Amounts are integers in minor units; ids are text. An item is a statement
line (``<statement id>:<index>``) or a ledger posting (``<seq>:<account>``);
``recon_matched_items`` holds each item taken (matched by a run or by hand,
accepted, or resolved) at most once (its primary key), so no item is ever in
two live matches, whatever runs at the same time. It holds nothing else: a
run writes a row per item, a million at a time, so the table is its primary
key alone (``WITHOUT ROWID`` on SQLite), and a match's items are also on its
row in ``recon_matches`` (:func:`encode_items`), where undoing or showing a
match reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "audit",
    "break_items",
    "breaks",
    "decode_items",
    "encode_items",
    "locks",
    "matched_items",
    "matches",
    "metadata",
    "runs",
    "statement_lines",
    "statements",
]

metadata: Final = MetaData()


def encode_items(ids: Sequence[str]) -> str:
    """One side's item ids as ``recon_matches`` stores them: a lone id as it is, else JSON.

    No item id starts with ``[`` (a statement line's starts with its
    statement's hex fingerprint, a posting's with its seq), so a lone id,
    the usual case, is written without an encoding step.
    """
    if len(ids) == 1 and not ids[0].startswith("["):
        return ids[0]
    return json.dumps(list(ids))


def decode_items(text: str) -> tuple[str, ...]:
    """The item ids :func:`encode_items` stored in ``text`` (none in an empty one)."""
    if not text:
        return ()
    if text.startswith("["):
        return tuple(json.loads(text))
    return (text,)


#: One row per imported statement; ``id`` is its content fingerprint.
statements = Table(
    "recon_statements",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account", String(128), nullable=False),  # the reconciled account's name
    Column("statement_account", String(128), nullable=False),  # as the file names it
    Column("currency", String(3), nullable=False),
    Column("format", String(64), nullable=False),
    Column("source", String(255), nullable=False),
    Column("number", String(128), nullable=False),
    Column("opened_on", Date, nullable=True),
    Column("closed_on", Date, nullable=True),
    Column("opening", BigInteger, nullable=True),
    Column("closing", BigInteger, nullable=True),
    Column("problems", Text, nullable=False),  # JSON list of strings
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Index("ix_recon_statements_account", "account", "imported_at"),
)

#: The lines of imported statements.
statement_lines = Table(
    "recon_statement_lines",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("statement_id", String(64), nullable=False),
    Column("account", String(128), nullable=False),
    Column("line_index", Integer, nullable=False),
    Column("booked_on", Date, nullable=False),
    Column("value_date", Date, nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(255), nullable=False),
    Column("bank_reference", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("counterparty", String(255), nullable=False),
    Column("counterparty_account", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("source_line", Integer, nullable=True),
    Index("ix_recon_lines_account_day", "account", "booked_on"),
    Index("ix_recon_lines_statement", "statement_id", "line_index"),
)

#: Match runs.
runs = Table(
    "recon_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("start", Date, nullable=False),
    Column("end", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("statement_items", Integer, nullable=False),
    Column("ledger_items", Integer, nullable=False),
    Column("matched_statement_items", Integer, nullable=False),
    Column("matched_ledger_items", Integer, nullable=False),
    Column("matches", Integer, nullable=False),
    Column("breaks", Text, nullable=False),  # JSON [[class, count], ...]
    Column("rules", Text, nullable=False),  # JSON of the rules it ran with
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_recon_runs_account", "account", "created_at"),
)

#: Matches, live and undone.
matches = Table(
    "recon_matches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("run_id", String(40), nullable=True),
    Column("rule", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("statement_total", BigInteger, nullable=False),
    Column("ledger_total", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("live", Boolean, nullable=False),
    Column("statement_items", Text, nullable=False),  # encode_items
    Column("ledger_items", Text, nullable=False),  # encode_items
)

#: The items of live matches: each at most once (an undone match's items go to the audit).
matched_items = Table(
    "recon_matched_items",
    metadata,
    Column("side", String(10), nullable=False),
    Column("item", String(200), nullable=False),
    Column("match_id", String(40), nullable=False),
    PrimaryKeyConstraint("side", "item", name="pk_recon_matched_items"),
    sqlite_with_rowid=False,
)

#: Breaks; ``id`` is derived from the account, the class and the items.
breaks = Table(
    "recon_breaks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("status", String(12), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("statement_total", BigInteger, nullable=False),
    Column("ledger_total", BigInteger, nullable=False),
    Column("found_on", Date, nullable=False),
    Column("last_on", Date, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("run_id", String(40), nullable=False),
    Column("entry_seq", BigInteger, nullable=True),
    Column("match_id", String(40), nullable=True),
    Column("note", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_recon_breaks_account_status", "account", "status", "found_on"),
)

#: The items of every break.
break_items = Table(
    "recon_break_items",
    metadata,
    Column("break_id", String(40), nullable=False),
    Column("side", String(10), nullable=False),
    Column("item", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("on", Date, nullable=False),
    PrimaryKeyConstraint("break_id", "side", "item", name="pk_recon_break_items"),
    Index("ix_recon_break_items_item", "side", "item"),
)

#: One row per reconciled account: a run locks it, so runs of one account never overlap.
locks = Table(
    "recon_locks",
    metadata,
    Column("account", String(128), primary_key=True),
    Column("run_id", String(40), nullable=False),
)

#: Everything done, in order.
audit = Table(
    "recon_audit",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_recon_audit_subject", "subject", "seq"),
)
