"""reconciliation 0001: statements, their lines, runs, matches, breaks and the audit trail.

Frozen: later changes go in new revisions, never here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    """Create the ``recon_*`` tables."""
    op.create_table(
        "recon_statements",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("statement_account", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("format", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("number", sa.String(128), nullable=False),
        sa.Column("opened_on", sa.Date, nullable=True),
        sa.Column("closed_on", sa.Date, nullable=True),
        sa.Column("opening", sa.BigInteger, nullable=True),
        sa.Column("closing", sa.BigInteger, nullable=True),
        sa.Column("problems", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_recon_statements_account", "recon_statements", ["account", "imported_at"])
    op.create_table(
        "recon_statement_lines",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("statement_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("line_index", sa.Integer, nullable=False),
        sa.Column("booked_on", sa.Date, nullable=False),
        sa.Column("value_date", sa.Date, nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(255), nullable=False),
        sa.Column("bank_reference", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("counterparty", sa.String(255), nullable=False),
        sa.Column("counterparty_account", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("source_line", sa.Integer, nullable=True),
    )
    op.create_index("ix_recon_lines_account_day", "recon_statement_lines", ["account", "booked_on"])
    op.create_index(
        "ix_recon_lines_statement", "recon_statement_lines", ["statement_id", "line_index"]
    )
    op.create_table(
        "recon_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("start", sa.Date, nullable=False),
        sa.Column("end", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("statement_items", sa.Integer, nullable=False),
        sa.Column("ledger_items", sa.Integer, nullable=False),
        sa.Column("matched_statement_items", sa.Integer, nullable=False),
        sa.Column("matched_ledger_items", sa.Integer, nullable=False),
        sa.Column("matches", sa.Integer, nullable=False),
        sa.Column("breaks", sa.Text, nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_recon_runs_account", "recon_runs", ["account", "created_at"])
    op.create_table(
        "recon_matches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("statement_total", sa.BigInteger, nullable=False),
        sa.Column("ledger_total", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
    )
    op.create_index("ix_recon_matches_run", "recon_matches", ["run_id"])
    op.create_table(
        "recon_matched_items",
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("match_id", sa.String(40), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("side", "item", name="pk_recon_matched_items"),
    )
    op.create_index("ix_recon_matched_items_match", "recon_matched_items", ["match_id"])
    op.create_index("ix_recon_matched_items_day", "recon_matched_items", ["account", "side", "on"])
    op.create_table(
        "recon_breaks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("statement_total", sa.BigInteger, nullable=False),
        sa.Column("ledger_total", sa.BigInteger, nullable=False),
        sa.Column("found_on", sa.Date, nullable=False),
        sa.Column("last_on", sa.Date, nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("entry_seq", sa.BigInteger, nullable=True),
        sa.Column("match_id", sa.String(40), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_recon_breaks_account_status", "recon_breaks", ["account", "status", "found_on"]
    )
    op.create_table(
        "recon_break_items",
        sa.Column("break_id", sa.String(40), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint("break_id", "side", "item", name="pk_recon_break_items"),
    )
    op.create_index("ix_recon_break_items_item", "recon_break_items", ["side", "item"])
    op.create_table(
        "recon_locks",
        sa.Column("account", sa.String(128), primary_key=True),
        sa.Column("run_id", sa.String(40), nullable=False),
    )
    op.create_table(
        "recon_audit",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_recon_audit_subject", "recon_audit", ["subject", "seq"])
