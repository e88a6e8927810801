"""The tenant's channels: connectors and routing table wired on first use, and success records.

Channels come from ``finplug_register_channels`` and routing strategies from
``finplug_routing_strategies`` (:mod:`finplug.sockets.payments.hookspecs`);
the routing table (:mod:`finplug_payments.routing`) is built from them and
the tenant's routing settings. A hook that raises propagates and nothing is
cached, so the next call asks again.
"""

from __future__ import annotations

import threading
from collections import deque

from finplug import AssemblyError, ConfigIssue, PluginContext
from finplug.sockets.payments import (
    ChannelConnector,
    ChannelInfo,
    ChannelStats,
    RouteRequest,
    RoutingStrategy,
)
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug_payments._booking import CLEARING, MAX_CHANNEL_NAME
from finplug_payments._checks import shown
from finplug_payments.routing import RoutingConfigError, RoutingSettings, RoutingTable

__all__ = ["Channels"]

_Wired = tuple[dict[str, ChannelConnector], RoutingTable]


class Channels:
    """One tenant's channels, its routing table, and each channel's recent successes.

    Thread-safe: the connectors and table are built once under a lock, and
    the success window per channel (``routing.success_window`` outcomes) is
    lock-guarded.
    """

    __slots__ = ("_connectors", "_ctx", "_lock", "_routing", "_table", "_window")

    def __init__(self, routing: RoutingSettings, context: PluginContext) -> None:
        self._routing = routing
        self._ctx = context
        self._lock = threading.Lock()
        self._connectors: dict[str, ChannelConnector] | None = None
        self._table: RoutingTable | None = None
        self._window: dict[str, deque[bool]] = {}

    def wire(self) -> _Wired:
        """The connectors by channel name and the routing table, built on first use."""
        connectors, table = self._connectors, self._table
        if connectors is not None and table is not None:
            return connectors, table
        with self._lock:
            if self._connectors is None or self._table is None:
                self._connectors, self._table = self._build()
            return self._connectors, self._table

    def _build(self) -> _Wired:
        tenant_id = self._ctx.tenant_id
        found: dict[str, ChannelConnector] = {}
        for batch in payments_hooks.of(self._ctx.hooks).finplug_register_channels():
            for connector in batch:
                name = connector.info.name
                if (
                    not isinstance(name, str)
                    or not name
                    or len(name) > MAX_CHANNEL_NAME
                    or "\x00" in name
                ):
                    raise AssemblyError(
                        tenant_id,
                        f"a channel plugin registers a channel named {shown(name)}: channel"
                        f" names must be 1 to {MAX_CHANNEL_NAME} characters without NUL (each"
                        " attempt stores it, and it becomes part of the ledger account code"
                        f" {CLEARING}<channel>:<CUR>)",
                    )
                if name in found:
                    raise AssemblyError(
                        tenant_id, f"two channel plugins register a channel named {name!r}"
                    )
                found[name] = connector
        strategies: dict[str, RoutingStrategy] = {}
        for offered in payments_hooks.of(self._ctx.hooks).finplug_routing_strategies():
            for name, strategy in offered.items():
                if name in strategies:
                    raise AssemblyError(
                        tenant_id, f"two plugins offer a routing strategy named {name!r}"
                    )
                strategies[name] = strategy
        infos = [c.info for c in found.values()]
        try:
            table = RoutingTable.build(
                self._routing, infos, strategies, path="plugins.payments.routing"
            )
        except ValueError as exc:  # a plugged strategy named like a built-in
            raise AssemblyError(tenant_id, str(exc)) from None
        return found, table

    def check(self) -> list[ConfigIssue]:
        """Problems of the routing settings against the tenant's channels and strategies.

        Builds the channel list and routing table afresh (nothing is cached or
        written) and returns every problem with its field path from the
        config root.
        """
        try:
            self._build()
        except RoutingConfigError as exc:
            return list(exc.issues)
        except AssemblyError as exc:
            return [ConfigIssue(None, None, "plugins", str(exc))]
        return []

    def infos(self) -> list[ChannelInfo]:
        """The channels, as registered by channel plugins, by name."""
        connectors, _ = self.wire()
        return sorted((c.info for c in connectors.values()), key=lambda i: i.name)

    def stats(self) -> dict[str, ChannelStats]:
        """Each channel's success record over the sliding window (``routing.success_window``)."""
        with self._lock:
            return {
                name: ChannelStats(len(window), sum(window))
                for name, window in self._window.items()
            }

    def route(self, request: RouteRequest) -> list[str]:
        """The channels a payment would try, in order. No side effect."""
        _, table = self.wire()
        return table.route(request, self.stats())

    def record(self, channel: str, success: bool) -> None:
        """Count one call's outcome in the channel's window."""
        with self._lock:
            window = self._window.get(channel)
            if window is None:
                window = self._window[channel] = deque(maxlen=self._routing.success_window)
            window.append(success)
