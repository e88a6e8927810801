"""A second module declaring a hook name ``sample_hookspecs`` already declares."""

from __future__ import annotations

from finplug import HookFailurePolicy, failure_policy, hookspec

__all__ = ["finplug_sample_greetings"]


@hookspec
@failure_policy(HookFailurePolicy.REPORT)
def finplug_sample_greetings(name: str) -> list[str] | None:
    """The same name as in ``sample_hookspecs``: a tenant may not enable both."""
