"""What a plugin is: its metadata, its base class and the hook markers."""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import BaseModel, ConfigDict, Field, field_validator

from finplug._errors import AssemblyError
from finplug._socket import Socket

if TYPE_CHECKING:
    from finplug._storage import TenantStorage
    from finplug._uow import UnitOfWork
    from finplug.hookspecs import Hooks

__all__ = [
    "API_VERSION",
    "PROJECT",
    "HookFailurePolicy",
    "NoSettings",
    "Plugin",
    "PluginContext",
    "PluginMeta",
    "failure_policy",
    "hookimpl",
    "hookspec",
]

#: The pluggy project name; hook markers and managers use it.
PROJECT = "finplug"

#: The version of the plugin API (hook specs, component interfaces, Plugin).
#: Plugins declare the range they support in :attr:`PluginMeta.api`.
API_VERSION = "1.0"

#: Marks a hook implementation on a plugin class: ``@hookimpl`` or
#: ``@hookimpl(tryfirst=True)``, ``@hookimpl(wrapper=True)``.
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Marks a hook specification (used only by :mod:`finplug.hookspecs`).
hookspec = pluggy.HookspecMarker(PROJECT)

#: The attribute :func:`failure_policy` sets on a spec function.
FAILURE_POLICY_ATTR = f"{PROJECT}_failure_policy"

_F = TypeVar("_F", bound=Callable[..., Any])
C = TypeVar("C")


class HookFailurePolicy(enum.StrEnum):
    """What the caller of a hook does when an implementation raises.

    Every spec in :mod:`finplug.hookspecs` declares one with
    :func:`failure_policy`. Whatever the policy, the error reaches the caller
    as a :class:`~finplug.HookCallError` naming tenant, plugin and hook, with
    the plugin's exception chained.
    """

    PROPAGATE = "propagate"
    """The caller's operation fails with the error before anything is written."""
    FAIL_CLOSED = "fail_closed"
    """The caller takes the safe answer (a risk check that fails holds the operation)."""
    REPORT = "report"
    """The failure becomes a reported finding (a located config issue); the caller goes on."""
    RETRY_LATER = "retry_later"
    """The work stays pending and is offered again later (an undelivered event)."""


def failure_policy(policy: HookFailurePolicy) -> Callable[[_F], _F]:
    """Declare a hook spec's failure policy (put it under ``@hookspec``)."""

    def mark(spec: _F) -> _F:
        setattr(spec, FAILURE_POLICY_ATTR, policy)
        return spec

    return mark


_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


