"""A ledger writer in its own OS process, driven by tests/test_ledger_concurrency.py.

Run as ``python tests/concurrency_worker.py SPEC.json``. The spec (a :class:`Spec`)
names the database URL and tenant id (the worker builds its own Platform over the
same storage: the tenant's schema on PostgreSQL, the tenant's file on SQLite) and
the calls to make. Modes:

* ``ops``: announce readiness, wait for the shared "go" file, make every call in
  order and write one :class:`Outcome` per key sent to the result file;
* ``kill``: post batches in a loop, appending ``begin N`` / ``done N`` lines to a
  progress file around each ``post_batch``, until the test SIGKILLs it;
* ``probe``: one transfer, timed, written to the result file (a new writer after
  a kill: it must not wait for a lock the dead writer held).

The test imports the types and :func:`open_ledger` from here, so both sides agree
on the file formats.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Literal, TypedDict

from finplug import (
    EntryRequest,
    IdempotencyConflictError,
    LedgerError,
    Leg,
    Money,
    OverdraftError,
    Platform,
)
from finplug.components import LedgerAPI

CURRENCY = "USD"
#: How long a worker waits for the "go" file before giving up.
GO_TIMEOUT_S = 120.0

OutcomeKind = Literal["ok", "conflict", "overdraft", "error"]
Mode = Literal["ops", "kill", "probe"]


class Transfer(TypedDict):
    """One two-leg request: debit ``debit``, credit ``credit`` with ``amount`` minor units."""

    key: str
    debit: str
    credit: str
    amount: int


class Call(TypedDict):
    """One ledger call: ``transfer`` (exactly one item) or ``batch`` (``post_batch``)."""

    kind: Literal["transfer", "batch"]
    items: list[Transfer]


class Outcome(TypedDict):
    """What one key sent in one call got back."""

    worker: int
    call: int
    kind: Literal["transfer", "batch"]
    key: str
    debit: str
    credit: str
    amount: int
    outcome: OutcomeKind
    seq: int | None
    detail: str


class ProbeResult(TypedDict):
    """What the probe writer saw: the entry's seq and how long the post took."""

    seq: int
    seconds: float


class Spec(TypedDict):
    """Everything a worker needs; written as JSON by the test."""

    mode: Mode
    url: str
    tenant: str
    worker: int
    ready: str
    go: str
    result: str
    progress: str
    pause: float
    calls: list[Call]


def open_ledger(url: str, tenant_id: str) -> tuple[Platform, LedgerAPI]:
    """A fresh Platform with one tenant on ``url``, and that tenant's ledger."""
    platform = Platform([], environ={}, database_url=url)
    platform.add_tenant({"tenant": tenant_id})
    return platform, platform.tenant(tenant_id).ledger


def money(minor: int) -> Money:
    """``minor`` units of the test currency."""
    return Money.from_minor(minor, CURRENCY)


def entry_request(item: Transfer) -> EntryRequest:
    """The ledger request for one transfer."""
    amount = money(item["amount"])
    return EntryRequest(
        item["key"], (Leg.debit(item["debit"], amount), Leg.credit(item["credit"], amount))
    )


def _touch(path: str) -> None:
    Path(path).write_text(str(os.getpid()))


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no go signal at {path} after {GO_TIMEOUT_S} s")
        time.sleep(0.002)


def _write_json(path: str, data: object) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)  # the reader never sees half a file


def _outcome(
    worker: int,
    index: int,
    call: Call,
    item: Transfer,
    outcome: OutcomeKind,
    seq: int | None,
    detail: str = "",
) -> Outcome:
    return Outcome(
        worker=worker,
        call=index,
        kind=call["kind"],
        key=item["key"],
        debit=item["debit"],
        credit=item["credit"],
        amount=item["amount"],
        outcome=outcome,
        seq=seq,
        detail=detail,
    )


