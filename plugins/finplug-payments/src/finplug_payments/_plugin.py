"""The plugin class and its tenant settings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from finplug import ConfigIssue, Plugin, PluginMeta, hookimpl
from finplug.hookspecs import CommandRegistrar, ComponentRegistrar, JobRegistrar
from finplug_payments._service import PaymentsService
from finplug_payments.routing import RoutingSettings

__all__ = ["PaymentsPlugin", "PaymentsSettings"]


class PaymentsSettings(BaseModel):
    """A tenant's payments settings (``plugins.payments`` in its config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routing: RoutingSettings = Field(
        default_factory=RoutingSettings,
        description="How payments pick channels: strategy, rules, fallback.",
    )
    idempotency_wait_seconds: int = Field(
        default=10,
        ge=0,
        le=300,
        description="How long a duplicate call waits for the first call with its key to finish.",
    )
    janitor_grace_seconds: int = Field(
        default=60,
        ge=0,
        description="Age after which a call still in flight is treated as cut off by a crash;"
        " keep it above every channel's timeout.",
    )


#: Payments the ``payments.janitor`` job settles per run and tenant.
JANITOR_BATCH = 100


class PaymentsPlugin(Plugin[PaymentsSettings]):
    """Provides ``tenant.component(PAYMENTS)`` over the tenant's channels, ledger and outbox.

    Adds the job ``payments.janitor``, the command ``finplug payments janitor``
    and its part of ``finplug demo``.
    """

    meta = PluginMeta(
        name="payments",
        version="0.1.0",
        summary="Aggregated payments: routing, cascade, top-up, acquiring bookkeeping",
        components=frozenset({"payments"}),
        requires_components=frozenset({"ledger", "events"}),
        sockets={"payments": ">=1.0,<2", "risk": ">=1.0,<2", "fees": ">=1.0,<2"},
        api=">=1.0,<2",
        settings=PaymentsSettings,
        migrations="finplug_payments.migrations",
    )

    def _setup(self) -> None:
        self._service = PaymentsService(self.settings, self.context)

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's payments component."""
        register("payments", self._service)

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        """Routing names only channels and strategies this tenant has (``finplug check``)."""
        return self._service.check()

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """``payments.janitor``: settle calls whose outcome is unknown, at every run."""
        register("payments.janitor", self._janitor)

    def _janitor(self) -> str:
        report = self._service.resolve_unknown(JANITOR_BATCH)
        if report.still_unknown or report.failed:
            failed = ", ".join(f"{f.payment_id}: {f.reason}" for f in report.failed)
            raise RuntimeError(
                f"{len(report.resolved)} settled; still unknown:"
                f" {', '.join(report.still_unknown) or '-'}; could not settle: {failed or '-'}"
            )
        return f"{len(report.resolved)} settled"

    @hookimpl
    def finplug_demo_story(self) -> list[object] | None:
        """``finplug demo``: sample payments over this tenant's channels and routing."""
        from finplug_payments._demo import play_story

        return play_story(self._service)

    @staticmethod  # outermost: commands are per installation, so the hook is class-level
    @hookimpl
    def finplug_register_commands(register: CommandRegistrar) -> None:
        """``finplug payments janitor``."""
        from finplug_payments._commands import payments_app

        register("payments", payments_app())
