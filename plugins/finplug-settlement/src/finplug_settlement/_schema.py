"""The settlement plugin's tables (its migrations create them; see ``migrations/``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "batch_entries",
    "batches",
    "chargebacks",
    "cursors",
    "metadata",
    "payouts",
    "refund_splits",
    "reserves",
    "splits",
]

metadata = MetaData()

#: One row per split capture: the rule, each party's share and what refunds took back.
splits = Table(
    "settlement_splits",
    metadata,
    Column("payment_id", String(40), primary_key=True),
    Column("merchant_id", String(128), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("captured", BigInteger, nullable=False),
    # JSON: [[party, role, account, minor units], ...] in the rule's order.
    Column("parts", Text, nullable=False),
    # JSON: {party: minor units refunded so far}.
    Column("refunded", Text, nullable=False),
    Column("entry_seq", BigInteger, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_settlement_splits_merchant", "merchant_id", "at"),
)

#: One row per refund split back: which booking, each party's part, the entry.
refund_splits = Table(
    "settlement_refund_splits",
    metadata,
    Column("ref", String(200), primary_key=True),
    Column("payment_id", String(40), nullable=False),
    # JSON: {party: minor units given back}.
    Column("parts", Text, nullable=False),
    Column("entry_seq", BigInteger, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

#: One row per settlement batch: a payee account's due movements netted for a value date.
batches = Table(
    "settlement_batches",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("payee", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("value_date", Date, nullable=False),
    Column("movements", BigInteger, nullable=False),
    Column("carried_in", BigInteger, nullable=False),
    Column("reserve_held", BigInteger, nullable=False),
    Column("reserve_released", BigInteger, nullable=False),
    Column("net", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("entry_seq", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_settlement_batches_payee", "payee", "value_date"),
)

#: Every ledger posting a batch settles, once: (entry, account) is the key.
batch_entries = Table(
    "settlement_batch_entries",
    metadata,
    Column("entry_seq", BigInteger, nullable=False),
    Column("account", String(128), nullable=False),
    Column("batch_id", String(200), nullable=False),
    # movement (a capture, split, refund, fee, adjustment), reserve (held or
    # released) or settlement (the batch's own move to payouts in transit).
    Column("role", String(12), nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("entry_seq", "account", name="pk_settlement_batch_entries"),
    Index("ix_settlement_batch_entries_batch", "batch_id"),
)

#: Per payee account: every posting up to ``through_seq`` is in a batch.
cursors = Table(
    "settlement_cursors",
    metadata,
    Column("account", String(128), primary_key=True),
    Column("through_seq", BigInteger, nullable=False),
)

#: Rolling reserves: held from a batch, released into a later one.
reserves = Table(
    "settlement_reserves",
    metadata,
    Column("batch_id", String(200), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("release_on", Date, nullable=False),
    Column("released_in", String(200), nullable=True),
    Index("ix_settlement_reserves_due", "account", "release_on"),
)

#: One payout per batch (its id is the batch's), and where it stands.
payouts = Table(
    "settlement_payouts",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("account", String(128), nullable=False),
    Column("payee", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("status", String(12), nullable=False),
    Column("failure_code", String(64), nullable=False),
    Column("attempts", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_settlement_payouts_status", "status", "updated_at"),
)

#: Chargebacks booked, by the caller's key: what each payment lost to them.
chargebacks = Table(
    "settlement_chargebacks",
    metadata,
    Column("key", String(120), primary_key=True),
    Column("payment_id", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("entry_seq", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_settlement_chargebacks_payment", "payment_id"),
)
