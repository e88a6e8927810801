"""Reconciliation socket: reserved; values, interface and hooks come with its issue.

Declared now so that tenant configs and plugins can name the ``reconciliation``
component. Nobody plugged in: asking for it raises
:class:`~finplug.ComponentNotEnabledError`.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from finplug import Socket

__all__ = ["SOCKET", "VERSION", "ReconciliationAPI"]

#: The socket's version (0.x: reserved, no methods yet).
VERSION: Final = "0.1"


@runtime_checkable
class ReconciliationAPI(Protocol):
    """The ``reconciliation`` component (methods come with the reconciliation issue)."""


#: The reconciliation socket.
SOCKET: Final = Socket[ReconciliationAPI](
    "reconciliation", version=VERSION, interface=ReconciliationAPI
)
