"""How much reading one tenant config may cost, and what a breached limit says."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "ConfigLimits", "depth_message", "too_large_message"]


@dataclass(frozen=True, slots=True)
class ConfigLimits:
    """How much reading one tenant config may cost; each limit breached is a located error.

    The defaults suit hand-written configs with room to spare. Pass another
    instance to :func:`load_document`, :func:`parse_document`,
    :func:`from_mapping`, :func:`resolve_references` or
    :meth:`TenantConfig.from_file <finplug.TenantConfig.from_file>` to change
    them.
    """

    max_file_bytes: int = 256 * 1024
    """Largest config file (or text given to :func:`parse_document`), in bytes of UTF-8."""
    max_secret_bytes: int = 64 * 1024
    """Largest file a ``${file:PATH}`` reference may name, in bytes."""
    max_depth: int = 64
    """Deepest nesting of mappings and lists (the top-level mapping counts as 1)."""
    max_key_parts: int = 64
    """Most parts in one TOML dotted key (``a.b.c`` has 3); checked before TOML parsing.

    Equal to ``max_depth`` by default: a longer key would nest deeper than
    allowed anyway, so this limit refuses nothing the depth limit accepts.
    At least 2: the scan that enforces it counts every ``word.word`` run
    outside strings and comments, and a value such as ``1.5`` is one of two
    parts.
    """

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_secret_bytes", "max_depth", "max_key_parts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ConfigLimits.{name} must be a positive integer")
        if self.max_key_parts < 2:
            raise ValueError(
                "ConfigLimits.max_key_parts must be at least 2 (values such as 1.5 count as"
                " two parts)"
            )


DEFAULT_LIMITS = ConfigLimits()
"""The limits used when none are given."""


def depth_message(limits: ConfigLimits) -> str:
    """What a config nested deeper than ``limits.max_depth`` is told."""
    return (
        f"nesting is deeper than {limits.max_depth} levels;"
        f" expected at most {limits.max_depth} (ConfigLimits.max_depth)"
    )


def too_large_message(limits: ConfigLimits) -> str:
    """What a config larger than ``limits.max_file_bytes`` is told."""
    return (
        f"the config is too large: expected at most {limits.max_file_bytes:,} bytes"
        " (ConfigLimits.max_file_bytes)"
    )
