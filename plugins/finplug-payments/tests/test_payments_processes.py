"""Payments across OS processes: concurrent duplicate keys, and a client killed mid-call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from finplug import Money, Platform
from finplug.sockets.payments import PAYMENTS, PaymentStatus
from finplug.testing import new_tenant_id
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_payments._schema import attempts, payments

WORKER = Path(__file__).with_name("payments_worker.py")


def config(tenant_id: str, latency_ms: int = 0) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "plugins": {
            "payments": {"janitor_grace_seconds": 0, "idempotency_wait_seconds": 60},
            "channels-sim": {
                "seed": 3,
                "channels": [
                    {
                        "name": "card",
                        "methods": ["card"],
                        "currencies": ["EUR"],
                        "latency_ms": latency_ms,
                    }
                ],
            },
        },
    }


class Workers:
    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.database_url = database_url
        self.go = folder / "go"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, cfg: dict[str, Any], calls: list[list[str]], **extra: Any) -> Path:
        result = self.folder / f"{name}.json"
        spec = self.folder / f"{name}.spec.json"
        spec.write_text(
            json.dumps(
                {
                    "database_url": self.database_url,
                    "config": cfg,
                    "go": str(self.go),
                    "result": str(result),
                    "calls": calls,
                    **extra,
                }
            )
        )
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
        self.procs.append(subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env))
        return result

    def wait(self, timeout: float = 120) -> None:
        for proc in self.procs:
            assert proc.wait(timeout=timeout) == 0

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(tmp_path: Path, finplug_database_url: str) -> Iterator[Workers]:
    made = Workers(tmp_path, finplug_database_url)
    yield made
    made.kill_all()


@pytest.fixture
def platform_for(finplug_database_url: str) -> Iterator[Any]:
    made: list[tuple[Platform, str]] = []

    def make(cfg: dict[str, Any]) -> Platform:
        platform = Platform(
            [PaymentsPlugin, ChannelsSimPlugin], environ={}, database_url=finplug_database_url
        )
        platform.add_tenant(cfg)
        platform.upgrade(cfg["tenant"])
        made.append((platform, cfg["tenant"]))
        return platform

    yield make
    for platform, tenant_id in made:
        platform.tenant(tenant_id).storage.drop()
        platform.close()


def test_concurrent_duplicates_from_several_processes_have_one_effect(
    workers: Workers, platform_for: Any
) -> None:
    cfg = config(f"dup-{new_tenant_id()}")
    platform = platform_for(cfg)
    tenant = platform.tenant(cfg["tenant"])
    keys = [[f"order-{i}", f"{10 + i}.00"] for i in range(25)]
    results = []
    for n in range(4):  # every worker sends every key, in its own order
        order = keys[n::1] + keys[:n] if n else keys
        results.append(workers.start(f"w{n}", cfg, list(reversed(order)) if n % 2 else order))
    time.sleep(0.5)
    workers.go.write_text("go")
    workers.wait()
    outcomes = [json.loads(r.read_text()) for r in results]
    by_key: dict[str, set[str]] = {}
    for outcome in outcomes:
        for line in outcome["results"]:
            assert line["status"] == "authorized"
            by_key.setdefault(line["key"], set()).add(line["id"])
    assert all(len(ids) == 1 for ids in by_key.values())  # every process got the same payment
    assert len(by_key) == 25
    # One channel call per key in total, whichever process made it.
    assert sum(o["channel_calls"] for o in outcomes) == 25
    with tenant.storage.begin() as conn:
        assert conn.execute(select(func.count()).select_from(payments)).scalar_one() == 25
        assert conn.execute(select(func.count()).select_from(attempts)).scalar_one() == 25
    holds = tenant.ledger.open_holds()
    assert len(holds) == 25
    merchant = tenant.ledger.balance("payments:merchant:m1:EUR")
    assert merchant.credits_pending == Money(sum(10 + i for i in range(25)), "EUR")
    assert tenant.ledger.verify().ok


def test_a_client_killed_mid_call_is_settled_by_the_janitor(
    workers: Workers, platform_for: Any
) -> None:
    cfg = config(f"kill-{new_tenant_id()}")
    platform = platform_for(cfg)
    tenant = platform.tenant(cfg["tenant"])
    # The worker's channel takes 30 s to answer: it is killed while the call is in flight.
    ready = workers.start(
        "victim", config(cfg["tenant"], latency_ms=30_000), [["k-1", "42.00"]], announce=True
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    workers.go.write_text("go")
    while True:
        with tenant.storage.begin() as conn:
            row = conn.execute(select(payments.c.id, payments.c.pending_operation)).first()
        if row is not None and row.pending_operation == "authorize":
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    workers.procs[0].send_signal(signal.SIGKILL)
    workers.procs[0].wait()
    stuck = tenant.component(PAYMENTS).get(row.id)
    assert stuck.status is PaymentStatus.CREATED
    assert [a.status for a in stuck.attempts] == ["in_flight"]
    assert tenant.ledger.entries() == []  # nothing booked for a call that did not finish

    report = tenant.component(PAYMENTS).resolve_unknown()
    assert report.resolved == (row.id,)
    settled = tenant.component(PAYMENTS).get(row.id)
    assert settled.status is PaymentStatus.AUTHORIZED  # the channel did it (seeded outcome)
    assert len(tenant.ledger.open_holds()) == 1
    # The key the dead client used now answers with the settled payment.
    again = tenant.component(PAYMENTS).authorize(
        "k-1", amount=Money("42.00", "EUR"), merchant_id="m1", method="card"
    )
    assert again.id == row.id
    assert again.status is PaymentStatus.AUTHORIZED
    assert tenant.component(PAYMENTS).resolve_unknown().resolved == ()
    assert tenant.ledger.verify().ok
