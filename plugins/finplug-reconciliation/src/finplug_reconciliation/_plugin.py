"""The plugin class: ``reconciliation`` provides the component, its hooks, a job and commands.

Settings: see :mod:`finplug_reconciliation._settings`. Its own hooks
(:mod:`finplug_reconciliation.hookspecs`) let other plugins add statement
formats and sources.
"""

from __future__ import annotations

from finplug import Plugin, PluginMeta, hookimpl
from finplug.hookspecs import CommandRegistrar, ComponentRegistrar
from finplug.sockets.payments import ChannelConnector
from finplug.sockets.payments.hookspecs import payments_hooks
from finplug_reconciliation._breaks import Breaks
from finplug_reconciliation._channels import ChannelsSource
from finplug_reconciliation._imports import Imports
from finplug_reconciliation._reports import Reports
from finplug_reconciliation._runs import Runs
from finplug_reconciliation._service import Reconciliation
from finplug_reconciliation._settings import ReconciliationSettings
from finplug_reconciliation.formats import StatementParser
from finplug_reconciliation.hookspecs import StatementSource, reconciliation_hooks

__all__ = ["ReconciliationPlugin"]


class ReconciliationPlugin(Plugin[ReconciliationSettings]):
    """Provides ``tenant.component(RECONCILIATION)``."""

    meta = PluginMeta(
        name="reconciliation",
        version="0.1.0",
        summary="Bank and channel statements matched against the ledger; breaks worked",
        components=frozenset({"reconciliation"}),
        # payments: the channels' own settlement reports (the built-in ``channels`` source).
        sockets={"reconciliation": ">=0.1,<1", "payments": ">=1.0,<2"},
        api=">=1.0,<2",
        settings=ReconciliationSettings,
        migrations="finplug_reconciliation.migrations",
        hookspecs=("finplug_reconciliation.hookspecs",),
    )

    def _setup(self) -> None:
        ctx = self.context
        self.runs = Runs(self.settings, ctx.unit_of_work, ctx.clock)
        """The tenant's match runs."""
        imports = Imports(self.settings, ctx.unit_of_work, ctx.clock, self._parsers, self._sources)
        self.service = Reconciliation(
            ctx.storage.begin,
            imports,
            self.runs,
            Breaks(self.runs, ctx.unit_of_work, ctx.clock),
            Reports(self.runs, ctx.unit_of_work, ctx.clock),
        )
        """The tenant's ``reconciliation`` component."""

    def _parsers(self) -> list[StatementParser]:
        found = reconciliation_hooks.of(self.context.hooks).finplug_recon_statement_parsers()
        return [parser for batch in found for parser in batch]

    def _sources(self) -> list[StatementSource]:
        found = reconciliation_hooks.of(self.context.hooks).finplug_recon_statement_sources()
        return [ChannelsSource(self._connectors), *(source for batch in found for source in batch)]

    def _connectors(self) -> list[ChannelConnector]:
        """The tenant's channels, as the channel plugins register them for payments."""
        batches = payments_hooks.of(self.context.hooks).finplug_register_channels()
        return [connector for batch in batches for connector in batch]

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's ``reconciliation`` component."""
        register("reconciliation", self.service)

    # trylast, and registered before settlement (plugins register by name): pluggy calls
    # it after the settlement story, so the day's payouts are booked when it reconciles.
    @hookimpl(trylast=True)
    def finplug_demo_story(self) -> list[object] | None:
        """``finplug demo``: today's channel report reconciled, each break worked."""
        from finplug_reconciliation._demo import play_story

        accounts = list(self.settings.accounts)
        if not accounts:
            return None
        today = self.context.clock().date()
        return play_story(self.service, accounts[0], today)

    @staticmethod  # outermost: commands are per installation, so the hook is class-level
    @hookimpl
    def finplug_register_commands(register: CommandRegistrar) -> None:
        """``finplug recon`` (import, run, breaks, report)."""
        from finplug_reconciliation._commands import recon_app

        register("recon", recon_app())
