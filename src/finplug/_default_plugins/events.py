"""The kernel's event outbox, provided to every tenant as the ``events`` component."""

from __future__ import annotations

from typing import cast

from pydantic import BaseModel, ConfigDict

from finplug._events import Event, Events
from finplug._plugin import API_VERSION, Plugin, PluginMeta, hookimpl
from finplug.components import EventsAPI
from finplug.hookspecs import ComponentRegistrar, JobRegistrar

__all__ = ["EventsPlugin", "EventsSettings"]


class EventsSettings(BaseModel):
    """The outbox takes no settings yet; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsPlugin(Plugin[EventsSettings]):
    """Provides the ``events`` component: an outbox in the tenant's own storage.

    Dispatch delivers each event to the tenant's ``finplug_on_event``
    implementations; the job ``events.dispatch`` runs it.
    """

    meta = PluginMeta(
        name="events",
        version=API_VERSION,
        summary="The kernel's transactional outbox of domain events",
        components=frozenset({"events"}),
        api=f">={API_VERSION}",
        settings=EventsSettings,
    )

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's event outbox."""
        register(
            "events",
            Events(
                self.context.storage,
                self._deliver,
                clock=self.context.clock,
                log=self.context.log,
            ),
        )

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """``events.dispatch``: deliver committed events to their listeners, at every run."""
        register("events.dispatch", self._dispatch)

    def _dispatch(self) -> str:
        events = cast("EventsAPI", self.context.component("events"))
        report = events.dispatch()
        if report.busy:
            return "another dispatcher is running"
        if report.failed:
            first = report.failed[0]
            raise RuntimeError(
                f"{len(report.delivered)} delivered, {len(report.failed)} refused"
                f" (first: event {first.event.id}: {first.error})"
            )
        return f"{len(report.delivered)} delivered"

    def _deliver(self, event: Event) -> None:
        self.context.hooks.finplug_on_event(event=event)
