"""The ledger under real concurrency: several OS processes writing one tenant's books.

Writers are separate processes (``tests/concurrency_worker.py``), each with its own
Platform and connection pool, so nothing is shared but the database: the chain-head
row lock (PostgreSQL) or ``BEGIN IMMEDIATE`` (SQLite) is all that serialises them.

* Four processes race thousands of transfers between a few hot accounts, some as
  ``post_batch`` calls, with idempotency keys sent twice (same request, by two
  processes, or again by the same one) and re-sent with another request. Every key
  must be applied at most once, every replay must answer the original entry, no
  update may be lost and no wallet overdrawn.
* A process posting large batches is SIGKILLed mid-write: every batch is wholly
  present or wholly absent, the books verify, and the next writer is not blocked.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from concurrency_worker import (
    CURRENCY,
    Call,
    Mode,
    Outcome,
    ProbeResult,
    Spec,
    Transfer,
    entry_request,
    money,
)
from finplug import Entry, Platform, Tenant
from finplug.components import LedgerAPI
from finplug.ledger.schema import install_ledger

pytestmark = pytest.mark.slow

WORKER_SCRIPT = Path(__file__).with_name("concurrency_worker.py")

FUNDING = "funding"  # equity, overdraft "unlimited": the source of all money
WALLETS = ("w1", "w2", "w3")  # liabilities, overdraft "none": the hot accounts
SINK = "fees"  # income, overdraft "none" (only ever credited)
ACCOUNTS = (FUNDING, *WALLETS, SINK)

WORKERS = 4
KEYS_PER_WORKER = 750  # keys sent per process, duplicates included
BATCH_WORKERS = frozenset({2, 3})  # these post mostly through post_batch
SHARED_KEYS = 80  # same key, same request, sent by two processes
CROSS_CONFLICTS = 30  # same key, different requests, sent by two processes
OWN_CONFLICTS = 6  # per process: a key re-sent later with another request
OWN_REPLAYS = 8  # per process: a key re-sent later with the same request
DOOMED_BATCHES = 3  # per batch process: a batch whose last entry overdraws
PAUSE_S = 0.002  # longest think time between two calls of a process
OWN_KEY_PREFIXES = tuple(f"w{worker}-" for worker in range(WORKERS))  # sent by one process

KILL_BATCHES = 20
KILL_BATCH_SIZE = 1500

START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 240.0
LOCK_RELEASE_S = 5.0  # a new writer must get through within this after the kill


# ---------------------------------------------------------------- fixtures


@dataclass
class Books:
    """A tenant with the ledger installed and the test accounts opened."""

    url: str
    tenant_id: str
    tenant: Tenant
    ledger: LedgerAPI
    tmp: Path


@pytest.fixture
def books(database_url: str, unique_id: str, tmp_path: Path) -> Iterator[Books]:
    tenant_id = f"conc-{unique_id}"
    platform = Platform([], environ={}, database_url=database_url)
    platform.add_tenant({"tenant": tenant_id})
    tenant = platform.tenant(tenant_id)
    try:
        tenant.storage.ensure_schema()
        with tenant.storage.begin() as conn:
            install_ledger(conn)
        ledger = tenant.ledger
        ledger.open_account(FUNDING, "equity", CURRENCY, overdraft="unlimited")
        for wallet in WALLETS:
            ledger.open_account(wallet, "liability", CURRENCY, overdraft="none")
        ledger.open_account(SINK, "income", CURRENCY, overdraft="none")
        yield Books(database_url, tenant_id, tenant, ledger, tmp_path)
    finally:
        tenant.storage.drop()
        platform.close()


# ---------------------------------------------------------------- processes


class Workers:
    """Worker subprocesses of one test; any still running at the end are killed."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, spec: Spec) -> subprocess.Popen[bytes]:
        name = f"{spec['mode']}-{spec['worker']}"
        spec_path = self.tmp / f"spec-{name}.json"
        spec_path.write_text(json.dumps(spec))
        log = self.tmp / f"log-{name}.txt"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT), str(spec_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((proc, log))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        for p, log in self.procs:
            if p is proc:
                return log.read_text(errors="replace")[-3000:]
        return ""

    def wait_until(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll ``done``; fail early if a worker died, or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done():
            for proc, _ in self.procs:
                if proc.poll() not in (None, 0):
                    pytest.fail(
                        f"a worker exited with {proc.returncode} while waiting for {what}:\n"
                        + self.log(proc)
                    )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.005)

    def join(self, proc: subprocess.Popen[bytes], timeout: float) -> int:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"worker {proc.pid} still running after {timeout} s:\n{self.log(proc)}")

    def close(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def workers(books: Books) -> Iterator[Workers]:
    pool = Workers(books.tmp)  # stopped before the books are dropped
    try:
        yield pool
    finally:
        pool.close()


def spec(books: Books, mode: Mode, worker: int, calls: list[Call], url: str = "") -> Spec:
    tmp = books.tmp
    return Spec(
        mode=mode,
        url=url or books.url,
        tenant=books.tenant_id,
        worker=worker,
        ready=str(tmp / f"ready-{mode}-{worker}"),
        go=str(tmp / "go"),
        result=str(tmp / f"result-{mode}-{worker}.json"),
        progress=str(tmp / f"progress-{mode}-{worker}.txt"),
        pause=PAUSE_S,
        calls=calls,
    )


# ---------------------------------------------------------------- reading the books


def all_entries(ledger: LedgerAPI) -> list[Entry]:
    out: list[Entry] = []
    while page := ledger.entries(after=out[-1].seq if out else 0, limit=1000):
        out.extend(page)
    return out


def as_transfer(entry: Entry) -> Transfer:
    """The two-leg request an entry was posted from."""
    debits = [leg for leg in entry.legs if leg.side == "debit"]
    credits = [leg for leg in entry.legs if leg.side == "credit"]
    assert len(debits) == len(credits) == 1, f"entry {entry.seq} is not a transfer: {entry}"
    assert debits[0].amount == credits[0].amount
    return Transfer(
        key=entry.key,
        debit=debits[0].account,
        credit=credits[0].account,
        amount=debits[0].amount.minor_units,
    )


def request_of(item: Transfer | Outcome) -> tuple[str, str, int]:
    return (item["debit"], item["credit"], item["amount"])


Totals = dict[str, tuple[int, int]]  # account -> (debits, credits) in minor units


def totals_of(transfers: Sequence[Transfer]) -> Totals:
    debits: Counter[str] = Counter()
    credits: Counter[str] = Counter()
    for t in transfers:
        debits[t["debit"]] += t["amount"]
        credits[t["credit"]] += t["amount"]
    return {code: (debits[code], credits[code]) for code in ACCOUNTS}


def ledger_totals(ledger: LedgerAPI) -> Totals:
    out: Totals = {}
    for code in ACCOUNTS:
        balance = ledger.balance(code)
        assert balance.debits_pending.minor_units == balance.credits_pending.minor_units == 0
        out[code] = (balance.debits_posted.minor_units, balance.credits_posted.minor_units)
    return out


def check_books(ledger: LedgerAPI, entries: Sequence[Entry]) -> Totals:
    """What must hold of any state of the books; returns the totals from the entries."""
    transfers = [as_transfer(e) for e in entries]
    keys = Counter(t["key"] for t in transfers)
    assert [k for k, n in keys.items() if n > 1] == [], "a key has more than one entry"
    from_entries = totals_of(transfers)
    accounts = ledger_totals(ledger)
    assert accounts == from_entries, "account totals differ from the entries"
    assert sum(d for d, _ in accounts.values()) == sum(c for _, c in accounts.values())
    # No wallet was overdrawn now, nor after any entry in chain order.
    running = dict.fromkeys(WALLETS, 0)
    for t in transfers:
        for code, delta in ((t["debit"], -t["amount"]), (t["credit"], t["amount"])):
            if code in running:
                running[code] += delta
                assert running[code] >= 0, f"{code} overdrawn after {t['key']}: {running[code]}"
    for wallet in WALLETS:
        assert ledger.balance(wallet).available.minor_units >= 0
    report = ledger.verify()
    assert report.ok, report.problems[:10]
    assert report.entries == len(entries)
    return from_entries


# ---------------------------------------------------------------- the workload


@dataclass
class Workload:
    """Each process's calls, and the keys planted to collide."""

    calls: list[list[Call]]
    shared: set[str] = field(default_factory=set)
    cross_conflicts: set[str] = field(default_factory=set)
    own_conflicts: set[str] = field(default_factory=set)
    own_replays: set[str] = field(default_factory=set)
    doomed: set[str] = field(default_factory=set)
    in_batch_duplicates: int = 0


@dataclass(order=True)
class _Slot:
    position: float
    order: int
    item: Transfer = field(compare=False)
    single: bool = field(compare=False)  # must be sent alone (a conflict would abort a batch)


@dataclass(frozen=True)
class _Mix:
    """How a process picks its transfers."""

    funding: float  # share that funds a wallet (never refused)
    to_sink: float  # of the others (wallet debits): share paid out to the sink
    max_debit: int  # largest wallet debit, minor units


SINGLE_MIX = _Mix(funding=0.15, to_sink=0.8, max_debit=6000)  # drains the wallets
BATCH_MIX = _Mix(funding=0.7, to_sink=0.5, max_debit=2000)  # fills them
EVEN_MIX = _Mix(funding=0.5, to_sink=0.3, max_debit=3000)
FUND = _Mix(funding=1.0, to_sink=0.0, max_debit=0)


def _random_transfer(rng: random.Random, key: str, mix: _Mix) -> Transfer:
    if rng.random() < mix.funding:
        amount = rng.randint(100, 3000)
        return Transfer(key=key, debit=FUNDING, credit=rng.choice(WALLETS), amount=amount)
    debit = rng.choice(WALLETS)
    credit = SINK if rng.random() < mix.to_sink else rng.choice([w for w in WALLETS if w != debit])
    return Transfer(key=key, debit=debit, credit=credit, amount=rng.randint(100, mix.max_debit))


def _resent(item: Transfer, extra: int) -> Transfer:
    """The same key and accounts with another amount: another request."""
    return Transfer(
        key=item["key"], debit=item["debit"], credit=item["credit"], amount=item["amount"] + extra
    )


def plan_workload(rng: random.Random) -> Workload:
    slots: list[list[_Slot]] = [[] for _ in range(WORKERS)]
    order = iter(range(10**9))
    load = Workload(calls=[])

    def put(worker: int, position: float, item: Transfer, single: bool) -> None:
        slots[worker].append(_Slot(min(position, 0.999), next(order), item, single))

    # Keys two processes send at about the same point of their runs, to race.
    for n in range(SHARED_KEYS):
        item = _random_transfer(rng, f"same-{n:03d}", EVEN_MIX)
        position = rng.random()
        for worker in rng.sample(range(WORKERS), 2):
            put(worker, position, item, single=False)
        load.shared.add(item["key"])
    for n in range(CROSS_CONFLICTS):
        first = _random_transfer(rng, f"xconf-{n:03d}", FUND)
        position = rng.random()
        for worker, item in zip(
            rng.sample(range(WORKERS), 2), (first, _resent(first, 1)), strict=True
        ):
            put(worker, position, item, single=True)
        load.cross_conflicts.add(first["key"])
    # Keys one process sends again later: another request (conflict), or the same (replay).
    for worker in range(WORKERS):
        for n in range(OWN_CONFLICTS):
            item = _random_transfer(rng, f"own-{worker}-{n:02d}", FUND)
            position = rng.uniform(0, 0.8)
            put(worker, position, item, single=True)
            put(worker, position + rng.uniform(0.05, 0.2), _resent(item, 7), single=True)
            load.own_conflicts.add(item["key"])
        for n in range(OWN_REPLAYS):
            item = _random_transfer(rng, f"again-{worker}-{n:02d}", EVEN_MIX)
            position = rng.uniform(0, 0.8)
            put(worker, position, item, single=False)
            put(worker, position + rng.uniform(0.05, 0.2), item, single=False)
            load.own_replays.add(item["key"])
    # The rest: each process's own keys. Batch processes mostly fund (else most batches
    # would be refused); the single-transfer processes mostly move money out of wallets.
    for worker in range(WORKERS):
        remaining = KEYS_PER_WORKER - len(slots[worker])
        mix = BATCH_MIX if worker in BATCH_WORKERS else SINGLE_MIX
        for n in range(remaining):
            item = _random_transfer(rng, f"w{worker}-{n:04d}", mix)
            put(worker, n / remaining, item, single=False)
    # Calls: one transfer per key, or batches of 10-50 keys (some with a key twice), and
    # a few batches whose last entry overdraws whatever the balances: refused whole.
    for worker in range(WORKERS):
        ordered = sorted(slots[worker])
        if worker in BATCH_WORKERS:
            calls = _batched(rng, ordered, load)
            for n in range(DOOMED_BATCHES):
                items = [
                    _random_transfer(rng, f"doomed-{worker}-{n}-{i:02d}", BATCH_MIX)
                    for i in range(rng.randint(10, 49))
                ]
                key = f"doomed-{worker}-{n}-last"
                items.append(Transfer(key=key, debit=WALLETS[n % 3], credit=SINK, amount=10**12))
                calls.insert(rng.randrange(len(calls) + 1), Call(kind="batch", items=items))
                load.doomed.update(item["key"] for item in items)
            load.calls.append(calls)
        else:
            load.calls.append([Call(kind="transfer", items=[s.item]) for s in ordered])
    return load


def _batched(rng: random.Random, slots: Sequence[_Slot], load: Workload) -> list[Call]:
    """Group keys into batches of 10-50; slots that must go alone become transfers."""
    calls: list[Call] = []
    batch: list[Transfer] = []
    size = rng.randint(10, 50)
    for slot in [*slots, None]:
        if batch and (slot is None or slot.single or len(batch) >= size):
            if rng.random() < 0.3:  # the same key (and request) twice in one batch
                batch.insert(rng.randrange(len(batch) + 1), rng.choice(batch))
                load.in_batch_duplicates += 1
            calls.append(Call(kind="batch", items=batch))
            batch, size = [], rng.randint(10, 50)
        if slot is not None and slot.single:
            calls.append(Call(kind="transfer", items=[slot.item]))
        elif slot is not None:
            batch.append(slot.item)
    return calls


# ---------------------------------------------------------------- test 1 and 2


def test_concurrent_writers_apply_every_key_once(books: Books, workers: Workers) -> None:
    rng = random.Random(20240611)
    load = plan_workload(rng)
    started = time.monotonic()
    specs = [spec(books, "ops", w, load.calls[w]) for w in range(WORKERS)]
    procs = [workers.start(s) for s in specs]
    workers.wait_until(
        lambda: all(Path(s["ready"]).exists() for s in specs), "workers ready", START_TIMEOUT_S
    )
    Path(specs[0]["go"]).touch()
    racing = time.monotonic()
    for proc in procs:
        rc = workers.join(proc, RUN_TIMEOUT_S)
        assert rc == 0, workers.log(proc)
    raced = time.monotonic() - racing
    outcomes: list[Outcome] = [o for s in specs for o in json.loads(Path(s["result"]).read_text())]
    assert len(outcomes) == sum(len(c["items"]) for calls in load.calls for c in calls)

    entries = all_entries(books.ledger)
    by_key = {e.key: e for e in entries}
    problems: list[str] = []
    oks: dict[str, list[Outcome]] = {}
    for o in outcomes:
        where = f"worker {o['worker']} call {o['call']} ({o['kind']}) key {o['key']}"
        if o["outcome"] == "error":
            problems.append(f"{where}: unexpected error {o['detail']}")
        elif o["outcome"] == "ok":
            oks.setdefault(o["key"], []).append(o)
        elif o["outcome"] == "conflict":
            stored = by_key.get(o["key"])
            if stored is None:
                problems.append(f"{where}: conflict, but no entry has the key")
            elif request_of(as_transfer(stored)) == request_of(o):
                problems.append(f"{where}: conflict with an identical request")
        else:  # overdraft: the call debited that wallet
            call = load.calls[o["worker"]][o["call"]]
            if o["detail"] not in WALLETS or o["detail"] not in {i["debit"] for i in call["items"]}:
                problems.append(
                    f"{where}: overdraft on {o['detail']}, which the call did not debit"
                )
    # Every key applied once: each entry was reported ok, and every ok report (first
    # post or replay, by any process) answered that entry's seq for the same request.
    for key, reports in oks.items():
        stored = by_key.get(key)
        if stored is None:
            problems.append(f"{key}: reported ok (seq {reports[0]['seq']}) but not in the books")
            continue
        seqs = sorted({r["seq"] or 0 for r in reports})
        if seqs != [stored.seq]:
            problems.append(f"{key}: stored as seq {stored.seq}, answered {seqs}")
        if any(request_of(r) != request_of(as_transfer(stored)) for r in reports):
            problems.append(f"{key}: an ok answer for a request other than the stored one")
    problems += [f"{k}: in the books, but no process was told so" for k in by_key if k not in oks]
    # The planted collisions resolved as they must (each process's outcomes are in call order).
    sent: dict[str, list[str]] = {}
    for o in outcomes:
        sent.setdefault(o["key"], []).append(o["outcome"])
    for key in load.cross_conflicts:
        if sorted(sent[key]) != ["conflict", "ok"]:
            problems.append(f"{key} (two processes, two requests): {sent[key]}")
    for key in load.own_conflicts:
        if sent[key] != ["ok", "conflict"]:
            problems.append(f"{key} (re-sent with another request): {sent[key]}")
    for key in load.doomed:
        if set(sent[key]) != {"overdraft"} or key in by_key:
            problems.append(
                f"{key} (in a batch that overdraws): {sent[key]}, in books: {key in by_key}"
            )
    assert problems == [], "\n".join(problems[:30])

    # No lost update: totals from the entries, the workers' answers and the accounts agree.
    from_entries = check_books(books.ledger, entries)
    applied = [
        Transfer(key=k, debit=r[0]["debit"], credit=r[0]["credit"], amount=r[0]["amount"])
        for k, r in oks.items()
    ]
    assert totals_of(applied) == from_entries
    assert len(entries) == len(oks)

    # The processes really interleaved, and every kind of collision happened.
    owners = [e.key.split("-")[0] for e in entries if e.key.startswith(OWN_KEY_PREFIXES)]
    switches = sum(a != b for a, b in pairwise(owners))
    count = Counter(o["outcome"] for o in outcomes)
    rejected_calls = {(o["worker"], o["call"]) for o in outcomes if o["outcome"] == "overdraft"}
    rejected_batches = {
        (o["worker"], o["call"])
        for o in outcomes
        if o["outcome"] == "overdraft" and o["kind"] == "batch"
    }
    replays = sum(len(r) - 1 for r in oks.values())
    shared_both_ok = sum(1 for k in load.shared if len(oks.get(k, [])) == 2)
    summary = {
        "backend": books.url.split(":", 1)[0],
        "processes": WORKERS,
        "keys_sent": len(outcomes),
        "distinct_keys": len({o["key"] for o in outcomes}),
        "calls": sum(len(c) for c in load.calls),
        "batches": sum(c["kind"] == "batch" for calls in load.calls for c in calls),
        "entries": len(entries),
        "ok_answers": count["ok"],
        "replays": replays,
        "shared_keys_ok_twice": shared_both_ok,
        "in_batch_duplicates": load.in_batch_duplicates,
        "conflicts": count["conflict"],
        "overdraft_rejected_keys": count["overdraft"],
        "overdraft_rejected_calls": len(rejected_calls),
        "overdraft_rejected_batches": len(rejected_batches),
        "worker_switches_in_chain": switches,
        "race_seconds": round(raced, 2),
        "total_seconds": round(time.monotonic() - started, 2),
    }
    print(f"\nledger concurrency: {summary}")
    assert count["conflict"] == CROSS_CONFLICTS + WORKERS * OWN_CONFLICTS
    assert len(rejected_calls) > 20, summary
    assert replays >= WORKERS * OWN_REPLAYS // 2, summary
    assert shared_both_ok > 0, summary
    assert switches > 50, summary


# ---------------------------------------------------------------- test 3


def kill_batches(rng: random.Random) -> list[Call]:
    """Batches that never overdraw whatever the balances: each funds what it moves."""
    calls: list[Call] = []
    for number in range(KILL_BATCHES):
        cover = dict.fromkeys(WALLETS, 0)
        items: list[Transfer] = []
        for i in range(KILL_BATCH_SIZE):
            key = f"kill-b{number:03d}-{i:05d}"
            funded = [w for w in WALLETS if cover[w] >= 100]
            if not funded or rng.random() < 0.5:
                wallet = rng.choice(WALLETS)
                amount = rng.randint(100, 3000)
                items.append(Transfer(key=key, debit=FUNDING, credit=wallet, amount=amount))
                cover[wallet] += amount
            else:
                debit = rng.choice(funded)
                credit = rng.choice([SINK, *(w for w in WALLETS if w != debit)])
                amount = rng.randint(1, min(cover[debit], 2000))
                items.append(Transfer(key=key, debit=debit, credit=credit, amount=amount))
                cover[debit] -= amount
                if credit in cover:
                    cover[credit] += amount
        calls.append(Call(kind="batch", items=items))
    return calls


#: How the statements of a batch's write begin, as pg_stat_activity shows them.
WRITES = ("INSERT", "COPY", "UPDATE")


def _backends(watch: Connection, name: str) -> list[tuple[int, str, str]]:
    """PostgreSQL backends of the connections named ``name``: pid, state, current query."""
    rows = watch.execute(
        text(
            "SELECT pid, coalesce(state, ''), coalesce(query, '') FROM pg_stat_activity"
            " WHERE application_name = :name"
        ),
        {"name": name},
    ).all()
    return [(int(pid), str(state), str(query)) for pid, state, query in rows]


def test_killed_writer_leaves_whole_batches_and_no_stuck_lock(
    books: Books, workers: Workers, unique_id: str
) -> None:
    rng = random.Random()
    postgres = books.url.startswith("postgresql")
    app_name = f"finplug-kill-{unique_id}"  # names the writer's PostgreSQL backend
    url = books.url + ("&" if "?" in books.url else "?") + f"application_name={app_name}"
    writer_spec = spec(books, "kill", 0, kill_batches(rng), url if postgres else books.url)
    progress = Path(writer_spec["progress"])
    writer = workers.start(writer_spec)

    def lines() -> list[str]:
        return progress.read_text().split() if progress.exists() else []

    with ExitStack() as stack:
        watch = None
        if postgres:  # pg_stat_activity is read per transaction: autocommit
            watch = stack.enter_context(books.tenant.storage.engine.connect())
            watch.execution_options(isolation_level="AUTOCOMMIT")
        # Kill it a random moment after its first batch committed, in a later batch (on
        # PostgreSQL: as soon as its backend is seen writing that batch: the account
        # UPDATE, the COPY of its transfer rows, or the chain head UPDATE).
        workers.wait_until(lambda: "done" in lines(), "the first batch", START_TIMEOUT_S)
        delay = rng.uniform(0.05, 0.5)
        time.sleep(delay)
        at_kill: list[tuple[int, str, str]] = []
        if watch is not None:

            def inserting() -> bool:
                at_kill[:] = [
                    (pid, state, query[:40])
                    for pid, state, query in _backends(watch, app_name)
                    if state == "active" and query.lstrip().upper().startswith(WRITES)
                ]
                return bool(at_kill)

            workers.wait_until(inserting, "the writer's backend to write", START_TIMEOUT_S)
        os.kill(writer.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert workers.join(writer, 10) == -signal.SIGKILL
        log = progress.read_text().splitlines()
        assert "finished" not in log, "the writer finished before it was killed"
        begun = {int(line.split()[1]) for line in log if line.startswith("begin")}
        done = {int(line.split()[1]) for line in log if line.startswith("done")}
        in_flight = begun - done
        assert len(in_flight) == 1, f"killed between batches, not while writing: {log[-3:]}"

        # A new writer gets through at once: the dead one's lock is gone.
        fresh = Transfer(key=f"probe-{unique_id}", debit=FUNDING, credit=WALLETS[0], amount=4242)
        probe_spec = spec(books, "probe", 1, [Call(kind="transfer", items=[fresh])])
        probe = workers.start(probe_spec)
        assert workers.join(probe, 60) == 0, workers.log(probe)
        probed: ProbeResult = json.loads(Path(probe_spec["result"]).read_text())
        assert probed["seconds"] < LOCK_RELEASE_S, probed
        if watch is not None:  # the server ended the dead client's backend
            gone = "the killed writer's backend to end"
            workers.wait_until(lambda: not _backends(watch, app_name), gone, LOCK_RELEASE_S)
        else:  # the WAL recovered: no torn page, no half-written transaction
            with books.tenant.storage.begin() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        recovered = time.monotonic() - killed_at

    # Every batch whole or absent: those logged done, maybe the one in flight, no other.
    entries = all_entries(books.ledger)
    by_key = {e.key: e for e in entries}
    sizes = Counter(e.key.rsplit("-", 1)[0] for e in entries if e.key.startswith("kill-"))
    present = set()
    for prefix, size in sizes.items():
        assert size == KILL_BATCH_SIZE, f"batch {prefix} is partial: {size} of {KILL_BATCH_SIZE}"
        present.add(int(prefix.removeprefix("kill-b")))
    assert done <= present <= done | in_flight, (sorted(done), sorted(present), in_flight)
    assert by_key[fresh["key"]].seq == probed["seq"]
    assert len(entries) == len(present) * KILL_BATCH_SIZE + 1
    check_books(books.ledger, entries)

    # And this process writes too, single and batched.
    books.ledger.transfer(f"after-{unique_id}", FUNDING, WALLETS[1], money(100))
    books.ledger.post_batch(
        [
            entry_request(
                Transfer(key=f"after-{unique_id}-{i}", debit=WALLETS[1], credit=SINK, amount=10)
            )
            for i in range(10)
        ]
    )
    check_books(books.ledger, all_entries(books.ledger))
    print(
        f"\nledger kill ({books.url.split(':', 1)[0]}): killed {delay:.2f} s after batch 0"
        f" committed, in batch {sorted(in_flight)} (committed: {bool(in_flight & present)},"
        f" backend: {at_kill or 'n/a'}),"
        f" batches committed {len(present)} ({len(present) * KILL_BATCH_SIZE} entries),"
        f" new writer waited {probed['seconds']:.3f} s, recovered in {recovered:.2f} s"
    )
