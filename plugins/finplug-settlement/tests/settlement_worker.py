"""A settlement worker in its own OS process, driven by test_run_processes.py.

Run as ``python settlement_worker.py SPEC.json``: opens the spec's tenant,
waits for the spec's "go" file, runs settlement for the spec's day, pays
every batch of that day (made by it or by another worker), and writes which
batches it made and how many payout calls its channel received.

With ``"hang": true`` in the spec it is meant to be killed: it settles
accounts slowly, and once a payout is written ``sent`` it hangs before
calling the channel, writing a "ready" file so the test knows when to kill.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from finplug import Platform
from finplug.sockets.settlement import SETTLEMENT
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from finplug_payments import PaymentsPlugin
from finplug_settlement import SettlementPlugin

PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, SettlementPlugin]


def _hang(tenant: Any, ready: Path) -> None:
    """Settle slowly, then stop for good just before the first payout call."""
    from finplug_settlement._payouts import Payouts
    from finplug_settlement._runs import Runs

    settle = Runs._settle

    def slow(self: Runs, *args: Any) -> str:
        time.sleep(0.05)
        return settle(self, *args)

    def stuck(self: Payouts, *args: Any) -> None:
        ready.write_text("sent")
        time.sleep(600)

    # Test doubles, in this process only.
    setattr(Runs, "_settle", slow)  # noqa: B010
    setattr(Payouts, "_call", stuck)  # noqa: B010


def main(spec_path: str) -> None:
    """Run and pay the spec's day; write what this process did."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    platform = Platform(PLUGINS, environ={}, database_url=spec["database_url"])
    platform.add_tenant({"tenant": spec["tenant"], "plugins": spec["plugins"]})
    tenant = platform.tenant(spec["tenant"])
    settlement = tenant.component(SETTLEMENT)
    if spec.get("hang"):
        _hang(tenant, Path(spec["ready"]))
    go = Path(spec["go"])
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go file")
        time.sleep(0.005)
    report = settlement.run(date.fromisoformat(spec["day"]))
    for batch_id in report.created + report.existing:
        settlement.pay(batch_id)
    plugin = tenant.plugin("channels-sim")
    assert isinstance(plugin, ChannelsSimPlugin)
    connector = plugin.connector("card")
    assert isinstance(connector, SimConnector)
    calls = [c.reference for c in connector.calls if c.operation.value == "payout"]
    result = {"created": list(report.created), "failed": report.failed, "payout_calls": calls}
    Path(spec["result"]).write_text(json.dumps(result))
    platform.close()


if __name__ == "__main__":
    main(sys.argv[1])
