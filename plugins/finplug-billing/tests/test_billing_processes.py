"""Billing across OS processes sharing one tenant's storage; SQLite and PostgreSQL.

* Four workers finalizing drafts at once, some failing after their number
  was taken, leave numbers without a gap or a duplicate.
* Workers running the same cycle at once make one invoice per subscription
  and billing date.
* A worker killed in the middle of a cycle leaves no half invoice, and the
  next run completes the rest.
* Cycles to different days running at once use a customer's coupon once
  per invoice.

The workers are ``billing_worker.py`` processes, started before the tenant
is set up; each waits for its spec, opens the tenant, says it is ready, and
starts when the test writes the "go" file.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from billing_helpers import CATALOG, billing, customer
from finplug import Platform, Tenant
from finplug.sockets.billing import BillingAPI, Invoice, InvoiceStatus
from finplug.testing import new_tenant_id
from finplug_billing import BillingPlugin
from finplug_billing._schema import counters, customer_coupons, invoices, subscriptions

WORKER = Path(__file__).with_name("billing_worker.py")
NOW = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
START = date(2026, 1, 1)
AS_OF = date(2026, 4, 1)
#: The billing dates of a subscription started in January, up to AS_OF (in arrears).
DATES = (date(2026, 2, 1), date(2026, 3, 1), AS_OF)
RECEIVABLE = "asset:billing:receivable:"


@dataclass
class Setup:
    """A tenant shared with the workers: its id, settings, and the test's own view of it."""

    database_url: str
    tenant_id: str
    settings: dict[str, Any]
    tenant: Tenant
    api: BillingAPI
    subscriptions: list[str]  # in the order a cycle takes them (by id)


def _catalog(*, auto_finalize: bool, **changes: Any) -> dict[str, Any]:
    """The helpers' catalog, invoices finalized by the cycle or left as drafts."""
    catalog = copy.deepcopy(CATALOG)
    catalog["invoices"] = {"auto_finalize": auto_finalize}
    catalog.update(changes)
    return catalog


def _one_each(count: int) -> Callable[[BillingAPI], list[str]]:
    """``count`` customers, each on ``starter`` from a day in January.

    The subscriptions start on different days, so first invoices differ (prorated).
    """

    def populate(api: BillingAPI) -> list[str]:
        subs = []
        for n in range(count):
            api.upsert_customer(customer(f"c{n:03d}"))
            on = START + timedelta(days=(7 * n) % 28)
            subs.append(api.subscribe(f"k{n}", f"c{n:03d}", "starter", on=on).id)
        return subs

    return populate


@contextmanager
def _shared_tenant(
    database_url: str, catalog: dict[str, Any], populate: Callable[[BillingAPI], list[str]]
) -> Iterator[Setup]:
    """A tenant with ``catalog``, its subscriptions made by ``populate``; dropped at the end."""
    settings: dict[str, Any] = {"billing": catalog}
    tenant_id = new_tenant_id()
    platform = Platform([BillingPlugin], environ={}, database_url=database_url, clock=lambda: NOW)
    try:
        platform.add_tenant({"tenant": tenant_id, "plugins": settings})
        tenant = platform.tenant(tenant_id)
        try:
            platform.upgrade(tenant_id)
            api = billing(tenant)
            subs = sorted(populate(api))
            yield Setup(database_url, tenant_id, settings, tenant, api, subs)
        finally:
            tenant.storage.drop()
    finally:
        platform.close()


