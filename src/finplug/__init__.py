"""finplug: a plugboard for financial SaaS platforms.

The kernel owns the sockets (hook specifications in :mod:`finplug.hookspecs`,
component interfaces in :mod:`finplug.components`) and the domain values that
cross them; business components are plugins, assembled per tenant by a
:class:`Platform`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finplug._beancount import export_beancount
from finplug._config import TenantConfig
from finplug._domain import Fee
from finplug._domain import FeeContext
from finplug._domain import RiskContext
from finplug._domain import RiskDecision
from finplug._domain import RiskReason
from finplug._domain import RiskVerdict
from finplug._domain import assess_risk
from finplug._domain import combine_risk_decisions
from finplug._errors import AssemblyError
from finplug._errors import ComponentNotEnabledError
from finplug._errors import ConfigError
from finplug._errors import ConfigIssue
from finplug._errors import FinplugError
from finplug._errors import HookCallError
from finplug._errors import MoneyError
from finplug._errors import TenantNotFoundError
from finplug._events import DeliveryFailure
from finplug._events import DispatchReport
from finplug._events import Event
from finplug._events import EventError
from finplug._events import EventsSession
from finplug._fastsql import FastSQL
from finplug._fastsql import Record
from finplug._ledger import Account
from finplug._ledger import AccountNotFoundError
from finplug._ledger import AccountType
from finplug._ledger import Balance
from finplug._ledger import CheckpointError
from finplug._ledger import CheckpointKey
from finplug._ledger import Entry
from finplug._ledger import EntryRequest
from finplug._ledger import IdempotencyConflictError
from finplug._ledger import Leg
from finplug._ledger import LedgerCheckpoint
from finplug._ledger import LedgerError
from finplug._ledger import LedgerSession
from finplug._ledger import OverdraftError
from finplug._ledger import PendingStateError
from finplug._ledger import VerifyReport
from finplug._money import Currency
from finplug._money import Money
from finplug._money import allocate
from finplug._money import currency
from finplug._money import exact_product
from finplug._payments import PAYMENT_TRANSITIONS
from finplug._payments import ChannelConnector
from finplug._payments import ChannelDeclinedError
from finplug._payments import ChannelError
from finplug._payments import ChannelInfo
from finplug._payments import ChannelOperation
from finplug._payments import ChannelRequest
from finplug._payments import ChannelResult
from finplug._payments import ChannelStats
from finplug._payments import ChannelTimeoutError
from finplug._payments import ChannelUnavailableError
from finplug._payments import IllegalTransitionError
from finplug._payments import JanitorFailure
from finplug._payments import JanitorReport
from finplug._payments import Payment
from finplug._payments import PaymentAttempt
from finplug._payments import PaymentError
from finplug._payments import PaymentKind
from finplug._payments import PaymentMethod
from finplug._payments import PaymentNotFoundError
from finplug._payments import PaymentStatus
from finplug._payments import PaymentTransition
from finplug._payments import RouteRequest
from finplug._payments import RoutingStrategy
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
from finplug._runtime import HookView
from finplug._runtime import Tenant
from finplug._sources import ConfigLimits
from finplug._storage import DatabaseSettings
from finplug._storage import StorageError
from finplug._storage import TenantStorage

if TYPE_CHECKING:
    __version__: str

__all__ = [
    "API_VERSION",
    "ENTRY_POINT_GROUP",
    "PAYMENT_TRANSITIONS",
    "Account",
    "AccountNotFoundError",
    "AccountType",
    "AssemblyError",
    "Balance",
    "ChannelConnector",
    "ChannelDeclinedError",
    "ChannelError",
    "ChannelInfo",
    "ChannelOperation",
    "ChannelRequest",
    "ChannelResult",
    "ChannelStats",
    "ChannelTimeoutError",
    "ChannelUnavailableError",
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
    "EntryRequest",
    "Event",
    "EventError",
    "EventsSession",
    "FastSQL",
    "Fee",
    "FeeContext",
    "FinplugError",
    "HookCallError",
    "HookFailurePolicy",
    "HookView",
    "IdempotencyConflictError",
    "IllegalTransitionError",
    "JanitorFailure",
    "JanitorReport",
    "LedgerCheckpoint",
    "LedgerError",
    "LedgerSession",
    "Leg",
    "Money",
    "MoneyError",
    "NoSettings",
    "OverdraftError",
    "Payment",
    "PaymentAttempt",
    "PaymentError",
    "PaymentKind",
    "PaymentMethod",
    "PaymentNotFoundError",
    "PaymentStatus",
    "PaymentTransition",
    "PendingStateError",
    "Platform",
    "Plugin",
    "PluginContext",
    "PluginMeta",
    "PluginRecord",
    "Record",
    "RiskContext",
    "RiskDecision",
    "RiskReason",
    "RiskVerdict",
    "RouteRequest",
    "RoutingStrategy",
    "StorageError",
    "Tenant",
    "TenantConfig",
    "TenantNotFoundError",
    "TenantStorage",
    "VerifyReport",
    "allocate",
    "assess_risk",
    "check_plugin",
    "combine_risk_decisions",
    "currency",
    "exact_product",
    "export_beancount",
    "failure_policy",
    "hookimpl",
    "hookspec",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("finplug")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
