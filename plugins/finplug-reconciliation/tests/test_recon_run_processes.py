"""Reconciliation across OS processes: workers running one day match each item once.

A worker killed before its commit leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from finplug import Money, Platform
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.reconciliation import RECONCILIATION
from finplug.testing import new_tenant_id
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_reconciliation import ReconciliationPlugin
from recon_helpers import SETTINGS, csv_file

WORKER = Path(__file__).with_name("recon_worker.py")
PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, ReconciliationPlugin]
DAY = date(2026, 11, 2)
NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _set_up(database_url: str, tmp_path: Path) -> tuple[Platform, str, int]:
    """A tenant with 30 captures and their statement (one line missing from it)."""
    tenant_id = new_tenant_id()
    settings: dict[str, Any] = {"payments": {}, **json.loads(json.dumps(SETTINGS))}
    platform = Platform(PLUGINS, environ={}, database_url=database_url, clock=lambda: NOON)
    platform.add_tenant({"tenant": tenant_id, "plugins": settings})
    platform.upgrade(tenant_id)
    tenant = platform.tenant(tenant_id)
    rows = []
    for i in range(30):
        paid = tenant.component(PAYMENTS).authorize(
            f"k{i}",
            amount=Money(f"{10 + i}.00", "EUR"),
            merchant_id="m",
            method="card",
            capture=True,
        )
        if i:
            rows.append((DAY, "capture", paid.id, f"{10 + i}.00"))
    tenant.component(RECONCILIATION).import_statement(csv_file(rows), "day.csv")
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    return platform, tenant_id, len(rows)


def _workers(
    tmp_path: Path, database_url: str, tenant_id: str, count: int, *, die: bool = False
) -> list[dict[str, Any]]:
    settings = json.loads((tmp_path / "settings.json").read_text())
    go = tmp_path / f"go{int(die)}"
    procs, results = [], []
    try:
        for n in range(count):
            spec = tmp_path / f"w{n}{int(die)}.spec.json"
            result = tmp_path / f"w{n}{int(die)}.json"
            spec.write_text(
                json.dumps(
                    {
                        "database_url": database_url,
                        "tenant": tenant_id,
                        "plugins": settings,
                        "go": str(go),
                        "result": str(result),
                        "account": "card",
                        "day": DAY.isoformat(),
                        "die": die,
                    }
                )
            )
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
            procs.append(subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env))
            results.append(result)
        go.write_text("go")
        codes = [proc.wait(timeout=180) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    if die:
        assert codes == [-9] * count  # each was killed before its commit
        return []
    assert codes == [0] * count
    return [json.loads(r.read_text()) for r in results]


def test_three_workers_match_each_item_once(tmp_path: Path, finplug_database_url: str) -> None:
    platform, tenant_id, lines = _set_up(finplug_database_url, tmp_path)
    try:
        done = _workers(tmp_path, finplug_database_url, tenant_id, 3)
        # One worker matched every line; the others, after it, found nothing left to match.
        assert sorted(d["matches"] for d in done) == [0, 0, lines]
        recon = platform.tenant(tenant_id).component(RECONCILIATION)
        matches = recon.matches(limit=1000)
        items = [i for m in matches for i in (*m.statement_items, *m.ledger_items)]
        assert len(items) == len(set(items)) == 2 * lines
        (missing,) = recon.breaks("card")  # the capture left out of the statement, once
        assert missing.kind.value == "missing_in_statement"
        assert len(recon.runs()) == 3
    finally:
        platform.tenant(tenant_id).storage.drop()
        platform.close()


def test_a_worker_killed_before_its_commit_leaves_nothing(
    tmp_path: Path, finplug_database_url: str
) -> None:
    platform, tenant_id, lines = _set_up(finplug_database_url, tmp_path)
    try:
        _workers(tmp_path, finplug_database_url, tenant_id, 2, die=True)
        recon = platform.tenant(tenant_id).component(RECONCILIATION)
        assert (recon.matches(), recon.runs(), recon.breaks("card")) == ([], [], [])
        # The next run, after the kills, does the whole work once.
        run = recon.run("card", DAY, DAY)
        assert (run.matches, run.breaks) == (lines, (("missing_in_statement", 1),))
    finally:
        platform.tenant(tenant_id).storage.drop()
        platform.close()
