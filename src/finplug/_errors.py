"""The error hierarchy: one root, one subclass per layer.

Errors are for things the caller did wrong or the system cannot do. Findings
about the business (a risk reason, a reconciliation break) are values returned
by the components, never exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from finplug._text import cut

__all__ = [
    "AssemblyError",
    "ComponentNotEnabledError",
    "ConfigError",
    "ConfigIssue",
    "FinplugError",
    "HookCallError",
    "IdempotencyConflictError",
    "IdempotencyInProgressError",
    "MoneyError",
    "TenantNotFoundError",
    "UnitOfWorkError",
]


class FinplugError(Exception):
    """Root of every error finplug raises on purpose."""


# ------------------------------------------------------------------ config


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a tenant config, located as precisely as possible.

    ``str(issue)`` renders as ``file:line: field.path: message``; parts that are
    unknown (a config built from a dict has no file) are left out.
    """

    source: str | None
    """The file the value came from, as given to the loader, or ``None``."""
    line: int | None
    """1-based line number of the offending value (or its nearest parent)."""
    path: str
    """Dotted field path, list indexes in brackets: ``plugins.pay.channels[0].fee``."""
    message: str
    """What is wrong and what was expected. Never contains a secret value."""

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = f"{self.source}:{self.line}: " if self.line is not None else f"{self.source}: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"


class ConfigError(FinplugError):
    """A tenant config (or a set of them) is invalid.

    Carries every issue found, not only the first, so that ``finplug check``
    can print them all at once, ordered by file and line.
    """

    def __init__(self, issues: Iterable[ConfigIssue], *, sort: bool = True) -> None:
        found = list(issues)
        if sort:
            # File order reads best: by source, then line (unlocated issues last).
            found.sort(key=lambda i: (i.source or "", i.line is None, i.line or 0))
        self.issues: tuple[ConfigIssue, ...] = tuple(found)
        if not self.issues:
            raise ValueError("ConfigError needs at least one issue")
        super().__init__("\n".join(str(issue) for issue in self.issues))


# ------------------------------------------------------------------ plugins


class AssemblyError(FinplugError):
    """A tenant's runtime failed while being built or wired, after its config validated.

    Raised when a plugin's set-up fails, when a plugin registers components
    other than those its meta declares (or not all of them, or objects not
    satisfying the component interface), or when a plugin uses hooks or
    components during set-up. Config problems (missing requirements, cycles,
    two providers) are :class:`ConfigError`, found before any runtime exists.
    """

    def __init__(self, tenant: str, reason: str) -> None:
        self.tenant = tenant
        self.reason = reason
        super().__init__(f"tenant {tenant!r}: {reason}")


class HookCallError(FinplugError):
    """A plugin's hook implementation raised while the kernel or a component called it.

    Names the tenant, the hook and the plugin whose implementation raised;
    the plugin's own exception is chained as ``__cause__``. What happens next
    is the hook's failure policy, stated in its spec (see
    :class:`~finplug.HookFailurePolicy`): the caller either fails its
    operation before anything is written, fails closed, reports and goes on,
    or retries later.
    """

    def __init__(self, tenant: str, hook: str, plugin: str | None, cause: BaseException) -> None:
        self.tenant = tenant
        self.hook = hook
        self.plugin = plugin
        detail = cut(str(cause), 200)
        who = f"plugin {plugin!r}" if plugin is not None else "a plugin"
        super().__init__(
            f"tenant {tenant!r}: {who} failed in hook {hook}: {type(cause).__name__}"
            + (f": {detail}" if detail else "")
        )


class TenantNotFoundError(FinplugError, LookupError):
    """The platform has no config for the requested tenant."""

    def __init__(self, tenant: str, known: Iterable[str] = ()) -> None:
        self.tenant = tenant
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"no tenant {tenant!r} is configured (configured tenants: {names})")


class ComponentNotEnabledError(FinplugError, LookupError):
    """The tenant asked for a component that none of its enabled plugins provides."""

    def __init__(self, tenant: str, component: str, hint: str = "") -> None:
        self.tenant = tenant
        self.component = component
        message = f"tenant {tenant!r} has no {component!r} component: no enabled plugin provides it"
        super().__init__(f"{message}; {hint}" if hint else message)


# ------------------------------------------------------- units of work, keys


class UnitOfWorkError(FinplugError):
    """A unit of work was used after it was committed or rolled back, or committed twice."""


class IdempotencyConflictError(FinplugError):
    """An idempotency key was used again with a different request.

    Raised by every component that takes idempotency keys (the ledger, the
    kernel's idempotency service and the components built on it), so a host
    catches one class whatever component refused; a component may raise a
    subclass of its own (e.g. ``PaymentIdempotencyConflictError``).
    """

    def __init__(self, key: str, message: str | None = None, *, operation: str = "") -> None:
        self.key = key
        """The key, in full (the message shows only its start)."""
        self.operation = operation
        """The operation the key was first used for, when the refusing component knows it."""
        super().__init__(
            message
            or f"idempotency key {cut(key, 40)!r} was already used for a different request;"
            " use a new key for a new request"
        )


class IdempotencyInProgressError(FinplugError):
    """The first call with this idempotency key is still running; retry later with the same key."""

    def __init__(self, key: str) -> None:
        self.key = key
        """The key, in full (the message shows only its start)."""
        super().__init__(
            f"a call with idempotency key {cut(key, 40)!r} is still in progress;"
            " retry later with the same key"
        )


# ------------------------------------------------------------------ money


class MoneyError(FinplugError, ValueError):
    """An amount or currency is not acceptable (float, NaN, too many decimals …)."""
