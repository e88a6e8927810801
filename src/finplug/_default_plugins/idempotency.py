"""The kernel's idempotency service, provided to every tenant as the ``idempotency`` component."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from pydantic import BaseModel, ConfigDict, Field

from finplug._idempotency import Idempotency
from finplug._plugin import API_VERSION, Plugin, PluginMeta, hookimpl
from finplug.components import IdempotencyAPI
from finplug.hookspecs import ComponentRegistrar, JobRegistrar

__all__ = ["IdempotencyPlugin", "IdempotencySettings"]


class IdempotencySettings(BaseModel):
    """``plugins: {idempotency: {...}}`` in a tenant config; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 366,
        description=(
            "How long a finished idempotency key (and its stored result) is kept, in hours;"
            " a key reused after that is a new request. Stripe keeps keys 24 hours."
        ),
    )


class IdempotencyPlugin(Plugin[IdempotencySettings]):
    """Provides the ``idempotency`` component; job ``idempotency.purge`` deletes expired keys."""

    meta = PluginMeta(
        name="idempotency",
        version=API_VERSION,
        summary="The kernel's idempotency keys: first result stored and replayed",
        components=frozenset({"idempotency"}),
        api=f">={API_VERSION}",
        settings=IdempotencySettings,
    )

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's idempotency service."""
        register(
            "idempotency",
            Idempotency(
                self.context.storage.begin,
                retention=timedelta(hours=self.settings.retention_hours),
                clock=self.context.clock,
            ),
        )

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """``idempotency.purge``: delete finished keys past their retention, hourly."""
        register("idempotency.purge", self._purge, every=timedelta(hours=1))

    def _purge(self) -> str:
        service = cast("IdempotencyAPI", self.context.component("idempotency"))
        return f"{service.purge(self.context.clock())} expired key(s) deleted"
