"""A reconciliation worker in its own OS process, driven by test_recon_run_processes.py.

Run as ``python recon_worker.py SPEC.json``: opens the spec's tenant, waits
for the spec's "go" file, runs the spec's account and period once, and
writes how many matches its run made. With ``"die": true`` it kills itself
(SIGKILL) in the middle of writing its matches, before its commit.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from finplug import Platform
from finplug.sockets.reconciliation import RECONCILIATION
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_reconciliation import ReconciliationPlugin

PLUGINS = [PaymentsPlugin, ChannelsSimPlugin, ReconciliationPlugin]


def _die_while_writing() -> None:
    """Kill this process once its run has written its matches, before the commit."""
    from finplug_reconciliation import _runs
    from finplug_reconciliation._matchstore import save_matches as save

    def save_then_die(*args: Any, **kwargs: Any) -> int:
        made = save(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return made

    setattr(_runs, "save_matches", save_then_die)  # noqa: B010 - a test double, this process only


def main(spec_path: str) -> None:
    """Run the spec's reconciliation once; write what this process did."""
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text())
    platform = Platform(PLUGINS, environ={}, database_url=spec["database_url"])
    platform.add_tenant({"tenant": spec["tenant"], "plugins": spec["plugins"]})
    recon = platform.tenant(spec["tenant"]).component(RECONCILIATION)
    if spec.get("die"):
        _die_while_writing()
    go = Path(spec["go"])
    deadline = time.monotonic() + 120
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go file")
        time.sleep(0.005)
    day = date.fromisoformat(spec["day"])
    run = recon.run(spec["account"], day, day)
    Path(spec["result"]).write_text(json.dumps({"matches": run.matches, "breaks": run.breaks}))
    platform.close()


if __name__ == "__main__":
    main(sys.argv[1])
