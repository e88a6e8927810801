"""The built-in statement source ``channels``: each payment channel's daily settlement report.

Every channel connector the tenant's channel plugins register for payments
(``finplug_register_channels``) that implements the reconciliation
socket's :class:`~finplug.sockets.reconciliation.ChannelReports` hands over
its report of a day; each becomes a file ``<channel>-<YYYY-MM-DD>.csv`` to
import with the tenant's parsers (a channel's CSV needs a mapping in
``csv_formats``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from finplug.sockets.payments import ChannelConnector
from finplug.sockets.reconciliation import ChannelReports

__all__ = ["CHANNELS", "ChannelsSource", "File"]

#: The built-in source's name.
CHANNELS: Final = "channels"


@dataclass(frozen=True, slots=True)
class File:
    """One fetched file: its name and bytes."""

    name: str
    data: bytes


class ChannelsSource:
    """The ``channels`` statement source (see the module docstring)."""

    name: Final = CHANNELS

    def __init__(self, connectors: Callable[[], list[ChannelConnector]]) -> None:
        self._connectors = connectors

    def fetch(self, day: date) -> Sequence[File]:
        """The day's report of every channel that publishes one, in channel order."""
        return [
            File(f"{connector.info.name}-{day.isoformat()}.csv", connector.settlement_report(day))
            for connector in self._connectors()
            if isinstance(connector, ChannelReports)
        ]
