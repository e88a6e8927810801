"""Billing socket: reserved; its values, interface and hooks come with the billing issue.

Declared now so that tenant configs and plugins can name the ``billing``
component. Nobody plugged in: asking for it raises
:class:`~finplug.ComponentNotEnabledError`.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from finplug import Socket

__all__ = ["SOCKET", "VERSION", "BillingAPI"]

#: The socket's version (0.x: reserved, no methods yet).
VERSION: Final = "0.1"


@runtime_checkable
class BillingAPI(Protocol):
    """The ``billing`` component (its methods come with the billing issue)."""


#: The billing socket.
SOCKET: Final = Socket[BillingAPI]("billing", version=VERSION, interface=BillingAPI)
