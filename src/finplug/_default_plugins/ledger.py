"""The kernel's ledger, provided to every tenant as the ``ledger`` component."""

from __future__ import annotations

from typing import cast

from pydantic import BaseModel, ConfigDict

from finplug._plugin import API_VERSION, Plugin, PluginMeta, hookimpl
from finplug.components import LedgerAPI
from finplug.hookspecs import ComponentRegistrar, JobRegistrar
from finplug.ledger.facade import Ledger

__all__ = ["LedgerPlugin", "LedgerSettings"]


class LedgerSettings(BaseModel):
    """The ledger takes no settings yet; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerPlugin(Plugin[LedgerSettings]):
    """Provides ``tenant.ledger`` over the tenant's own storage; job ``ledger.expire_holds``."""

    meta = PluginMeta(
        name="ledger",
        version=API_VERSION,
        summary="The kernel's double-entry ledger",
        components=frozenset({"ledger"}),
        api=f">={API_VERSION}",
        settings=LedgerSettings,
    )

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's ledger."""
        register("ledger", Ledger(self.context.storage.begin, clock=self.context.clock))

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """``ledger.expire_holds``: release holds whose timeout passed, at every run."""
        register("ledger.expire_holds", self._expire_holds)

    def _expire_holds(self) -> str:
        ledger = cast("LedgerAPI", self.context.component("ledger"))
        return f"{len(ledger.expire_pending(self.context.clock()))} hold(s) expired"
