"""The kernel's hook specifications: components, events, checks, commands, jobs and the demo.

Business hooks live with their sockets (:mod:`finplug.sockets.risk`,
:mod:`finplug.sockets.fees`, :mod:`finplug.sockets.payments.hookspecs`) and
a plugin's own extension points in its own module (``meta.hookspecs``); they
follow the same rules.

Each spec says how pluggy combines the results of its implementations
(*collect all*: a list with one entry per implementation that did not return
``None``; *first result*: the first non-``None`` answer; any hook may also be
wrapped by a ``@hookimpl(wrapper=True)`` implementation) and what a caller
gets when no enabled plugin implements it.

Hooks are called through the tenant's typed relay, :class:`Hooks`, so that
mypy checks argument names and types at every call site::

    issues = tenant.hooks.finplug_check_tenant()

:class:`Hooks` mirrors the specs below; ``tests/test_hookspecs.py`` fails if
the two drift apart, and ``tests/test_docs.py`` fails if a hook has no
section in ``docs/hooks.md`` or no ``test_hook_<name>`` test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from finplug._errors import ConfigIssue
from finplug._events import Event
from finplug._plugin import HookFailurePolicy, failure_policy, hookspec

if TYPE_CHECKING:  # typer is the CLI's; importing it here would slow every tenant's import
    import typer

__all__ = [
    "CommandRegistrar",
    "ComponentRegistrar",
    "Hooks",
    "JobFunction",
    "JobRegistrar",
    "finplug_check_tenant",
    "finplug_demo_story",
    "finplug_on_event",
    "finplug_register_commands",
    "finplug_register_components",
    "finplug_register_jobs",
]

#: A job: called with no arguments, returns a one-line summary (or ``None``); raises to fail.
JobFunction = Callable[[], "str | None"]


class ComponentRegistrar(Protocol):
    """The ``register`` callback handed to :func:`finplug_register_components`."""

    def __call__(self, name: str, implementation: object) -> None:
        """Register ``implementation`` as this tenant's ``name`` component."""


class CommandRegistrar(Protocol):
    """The ``register`` callback handed to :func:`finplug_register_commands`."""

    def __call__(self, name: str, command: typer.Typer | Callable[..., object]) -> None:
        """Mount ``command`` as ``finplug NAME``: a Typer app (a group) or one function."""


class JobRegistrar(Protocol):
    """The ``register`` callback handed to :func:`finplug_register_jobs`."""

    def __call__(self, name: str, function: JobFunction, *, every: timedelta | None = None) -> None:
        """Register ``function`` as this tenant's job ``name`` (``<plugin>.<job>``).

        ``every`` is how often it is due; ``None``: due at every ``finplug jobs run``.
        """


# ---------------------------------------------------------------- specs


@hookspec
@failure_policy(HookFailurePolicy.PROPAGATE)
def finplug_register_components(register: ComponentRegistrar) -> None:
    """Provide the component implementations this plugin declared in its meta.

    Called once per tenant, the first time any component of that tenant is
    asked for. Call ``register(name, implementation)`` once for each name in
    ``meta.components``; registering an undeclared name, or leaving a declared
    one out, is an :class:`~finplug.AssemblyError`. The kernel calls each
    implementation with a ``register`` bound to that plugin, so wrappers of
    this hook are not applied.

    Combination: collect all (return values are ignored).
    Nobody implements it: the tenant has no components; asking for one raises
    :class:`~finplug.ComponentNotEnabledError`.

    Failure policy: propagate. Asking for a component raises
    :class:`~finplug.HookCallError` naming the plugin; nothing is cached, so
    the next request tries again.

    Example::

        @hookimpl
        def finplug_register_components(self, register):
            register("risk", RiskService(self.settings, self.context))
    """


