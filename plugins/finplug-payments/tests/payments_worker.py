"""A payments client in its own OS process, driven by test_payments_processes.py.

Run as ``python payments_worker.py SPEC.json``. The spec names the
database URL, the tenant id, the tenant config, a "go" file to wait for (so
every worker starts at once) and the authorizations to make; the worker
writes one line per call (key, payment id, status) and the number of channel
calls its own simulated channels received to the result file. With
``"announce"`` set it writes the file before the first call and the test may
SIGKILL it while the call is in flight.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from finplug import Money, Platform
from finplug.sockets.payments import PAYMENTS
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug_channels_sim import ChannelsSimPlugin, SimConnector
from finplug_payments import PaymentsPlugin

GO_TIMEOUT_S = 120.0


def main(spec_path: str) -> None:
    """Make the spec's calls and record what happened."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    platform = Platform(
        [PaymentsPlugin, ChannelsSimPlugin], environ={}, database_url=spec["database_url"]
    )
    platform.add_tenant(spec["config"])
    tenant = platform.tenant(spec["config"]["tenant"])
    payments = tenant.component(PAYMENTS)
    payments.channels()  # wire channels and routing before the start line
    result = Path(spec["result"])
    if spec.get("announce"):
        result.write_text("ready\n")
    go = Path(spec["go"])
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go file")
        time.sleep(0.005)
    lines = []
    for key, amount in spec["calls"]:
        paid = payments.authorize(key, amount=Money(amount, "EUR"), merchant_id="m1", method="card")
        lines.append({"key": key, "id": paid.id, "status": paid.status.value})
    calls = 0
    for batch in payments_hooks.of(tenant.hooks).finplug_register_channels():
        for connector in batch:
            assert isinstance(connector, SimConnector)
            calls += len(connector.calls)
    result.write_text(json.dumps({"results": lines, "channel_calls": calls}))
    platform.close()


if __name__ == "__main__":
    main(sys.argv[1])
