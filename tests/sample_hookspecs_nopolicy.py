"""A hook spec module whose spec declares no failure policy (refused)."""

from __future__ import annotations

from finplug import hookspec

__all__ = ["finplug_sample_nopolicy"]


@hookspec
def finplug_sample_nopolicy() -> None:
    """No failure policy: a plugin declaring this module fails validation."""
