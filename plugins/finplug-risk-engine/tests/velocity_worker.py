"""A velocity recorder in its own OS process, driven by test_velocity_processes.py.

Run as ``python velocity_worker.py SPEC.json``: waits for the spec's "go"
file, then records the spec's outcomes (refs and minutes before T0) for
card ``A``, each in its own transaction, and writes how many were new.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from finplug import Money, Platform
from finplug_risk_engine._plugin import RiskEnginePlugin
from finplug_risk_engine.velocity import Outcome, Velocity

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def main(spec_path: str) -> None:
    """Record the spec's outcomes; write the number that were new."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    platform = Platform([RiskEnginePlugin], environ={}, database_url=spec["database_url"])
    platform.add_tenant({"tenant": spec["tenant"], "plugins": {"risk-engine": {}}})
    velocity = Velocity(platform.tenant(spec["tenant"]).storage.begin)
    go = Path(spec["go"])
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go file")
        time.sleep(0.005)
    new = 0
    for ref, minutes in spec["outcomes"]:
        at = T0 - timedelta(minutes=minutes)
        outcome = Outcome(
            ref, "payment.authorized", at, {"card_fingerprint": "A"}, Money("1.00", "EUR")
        )
        new += velocity.record(outcome)
    Path(spec["result"]).write_text(json.dumps({"new": new}))
    platform.close()


if __name__ == "__main__":
    main(sys.argv[1])