def _conflict_kind(item: Transfer, exc: IdempotencyConflictError) -> OutcomeKind:
    # Only the named key conflicts; a batch-mate refused with it is reported as an
    # error (the test never plants a conflicting key in a batch).
    return "conflict" if item["key"] == exc.key else "error"


def make_call(ledger: LedgerAPI, worker: int, index: int, call: Call) -> list[Outcome]:
    """Make one call; one outcome per item, whatever the ledger answered."""
    items = call["items"]
    try:
        if call["kind"] == "transfer":
            (item,) = items
            entry = ledger.transfer(
                item["key"], item["debit"], item["credit"], money(item["amount"])
            )
            got = [entry]
        else:
            got = ledger.post_batch([entry_request(item) for item in items])
    except IdempotencyConflictError as exc:
        # The whole call is refused; only the named key is the conflicting one.
        return [
            _outcome(worker, index, call, item, _conflict_kind(item, exc), None, exc.key)
            for item in items
        ]
    except OverdraftError as exc:
        return [
            _outcome(worker, index, call, item, "overdraft", None, exc.account) for item in items
        ]
    except Exception as exc:  # anything else is a finding: report it, keep going
        return [_outcome(worker, index, call, item, "error", None, repr(exc)) for item in items]
    if len(got) != len(items):
        return [
            _outcome(worker, index, call, item, "error", None, f"{len(got)} entries returned")
            for item in items
        ]
    return [
        _outcome(worker, index, call, item, "ok", entry.seq, entry.key)
        if entry.key == item["key"]
        else _outcome(worker, index, call, item, "error", entry.seq, f"answer for {entry.key}")
        for item, entry in zip(items, got, strict=True)
    ]


def run_ops(spec: Spec, ledger: LedgerAPI) -> None:
    """Wait for "go", make every call, write the outcomes."""
    ledger.account("funding")  # connect (and warm the pool) before the race starts
    _touch(spec["ready"])
    _wait_for(spec["go"])
    # A random think time between calls (as a service has): without it, SQLite's busy
    # handler lets one process take the write lock back to back while others sleep.
    rng = random.Random(spec["worker"])
    outcomes: list[Outcome] = []
    for index, call in enumerate(spec["calls"]):
        outcomes.extend(make_call(ledger, spec["worker"], index, call))
        time.sleep(rng.uniform(0, spec["pause"]))
    _write_json(spec["result"], outcomes)


def run_kill(spec: Spec, ledger: LedgerAPI) -> None:
    """Post batches back to back, logging each one's start and commit, until killed."""
    batches = [[entry_request(item) for item in call["items"]] for call in spec["calls"]]
    ledger.account("funding")
    fd = os.open(spec["progress"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    _touch(spec["ready"])
    for number, batch in enumerate(batches):
        os.write(fd, f"begin {number}\n".encode())
        ledger.post_batch(batch)
        os.write(fd, f"done {number}\n".encode())
    os.write(fd, b"finished\n")
    os.close(fd)


def run_probe(spec: Spec, ledger: LedgerAPI) -> None:
    """One transfer, timed: a new writer right after a writer died."""
    (call,) = spec["calls"]
    (item,) = call["items"]
    started = time.monotonic()
    entry = ledger.transfer(item["key"], item["debit"], item["credit"], money(item["amount"]))
    _write_json(spec["result"], ProbeResult(seq=entry.seq, seconds=time.monotonic() - started))


def main(argv: list[str]) -> int:
    """Run the spec named by ``argv[1]``."""
    spec: Spec = json.loads(Path(argv[1]).read_text())
    platform, ledger = open_ledger(spec["url"], spec["tenant"])
    try:
        if spec["mode"] == "ops":
            run_ops(spec, ledger)
        elif spec["mode"] == "kill":
            run_kill(spec, ledger)
        else:
            run_probe(spec, ledger)
    except LedgerError as exc:
        print(f"worker {spec['worker']}: {exc!r}", file=sys.stderr)
        return 1
    finally:
        platform.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
