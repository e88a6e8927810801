"""Usage events in: checked whole, stored once each, in bulk.

An ingestion is all or nothing: every event is checked first (its metric is
in the catalog, its subscription exists, its metric's field is there, exact,
within the metric's decimals, and not negative but for a weighted sum's
increments), and one bad event refuses the batch with a
:class:`~finplug.sockets.billing.BillingInputError` naming it
(``events[3].properties.gb``), nothing written. Then the events are written
in one statement per chunk that skips ids already stored
(``ON CONFLICT (id) DO NOTHING``: a replayed event changes nothing, even
when two workers send it at once). An event whose instant falls before the
end of its subscription's last invoiced period is *late*: it is stored and
billed on the subscription's next invoice.

The value of an event is stored as an integer of ``10^-decimals`` of its
metric's unit (``12.345`` GB with ``decimals: 3`` is ``12345``), so sums
are exact in SQL; the instant as microseconds since the epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, select

from finplug import MoneyError, UnitOfWork, decimal_from_string, driver_cursor
from finplug.sockets.billing import BillingInputError, IngestReport, UsageEvent
from finplug_billing._catalog import MetricSettings
from finplug_billing._prices import Catalog
from finplug_billing._schema import customers, events, subscriptions
from finplug_billing.periods import Period, bounds

__all__ = ["MAX_BATCH", "Usage", "micros"]

#: The most events one ingestion takes.
MAX_BATCH: Final = 1_000_000
#: Rows per insert statement.
_CHUNK: Final = 50_000
#: Ids per ``IN`` list.
_IN: Final = 900
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: One stored event: id, subscription, metric, at (µs), value, key.
Row = tuple[str, str, str, int, int | None, str | None]


def micros(moment: datetime) -> int:
    """``moment`` (aware) as microseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _exact(value: object, where: str) -> Decimal:
    if isinstance(value, bool | float):
        raise BillingInputError(
            f"expected an integer, a Decimal or a decimal string, got {type(value).__name__}"
            " (floats are not exact)",
            field=where,
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BillingInputError(f"expected a finite number, got {value}", field=where)
        return value
    if isinstance(value, str):
        try:
            return decimal_from_string(value)
        except MoneyError:
            raise BillingInputError(
                "expected a decimal number such as '12.5'", field=where
            ) from None
    raise BillingInputError(
        f"expected a number or a decimal string, got {type(value).__name__}", field=where
    )


def _value(
    metric: MetricSettings, properties: Mapping[str, Any], where: str
) -> tuple[int | None, str | None]:
    """The stored (value, key) of an event of ``metric``."""
    if metric.field is None:  # count
        return None, None
    field = f"{where}.properties.{metric.field}"
    if metric.field not in properties:
        raise BillingInputError(f"missing: the metric reads {metric.field!r}", field=field)
    raw = properties[metric.field]
    if metric.aggregation == "unique_count":
        if isinstance(raw, bool) or not isinstance(raw, str | int) or isinstance(raw, float):
            raise BillingInputError("expected text or an integer (the key counted)", field=field)
        key = str(raw)
        if not 0 < len(key) <= 255:
            raise BillingInputError("expected 1 to 255 characters", field=field)
        return None, key
    number = _exact(raw, field)
    if number < 0 and metric.aggregation != "weighted_sum":
        raise BillingInputError(f"expected 0 or more, got {number}", field=field)
    scaled = number.scaleb(metric.decimals)
    if scaled != scaled.to_integral_value():
        raise BillingInputError(
            f"{number} has more than the metric's {metric.decimals} decimals", field=field
        )
    as_int = int(scaled)
    if abs(as_int) >= 2**63:
        raise BillingInputError(f"{number} is too large", field=field)
    return as_int, None


class Usage:
    """A tenant's usage events."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._catalog = catalog
        self._uow = unit_of_work
        self._clock = clock

    def check(self, batch: Sequence[UsageEvent]) -> list[Row]:
        """The rows of ``batch``, each checked; :class:`BillingInputError` at the first bad one."""
        if isinstance(batch, UsageEvent) or not isinstance(batch, Sequence):
            raise BillingInputError("expected a sequence of UsageEvent", field="events")
        if len(batch) > MAX_BATCH:
            raise BillingInputError(f"at most {MAX_BATCH} events a call", field="events")
        catalog = self._catalog()
        metrics: dict[str, MetricSettings] = {}
        rows: list[Row] = []
        for n, event in enumerate(batch):
            where = f"events[{n}]"
            if not isinstance(event, UsageEvent):
                raise BillingInputError(
                    f"expected a UsageEvent, got {type(event).__name__}", field=where
                )
            if not isinstance(event.id, str) or not 0 < len(event.id) <= 128:
                raise BillingInputError("expected 1 to 128 characters", field=f"{where}.id")
            if not isinstance(event.subscription_id, str) or not event.subscription_id:
                raise BillingInputError(
                    "expected a subscription id", field=f"{where}.subscription_id"
                )
            metric = metrics.get(event.metric)
            if metric is None:
                metric = metrics[event.metric] = catalog.metric(
                    event.metric, field=f"{where}.metric"
                )
            at = event.at
            if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
                raise BillingInputError(
                    "expected an aware datetime (with its time zone)", field=f"{where}.at"
                )
            if not isinstance(event.properties, Mapping):
                raise BillingInputError("expected a mapping", field=f"{where}.properties")
            value, key = _value(metric, event.properties, where)
            rows.append((event.id, event.subscription_id, event.metric, micros(at), value, key))
        return rows

    def ingest(self, batch: Sequence[UsageEvent]) -> IngestReport:
        """Store the events not stored yet (see the module docstring)."""
        rows = self.check(batch)
        if not rows:
            return IngestReport(accepted=0, duplicates=0)
        unique: dict[str, Row] = {}
        for n, row in enumerate(rows):
            before = unique.setdefault(row[0], row)
            if before != row:
                raise BillingInputError(
                    f"event id {row[0]!r} is given twice with different contents",
                    field=f"events[{n}].id",
                )
        with self._uow() as uow:
            conn = uow.conn
            billed = self._billed_from(conn, rows)
            if len(unique) >= 10_000:
                uow.large_write()
            late_rows = {r[0] for r in unique.values() if r[3] < billed.get(r[1], -(2**63))}
            stored_before = _stored(conn, list(late_rows)) if late_rows else set()
            inserted = _insert(conn, list(unique.values()))
            uow.commit()
        late = len(late_rows - stored_before)
        return IngestReport(
            accepted=inserted, duplicates=len(rows) - inserted, late=min(late, inserted)
        )

    @staticmethod
    def _billed_from(conn: Connection, rows: Sequence[Row]) -> dict[str, int]:
        """Each subscription's instant before which events are late (µs); unknown ones refused."""
        wanted = sorted({r[1] for r in rows})
        found: dict[str, tuple[date | None, str]] = {}
        s, c = subscriptions.c, customers.c
        for start in range(0, len(wanted), _IN):
            chunk = wanted[start : start + _IN]
            query = (
                select(s.id, s.billed_through, c.timezone)
                .join(customers, customers.c.id == s.customer_id)
                .where(s.id.in_(chunk))
            )
            found.update((ident, (through, zone)) for ident, through, zone in conn.execute(query))
        for n, row in enumerate(rows):
            if row[1] not in found:
                raise BillingInputError(
                    f"no subscription {row[1]!r}", field=f"events[{n}].subscription_id"
                )
        return {
            ident: micros(bounds(Period(through, through + timedelta(days=1)), zone)[0])
            for ident, (through, zone) in found.items()
            if through is not None
        }


def _stored(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _IN):
        chunk = ids[start : start + _IN]
        found.update(conn.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars())
    return found


def _insert(conn: Connection, rows: list[Row]) -> int:
    """Insert ``rows`` skipping stored ids; how many were new."""
    dialect = conn.dialect
    columns = ("id", "subscription_id", "metric", "at", "value", "key")
    prep = dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    table = prep.quote(events.name)
    if schema:
        table = f"{prep.quote_schema(schema)}.{table}"
    listed = ", ".join(prep.quote(c) for c in columns)
    inserted = 0
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        sql = (
            f"INSERT INTO {table} ({listed}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        )
        with driver_cursor(conn) as cursor:
            for start in range(0, len(rows), _CHUNK):
                cursor.executemany(sql, rows[start : start + _CHUNK])
                inserted += cursor.rowcount
        return inserted
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        sql = (
            f"INSERT INTO {table} ({listed}) SELECT * FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::text[])"
            " ON CONFLICT (id) DO NOTHING"
        )
        with driver_cursor(conn) as cursor:
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                cursor.execute(sql, [list(col) for col in zip(*chunk, strict=True)])
                inserted += cursor.rowcount
        return inserted
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect_insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    for row in rows:  # other drivers: one statement a row
        stmt = (
            dialect_insert(events)
            .values(dict(zip(columns, row, strict=True)))
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(events.c.id)
        )
        inserted += conn.execute(stmt).first() is not None
    return inserted
