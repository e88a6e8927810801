"""The reconciliation socket: statements in, matched against the ledger, every break worked.

A plugin providing the ``reconciliation`` component names it in its meta
(``sockets={"reconciliation": ">=0.1,<1"}``); a host reaches the component typed::

    from finplug.sockets.reconciliation import RECONCILIATION

    recon = tenant.component(RECONCILIATION)
    recon.import_statement(data, "card-eu-2026-12-01.csv")
    run = recon.run("card-eu", date(2026, 12, 1), date(2026, 12, 1))

Nobody plugged in: asking for the component raises
:class:`~finplug.ComponentNotEnabledError`.

Version 0.x while the issue that builds it is open: the interface may grow.
"""

from __future__ import annotations

from typing import Final

from finplug import Socket
from finplug.sockets.reconciliation._api import ReconciliationAPI
from finplug.sockets.reconciliation._statements import (
    ChannelReports,
    ReconciliationError,
    ReconciliationNotFoundError,
    Statement,
    StatementFormatError,
    StatementLine,
)
from finplug.sockets.reconciliation._values import (
    AuditRecord,
    Break,
    BreakAction,
    BreakClass,
    BreakStatus,
    ImportReport,
    Match,
    MatchSide,
    ReconciliationRun,
    RunStatus,
)

__all__ = [
    "RECONCILIATION",
    "SOCKET",
    "VERSION",
    "AuditRecord",
    "Break",
    "BreakAction",
    "BreakClass",
    "BreakStatus",
    "ChannelReports",
    "ImportReport",
    "Match",
    "MatchSide",
    "ReconciliationAPI",
    "ReconciliationError",
    "ReconciliationNotFoundError",
    "ReconciliationRun",
    "RunStatus",
    "Statement",
    "StatementFormatError",
    "StatementLine",
]

#: The reconciliation socket's version; plugins declare the range they support.
VERSION: Final = "0.1"

#: The reconciliation socket: the ``reconciliation`` component; no default provider.
SOCKET: Final = Socket[ReconciliationAPI](
    "reconciliation", version=VERSION, interface=ReconciliationAPI
)
RECONCILIATION: Final = SOCKET
