"""finplug-channels-sim: simulated payment channels, deterministic under a seed.

Each configured channel becomes a :class:`SimConnector` that approves,
declines, fails, or times out (with or without doing the work) according to
its ``script`` and its rates. Every outcome is a pure function of the seed,
the channel name and the call, so tests and demos can script every failure
mode and any process recomputes the same truth. Each channel also writes a
daily settlement file (:func:`settlement_file`), with discrepancies scripted
in its settings, for reconciliation to import.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from finplug import Plugin, PluginMeta, hookimpl
from finplug.sockets.payments import ChannelConnector
from finplug_channels_sim._connector import (
    AuthorizationState,
    JournalEntry,
    SimConnector,
    outcome_digest,
)
from finplug_channels_sim._files import (
    COLUMNS,
    SettlementDiscrepancyError,
    SettlementFileError,
    SettlementRow,
    channel_fee,
    settlement_file,
    settlement_rows,
    write_settlement_file,
)
from finplug_channels_sim._settings import (
    Discrepancy,
    DiscrepancyKind,
    Outcome,
    OutcomeKind,
    RowType,
    ScriptEntry,
    SimChannel,
    SimSettings,
    parse_script_entry,
)

__all__ = [
    "COLUMNS",
    "AuthorizationState",
    "ChannelsSimPlugin",
    "Discrepancy",
    "DiscrepancyKind",
    "JournalEntry",
    "Outcome",
    "OutcomeKind",
    "RowType",
    "ScriptEntry",
    "SettlementDiscrepancyError",
    "SettlementFileError",
    "SettlementRow",
    "SimChannel",
    "SimConnector",
    "SimSettings",
    "channel_fee",
    "outcome_digest",
    "parse_script_entry",
    "settlement_file",
    "settlement_rows",
    "write_settlement_file",
]


class ChannelsSimPlugin(Plugin[SimSettings]):
    """Registers one :class:`SimConnector` per channel in the tenant's settings.

    The connectors are built once per plugin instance (one per tenant), so
    every call of ``finplug_register_channels`` hands out the same objects and
    their journals survive between calls. They journal on the platform's clock.
    """

    meta = PluginMeta(
        sockets={"payments": ">=1.0,<2"},
        name="channels-sim",
        version="0.1.0",
        summary="Simulated payment channels, deterministic under a seed",
        api=">=1.0,<2",
        settings=SimSettings,
    )

    __slots__ = ("_connectors",)

    def _setup(self) -> None:
        settings = self.settings
        self._connectors = {
            channel.name: SimConnector(
                channel,
                seed=settings.seed,
                lookup_unseen=settings.lookup_unseen,
                clock=self.context.clock,
            )
            for channel in settings.channels
        }

    @property
    def connectors(self) -> tuple[SimConnector, ...]:
        """The tenant's connectors, in settings order."""
        return tuple(self._connectors.values())

    def connector(self, name: str) -> SimConnector:
        """The connector of channel ``name`` (raises :class:`KeyError` if not configured)."""
        try:
            return self._connectors[name]
        except KeyError:
            raise KeyError(f"channels-sim has no channel {name!r}") from None

    def settlement_files(
        self, day: date, folder: Path | None = None, *, timezone: str = "UTC"
    ) -> dict[str, bytes]:
        """Every channel's settlement file of ``day``: channel name -> CSV bytes.

        With ``folder``, each is also written there as ``<channel>-<YYYY-MM-DD>.csv``
        (to a temporary name, then renamed). Every file is built before any is
        written, so a discrepancy that selects nothing
        (:class:`SettlementDiscrepancyError`) leaves the folder as it was.
        ``timezone`` is the IANA zone that cuts the days (default UTC).
        """
        files = {
            connector.name: settlement_file(connector, day, timezone=timezone)
            for connector in self._connectors.values()
        }
        if folder is not None:
            for name, content in files.items():
                write_settlement_file(folder, name, day, content)
        return files

    @hookimpl
    def finplug_register_channels(self) -> list[ChannelConnector] | None:
        """The configured channels, or ``None`` when there are none."""
        return list(self._connectors.values()) or None
