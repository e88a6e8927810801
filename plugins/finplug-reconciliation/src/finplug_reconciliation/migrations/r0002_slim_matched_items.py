"""reconciliation 0002: ``recon_matched_items`` is its primary key alone; matches list their items.

A run writes one ``recon_matched_items`` row per item taken, a million at
a time, and each index on that table cost about as much as the table
itself. It keeps only ``(side, item) -> match_id`` under its primary key
(``WITHOUT ROWID`` on SQLite, which rebuilds the table); ``account``,
``on`` and the two secondary indexes go. ``recon_matches`` gains
``statement_items`` and ``ledger_items`` (see ``_schema.encode_items``),
filled here from the rows they replace, for undoing and showing a match,
and loses its index on ``run_id``: a run's matches are numbered from its
id, so the run alone finds them.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"


def _encode(ids: list[str]) -> str:
    # As _schema.encode_items was when this revision was written.
    return ids[0] if len(ids) == 1 and not ids[0].startswith("[") else json.dumps(ids)


def upgrade() -> None:
    """Add the item columns to ``recon_matches``, fill them, and slim ``recon_matched_items``."""
    conn = op.get_bind()
    op.add_column(
        "recon_matches", sa.Column("statement_items", sa.Text, nullable=False, server_default="")
    )
    op.add_column(
        "recon_matches", sa.Column("ledger_items", sa.Text, nullable=False, server_default="")
    )
    found: dict[str, dict[str, list[str]]] = {}
    rows = conn.execute(
        sa.text("SELECT match_id, side, item FROM recon_matched_items ORDER BY match_id, item")
    )
    for match_id, side, item in rows:
        found.setdefault(match_id, {"statement": [], "ledger": []})[side].append(item)
    # An undone match's items went to the audit; its columns stay empty.
    if found:
        conn.execute(
            sa.text(
                "UPDATE recon_matches SET statement_items = :s, ledger_items = :l WHERE id = :id"
            ),
            [
                {"id": ident, "s": _encode(sides["statement"]), "l": _encode(sides["ledger"])}
                for ident, sides in found.items()
            ],
        )
    # A run's matches are found from the run (their ids are numbered): no index on run_id.
    op.drop_index("ix_recon_matches_run", table_name="recon_matches")
    op.drop_index("ix_recon_matched_items_match", table_name="recon_matched_items")
    op.drop_index("ix_recon_matched_items_day", table_name="recon_matched_items")
    if conn.dialect.name != "sqlite":
        op.drop_column("recon_matched_items", "account")
        op.drop_column("recon_matched_items", "on")
        return
    op.rename_table("recon_matched_items", "recon_matched_items_0001")
    op.create_table(
        "recon_matched_items",
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("match_id", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("side", "item", name="pk_recon_matched_items"),
        sqlite_with_rowid=False,
    )
    conn.execute(
        sa.text(
            "INSERT INTO recon_matched_items (side, item, match_id)"
            " SELECT side, item, match_id FROM recon_matched_items_0001"
        )
    )
    op.drop_table("recon_matched_items_0001")
