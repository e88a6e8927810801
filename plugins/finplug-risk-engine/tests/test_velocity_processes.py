"""Velocity across OS processes: every outcome counted once, however many processes record it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from finplug import Money, Platform
from finplug.testing import new_tenant_id
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.velocity import Aggregate, FeatureSpec, Key, Velocity

WORKER = Path(__file__).with_name("velocity_worker.py")
T0_TEXT = "2026-12-01T12:00:00+00:00"


def test_four_processes_recording_overlapping_outcomes_count_each_once(
    tmp_path: Path, finplug_database_url: str
) -> None:
    tenant_id = new_tenant_id()
    platform = Platform([RiskEnginePlugin], environ={}, database_url=finplug_database_url)
    platform.add_tenant({"tenant": tenant_id, "plugins": {"risk-engine": {}}})
    platform.upgrade(tenant_id)
    tenant = platform.tenant(tenant_id)
    go = tmp_path / "go"
    procs = []
    results = []
    try:
        for n in range(4):
            # Worker n records outcomes n*30 .. n*30+59: each ref is recorded by two workers.
            outcomes = [[f"p{i % 120}", i % 120] for i in range(n * 30, n * 30 + 60)]
            spec = tmp_path / f"w{n}.spec.json"
            result = tmp_path / f"w{n}.json"
            spec.write_text(
                json.dumps(
                    {
                        "database_url": finplug_database_url,
                        "tenant": tenant_id,
                        "go": str(go),
                        "result": str(result),
                        "outcomes": outcomes,
                    }
                )
            )
            env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
            procs.append(subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env))
            results.append(result)
        go.write_text("go")
        for proc in procs:
            assert proc.wait(timeout=120) == 0
        new = sum(json.loads(r.read_text())["new"] for r in results)
        velocity = Velocity(tenant.storage.begin)
        at = datetime.fromisoformat(T0_TEXT)
        specs = [
            FeatureSpec("n", Aggregate.COUNT, Key.CARD_FINGERPRINT, timedelta(hours=3)),
            FeatureSpec(
                "s", Aggregate.SUM, Key.CARD_FINGERPRINT, timedelta(hours=3), currency="EUR"
            ),
            FeatureSpec("last_hour", Aggregate.COUNT, Key.CARD_FINGERPRINT, timedelta(hours=1)),
        ]
        got = velocity.features(specs, {"card_fingerprint": "A"}, at=at)
        # 120 distinct outcomes, 240 recordings: the processes agree on which were new.
        assert new == 120
        assert got == {"n": 120, "s": Money("120.00", "EUR"), "last_hour": 60}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        tenant.storage.drop()
        platform.close()
