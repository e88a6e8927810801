"""The settlement socket: order splits (settlement runs and payouts come next).

A plugin providing the ``settlement`` component names it in its meta
(``sockets={"settlement": ">=0.1,<1"}``); a host reaches the component typed::

    from finplug.sockets.settlement import SETTLEMENT

    split = tenant.component(SETTLEMENT).split_of(payment_id)

Nobody plugged in: asking for the component raises
:class:`~finplug.ComponentNotEnabledError`; captures stay whole on the
merchant's payable account.

Version 0.x while the issue that builds it is open: settlement runs, batches,
payouts and statements come next, and the interface will grow.
"""

from __future__ import annotations

from typing import Final

from finplug import Socket
from finplug.sockets.settlement._api import SettlementAPI
from finplug.sockets.settlement._values import (
    BatchStatus,
    PartyRole,
    Payout,
    PayoutReport,
    PayoutStatus,
    RunReport,
    SettlementBatch,
    SettlementError,
    SettlementNotFoundError,
    Split,
    SplitPart,
)

__all__ = [
    "SETTLEMENT",
    "SOCKET",
    "VERSION",
    "BatchStatus",
    "PartyRole",
    "Payout",
    "PayoutReport",
    "PayoutStatus",
    "RunReport",
    "SettlementAPI",
    "SettlementBatch",
    "SettlementError",
    "SettlementNotFoundError",
    "Split",
    "SplitPart",
]

#: The settlement socket's version; plugins declare the range they support.
VERSION: Final = "0.1"

#: The settlement socket: the ``settlement`` component; no default provider.
SOCKET: Final = Socket[SettlementAPI]("settlement", version=VERSION, interface=SettlementAPI)
SETTLEMENT: Final = SOCKET
