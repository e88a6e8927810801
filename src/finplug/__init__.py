"""finplug: a plugboard for financial SaaS platforms.

The kernel owns the sockets (hook specifications in :mod:`finplug.hookspecs`,
component interfaces in :mod:`finplug.components`) and the domain values that
cross them; business components are plugins, assembled per tenant by a
:class:`Platform`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finplug._config import TenantConfig
from finplug._errors import AssemblyError
from finplug._errors import ComponentNotEnabledError
from finplug._errors import ConfigError
from finplug._errors import ConfigIssue
from finplug._errors import FinplugError
from finplug._errors import HookCallError
from finplug._errors import IdempotencyConflictError
from finplug._errors import IdempotencyInProgressError
from finplug._errors import MoneyError
from finplug._errors import TenantNotFoundError
from finplug._errors import UnitOfWorkError
from finplug._events import DeliveryFailure
from finplug._events import DispatchReport
from finplug._events import Event
from finplug._events import EventError
from finplug._events import EventsSession
from finplug._fastsql import FastSQL
from finplug._idempotency import IdempotencySession
from finplug._idempotency import StoredKey
from finplug._idempotency import request_digest
from finplug._fastsql import Record
from finplug._fastsql import driver_cursor
from finplug._money import Currency
from finplug._money import Money
from finplug._money import allocate
from finplug._money import currency
from finplug._money import decimal_from_string
from finplug._money import exact_product
from finplug._platform import Platform
from finplug._plugin import API_VERSION
from finplug._plugin import HookFailurePolicy
from finplug._plugin import NoSettings
from finplug._plugin import Plugin
from finplug._plugin import PluginContext
from finplug._plugin import PluginMeta
from finplug._plugin import failure_policy
from finplug._plugin import hookimpl
from finplug._plugin import hookspec
from finplug._registry import ENTRY_POINT_GROUP
from finplug._registry import PluginRecord
from finplug._registry import check_plugin
from finplug._runtime import HookView, hook_implementations
from finplug._socket import Socket
from finplug._runtime import Tenant
from finplug._sources import ConfigLimits
from finplug._storage import DatabaseSettings
from finplug._storage import StorageError
from finplug._storage import TenantStorage
from finplug._time import as_utc
from finplug._time import utc_now
from finplug._uow import UnitOfWork
from finplug.ledger.errors import AccountNotFoundError
from finplug.ledger.errors import CheckpointError
from finplug.ledger.errors import EntryKeyConflictError
from finplug.ledger.errors import LedgerError
from finplug.ledger.errors import OverdraftError
from finplug.ledger.errors import PendingStateError
from finplug.ledger.export import export_beancount
from finplug.ledger.session import LedgerSession
from finplug.ledger.values import Account
from finplug.ledger.values import AccountType
from finplug.ledger.values import Balance
from finplug.ledger.values import CheckpointKey
from finplug.ledger.values import Entry
from finplug.ledger.values import EntryRequest
from finplug.ledger.values import LedgerCheckpoint
from finplug.ledger.values import Leg
from finplug.ledger.values import Posting
from finplug.ledger.values import VerifyReport

if TYPE_CHECKING:
    __version__: str

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "Account",
    "AccountNotFoundError",
    "AccountType",
    "AssemblyError",
    "Balance",
    "CheckpointError",
    "CheckpointKey",
    "ComponentNotEnabledError",
    "ConfigError",
    "ConfigIssue",
    "ConfigLimits",
    "Currency",
    "DatabaseSettings",
    "DeliveryFailure",
    "DispatchReport",
    "Entry",
    "EntryKeyConflictError",
    "EntryRequest",
    "Event",
    "EventError",
    "EventsSession",
    "FastSQL",
    "FinplugError",
    "HookCallError",
    "HookFailurePolicy",
    "HookView",
    "IdempotencyConflictError",
    "IdempotencyInProgressError",
    "IdempotencySession",
    "LedgerCheckpoint",
    "LedgerError",
    "LedgerSession",
    "Leg",
    "Money",
    "MoneyError",
    "NoSettings",
    "OverdraftError",
    "PendingStateError",
    "Platform",
    "Plugin",
    "PluginContext",
    "PluginMeta",
    "PluginRecord",
    "Posting",
    "Record",
    "Socket",
    "StorageError",
    "StoredKey",
    "Tenant",
    "TenantConfig",
    "TenantNotFoundError",
    "TenantStorage",
    "UnitOfWork",
    "UnitOfWorkError",
    "VerifyReport",
    "allocate",
    "as_utc",
    "check_plugin",
    "currency",
    "decimal_from_string",
    "driver_cursor",
    "exact_product",
    "export_beancount",
    "failure_policy",
    "hook_implementations",
    "hookimpl",
    "hookspec",
    "request_digest",
    "utc_now",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("finplug")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
