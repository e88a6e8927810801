"""What a socket is: one business domain's contract, versioned on its own.

A socket module under :mod:`finplug.sockets` (or a third party's) declares
one :class:`Socket`: the domain's name, its version, the component
interface a provider implements, the module holding its hook
specifications, and what "nobody plugged in" means (a default component, or
none). The plugboard never imports a socket module by itself: a plugin names
the sockets it plugs into in :attr:`PluginMeta.sockets`
(``{"payments": ">=1.0,<2"}``), and the registry loads them by name.

A socket is also the typed key of its component::

    from finplug.sockets.payments import PAYMENTS

    payments = tenant.component(PAYMENTS)   # typed as PaymentsAPI, no cast
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from finplug._plugin import PluginContext

__all__ = ["SOCKET_PACKAGE", "Socket", "SocketError", "load_socket"]

#: Where sockets named in :attr:`PluginMeta.sockets` are looked up: ``<package>.<name>``.
SOCKET_PACKAGE = "finplug.sockets"

C = TypeVar("C")


class SocketError(Exception):
    """A socket cannot be loaded or does not satisfy a plugin (becomes a failed plugin)."""


class Socket(Generic[C]):
    """One domain's contract: name, version, component interface, hook specs, default.

    ``C`` is the component interface, given explicitly because interfaces
    are protocols: ``PAYMENTS: Final = Socket[PaymentsAPI]("payments", ...)``.
    ``default`` builds the component of a tenant on which no enabled plugin
    provides it (for risk: approve unless a rule objects); ``None`` means
    asking for it raises :class:`~finplug.ComponentNotEnabledError`.
    """

    __slots__ = ("default", "hookspecs", "interface", "name", "version")

    def __init__(
        self,
        name: str,
        *,
        version: str,
        interface: type[Any],
        hookspecs: str | None = None,
        default: Callable[[PluginContext], C] | None = None,
    ) -> None:
        try:
            Version(version)
        except InvalidVersion:
            raise ValueError(f"socket {name!r}: version {version!r} is not a version") from None
        self.name = name
        self.version = version
        self.interface = interface
        self.hookspecs = hookspecs
        self.default = default

    def supported_by(self, spec: str) -> bool:
        """Whether a plugin's declared range (``">=1.0,<2"``) admits this socket's version."""
        return SpecifierSet(spec).contains(self.version, prereleases=True)

    def of(self, runtime: Any) -> C:
        """``runtime.component(self)``: the component of a tenant or plugin context, typed."""
        component: C = runtime.component(self)
        return component

    def __repr__(self) -> str:
        return f"<Socket {self.name!r} {self.version}>"


def load_socket(name: str, spec: str | None = None) -> Socket[Any]:
    """The socket ``name`` (from ``finplug.sockets.<name>``), checked against ``spec``.

    Raises :class:`SocketError` saying what is wrong: no such socket, a
    module without a ``SOCKET``, a version outside the declared range.
    """
    module_name = f"{SOCKET_PACKAGE}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise SocketError(f"no socket named {name!r} (no module {module_name})") from None
    socket = getattr(module, "SOCKET", None)
    if not isinstance(socket, Socket) or socket.name != name:
        raise SocketError(f"module {module_name} does not declare SOCKET = Socket({name!r}, …)")
    if spec is not None:
        try:
            supported = socket.supported_by(spec)
        except InvalidSpecifier:
            raise SocketError(f"socket {name!r}: {spec!r} is not a PEP 440 version range") from None
        if not supported:
            raise SocketError(
                f"supports the {name} socket {spec!r}, but this finplug provides {socket.version}"
            )
    return socket
