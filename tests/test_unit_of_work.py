"""The unit of work and the kernel's idempotency service, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from finplug import (
    Event,
    IdempotencyConflictError,
    IdempotencyInProgressError,
    LedgerError,
    Money,
    NoSettings,
    OverdraftError,
    Plugin,
    PluginMeta,
    UnitOfWorkError,
    request_digest,
)
from finplug.components import IdempotencyAPI
from finplug.testing import FinplugTenant

notes_metadata = MetaData()
notes = Table(
    "uow_notes",
    notes_metadata,
    Column("id", Integer, primary_key=True),
    Column("text", String(50), nullable=False),
)


class Notes(Plugin[NoSettings]):
    """A plugin with a table of its own, written through its unit of work."""

    meta = PluginMeta(name="notes", version="0")

    def add(self, text: str, *, commit: bool = True) -> None:
        """Insert a note, book 1.00 EUR and emit an event, in one unit of work."""
        with self.context.unit_of_work() as uow:
            uow.conn.execute(insert(notes).values(text=text))
            uow.ledger.transfer(f"note-{text}", "cash", "income", Money("1.00", "EUR"))
            uow.events.emit(Event(aggregate=f"note:{text}", type="note.added", payload={}))
            if commit:
                uow.commit()


class Clock:
    """A settable clock (UTC)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _tenant(finplug_tenant: FinplugTenant, **kw: Any) -> Any:
    tenant = finplug_tenant([Notes], **kw)
    tenant.storage.create_all(notes_metadata)
    tenant.ledger.open_account("cash", "asset", "EUR", overdraft="unlimited")
    tenant.ledger.open_account("income", "income", "EUR")
    return tenant


def _count(tenant: Any) -> int:
    with tenant.storage.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(notes)).scalar_one())


def test_commit_keeps_the_plugins_rows_the_entry_and_the_event_together(
    finplug_tenant: FinplugTenant,
) -> None:
    tenant = _tenant(finplug_tenant)
    plugin = tenant.plugin("notes")
    assert isinstance(plugin, Notes)

    plugin.add("kept")
    plugin.add("dropped", commit=False)

    assert _count(tenant) == 1
    assert tenant.ledger.balance("income").posted == Money("1.00", "EUR")
    assert [e.aggregate for e in tenant.events.events()] == ["note:kept"]