class NoSettings(BaseModel):
    """The settings model of a plugin that takes no settings: any key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginMeta(BaseModel):
    """Everything the kernel needs to know about a plugin before instantiating it.

    Declared once on the plugin class as ``meta = PluginMeta(...)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(description="Unique plugin name; the key under `plugins:` in tenant configs.")
    version: str = Field(description="The plugin's own version (usually its distribution's).")
    summary: str = Field(default="", description="One line saying what the plugin does.")
    components: frozenset[str] = Field(
        default=frozenset(), description="Components this plugin provides (`payments`, `risk` …)."
    )
    requires_plugins: frozenset[str] = Field(
        default=frozenset(), description="Plugins that must be enabled in the same tenant."
    )
    requires_components: frozenset[str] = Field(
        default=frozenset(), description="Components some other enabled plugin must provide."
    )
    before: frozenset[str] = Field(
        default=frozenset(),
        description="Plugins whose hook implementations must run after this plugin's.",
    )
    after: frozenset[str] = Field(
        default=frozenset(),
        description="Plugins whose hook implementations must run before this plugin's.",
    )
    api: str = Field(
        default=f">={API_VERSION}", description="PEP 440 range of finplug API versions supported."
    )
    settings: type[BaseModel] = Field(
        default=NoSettings, description="Pydantic model validating this plugin's tenant settings."
    )
    migrations: str | None = Field(
        default=None,
        description="Dotted name of the package holding this plugin's Alembic revision scripts"
        " (e.g. `finplug_example.migrations`); run by `finplug db upgrade`. None: no tables.",
    )
    sockets: dict[str, str] = Field(
        default_factory=dict,
        description="Sockets this plugin plugs into (provides, implements hooks of, or calls),"
        " each with the PEP 440 range of socket versions it supports:"
        ' `{"payments": ">=1.0,<2"}`. Their hook specs join the plugin\'s.',
    )
    hookspecs: tuple[str, ...] = Field(
        default=(),
        description="Dotted names of modules holding hook specifications beyond the kernel's"
        " that this plugin declares (its own extension points) or implements or calls (another"
        " plugin's, named without importing it). Added to a tenant's manager when the plugin is"
        " enabled there.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "must be lower case letters, digits, '-' or '_', starting with a letter"
            )
        return value

    @field_validator("components", "requires_components")
    @classmethod
    def _check_components(cls, value: frozenset[str]) -> frozenset[str]:
        bad = sorted(v for v in value if not _COMPONENT.match(v))
        if bad:
            raise ValueError(f"component names must be lower-case identifiers: {bad}")
        return value

    @field_validator("api")
    @classmethod
    def _check_api(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier as exc:
            raise ValueError(f"not a PEP 440 version range: {exc}") from None
        return value

    @field_validator("migrations")
    @classmethod
    def _check_migrations(cls, value: str | None) -> str | None:
        if value is not None and not _DOTTED.match(value):
            raise ValueError("must be a dotted package name such as 'my_plugin.migrations'")
        return value

    @field_validator("sockets")
    @classmethod
    def _check_sockets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, spec in value.items():
            if not _COMPONENT.match(name):
                raise ValueError(f"socket names are lower-case identifiers, got {name!r}")
            try:
                SpecifierSet(spec)
            except InvalidSpecifier as exc:
                raise ValueError(f"socket {name!r}: not a PEP 440 version range: {exc}") from None
        return value

    @field_validator("hookspecs")
    @classmethod
    def _check_hookspecs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _DOTTED.match(v)]
        if bad:
            raise ValueError(f"must be dotted module names such as 'my_plugin.hookspecs': {bad}")
        return tuple(dict.fromkeys(value))

    @field_validator("settings")
    @classmethod
    def _check_settings(cls, value: type[BaseModel]) -> type[BaseModel]:
        if not (isinstance(value, type) and issubclass(value, BaseModel)):
            raise ValueError("must be a pydantic BaseModel subclass")
        return value

    def supports_api(self, version: str = API_VERSION) -> bool:
        """Whether this plugin declares support for the given finplug API version."""
        return SpecifierSet(self.api).contains(version, prereleases=True)


