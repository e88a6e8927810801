"""Hook specs a sample plugin declares as its own extension point (see test_plugin_hookspecs)."""

from __future__ import annotations

from typing import Protocol

from finplug import HookFailurePolicy, HookView, failure_policy, hookspec

__all__ = ["GreetingHooks", "finplug_sample_greetings", "greeting_hooks"]


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_sample_greetings(name: str) -> list[str] | None:
    """Return greetings for ``name``.

    Combination: collect all. Nobody implements it: ``[]``.
    Failure policy: report (the caller lists the failure and goes on).
    """


class _GreetingsCaller(Protocol):
    def __call__(self, *, name: str) -> list[list[str]]: ...


class GreetingHooks(Protocol):
    """The callers of this module's hooks."""

    finplug_sample_greetings: _GreetingsCaller


#: The typed view a caller uses: ``greeting_hooks.of(context.hooks)``.
greeting_hooks: HookView[GreetingHooks] = HookView("sample_hookspecs")
