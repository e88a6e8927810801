"""The settlement socket: order splits, settlement runs, payouts and statements.

A plugin providing the ``settlement`` component names it in its meta
(``sockets={"settlement": ">=1.0,<2"}``); a host reaches the component typed::

    from finplug.sockets.settlement import SETTLEMENT

    split = tenant.component(SETTLEMENT).split_of(payment_id)

Nobody plugged in: asking for the component raises
:class:`~finplug.ComponentNotEnabledError`; captures stay whole on the
merchant's payable account.

Version 1.0: methods are added in minor versions, and removed or changed
only in a major one.
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
VERSION: Final = "1.0"

#: The settlement socket: the ``settlement`` component; no default provider.
SOCKET: Final = Socket[SettlementAPI]("settlement", version=VERSION, interface=SettlementAPI)
SETTLEMENT: Final = SOCKET