@hookspec
@failure_policy(HookFailurePolicy.RETRY_LATER)
def finplug_on_event(event: Event) -> None:
    """React to a domain event after the transaction that emitted it committed.

    The tenant's ``events`` component calls it from ``dispatch()``, once per
    event, in outbox position order: commit order, so in order per aggregate.
    Delivery is at least once: raise to refuse the event, which then stays
    undelivered and is delivered again (to every listener) by a later
    dispatch, while later events of its aggregate wait for it. A crash after
    the call but before the delivery is recorded also redelivers, so
    deduplicate by ``event.dedupe_key``.

    Combination: collect all (return values are ignored); an exception from
    one implementation stops the call and leaves the event undelivered.
    Nobody implements it: the call returns ``[]``; dispatch records each event
    as delivered all the same (events are not replayed to listeners enabled
    later).

    Failure policy: retry later. The event stays undelivered and is
    offered again by a later ``dispatch()``; the error is logged with
    tenant, plugin and hook.

    Example::

        @hookimpl
        def finplug_on_event(self, event):
            if event.type == "payment.captured" and self.first_time(event.dedupe_key):
                self.notify_merchant(event.payload["merchant_id"])
    """


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_check_tenant() -> list[ConfigIssue] | None:
    """Check settings that only make sense together with the tenant's other plugins.

    Each plugin's settings model validates its own section of a tenant config;
    what refers to another plugin (a routing rule naming a channel that a
    channel plugin registers) can only be checked once the tenant is
    assembled. ``Platform.check`` (and so ``finplug check``) assembles each
    valid tenant, without touching its storage, and calls this hook. Return
    one :class:`~finplug.ConfigIssue` per problem with ``path`` set to the
    field path from the config's root (``plugins.payments.routing.priority[1]``);
    leave ``source`` and ``line`` empty: the kernel fills them in from the
    config file.

    Combination: collect all; the caller flattens the lists and locates each
    issue in the tenant's config file.
    Nobody implements it: the call returns ``[]``; per-plugin validation is
    all there is.

    Failure policy: report. ``Platform.check`` turns a raising
    implementation into one issue located at the tenant's ``plugins``
    section, naming the plugin, and goes on with the other plugins' checks
    and the other files.

    Example::

        @hookimpl
        def finplug_check_tenant(self):
            hooks = payments_hooks.of(self.context.hooks)
            known = {c.info.name for batch in payments_hooks.of(hooks).finplug_register_channels()
                     for c in batch}
            return [ConfigIssue(None, None, f"plugins.payments.routing.priority[{i}]",
                                f"unknown channel {name!r}")
                    for i, name in enumerate(self.settings.routing.priority) if name not in known]
    """


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_register_commands(register: CommandRegistrar) -> None:
    """Add commands to the ``finplug`` command line.

    Commands belong to an installation, not to a tenant, so this is a
    *class-level* hook: implement it as a ``@staticmethod`` (it gets no
    settings, no tenant, no storage; a command that needs tenants loads them,
    for example with :func:`finplug.cli.platform_with_tenants`). ``finplug``
    calls it once at start on the class of every installed plugin that loaded,
    and mounts what it registers: ``register(name, typer_app)`` adds the group
    ``finplug NAME …``, ``register(name, function)`` the single command
    ``finplug NAME``. A name the kernel or an earlier plugin uses is refused.

    Combination: collect all (return values are ignored); the kernel calls
    each plugin's implementation on its own, with a ``register`` bound to it,
    so wrappers are not applied.
    Nobody implements it: ``finplug`` has the kernel's commands only.

    Failure policy: report. A raising implementation (or a refused name) is
    printed as one warning line naming the plugin on standard error; the
    plugin's other commands and the other plugins' commands are mounted.

    Example::

        @staticmethod  # outermost: the @hookimpl mark must sit on the function
        @hookimpl
        def finplug_register_commands(register):
            fx = typer.Typer(help="Exchange rates.")
            fx.command("show")(show_rates)
            register("fx", fx)
    """


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_register_jobs(register: JobRegistrar) -> None:
    """Register this tenant's named jobs: work a scheduler runs, not a request.

    Called per tenant, on the plugin instance built for that tenant, by
    ``finplug jobs run`` (and :func:`finplug.cli.run_jobs`). Call
    ``register(name, function, every=timedelta(...))`` once per job; the name
    must start with the plugin's name and a dot (``payments.janitor``) and be
    unique in the tenant. ``function()`` takes no arguments (the plugin
    already holds its tenant's settings and components), returns a one-line
    summary or ``None``, and raises when the job did not get its work done.
    A job with ``every=None`` is due at every run; one with an interval is due
    when it has not succeeded within it.

    Combination: collect all (return values are ignored); the kernel calls
    each plugin's implementation on its own, with a ``register`` bound to it.
    Nobody implements it: the tenant has no jobs; ``finplug jobs run`` skips it.

    Failure policy: report. A raising implementation is reported as one
    failed job ``<plugin>.*`` of that tenant; the tenant's other plugins' jobs
    and the other tenants still run, and the run exits 2.

    Example::

        @hookimpl
        def finplug_register_jobs(self, register):
            register("fx.refresh", self.refresh_rates, every=timedelta(hours=1))
    """


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_demo_story() -> list[object] | None:
    """Play this plugin's part of ``finplug demo`` on its tenant; return what to show.

    Called per tenant, on the plugin instance built for that tenant, by
    ``finplug demo`` after the tenant's storage is migrated: the plugin runs a
    short story through its own component (payments authorizes, captures and
    refunds sample payments over the tenant's channels) and returns rich
    renderables (``rich`` tables, text, or plain strings) that the demo prints
    under the tenant's panel.
    Demo data goes to the demo's own storage, never a production tenant's.

    Combination: collect all; the kernel calls each plugin's implementation on
    its own, in the order pluggy would call them (so ``@hookimpl(tryfirst=True)``
    plays first: the risk engine's story makes its rule set live before the
    payments story pays), then shows the tenant's sample decisions and ledger.
    Nobody implements it: the tenant's panel shows its plugins and sample
    decisions only.

    Failure policy: report. A raising implementation is shown as one red line
    naming the plugin and its error; the other plugins' stories and the other
    tenants still play.

    Example::

        @hookimpl
        def finplug_demo_story(self):
            quote = self.context.component(FX).quote("EUR", "USD")
            return [Text(f"1 EUR = {quote.rate} USD")]
    """


# ---------------------------------------------------------------- typed relay


class _RegisterComponentsCaller(Protocol):
    def __call__(self, *, register: ComponentRegistrar) -> list[None]: ...


class _OnEventCaller(Protocol):
    def __call__(self, *, event: Event) -> list[None]: ...


class _CheckTenantCaller(Protocol):
    def __call__(self) -> list[list[ConfigIssue]]: ...


class _RegisterCommandsCaller(Protocol):
    def __call__(self, *, register: CommandRegistrar) -> list[None]: ...


class _RegisterJobsCaller(Protocol):
    def __call__(self, *, register: JobRegistrar) -> list[None]: ...


class _DemoStoryCaller(Protocol):
    def __call__(self) -> list[list[object]]: ...


class Hooks(Protocol):
    """The typed view of a tenant's hook relay (``tenant.hooks``).

    At run time this is a thin relay over pluggy's hook callers, so a call
    costs what a raw pluggy call costs; at type-check time every hook is a
    keyword-only callable with the spec's parameters and combined result.
    """

    finplug_register_components: _RegisterComponentsCaller
    finplug_check_tenant: _CheckTenantCaller
    finplug_on_event: _OnEventCaller
    finplug_register_commands: _RegisterCommandsCaller
    finplug_register_jobs: _RegisterJobsCaller
    finplug_demo_story: _DemoStoryCaller
