"""Domain events: an outbox written in the business transaction, delivered after commit.

Also a script: ``python tests/test_events.py crash-worker URL TENANT HOLD_AT`` is the
worker process the crash test SIGKILLs.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert

from conftest import _postgres_url
from finplug import (
    DispatchReport,
    EntryRequest,
    Event,
    EventError,
    HookCallError,
    Leg,
    Money,
    NoSettings,
    OverdraftError,
    Platform,
    Plugin,
    PluginMeta,
    Tenant,
    hookimpl,
)
from finplug._events import install_events
from finplug.components import EventsAPI
from finplug.ledger.schema import install_ledger
from finplug.testing import MakeTenant
from sample_plugins import FeeEcho

EUR = Money("10.00", "EUR")

# A business table of the tests' own, written in the same transaction as the events.
business = MetaData()
orders = Table("orders", business, Column("id", String(50), primary_key=True))


class Recorder(Plugin[NoSettings]):
    """A listener that keeps every event it is given."""

    meta = PluginMeta(name="recorder", version="0")

    def _setup(self) -> None:
        self.received: list[Event] = []

    @hookimpl
    def finplug_on_event(self, event: Event) -> None:
        self.received.append(event)


class Gate(Plugin[NoSettings]):
    """A listener that runs before the recorder and refuses the dedupe keys it is told to."""

    meta = PluginMeta(name="gate", version="0", before=frozenset({"recorder"}))

    def _setup(self) -> None:
        self.refuse: set[str] = set()
        self.seen: list[str] = []
        self.on_call: Callable[[Event], None] | None = None

    @hookimpl
    def finplug_on_event(self, event: Event) -> None:
        self.seen.append(event.dedupe_key)
        if self.on_call is not None:
            self.on_call(event)
        if event.dedupe_key in self.refuse:
            raise RuntimeError(f"refused {event.dedupe_key}")


def events_of(tenant: Tenant) -> EventsAPI:
    component = tenant.component("events")
    assert isinstance(component, EventsAPI)
    return component


def recorder(tenant: Tenant) -> Recorder:
    plugin = tenant.plugin("recorder")
    assert isinstance(plugin, Recorder)
    return plugin


def gate(tenant: Tenant) -> Gate:
    plugin = tenant.plugin("gate")
    assert isinstance(plugin, Gate)
    return plugin


def install(tenant: Tenant) -> None:
    tenant.storage.ensure_schema()
    with tenant.storage.begin() as conn:
        install_ledger(conn)
        install_events(conn)
        install_events(conn)  # idempotent
        business.create_all(conn)
    tenant.ledger.open_account("cash", "asset", "EUR")
    tenant.ledger.open_account("revenue", "income", "EUR")


@contextmanager
def tenant_on(url: str, tenant_id: str, listeners: bool = True) -> Iterator[Tenant]:
    plugins: list[type[Plugin[NoSettings]]] = [Recorder, Gate] if listeners else []
    with Platform(plugins, environ={}, database_url=url) as platform:
        enabled: dict[str, object] = {"recorder": {}, "gate": {}} if listeners else {}
        platform.add_tenant({"tenant": tenant_id, "plugins": enabled})
        tenant = platform.tenant(tenant_id)
        try:
            install(tenant)
            yield tenant
        finally:
            tenant.storage.drop()


@pytest.fixture
def tenant(database_url: str, unique_id: str) -> Iterator[Tenant]:
    with tenant_on(database_url, f"ev-{unique_id}") as tenant:
        yield tenant


def emit_one(tenant: Tenant, event: Event) -> Event:
    with tenant.storage.begin() as conn:
        return events_of(tenant).emit(conn, event)


def keys(events: list[Event] | tuple[Event, ...]) -> list[str]:
    return [e.dedupe_key for e in events]


# ---------------------------------------------------------------- emitting and delivering


def test_committed_event_is_delivered_once_after_commit(tenant: Tenant) -> None:
    events = events_of(tenant)
    captured = Event("payment.captured", "payment:pay_1", {"amount": "12.50", "tags": ["a"]})
    with tenant.storage.begin() as conn:
        conn.execute(insert(orders).values(id="pay_1"))
        stored = events.emit(conn, captured)
        assert stored.id == 1
        if tenant.storage.dialect == "postgresql":  # SQLite readers wait for the writer
            assert events.dispatch().delivered == ()  # not committed: invisible
    assert stored.dedupe_key == captured.dedupe_key
    assert stored.occurred_at is not None
    assert stored.occurred_at.utcoffset() is not None
    assert events.events() == [stored]
    assert events.undelivered() == [stored]

    report = events.dispatch()
    assert report == DispatchReport(delivered=(stored,))
    assert recorder(tenant).received == [stored]
    assert recorder(tenant).received[0].payload == {"amount": "12.50", "tags": ["a"]}
    assert events.undelivered() == []
    assert events.dispatch() == DispatchReport()  # delivered once
    assert recorder(tenant).received == [stored]


def test_rolled_back_events_never_appear(tenant: Tenant) -> None:
    events = events_of(tenant)

    def write_then_fail() -> None:
        with tenant.storage.begin() as conn:
            conn.execute(insert(orders).values(id="o-1"))
            assert events.emit(conn, Event("order.placed", "order:o-1")).id == 1
            raise RuntimeError("business failed")

    with pytest.raises(RuntimeError, match="business failed"):
        write_then_fail()
    assert events.events() == []
    assert events.dispatch() == DispatchReport()
    assert recorder(tenant).received == []
    # The rolled-back position is reused: positions have no gaps.
    assert emit_one(tenant, Event("order.placed", "order:o-2")).id == 1


def test_duplicate_dedupe_key_is_stored_once(tenant: Tenant) -> None:
    events = events_of(tenant)
    first = emit_one(tenant, Event("refund.issued", "refund:r1", {"n": 1}, dedupe_key="r1"))
    # Same key again, even with another payload: the stored event comes back, no error.
    again = emit_one(tenant, Event("refund.issued", "refund:r1", {"n": 2}, dedupe_key="r1"))
    assert again == first
    with tenant.storage.begin() as conn:
        twice = [events.emit(conn, Event("fee.charged", "fee:f1", {"eur": "1.00"}))]
        twice.append(events.emit(conn, Event("fee.charged", "fee:f1", {"eur": "1.00"})))
    assert twice[0] == twice[1]
    assert twice[0].id == 2
    # The derived key covers type, aggregate and payload.
    assert Event("fee.charged", "fee:f1", {"eur": "2.00"}).dedupe_key != twice[0].dedupe_key
    assert keys(events.events()) == ["r1", twice[0].dedupe_key]
    assert events.events()[0].payload == {"n": 1}
    assert events.dispatch().delivered == (first, twice[0])
    assert events.dispatch().delivered == ()
    assert emit_one(tenant, Event("refund.issued", "refund:r1", dedupe_key="r1")) == first
    assert events.undelivered() == []  # a duplicate after delivery is not delivered again


def test_events_are_delivered_in_order_per_aggregate(tenant: Tenant) -> None:
    events = events_of(tenant)
    emitted = []
    for step in range(6):
        aggregate = f"payment:p{step % 2}"
        emitted.append(emit_one(tenant, Event("payment.step", aggregate, {"step": step})))
    assert [e.id for e in emitted] == [1, 2, 3, 4, 5, 6]
    first = events.dispatch(limit=4)
    assert first.delivered == tuple(emitted[:4])
    assert events.dispatch(limit=4).delivered == tuple(emitted[4:])
    assert recorder(tenant).received == emitted
    assert events.events(aggregate="payment:p1") == emitted[1::2]
    assert events.events(after=4) == emitted[4:]
    with pytest.raises(ValueError, match="at least 1"):
        events.dispatch(limit=0)


def test_listener_failure_redelivers_and_holds_back_its_aggregate(tenant: Tenant) -> None:
    events = events_of(tenant)
    plan = [("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3"), ("b", "b2")]
    stored = {
        key: emit_one(tenant, Event("thing.happened", f"agg:{agg}", dedupe_key=key))
        for agg, key in plan
    }
    gate(tenant).refuse.add("a2")

    report = events.dispatch()
    assert keys(report.delivered) == ["a1", "b1", "b2"]  # a3 waits for a2; b goes on
    [failure] = report.failed
    assert failure.event == stored["a2"]
    assert failure.attempts == 1
    # The hook's failure policy names tenant, plugin and hook, with the listener's error chained.
    assert isinstance(failure.error, HookCallError)
    assert (failure.error.tenant, failure.error.plugin) == (tenant.id, "gate")
    assert failure.error.hook == "finplug_on_event"
    assert isinstance(failure.error.__cause__, RuntimeError)
    assert keys(events.undelivered()) == ["a2", "a3"]

    again = events.dispatch()
    assert again.delivered == ()
    assert [(f.event.dedupe_key, f.attempts) for f in again.failed] == [("a2", 2)]

    gate(tenant).refuse.clear()
    assert keys(events.dispatch().delivered) == ["a2", "a3"]
    assert keys(recorder(tenant).received) == ["a1", "b1", "b2", "a2", "a3"]
    assert gate(tenant).seen.count("a2") == 3  # at least once: offered until accepted
    assert events.undelivered() == []


class Crash(BaseException):
    """Stands in for the process dying between a listener call and the delivery record."""


def test_crash_between_listener_and_record_redelivers(tenant: Tenant) -> None:
    events = events_of(tenant)
    for key in ("k1", "k2", "k3"):
        emit_one(tenant, Event("thing.happened", f"agg:{key}", dedupe_key=key))

    def crash_on_k2(event: Event) -> None:
        if event.dedupe_key == "k2" and gate(tenant).seen.count("k2") == 1:
            raise Crash

    gate(tenant).on_call = crash_on_k2
    with pytest.raises(Crash):
        events.dispatch()
    assert keys(events.undelivered()) == ["k2", "k3"]  # k1 was recorded before the crash
    report = events.dispatch()  # the lock went with the crashed dispatch
    assert keys(report.delivered) == ["k2", "k3"]
    assert gate(tenant).seen == ["k1", "k2", "k2", "k3"]  # k2 delivered twice: dedupe by key
    assert keys(recorder(tenant).received) == ["k1", "k2", "k3"]


def test_without_listeners_events_are_recorded_delivered(database_url: str, unique_id: str) -> None:
    with tenant_on(database_url, f"ev-bare-{unique_id}", listeners=False) as tenant:
        events = events_of(tenant)
        stored = emit_one(tenant, Event("order.placed", "order:o-1"))
        assert events.dispatch().delivered == (stored,)
        assert events.undelivered() == []


def test_event_values_are_checked() -> None:
    event = Event("payment.captured", "payment:p1", {"amount": "1.00", "n": [1, None, True]})
    assert event.dedupe_key.startswith("sha256:")
    assert event == Event(
        "payment.captured", "payment:p1", {"n": [1, None, True], "amount": "1.00"}
    )
    assert event.id is None
    assert event.occurred_at is None
    assert event in {event}  # hashable despite its dict payload
    payload = {"list": [1]}
    copied = Event("t", "a", payload)
    payload["list"].append(2)
    assert copied.payload == {"list": [1]}
    bad: list[tuple[Callable[[], Event], str]] = [
        (lambda: Event("", "a"), "type must be a string"),
        (lambda: Event("t", "x" * 201), "aggregate must be a string of 1 to 200"),
        (lambda: Event("t", "a", {"amount": Decimal("1")}), r"Decimal.*amounts as strings"),
        (lambda: Event("t", "a", {"amount": EUR}), "pass amounts as strings"),
        (lambda: Event("t", "a", {1: "x"}), "non-string key 1"),  # type: ignore[dict-item]
        (lambda: Event("t", "a", {"x": float("nan")}), "no NaN"),
        (lambda: Event("t", "a", {"x": {"y": object()}}), r"payload\.x\.y is a object"),
        (lambda: Event("t", "a", occurred_at=datetime(2024, 1, 1)), "timezone-aware"),
        (lambda: Event("t", "a", dedupe_key="k" * 201), "dedupe_key must be"),
    ]
    for make, message in bad:
        with pytest.raises(EventError, match=message):
            make()


# ---------------------------------------------------------------- ledger and events together


def test_events_and_ledger_postings_commit_or_vanish_together(tenant: Tenant) -> None:
    events, ledger = events_of(tenant), tenant.ledger
    with tenant.storage.begin() as conn:
        ledger.bind(conn).transfer("sale-1", "cash", "revenue", EUR)
        events.emit(conn, Event("sale.booked", "sale:1", {"amount": "10.00"}, dedupe_key="s1"))

    def both_then_fail() -> None:
        with tenant.storage.begin() as conn:
            ledger.bind(conn).transfer("sale-2", "cash", "revenue", EUR)
            events.emit(conn, Event("sale.booked", "sale:2", dedupe_key="s2"))
            raise RuntimeError("after both")

    def event_then_refused_posting() -> None:
        with tenant.storage.begin() as conn:
            events.emit(conn, Event("refund.booked", "sale:1", dedupe_key="r1"))
            ledger.bind(conn).transfer("refund-1", "revenue", "cash", Money("50.00", "EUR"))

    with pytest.raises(RuntimeError, match="after both"):
        both_then_fail()
    with pytest.raises(OverdraftError):
        event_then_refused_posting()
    assert [e.key for e in ledger.entries()] == ["sale-1"]
    assert ledger.verify().ok
    assert keys(events.dispatch().delivered) == ["s1"]
    assert keys(recorder(tenant).received) == ["s1"]


# ---------------------------------------------------------------- concurrency


def test_one_dispatcher_at_a_time_and_listeners_may_write(tenant: Tenant) -> None:
    events = events_of(tenant)
    first = emit_one(tenant, Event("order.placed", "order:o-1", dedupe_key="o1"))
    entered, release = threading.Event(), threading.Event()

    def slow_listener(event: Event) -> None:
        if event.dedupe_key == "o1":
            entered.set()
            assert release.wait(10)
            # A listener may write to the tenant's storage while its dispatcher holds the lock.
            with tenant.storage.begin() as conn:
                conn.execute(insert(orders).values(id="o-1"))
                events.emit(conn, Event("order.confirmed", "order:o-1", dedupe_key="o1-ok"))

    gate(tenant).on_call = slow_listener
    reports: list[DispatchReport] = []
    worker = threading.Thread(target=lambda: reports.append(events.dispatch()))
    worker.start()
    try:
        assert entered.wait(10)
        assert events.dispatch() == DispatchReport(busy=True)
    finally:
        release.set()
        worker.join(20)
    [report] = reports
    assert keys(report.delivered) == ["o1", "o1-ok"]  # the follow-up, in the same dispatch
    assert report.delivered[0] == first
    assert events.dispatch() == DispatchReport()


def test_concurrent_writers_and_dispatchers_deliver_every_commit_once_in_order(
    tenant: Tenant,
) -> None:
    events = events_of(tenant)
    committed: list[str] = []
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        try:
            for n in range(12):
                key = f"w{worker}-{n}"
                try:
                    with tenant.storage.begin() as conn:
                        conn.execute(insert(orders).values(id=key))
                        time.sleep(rng.random() / 200)
                        events.emit(conn, Event("order.placed", f"order:w{worker}", dedupe_key=key))
                        time.sleep(rng.random() / 200)
                        if n % 5 == 4:
                            raise LookupError("rolled back")
                except LookupError:
                    continue
                committed.append(key)
        except BaseException as exc:
            errors.append(exc)

    def dispatcher() -> None:
        try:
            while not writers_done.is_set():
                events.dispatch(limit=7)
                time.sleep(0.002)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    dispatchers = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in writers + dispatchers:
        thread.start()
    for thread in writers:
        thread.join(60)
    writers_done.set()
    for thread in dispatchers:
        thread.join(60)
    while events.dispatch().delivered:
        pass
    assert errors == []
    received = recorder(tenant).received
    assert sorted(keys(received)) == sorted(committed)  # each committed event exactly once
    assert [e.id for e in received] == list(range(1, len(committed) + 1))  # gap-free, in order
    for worker in range(4):  # per aggregate: in the order its transactions committed
        mine = [k for k in keys(received) if k.startswith(f"w{worker}-")]
        assert mine == [k for k in committed if k.startswith(f"w{worker}-")]


class Tx:
    """A business transaction in its own thread: insert an order, emit its event, commit.

    Each step waits for the test's signal, so the test decides who does what when.
    """

    def __init__(self, tenant: Tenant, name: str, *, emit_now: bool = True) -> None:
        self.started, self.emitted = threading.Event(), threading.Event()
        self.may_emit, self.may_commit = threading.Event(), threading.Event()
        if emit_now:
            self.may_emit.set()
        self.errors: list[BaseException] = []
        self._tenant, self._name = tenant, name
        self._thread = threading.Thread(target=self._run)
        self._thread.start()
        assert self.started.wait(10)

    def _run(self) -> None:
        try:
            with self._tenant.storage.begin() as conn:
                conn.execute(insert(orders).values(id=self._name))
                self.started.set()
                assert self.may_emit.wait(10)
                event = Event("order.placed", f"order:{self._name}", dedupe_key=self._name)
                events_of(self._tenant).emit(conn, event)
                self.emitted.set()
                assert self.may_commit.wait(10)
        except BaseException as exc:
            self.errors.append(exc)

    def commit(self) -> None:
        self.may_emit.set()
        self.may_commit.set()
        self._thread.join(10)
        assert self.errors == []


def test_postgres_out_of_order_commits_lose_no_event(unique_id: str) -> None:
    """The trap: transactions commit in another order than they started or wrote."""
    with tenant_on(_postgres_url(), f"ev-trap-{unique_id}") as tenant:
        events = events_of(tenant)

        # 1. "early" starts first and writes; "late" starts, emits and commits and is
        #    dispatched; only then does "early" emit and commit.
        early = Tx(tenant, "early", emit_now=False)
        late = Tx(tenant, "late")
        assert late.emitted.wait(10)
        late.commit()
        assert keys(events.dispatch().delivered) == ["late"]
        early.commit()
        assert keys(events.dispatch().delivered) == ["early"]

        # 2. "first" emits and stays open; "second" emits too: its emit waits for "first",
        #    so it cannot commit ahead of an event with a smaller position.
        first = Tx(tenant, "first")
        assert first.emitted.wait(10)
        second = Tx(tenant, "second")
        assert not second.emitted.wait(0.3)  # blocked on the outbox counter row
        assert events.dispatch() == DispatchReport()  # nothing committed, nothing skipped
        first.may_commit.set()
        assert second.emitted.wait(10)
        assert keys(events.dispatch().delivered) == ["first"]
        first.commit()
        second.commit()
        assert keys(events.dispatch().delivered) == ["second"]

        received = recorder(tenant).received
        assert keys(received) == ["late", "early", "first", "second"]
        assert [e.id for e in received] == [1, 2, 3, 4]  # positions follow commit order


# ---------------------------------------------------------------- crash (acceptance)

HOLD_AT = 8
ENTRIES_PER_BATCH = 3


def _crash_worker(url: str, tenant_id: str, hold_at: int) -> None:
    """Post batches, one event each, in one transaction per batch; hang inside batch hold_at."""
    with Platform([], environ={}, database_url=url) as platform:
        platform.add_tenant({"tenant": tenant_id})
        tenant = platform.tenant(tenant_id)
        events = events_of(tenant)
        for batch in itertools.count(1):
            with tenant.storage.begin() as conn:
                requests = [
                    EntryRequest(
                        f"b{batch}-{i}", (Leg.debit("cash", EUR), Leg.credit("revenue", EUR))
                    )
                    for i in range(ENTRIES_PER_BATCH)
                ]
                tenant.ledger.bind(conn).post_batch(requests)
                events.emit(
                    conn,
                    Event("batch.posted", f"batch:{batch}", {"batch": batch}, f"batch-{batch}"),
                )
                if batch == hold_at:
                    print(f"holding {batch}", flush=True)
                    time.sleep(120)  # SIGKILLed here, inside the transaction
            print(f"committed {batch}", flush=True)


def test_sigkilled_worker_leaves_whole_batches_and_exactly_their_events(
    tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    stderr = tmp_path / "worker.err"
    with stderr.open("w") as err:
        worker = subprocess.Popen(
            [sys.executable, __file__, "crash-worker", database_url, tenant.id, str(HOLD_AT)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        watchdog = threading.Timer(60, worker.kill)  # never hang the suite
        watchdog.start()
        try:
            assert worker.stdout is not None
            lines = []
            for line in worker.stdout:
                lines.append(line.strip())
                if line.startswith("holding"):
                    break
            assert lines[-1:] == [f"holding {HOLD_AT}"], stderr.read_text()
            worker.send_signal(signal.SIGKILL)
        finally:
            watchdog.cancel()
            worker.kill()
            worker.wait(10)
            assert worker.stdout is not None
            worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL

    ledger, events = tenant.ledger, events_of(tenant)
    assert ledger.verify().ok
    per_batch: dict[int, int] = {}
    for entry in ledger.entries():
        batch = int(entry.key[1:].split("-")[0])
        per_batch[batch] = per_batch.get(batch, 0) + 1
    assert set(per_batch.values()) == {ENTRIES_PER_BATCH}  # no partial batch
    committed = sorted(per_batch)
    assert committed == list(range(1, HOLD_AT))  # the killed batch left nothing
    report = events.dispatch()
    assert report.failed == ()
    assert keys(report.delivered) == [f"batch-{b}" for b in committed]
    assert [e.payload["batch"] for e in recorder(tenant).received] == committed
    # The dead writer's locks went with it: a new write gets the next position at once.
    assert emit_one(tenant, Event("batch.posted", "batch:new")).id == len(committed) + 1
    assert ledger.transfer("after", "cash", "revenue", EUR).seq == len(committed) * 3 + 1


# ---------------------------------------------------------------- the hook


def test_hook_finplug_on_event(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([Recorder, Gate])
    event = Event("payment.captured", "payment:p1", {"amount": "12.50"}, dedupe_key="cap-1")
    assert tenant.hooks.finplug_on_event(event=event) == []  # listeners return None
    assert recorder(tenant).received == [event]
    assert gate(tenant).seen == ["cap-1"]  # gate runs first (before=recorder)
    # An exception stops the call: later listeners do not see the event.
    gate(tenant).refuse.add("cap-1")
    with pytest.raises(
        HookCallError,
        match=r"plugin 'gate' failed in hook finplug_on_event: RuntimeError: refused cap-1",
    ):
        tenant.hooks.finplug_on_event(event=event)
    assert recorder(tenant).received == [event]
    # Nobody implements it: an empty list.
    assert make_tenant([FeeEcho]).hooks.finplug_on_event(event=event) == []
    # Every tenant has the outbox component.
    assert "events" in make_tenant([FeeEcho]).component_names


if __name__ == "__main__" and sys.argv[1:2] == ["crash-worker"]:
    _crash_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