class Workers:
    """Worker processes started before the tenant is set up (their imports overlap it)."""

    def __init__(self, tmp_path: Path, count: int) -> None:
        self.folder = tmp_path
        paths = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
        self.procs: list[subprocess.Popen[bytes]] = []
        for n in range(count):
            spec = str(tmp_path / f"w{n}.spec.json")  # written by start(); the worker waits
            self.procs.append(subprocess.Popen([sys.executable, str(WORKER), spec], env=env))

    def _path(self, n: int, suffix: str) -> Path:
        return self.folder / f"w{n}.{suffix}"

    def start(self, setup: Setup, specs: list[dict[str, Any]]) -> None:
        """Give each worker its spec, wait until all are ready, then let them go at once."""
        assert len(specs) == len(self.procs)
        go = self.folder / "go"
        for n, own in enumerate(specs):
            spec = {
                "database_url": setup.database_url,
                "tenant": setup.tenant_id,
                "plugins": setup.settings,
                "now": NOW.isoformat(),
                "ready": str(self._path(n, "ready")),
                "go": str(go),
                "result": str(self._path(n, "json")),
                **own,
            }
            draft = self._path(n, "spec.tmp")
            draft.write_text(json.dumps(spec))
            draft.replace(self._path(n, "spec.json"))  # whole or not there
        deadline = time.monotonic() + 60
        while not all(self._path(n, "ready").exists() for n in range(len(specs))):
            assert all(p.poll() is None for p in self.procs), "a worker ended before it was ready"
            assert time.monotonic() < deadline, "the workers did not get ready"
            time.sleep(0.01)
        go.write_text("go")

    def results(self) -> list[dict[str, Any]]:
        """What each worker did; each must have ended well."""
        codes = [proc.wait(timeout=120) for proc in self.procs]
        assert codes == [0] * len(self.procs)
        return [json.loads(self._path(n, "json").read_text()) for n in range(len(self.procs))]

    def stop(self) -> None:
        """Kill the workers still running (a failed test) and reap them all."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@contextmanager
def _scene(
    tmp_path: Path,
    database_url: str,
    workers: int,
    catalog: dict[str, Any],
    populate: Callable[[BillingAPI], list[str]],
) -> Iterator[tuple[Setup, Workers]]:
    """Workers and a shared tenant; the workers are stopped before the tenant is dropped."""
    pool = Workers(tmp_path, workers)
    try:
        with _shared_tenant(database_url, catalog, populate) as setup:
            try:
                yield setup, pool
            finally:
                pool.stop()
    finally:
        pool.stop()


def _all_at_once(done: list[dict[str, Any]]) -> None:
    """Every worker was at work while every other one was: their windows overlap."""
    assert max(d["start"] for d in done) < min(d["end"] for d in done)


def _numbers(count: int) -> list[str]:
    return [f"INV-{n:06d}" for n in range(1, count + 1)]


def _all_invoices(api: BillingAPI) -> list[Invoice]:
    return api.invoices(limit=10_000)


def _receivable_minor(tenant: Tenant) -> int:
    codes = [a.code for a in tenant.ledger.accounts() if a.code.startswith(RECEIVABLE)]
    return sum(tenant.ledger.balance(code).posted.minor_units for code in codes)


def _check_books(setup: Setup) -> list[Invoice]:
    """Every invoice whole: its lines add up, and it is numbered and booked or a plain draft.

    Numbers run from 1 without a gap, the counter stands at the last one,
    the ledger holds one entry per booked invoice and nothing else, and each
    subscription is billed through its last invoice's date. Returns the invoices.
    """
    tenant, api = setup.tenant, setup.api
    found = _all_invoices(api)
    booked = [i for i in found if i.status is not InvoiceStatus.DRAFT]
    for invoice in found:
        assert [line.kind for line in invoice.lines] == ["plan", "charge"]
        assert (
            sum(line.amount.minor_units for line in invoice.lines) == invoice.subtotal.minor_units
        )
        assert sum(line.total.minor_units for line in invoice.lines) == invoice.total.minor_units
        assert invoice.total.minor_units > 0
        if invoice.status is InvoiceStatus.DRAFT:
            assert (invoice.number, invoice.issued_on) == (None, None)
        else:
            assert invoice.status is InvoiceStatus.FINALIZED
            assert invoice.issued_on == NOW.date()
    assert sorted(i.number or "" for i in booked) == _numbers(len(booked))
    entries = tenant.ledger.entries(limit=10_000)
    by_key = {entry.key: entry for entry in entries}
    assert len(by_key) == len(entries) == len(booked)
    for invoice in booked:
        (debit,) = [
            leg for leg in by_key[f"billing:invoice:{invoice.id}"].legs if leg.side == "debit"
        ]
        assert debit.account == f"{RECEIVABLE}{invoice.customer_id}:EUR"
        assert debit.amount == invoice.total
    assert _receivable_minor(tenant) == sum(i.total.minor_units for i in booked)
    assert tenant.ledger.verify().ok
    with tenant.unit_of_work() as uow:
        conn = uow.conn
        last = conn.execute(select(func.max(counters.c.last))).scalar_one()
        made = conn.execute(
            select(invoices.c.subscription_id, invoices.c.cycle_on, invoices.c.reason)
        ).all()
        through = {row.id: row.billed_through for row in conn.execute(select(subscriptions))}
    assert (last or 0) == len(booked)
    assert len(made) == len(set(made)) == len(found)  # one invoice per subscription and date
    for sub in setup.subscriptions:
        days = sorted(day for s, day, _ in made if s == sub)
        assert days == list(DATES[: len(days)])
        assert through[sub] == (days[-1] if days else None)
    return found


# -- gapless numbers ---------------------------------------------------------------------


def test_four_workers_finalizing_at_once_leave_no_gap(
    tmp_path: Path, finplug_database_url: str
) -> None:
    catalog = _catalog(auto_finalize=False)
    with _scene(tmp_path, finplug_database_url, 4, catalog, _one_each(16)) as (setup, pool):
        report = setup.api.run_cycle(AS_OF)
        assert report.failed == ()
        drafts = sorted(report.created)  # ids are random: each customer's drafts are spread
        assert len(drafts) == 16 * len(DATES)
        doomed = {ident for n, ident in enumerate(drafts) if n % 5 == 4}
        # Each draft is offered to two workers, at about the same point of their lists.
        shares = [drafts[w::4] for w in range(4)]
        specs = [
            {
                "action": "finalize",
                "invoices": [
                    i for pair in zip(own, shares[(w + 1) % 4], strict=True) for i in pair
                ],
                "fail": sorted(doomed),
            }
            for w, own in enumerate(shares)
        ]
        pool.start(setup, specs)
        done = pool.results()
        _all_at_once(done)

        for d, spec in zip(done, specs, strict=True):
            tried = [*d["finalized"], *d["failed"], *d["refused"]]
            assert sorted(tried) == sorted(spec["invoices"])
        numbered: dict[str, str] = {}
        for d in done:
            assert not numbered.keys() & d["finalized"].keys()  # finalized once only
            numbered.update(d["finalized"])
        assert set(numbered) == set(drafts) - doomed
        assert sorted(numbered.values()) == _numbers(len(numbered))
        assert Counter(i for d in done for i in d["refused"]) == dict.fromkeys(numbered, 1)
        assert Counter(i for d in done for i in d["failed"]) == dict.fromkeys(doomed, 2)
        taken = {number for d in done for number in d["failed"].values()}
        assert all(str(number).startswith("INV-") for number in taken)  # taken, then lost
        # Each number a failure took was given again (or is the next one, not yet given).
        assert taken <= set(_numbers(len(numbered) + 1))

        found = {i.id: i for i in _check_books(setup)}
        assert {k for k, i in found.items() if i.status is InvoiceStatus.DRAFT} == doomed
        assert {k: i.number for k, i in found.items() if k in numbered} == numbered


# -- one invoice per subscription and date ----------------------------------------------


def test_workers_running_one_cycle_at_once_invoice_each_date_once(
    tmp_path: Path, finplug_database_url: str
) -> None:
    catalog = _catalog(auto_finalize=True)
    with _scene(tmp_path, finplug_database_url, 3, catalog, _one_each(20)) as (setup, pool):
        pool.start(setup, [{"action": "cycle", "as_of": AS_OF.isoformat(), "jitter": 0.02}] * 3)
        done = pool.results()
        _all_at_once(done)
        assert [d["failed"] for d in done] == [[], [], []]
        created = [ident for d in done for ident in d["created"]]

        found = _check_books(setup)
        assert len(found) == 20 * len(DATES)
        assert sorted(created) == sorted(i.id for i in found)  # each made by one worker
        assert all(i.status is InvoiceStatus.FINALIZED for i in found)
        again = setup.api.run_cycle(AS_OF)
        assert (again.created, again.existing, again.failed) == ((), (), ())


# -- a worker killed mid-cycle ----------------------------------------------------------


@pytest.mark.parametrize("killer", ["itself", "the test"])
def test_a_worker_killed_mid_cycle_leaves_no_half_invoice(
    tmp_path: Path, finplug_database_url: str, killer: str
) -> None:
    count = 20
    catalog = _catalog(auto_finalize=True)
    with _scene(tmp_path, finplug_database_url, 1, catalog, _one_each(count)) as (setup, pool):
        if killer == "itself":
            # Inside the 8th subscription's second booking: its first invoice, made in the
            # same transaction, goes too.
            spec = {"action": "cycle", "as_of": AS_OF.isoformat(), "die_at": 7 * 3 + 2}
        else:
            progress = tmp_path / "progress"
            spec = {
                "action": "cycle",
                "as_of": AS_OF.isoformat(),
                "pause": 0.1,
                "progress": str(progress),
            }
        pool.start(setup, [spec])
        (proc,) = pool.procs
        if killer == "the test":
            deadline = time.monotonic() + 60
            while not progress.exists() or int(progress.read_text() or 0) < 3:
                assert proc.poll() is None, "the cycle ended before it was killed"
                assert time.monotonic() < deadline
                time.sleep(0.02)
            time.sleep(0.15)  # into the next subscription's transaction, after a booking or two
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL

        left = _check_books(setup)
        assert 0 < len(left) < count * len(DATES)
        assert len(left) % len(DATES) == 0  # whole subscriptions only: one transaction each
        billed = sorted({str(i.subscription_id) for i in left})
        assert billed == setup.subscriptions[: len(billed)]  # the cycle's order, up to the kill
        if killer == "itself":
            assert len(billed) == 7

        rerun = setup.api.run_cycle(AS_OF)
        assert rerun.failed == ()
        assert len(rerun.created) == count * len(DATES) - len(left)
        after = _check_books(setup)
        assert len(after) == count * len(DATES)
        assert {i.id for i in after} == {i.id for i in left} | set(rerun.created)


# -- a coupon two subscriptions share ---------------------------------------------------


def test_cycles_to_different_days_at_once_count_a_coupon_right(
    tmp_path: Path, finplug_database_url: str
) -> None:
    """Cycles run to different days (an hourly job either side of midnight) overlap.

    The later one bills a subscription's next date while the earlier one
    bills the same customer's other subscription: a coupon for five invoices
    discounts five, not more.
    """
    plans = copy.deepcopy(CATALOG["plans"])
    plans["twin"] = {**plans["starter"], "name": "Twin"}
    five = {"kind": "percentage", "rate": "0.10", "frequency": "recurring", "periods": 5}
    catalog = _catalog(auto_finalize=True, plans=plans, coupons={"five": five})

    def populate(api: BillingAPI) -> list[str]:
        api.upsert_customer(customer("c1"))
        subs = [api.subscribe(f"k-{p}", "c1", p, on=START).id for p in ("starter", "twin")]
        api.apply_coupon("k-coupon", "c1", "five")
        return subs

    with _scene(tmp_path, finplug_database_url, 2, catalog, populate) as (setup, pool):
        # The earlier cycle is slow (each booking waits inside its transaction) and starts
        # first: the later one waits for the first subscription, then follows a step behind.
        early = {"action": "cycle", "as_of": DATES[1].isoformat(), "pause": 0.5}
        late = {"action": "cycle", "as_of": AS_OF.isoformat(), "delay": 0.3}
        pool.start(setup, [early, late])
        done = pool.results()
        assert [d["failed"] for d in done] == [[], []]

        found = _check_books(setup)
        assert len(found) == 2 * len(DATES)
        discounted = [i for i in found if i.discount.minor_units]
        with setup.tenant.unit_of_work() as uow:
            coupon = uow.conn.execute(select(customer_coupons)).one()
        assert (len(discounted), coupon.periods_left, coupon.status) == (5, 0, "used")
