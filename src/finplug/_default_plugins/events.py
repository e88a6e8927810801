"""The kernel's event outbox, provided to every tenant as the ``events`` component."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from finplug._events import Event, Events
from finplug._plugin import API_VERSION, Plugin, PluginMeta, hookimpl
from finplug.hookspecs import ComponentRegistrar

__all__ = ["EventsPlugin", "EventsSettings"]


class EventsSettings(BaseModel):
    """The outbox takes no settings yet; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsPlugin(Plugin[EventsSettings]):
    """Provides the ``events`` component: an outbox in the tenant's own storage.

    Dispatch delivers each event to the tenant's ``finplug_on_event``
    implementations.
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

    def _deliver(self, event: Event) -> None:
        self.context.hooks.finplug_on_event(event=event)