class PluginContext:
    """What a plugin instance may use of its tenant: id, hooks, components, log.

    One per plugin per tenant, handed to the plugin's constructor. Hooks and
    components are reachable once assembly has finished (that is, from any
    hook or component call, not from ``__init__``).
    """

    __slots__ = ("_log", "_runtime", "plugin_name", "tenant_id")

    tenant_id: str
    plugin_name: str

    def __init__(self, tenant_id: str, plugin_name: str, runtime: _RuntimeView) -> None:
        self.tenant_id = tenant_id
        self.plugin_name = plugin_name
        self._runtime = runtime
        self._log: logging.LoggerAdapter[logging.Logger] | None = None

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that tags every record with the tenant and plugin (``extra``)."""
        log = self._log
        if log is None:
            log = self._log = logging.LoggerAdapter(
                logging.getLogger(f"finplug.plugins.{self.plugin_name}"),
                {"tenant": self.tenant_id, "plugin": self.plugin_name},
            )
        return log

    @property
    def hooks(self) -> Hooks:
        """The tenant's typed hook relay (see :class:`finplug.hookspecs.Hooks`).

        Available once the tenant is assembled: from hook and component calls,
        not from a plugin's ``_setup``.
        """
        hooks: Hooks | None = getattr(self._runtime, "hooks", None)
        if hooks is None:
            raise AssemblyError(
                self.tenant_id,
                f"plugin {self.plugin_name!r} used hooks during set-up; hooks and components"
                " are available once the tenant is assembled",
            )
        return hooks

    @overload
    def component(self, key: Socket[C]) -> C: ...

    @overload
    def component(self, key: str) -> object: ...

    def component(self, key: Socket[Any] | str) -> Any:
        """Another component of the same tenant, typed when asked by socket.

        ``self.context.component(RISK)`` is the tenant's ``RiskAPI`` (its
        provider's, or the socket's default); a name gives an untyped object.
        Raises :class:`ComponentNotEnabledError` when nothing provides it.
        Like :attr:`hooks`, available once the tenant is assembled.
        """
        if getattr(self._runtime, "hooks", None) is None:
            name = key.name if isinstance(key, Socket) else key
            raise AssemblyError(
                self.tenant_id,
                f"plugin {self.plugin_name!r} asked for component {name!r} during set-up;"
                " components are available once the tenant is assembled",
            )
        return self._runtime.component(key)

    def has_component(self, name: str) -> bool:
        """Whether some enabled plugin of this tenant provides ``name``."""
        return self._runtime.has_component(name)

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work on the tenant's storage, its idempotency keys scoped to this plugin.

        ``with self.context.unit_of_work() as uow: ...; uow.commit()``: one
        transaction for the plugin's own tables (``uow.conn``), the ledger,
        the events and the idempotency keys; see :class:`finplug.UnitOfWork`.
        Like :attr:`hooks`, available once the tenant is assembled.
        """
        if getattr(self._runtime, "hooks", None) is None:
            raise AssemblyError(
                self.tenant_id,
                f"plugin {self.plugin_name!r} opened a unit of work during set-up;"
                " storage is available once the tenant is assembled",
            )
        return self._runtime.unit_of_work(self.plugin_name)

    @property
    def clock(self) -> Callable[[], datetime]:
        """The platform's clock: returns the current time, timezone-aware (UTC)."""
        return self._runtime.clock

    @property
    def storage(self) -> TenantStorage:
        """The tenant's own database (schema or file); only this tenant's data."""
        return self._runtime.storage

    def __repr__(self) -> str:
        return f"PluginContext(tenant={self.tenant_id!r}, plugin={self.plugin_name!r})"


class _RuntimeView:
    """The part of a tenant runtime a plugin context reaches (set after assembly)."""

    hooks: Hooks
    storage: TenantStorage
    clock: Callable[[], datetime]
    component: Callable[[Any], Any]
    has_component: Callable[[str], bool]
    unit_of_work: Callable[[str], UnitOfWork]


SettingsT = TypeVar("SettingsT", bound=BaseModel)


class Plugin(Generic[SettingsT]):
    """Base class of finplug plugins.

    A subclass sets :attr:`meta` and implements hooks as methods marked with
    :data:`hookimpl`. The kernel creates one instance per tenant, passing the
    settings already validated by ``meta.settings`` and a
    :class:`PluginContext`. Subclasses that need set-up override
    :meth:`_setup` rather than ``__init__``.
    """

    meta: ClassVar[PluginMeta]
    """The plugin's metadata; every concrete plugin class must define it."""

    __slots__ = ("context", "settings")

    def __init__(self, settings: SettingsT, context: PluginContext) -> None:
        expected = type(self).meta.settings
        if not isinstance(settings, expected):
            raise TypeError(
                f"{type(self).__name__} expects settings of type {expected.__name__},"
                f" got {type(settings).__name__}"
            )
        self.settings: SettingsT = settings
        self.context: PluginContext = context
        self._setup()

    def _setup(self) -> None:
        """Per-tenant set-up hook for subclasses; the default does nothing."""

    def __repr__(self) -> str:
        # Settings are left out on purpose: they may hold secrets.
        return f"<{type(self).__name__} {self.meta.name!r} tenant={self.context.tenant_id!r}>"


def plugin_name_of(obj: Any) -> str:
    """The declared name of a plugin class, or ``'<unknown>'``."""
    meta = getattr(obj, "meta", None)
    return meta.name if isinstance(meta, PluginMeta) else "<unknown>"
