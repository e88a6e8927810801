"""FastSQL runs hot one-table statements on the DBAPI cursor with SQLAlchemy's own types."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from conftest import _postgres_url
from finplug import FastSQL, Platform, Tenant

metadata = MetaData()
things = Table(
    "fastsql_things",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(40), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("flag", Boolean, nullable=True),
    Column("digest", LargeBinary(32), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("n", Integer, nullable=False),
    UniqueConstraint("owner", "n", name="uq_fastsql_things_owner_n"),
)

AT = datetime(2026, 11, 24, 10, 30, 15, 123456, tzinfo=UTC)


def _row(ident: str, owner: str = "o1", n: int = 1, **extra: object) -> dict[str, object]:
    values: dict[str, object] = {
        "id": ident,
        "owner": owner,
        "amount": 10**15 + 7,
        "flag": True,
        "digest": bytes(range(32)),
        "at": AT,
        "n": n,
    }
    values.update(extra)
    return values


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@pytest.fixture
def tenants(database_url: str, unique_id: str) -> Iterator[tuple[Tenant, Tenant]]:
    with Platform([], environ={}, database_url=database_url) as platform:
        made = []
        for name in ("a", "b"):
            tid = f"fast-{name}-{unique_id}"
            platform.add_tenant({"tenant": tid})
            tenant = platform.tenant(tid)
            tenant.storage.create_all(metadata)
            made.append(tenant)
        try:
            yield made[0], made[1]
        finally:
            for tenant in made:
                tenant.storage.drop()


@pytest.fixture(params=["driver", "core"])
def fast_for(request: pytest.FixtureRequest) -> object:
    """FastSQL on the DBAPI cursor, and its Core fallback (for other drivers)."""

    def make(conn: object) -> FastSQL:
        found = FastSQL.of(conn)  # type: ignore[arg-type]
        if request.param == "driver":
            return found
        return FastSQL(found.dialect_name, "other-driver", found.schema, raw=False)

    return make


def test_values_round_trip_like_core(tenants: tuple[Tenant, Tenant], fast_for: object) -> None:
    tenant, _ = tenants
    with tenant.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        fast.insert(conn, things, _row("t1"))
        conn.execute(insert(things).values(_row("t2", n=2, flag=None, digest=None)))
    with tenant.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        mine = fast.select_one(conn, things, {"id": "t1"})
        theirs = fast.select_one(conn, things, {"id": "t2"})
        core = conn.execute(select(things).where(things.c.id == "t1")).one()
    assert mine is not None
    assert theirs is not None
    # What FastSQL wrote, Core reads back; what Core wrote, FastSQL reads back.
    assert (core.amount, core.flag, core.digest) == (10**15 + 7, True, bytes(range(32)))
    assert _utc(core.at) == AT
    assert (mine.amount, mine.flag, bytes(mine.digest)) == (10**15 + 7, True, bytes(range(32)))
    assert _utc(mine.at) == AT
    assert mine.at == core.at
    assert (theirs.flag, theirs.digest, theirs.n) == (None, None, 2)


def test_update_counts_rows_and_tests_tuples_with_in(
    tenants: tuple[Tenant, Tenant], fast_for: object
) -> None:
    tenant, _ = tenants
    with tenant.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        for i in range(1, 5):
            fast.insert(conn, things, _row(f"t{i}", n=i))
        assert fast.update(conn, things, {"amount": 5}, {"owner": "o1", "n": (2, 3)}) == 2
        assert fast.update(conn, things, {"flag": False}, {"id": "missing"}) == 0
        rows = fast.select(conn, things, {"owner": "o1"}, order_by=("n",))
    assert [(r.n, r.amount) for r in rows] == [(1, 10**15 + 7), (2, 5), (3, 5), (4, 10**15 + 7)]


def test_insert_new_skips_only_its_own_conflict(
    tenants: tuple[Tenant, Tenant], fast_for: object
) -> None:
    tenant, _ = tenants
    with tenant.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        assert fast.insert_new(conn, things, _row("t1"), ("id",)) is True
        assert fast.insert_new(conn, things, _row("t1", n=9, amount=1), ("id",)) is False
        assert fast.select_one(conn, things, {"id": "t1"}).amount == 10**15 + 7

    # Another unique key (owner, n) is not the conflict target: it still raises,
    # and the failed transaction leaves nothing behind.
    def clash() -> None:
        with tenant.storage.begin() as conn:
            fast = fast_for(conn)  # type: ignore[operator]
            fast.insert_new(conn, things, _row("t9", n=2), ("id",))
            fast.insert_new(conn, things, _row("t2", n=1), ("id",))

    with pytest.raises(IntegrityError):
        clash()
    with tenant.storage.begin() as conn:
        assert [r.id for r in fast_for(conn).select(conn, things, {"owner": "o1"})] == ["t1"]  # type: ignore[operator]


def test_driver_errors_are_sqlalchemy_errors(
    tenants: tuple[Tenant, Tenant], fast_for: object
) -> None:
    tenant, _ = tenants
    with tenant.storage.begin() as conn:
        fast_for(conn).insert(conn, things, _row("t1"))  # type: ignore[operator]
    with pytest.raises(IntegrityError), tenant.storage.begin() as conn:
        fast_for(conn).insert(conn, things, _row("t1", n=2))  # type: ignore[operator]


def test_increment_returns_the_new_value(tenants: tuple[Tenant, Tenant], fast_for: object) -> None:
    tenant, _ = tenants
    with tenant.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        fast.insert(conn, things, _row("t1", n=41))
        assert fast.increment(conn, things, "n", {"id": "t1"}) == 42
        assert fast.increment(conn, things, "n", {"id": "t1"}) == 43
        assert fast.increment(conn, things, "n", {"id": "missing"}) is None


counters = Table(
    "fastsql_counters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


def test_insert_returning_gives_the_new_rows_generated_id(
    tenants: tuple[Tenant, Tenant], fast_for: object
) -> None:
    tenant, _ = tenants
    with tenant.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        first = fast.insert_returning(conn, counters, {"at": AT}, "id")
        second = fast.insert_returning(conn, counters, {"at": AT}, "id")
        stamped = fast.insert_returning(conn, counters, {"at": AT}, "at")
        ids = [r.id for r in fast.select(conn, counters, {"at": AT}, order_by=("id",))]
    assert isinstance(first, int)
    assert second == first + 1
    assert ids == [first, second, second + 1]
    assert _utc(stamped) == AT  # the column through its type's result processor


def test_tenants_reach_only_their_own_tables(
    tenants: tuple[Tenant, Tenant], fast_for: object
) -> None:
    a, b = tenants
    with a.storage.begin() as conn:
        fast_for(conn).insert(conn, things, _row("only-a"))  # type: ignore[operator]
    with b.storage.begin() as conn:
        fast = fast_for(conn)  # type: ignore[operator]
        assert fast.select(conn, things, {"owner": "o1"}) == []
        assert fast.update(conn, things, {"amount": 1}, {"id": "only-a"}) == 0
        fast.insert(conn, things, _row("only-a"))  # no clash: another table
    with a.storage.begin() as conn:
        assert fast_for(conn).select_one(conn, things, {"id": "only-a"}).amount == 10**15 + 7  # type: ignore[operator]


def test_for_update_locks_the_row_on_postgresql(unique_id: str, fast_for: object) -> None:
    # SQLite needs no row lock: finplug's transactions hold the database write lock.
    url = _postgres_url()
    other = create_engine(url)
    with Platform([], environ={}, database_url=url) as platform:
        platform.add_tenant({"tenant": f"fast-lock-{unique_id}"})
        tenant = platform.tenant(f"fast-lock-{unique_id}")
        tenant.storage.create_all(metadata)
        table = f'"{tenant.storage.schema}".fastsql_things'
        try:
            with tenant.storage.begin() as conn:
                fast_for(conn).insert(conn, things, _row("t1"))  # type: ignore[operator]
            with tenant.storage.begin() as conn:
                fast = fast_for(conn)  # type: ignore[operator]
                assert fast.select_one(conn, things, {"id": "t1"}, for_update=True) is not None
                with other.connect() as probe, pytest.raises(OperationalError):
                    probe.execute(text(f"SELECT id FROM {table} WHERE id = 't1' FOR UPDATE NOWAIT"))
            with other.connect() as probe:  # released at commit
                probe.execute(text(f"SELECT id FROM {table} WHERE id = 't1' FOR UPDATE NOWAIT"))
        finally:
            tenant.storage.drop()
            other.dispose()


def test_runners_are_bounded_whatever_the_number_of_tenants() -> None:
    """Issue 9: caches keyed by tenant schema must not grow with every tenant."""
    from finplug._fastsql import RUNNERS_KEPT, _runner

    _runner.cache_clear()
    for i in range(RUNNERS_KEPT * 3):
        _runner("postgresql", "psycopg", f"t_tenant_{i}")
    assert _runner.cache_info().currsize == RUNNERS_KEPT
    # The most recent tenants are still served from the cache.
    recent = _runner("postgresql", "psycopg", f"t_tenant_{RUNNERS_KEPT * 3 - 1}")
    assert recent is _runner("postgresql", "psycopg", f"t_tenant_{RUNNERS_KEPT * 3 - 1}")
    assert recent.schema == f"t_tenant_{RUNNERS_KEPT * 3 - 1}"
