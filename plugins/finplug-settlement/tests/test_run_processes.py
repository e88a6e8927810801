"""Settlement across OS processes: several workers running the same day make one batch each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finplug import Money, Platform
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.settlement import SETTLEMENT, PayoutStatus
from finplug.testing import new_tenant_id
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin

WORKER = Path(__file__).with_name("settlement_worker.py")
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]
SETTINGS: dict[str, Any] = {
    "payments": {},
    "channels-sim": {
        "channels": [{"name": "card", "methods": ["card"], "currencies": ["EUR"], "payouts": True}]
    },
    "settlement": {
        "rules": {
            "market": {
                "shares": [
                    {"party": "platform", "role": "platform", "percent": "10"},
                    {"party": "partner-7", "role": "partner", "fixed": "1.00"},
                    {"party": "merchant", "role": "merchant", "remainder": True},
                ]
            }
        },
        "default_rule": "market",
        "schedule": {"kind": "daily", "delay_days": 1, "timezone": "UTC"},
    },
}
MONDAY = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)


def test_three_workers_settle_and_pay_each_batch_once(
    tmp_path: Path, finplug_database_url: str
) -> None:
    tenant_id = new_tenant_id()
    platform = Platform(
        PLUGINS, environ={}, database_url=finplug_database_url, clock=lambda: MONDAY
    )
    platform.add_tenant({"tenant": tenant_id, "plugins": SETTINGS})
    platform.upgrade(tenant_id)
    tenant = platform.tenant(tenant_id)
    procs = []
    results = []
    try:
        for i in range(12):
            tenant.component(PAYMENTS).authorize(
                f"k{i}",
                amount=Money(f"{10 + i}.00", "EUR"),
                merchant_id=f"m{i % 4}",
                method="card",
                capture=True,
            )
        go = tmp_path / "go"
        for n in range(3):
            spec = tmp_path / f"w{n}.spec.json"
            result = tmp_path / f"w{n}.json"
            spec.write_text(
                json.dumps(
                    {
                        "database_url": finplug_database_url,
                        "tenant": tenant_id,
                        "plugins": SETTINGS,
                        "go": str(go),
                        "result": str(result),
                        "day": "2025-10-07",
                    }
                )
            )
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
            procs.append(subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env))
            results.append(result)
        go.write_text("go")
        for proc in procs:
            assert proc.wait(timeout=180) == 0
        done = [json.loads(r.read_text()) for r in results]
        made = [batch for d in done for batch in d["created"]]
        # Four merchants and the partner: five batches, each made by exactly one worker.
        assert len(made) == len(set(made)) == 5
        assert all(d["failed"] == [] for d in done)
        # Each batch was paid once: one channel call for it across all the processes.
        calls = [ref for d in done for ref in d["payout_calls"]]
        assert sorted(calls) == sorted(f"payout:{b}" for b in made)
        settlement = tenant.component(SETTLEMENT)
        for batch_id in made:
            payout = settlement.payout(batch_id)
            assert payout is not None
            assert payout.status is PayoutStatus.PAID
        # Everything captured, less the platform's commission, was paid out.
        paid = sum((settlement.batch(b).net for b in made), Money.zero("EUR"))
        commission = tenant.ledger.balance("settlement:commission:EUR").posted
        assert paid + commission == Money("186.00", "EUR")
        assert tenant.ledger.verify().ok
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        tenant.storage.drop()
        platform.close()


def test_a_worker_killed_mid_run_and_mid_payout_leaves_nothing_twice(
    tmp_path: Path, finplug_database_url: str
) -> None:
    settings = json.loads(json.dumps(SETTINGS))
    # A real channel knows nothing of a call it never received: so does this one.
    settings["channels-sim"]["lookup_unseen"] = "not_received"
    tenant_id = new_tenant_id()
    platform = Platform(
        PLUGINS, environ={}, database_url=finplug_database_url, clock=lambda: MONDAY
    )
    platform.add_tenant({"tenant": tenant_id, "plugins": settings})
    platform.upgrade(tenant_id)
    tenant = platform.tenant(tenant_id)
    proc = None
    try:
        for i in range(8):
            tenant.component(PAYMENTS).authorize(
                f"k{i}",
                amount=Money("10.00", "EUR"),
                merchant_id=f"m{i}",
                method="card",
                capture=True,
            )
        spec = tmp_path / "w.spec.json"
        ready = tmp_path / "ready"
        spec.write_text(
            json.dumps(
                {
                    "database_url": finplug_database_url,
                    "tenant": tenant_id,
                    "plugins": settings,
                    "go": str(tmp_path / "go"),
                    "result": str(tmp_path / "w.json"),
                    "day": "2025-10-07",
                    "hang": True,
                    "ready": str(ready),
                }
            )
        )
        (tmp_path / "go").write_text("go")
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
        proc = subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env)
        deadline = datetime.now(UTC).timestamp() + 120
        while not ready.exists():
            assert proc.poll() is None, "the worker ended before its first payout"
            assert datetime.now(UTC).timestamp() < deadline
            os.sched_yield()
        proc.kill()  # all batches made, one payout written "sent", its channel never called
        proc.wait(timeout=30)
        settlement = tenant.component(SETTLEMENT)
        report = settlement.run(datetime(2025, 10, 7).date())
        assert report.created == ()  # the killed worker made every batch
        batches = report.existing
        assert len(batches) == 9  # eight merchants and the partner
        sent = [b for b in batches if settlement.payout(b) is not None]
        assert len(sent) == 1
        assert settlement.payout(sent[0]).status is PayoutStatus.SENT  # type: ignore[union-attr]
        # The janitor sends the cut-off payout (same reference); the others are paid now.
        assert settlement.resolve_payouts().paid == tuple(sent)
        for batch_id in batches:
            assert settlement.pay(batch_id).status is PayoutStatus.PAID
        assert tenant.ledger.balance("settlement:payouts:EUR").posted == Money.zero("EUR")
        assert tenant.ledger.verify().ok
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        tenant.storage.drop()
        platform.close()