def test_an_exception_rolls_everything_back(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)

    def fail() -> None:
        with tenant.unit_of_work() as uow:
            uow.conn.execute(insert(notes).values(text="x"))
            uow.ledger.transfer("t-1", "cash", "income", Money("5.00", "EUR"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert _count(tenant) == 0
    assert tenant.ledger.balance("income").posted == Money("0.00", "EUR")


def test_a_refused_ledger_request_leaves_the_unit_usable(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    tenant.ledger.open_account("wallet", "liability", "EUR")
    with tenant.unit_of_work() as uow:
        uow.conn.execute(insert(notes).values(text="before"))
        with pytest.raises(OverdraftError):
            uow.ledger.transfer("t-over", "wallet", "income", Money("9.00", "EUR"))
        uow.ledger.transfer("t-ok", "cash", "income", Money("2.00", "EUR"))
        uow.commit()
    assert _count(tenant) == 1
    assert tenant.ledger.balance("income").posted == Money("2.00", "EUR")


def test_commit_is_explicit_and_once(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    uow = tenant.unit_of_work()
    with pytest.raises(UnitOfWorkError, match="not entered"):
        _ = uow.conn
    with uow:
        assert uow.active
        uow.commit()
        assert not uow.active
        with pytest.raises(UnitOfWorkError, match="committed"):
            uow.commit()
        with pytest.raises(UnitOfWorkError, match="committed"):
            _ = uow.ledger
    with pytest.raises(UnitOfWorkError, match="entered once"), uow:
        pass
    assert "committed" in repr(uow)


def test_before_and_after_commit_callbacks(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    seen: list[str] = []
    with tenant.unit_of_work() as uow:
        uow.before_commit(lambda: uow.conn.execute(insert(notes).values(text="late")))
        uow.before_commit(lambda: seen.append("before"))
        uow.after_commit(lambda: seen.append("after"))
        uow.commit()
    assert seen == ["before", "after"]
    assert _count(tenant) == 1

    # A before-commit failure rolls back; after-commit callbacks of a rolled-back unit never run.
    with tenant.unit_of_work() as uow:
        uow.conn.execute(insert(notes).values(text="lost"))
        uow.before_commit(lambda: (_ for _ in ()).throw(ValueError("refused")))
        uow.after_commit(lambda: seen.append("never"))
        with pytest.raises(ValueError, match="refused"):
            uow.commit()
        assert not uow.active
    assert _count(tenant) == 1
    assert seen == ["before", "after"]


def test_a_savepoint_that_fails_undoes_only_its_part(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    seen: list[str] = []
    with tenant.unit_of_work() as uow:
        uow.conn.execute(insert(notes).values(text="before"))
        uow.after_commit(lambda: seen.append("kept callback"))

        def part() -> None:
            with uow.savepoint():
                uow.conn.execute(insert(notes).values(text="inside"))
                uow.ledger.transfer("t-part", "cash", "income", Money("3.00", "EUR"))
                uow.events.emit(Event("note.lost", "note:lost"))
                uow.after_commit(lambda: seen.append("dropped callback"))
                raise RuntimeError("part failed")

        with pytest.raises(RuntimeError, match="part failed"):
            part()
        assert uow.active
        with uow.savepoint():  # a part that succeeds stays
            uow.ledger.transfer("t-ok", "cash", "income", Money("1.00", "EUR"))
        uow.commit()
    assert _count(tenant) == 1
    assert tenant.ledger.balance("income").posted == Money("1.00", "EUR")
    assert [e.type for e in tenant.events.events()] == []
    assert seen == ["kept callback"]
    assert tenant.ledger.verify().ok


def test_a_plugin_cannot_open_a_unit_of_work_during_set_up(
    finplug_tenant: FinplugTenant,
) -> None:
    from finplug import AssemblyError

    class Eager(Plugin[NoSettings]):
        meta = PluginMeta(name="eager", version="0")

        def _setup(self) -> None:
            self.context.unit_of_work()

    with pytest.raises(AssemblyError, match="unit of work during set-up"):
        finplug_tenant([Eager])


# ---------------------------------------------------------------- idempotency


def _digest(amount: str) -> bytes:
    return request_digest("charge", {"amount": amount})


def test_first_result_stored_and_replayed(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    with tenant.unit_of_work("shop") as uow:
        assert uow.idempotency.claim("k-1", "charge", _digest("5"), resource="order-1") is None
        uow.idempotency.finish("k-1", '{"charged": "5.00"}')
        uow.commit()
    with tenant.unit_of_work("shop") as uow:
        stored = uow.idempotency.claim("k-1", "charge", _digest("5"))
        assert stored is not None
        assert stored.done
        assert stored.response == '{"charged": "5.00"}'
        assert stored.resource == "order-1"
    # Another scope has keys of its own.
    with tenant.unit_of_work("other") as uow:
        assert uow.idempotency.claim("k-1", "charge", _digest("7")) is None


def test_same_key_other_request_is_a_conflict(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    with tenant.unit_of_work("shop") as uow:
        uow.idempotency.claim("k-2", "charge", _digest("5"))
        uow.idempotency.finish("k-2", "ok")
        uow.commit()
    with tenant.unit_of_work("shop") as uow:
        with pytest.raises(IdempotencyConflictError, match="first used for charge") as info:
            uow.idempotency.claim("k-2", "charge", _digest("6"))
        assert info.value.key == "k-2"
        with pytest.raises(IdempotencyConflictError):
            uow.idempotency.claim("k-2", "refund", _digest("5"))


def test_a_rolled_back_claim_frees_the_key(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)

    def fail() -> None:
        with tenant.unit_of_work("shop") as uow:
            uow.idempotency.claim("k-3", "charge", _digest("5"))
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        fail()
    with tenant.unit_of_work("shop") as uow:
        assert uow.idempotency.claim("k-3", "charge", _digest("9")) is None


def test_in_progress_is_answered_clearly(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    service: IdempotencyAPI = tenant.component("idempotency")
    with tenant.unit_of_work("shop") as uow:
        uow.idempotency.claim("k-4", "charge", _digest("5"), resource="order-4")
        uow.commit()
    with tenant.unit_of_work("shop") as uow:
        stored = uow.idempotency.claim("k-4", "charge", _digest("5"))
        assert stored is not None
        assert stored.state == "started"
        assert not stored.done
        assert [k.key for k in uow.idempotency.started("order-4")] == ["k-4"]
    with pytest.raises(IdempotencyInProgressError, match="still in progress"):
        service.wait("shop", "k-4", "charge", _digest("5"), timeout=0.05)
    with pytest.raises(IdempotencyConflictError):
        service.wait("shop", "k-4", "charge", _digest("6"), timeout=0.05)
    with pytest.raises(LookupError):
        service.wait("shop", "never", "charge", _digest("5"), timeout=0.05)


def test_a_waiting_duplicate_gets_the_first_result(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    service: IdempotencyAPI = tenant.component("idempotency")
    with tenant.unit_of_work("shop") as uow:
        uow.idempotency.claim("k-5", "charge", _digest("5"))
        uow.commit()

    def finish_later() -> None:
        with tenant.unit_of_work("shop") as uow:
            uow.idempotency.finish("k-5", "first")
            uow.commit()

    timer = threading.Timer(0.2, finish_later)
    timer.start()
    try:
        stored = service.wait("shop", "k-5", "charge", _digest("5"), timeout=10)
    finally:
        timer.join()
    assert stored.response == "first"


def test_concurrent_duplicates_have_one_effect(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    start = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        start.wait()
        with tenant.unit_of_work("shop") as uow:
            claimed = uow.idempotency.claim("k-6", "charge", _digest("5"))
            if claimed is None:
                uow.conn.execute(insert(notes).values(text=f"effect-{i}"))
                uow.idempotency.finish("k-6", f"done by {i}")
                uow.commit()
                result = "did it"
            else:
                result = "saw it"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("did it") == 1, outcomes
    assert _count(tenant) == 1


def test_keys_expire_after_the_retention(finplug_tenant: FinplugTenant) -> None:
    clock = Clock()
    tenant = _tenant(finplug_tenant, settings={"idempotency": {"retention_hours": 2}}, clock=clock)
    service: IdempotencyAPI = tenant.component("idempotency")
    assert service.retention == timedelta(hours=2)
    with tenant.unit_of_work("shop") as uow:
        uow.idempotency.claim("old", "charge", _digest("5"))
        uow.idempotency.finish("old", "r")
        uow.idempotency.claim("running", "charge", _digest("5"))
        uow.commit()

    clock.now += timedelta(hours=1, minutes=59)
    assert service.purge() == 0
    clock.now += timedelta(minutes=1)
    # Expired, not yet purged: a reuse is a new request, whatever it asks.
    with tenant.unit_of_work("shop") as uow:
        assert uow.idempotency.claim("old", "refund", _digest("1")) is None
        uow.idempotency.finish("old", "new")
        uow.commit()
    clock.now += timedelta(hours=3)
    # The finished key goes; the one still in progress stays, whatever its age.
    assert service.purge() == 1
    assert service.get("shop", "old") is None
    running = service.get("shop", "running")
    assert running is not None
    assert running.state == "started"


def test_retention_is_validated_where_it_is_configured(finplug_tenant: FinplugTenant) -> None:
    from finplug import ConfigError

    with pytest.raises(ConfigError, match="retention_hours"):
        finplug_tenant([Notes], settings={"idempotency": {"retention_hours": 0}})


def test_the_purge_job_is_registered(finplug_tenant: FinplugTenant) -> None:
    from finplug._jobs import tenant_jobs

    tenant = _tenant(finplug_tenant)
    jobs, failures = tenant_jobs(tenant)
    assert failures == []
    purge = [j for j in jobs if j.name == "idempotency.purge"]
    assert len(purge) == 1
    assert purge[0].every == timedelta(hours=1)
    assert purge[0].function() == "0 expired key(s) deleted"


def test_bad_keys_and_arguments_are_refused(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    with tenant.unit_of_work("shop") as uow:
        with pytest.raises(ValueError, match="at most 255"):
            uow.idempotency.claim("k" * 256, "charge", _digest("5"))
        with pytest.raises(ValueError, match="non-empty"):
            uow.idempotency.claim("", "charge", _digest("5"))
    with pytest.raises(ValueError, match="'op'"):
        request_digest("charge", {"op": "x"})
    with pytest.raises(TypeError, match="plain JSON"):
        request_digest("charge", {"amount": float("nan")})
    assert request_digest("a", {"x": 1, "y": 2}) == request_digest("a", {"y": 2, "x": 1})


def test_ledger_conflicts_are_the_kernels_conflict_class(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    tenant.ledger.transfer("t-1", "cash", "income", Money("1.00", "EUR"))
    with pytest.raises(IdempotencyConflictError) as info:
        tenant.ledger.transfer("t-1", "cash", "income", Money("2.00", "EUR"))
    assert isinstance(info.value, LedgerError)


@pytest.mark.parametrize("commit", [True, False])
def test_a_large_write_leaves_the_checkpoint_to_the_background_and_restores_the_bound(
    finplug_tenant: FinplugTenant, commit: bool
) -> None:
    tenant = _tenant(finplug_tenant)
    sqlite = tenant.storage.engine.dialect.name == "sqlite"

    def bound(uow: Any) -> int:
        raw = uow.conn.connection.dbapi_connection
        return int(raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0])

    with tenant.unit_of_work() as uow:
        before = bound(uow) if sqlite else None
        uow.large_write()
        uow.large_write()  # twice: the first bound is the one restored
        if sqlite:
            assert bound(uow) == 0
            assert before is not None
            assert before > 0
        uow.conn.execute(insert(notes).values(text="bulk"))
        if commit:
            uow.commit()
    with tenant.unit_of_work() as uow:
        assert uow.conn.execute(select(func.count()).select_from(notes)).scalar_one() == (
            1 if commit else 0
        )
        if sqlite:
            assert bound(uow) == before
    with pytest.raises(UnitOfWorkError):
        uow.large_write()  # closed
