"""Built-in behaviour shipped as plugins that every tenant gets.

They are ordinary :class:`finplug.Plugin` classes, assembled like any other,
so the kernel uses the same sockets it offers. A tenant config may still
carry settings for them under their names (``plugins: {ledger: {...}}``).
"""

from __future__ import annotations

from finplug._default_plugins.events import EventsPlugin
from finplug._default_plugins.idempotency import IdempotencyPlugin
from finplug._default_plugins.ledger import LedgerPlugin

__all__ = ["DEFAULT_PLUGINS", "EventsPlugin", "IdempotencyPlugin", "LedgerPlugin"]

#: Plugins enabled in every tenant, whether or not its config lists them.
DEFAULT_PLUGINS = (LedgerPlugin, EventsPlugin, IdempotencyPlugin)
