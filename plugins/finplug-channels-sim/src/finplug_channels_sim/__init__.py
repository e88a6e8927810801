"""finplug-channels-sim: simulated payment channels, deterministic under a seed.

Each configured channel becomes a :class:`SimConnector` that approves,
declines, fails, or times out (with or without doing the work) according to
its ``script`` and its rates. Every outcome is a pure function of the seed,
the channel name and the call, so tests and demos can script every failure
mode and any process recomputes the same truth.
"""

from __future__ import annotations

from finplug import Plugin, PluginMeta, hookimpl
from finplug.sockets.payments import ChannelConnector
from finplug_channels_sim._connector import (
    AuthorizationState,
    JournalEntry,
    SimConnector,
    outcome_digest,
)
from finplug_channels_sim._settings import (
    Outcome,
    OutcomeKind,
    ScriptEntry,
    SimChannel,
    SimSettings,
    parse_script_entry,
)

__all__ = [
    "AuthorizationState",
    "ChannelsSimPlugin",
    "JournalEntry",
    "Outcome",
    "OutcomeKind",
    "ScriptEntry",
    "SimChannel",
    "SimConnector",
    "SimSettings",
    "outcome_digest",
    "parse_script_entry",
]


class ChannelsSimPlugin(Plugin[SimSettings]):
    """Registers one :class:`SimConnector` per channel in the tenant's settings.

    The connectors are built once per plugin instance (one per tenant), so
    every call of ``finplug_register_channels`` hands out the same objects and
    their journals survive between calls.
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
                channel, seed=settings.seed, lookup_unseen=settings.lookup_unseen
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

    @hookimpl
    def finplug_register_channels(self) -> list[ChannelConnector] | None:
        """The configured channels, or ``None`` when there are none."""
        return list(self._connectors.values()) or None
