"""A billing worker in its own OS process, driven by test_billing_processes.py.

Run as ``python billing_worker.py SPEC.json``. It waits for the spec file
(written once the test has set the tenant up), opens the spec's tenant,
writes its "ready" file, waits for the "go" file (so that every worker
starts at once), waits the spec's ``delay`` if any, does the spec's
``action`` and writes what it did to the "result" file:

* ``finalize``: finalizes each of the spec's ``invoices`` in turn; those in
  ``fail`` are finalized in full (numbered, booked, updated) and then fail
  on purpose before their commit, so their transaction rolls back; those
  another worker finalized first are refused (a ``BillingError``);
* ``cycle``: runs the billing cycle up to ``as_of``. With ``die_at: n`` the
  process kills itself (SIGKILL) inside its n-th booking, before that
  transaction commits; with ``pause: s`` each booking waits ``s`` seconds
  inside its transaction (a long cycle, for a kill from outside). With
  ``jitter: s`` it waits up to ``s`` seconds before each subscription (so
  that workers overtake each other); with ``progress: path`` it writes the
  count of subscriptions billed there after each one's commit.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from finplug import Platform
from finplug.sockets.billing import BILLING, BillingAPI, BillingError
from finplug_billing import BillingPlugin


class PlannedError(RuntimeError):
    """Raised on purpose inside a finalization, after its number was taken."""


def _fail_before_commit(doomed: set[str], taken: dict[str, str | None]) -> None:
    """Make the finalization of each invoice in ``doomed`` raise just before its commit.

    ``Invoices.finalize`` reads the finalized invoice back, in its
    transaction, right before committing: the stand-in reads it (noting the
    number it was given) and raises instead of returning.
    """
    from finplug_billing import _invoices

    load = _invoices.load_invoice

    def load_then_fail(conn: Any, invoice_id: str) -> Any:
        found = load(conn, invoice_id)
        if invoice_id in doomed:
            taken[invoice_id] = found.number
            raise PlannedError(f"{invoice_id} fails before its commit")
        return found

    setattr(_invoices, "load_invoice", load_then_fail)  # noqa: B010 - a test double, this process only


def _slow_or_die(die_at: int | None, pause: float) -> None:
    """Wrap the cycle's booking: wait ``pause`` s in it, or die in the ``die_at``-th."""
    from finplug_billing import _invoices
    from finplug_billing._booking import book_invoice as book

    calls = [0]

    def book_then_wait(*args: Any, **kwargs: Any) -> Any:
        seq = book(*args, **kwargs)
        calls[0] += 1
        if calls[0] == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if pause:
            time.sleep(pause)
        return seq

    setattr(_invoices, "book_invoice", book_then_wait)  # noqa: B010 - a test double, this process only


def _wrap_bill(progress: Path | None, jitter: float) -> None:
    """Around each subscription's billing: wait up to ``jitter`` s before, say so after.

    The wait (outside the transaction) lets workers overtake each other;
    after each commit the count of subscriptions billed is written to
    ``progress``.
    """
    from finplug_billing._invoices import Invoices

    bill = Invoices.bill
    billed = [0]
    chance = random.Random(os.getpid())

    def bill_in_turn(self: Invoices, *args: Any, **kwargs: Any) -> Any:
        if jitter:
            time.sleep(chance.uniform(0, jitter))
        made = bill(self, *args, **kwargs)
        billed[0] += 1
        if progress is not None:
            progress.write_text(str(billed[0]))
        return made

    setattr(Invoices, "bill", bill_in_turn)  # noqa: B010 - a test double, this process only


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path.name}")
        time.sleep(0.002)


def _finalize(api: BillingAPI, spec: dict[str, Any]) -> dict[str, Any]:
    doomed = set(spec.get("fail", ()))
    taken: dict[str, str | None] = {}
    _fail_before_commit(doomed, taken)
    finalized: dict[str, str | None] = {}
    refused: list[str] = []
    for ident in spec["invoices"]:
        try:
            finalized[ident] = api.finalize(ident).number
        except PlannedError:
            pass
        except BillingError:  # finalized by another worker first
            refused.append(ident)
    return {"finalized": finalized, "failed": taken, "refused": refused}


def _cycle(api: BillingAPI, spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("die_at") or spec.get("pause"):
        _slow_or_die(spec.get("die_at"), float(spec.get("pause", 0)))
    if spec.get("progress") or spec.get("jitter"):
        progress = spec.get("progress")
        _wrap_bill(Path(progress) if progress else None, float(spec.get("jitter", 0)))
    report = api.run_cycle(date.fromisoformat(spec["as_of"]))
    return {
        "created": list(report.created),
        "existing": list(report.existing),
        "failed": [list(f) for f in report.failed],
    }


def main(spec_path: str) -> None:
    """Do the spec's action once, when the go file appears; write what this process did."""
    _wait_for(Path(spec_path))  # the test writes it once the tenant is set up
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    now = datetime.fromisoformat(spec["now"])
    platform = Platform(
        [BillingPlugin], environ={}, database_url=spec["database_url"], clock=lambda: now
    )
    try:
        platform.add_tenant({"tenant": spec["tenant"], "plugins": spec["plugins"]})
        api: BillingAPI = platform.tenant(spec["tenant"]).component(BILLING)
        api.invoices(limit=1)  # connected: ready to start with the others
        Path(spec["ready"]).write_text("ready")
        _wait_for(Path(spec["go"]))
        start = time.time()
        time.sleep(float(spec.get("delay", 0)))
        done = _finalize(api, spec) if spec["action"] == "finalize" else _cycle(api, spec)
        done.update(start=start, end=time.time(), pid=os.getpid())
        Path(spec["result"]).write_text(json.dumps(done))
    finally:
        platform.close()


if __name__ == "__main__":
    main(sys.argv[1])
    # Done and written: skip the interpreter's teardown, which takes seconds on a busy machine.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
