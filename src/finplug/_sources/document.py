"""One tenant-config document: its plain data, the line of each value, its secrets.

:class:`SourceDocument` is what every reader returns; :func:`from_mapping` makes
one from a config built in code. :class:`RejectedError` is how the readers say
a document is unacceptable, before they turn it into a located
:class:`~finplug._errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from finplug._errors import ConfigError, ConfigIssue
from finplug._sources.limits import DEFAULT_LIMITS, ConfigLimits, depth_message
from finplug._sources.masking import mask_secrets, redact
from finplug._sources.paths import Loc, format_loc

__all__ = ["EMPTY_MESSAGE", "RejectedError", "SourceDocument", "empty_lines", "from_mapping"]

EMPTY_MESSAGE = (
    "the file is empty; expected a mapping with at least 'tenant' (and usually 'plugins')"
)
"""What a config file with no content is told, whatever its format."""


def empty_lines() -> Mapping[Loc, int]:
    """The line table of a document that has no lines (one built in code)."""
    return MappingProxyType({})


@dataclass(frozen=True)
class SourceDocument:
    """One parsed tenant-config document and where each of its values came from.

    After :func:`resolve_references`, ``data`` holds the resolved values (as
    :class:`ResolvedSecret`); :meth:`redacted` gives a copy safe to show.
    Either way, :meth:`issue` masks every resolved value in its messages.
    """

    source: str | None
    """Display name of the file (the path as given to the loader), ``None`` for dicts."""
    data: dict[str, Any]
    """The parsed top-level mapping; keys are strings at every mapping level."""
    lines: Mapping[Loc, int] = field(default_factory=empty_lines)
    """1-based line of each key and list item; the root ``()`` maps to 1 for parsed text."""
    _secrets: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """The values resolved from references, masked in :meth:`issue` messages (never shown)."""

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """Return the line of ``loc``, else of its nearest ancestor that has one, else ``None``."""
        path = tuple(loc)
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def issue(self, loc: Sequence[str | int], message: str) -> ConfigIssue:
        """Build a :class:`ConfigIssue` about the value at ``loc`` in this document.

        Any value this document resolved from a secret reference is masked in
        ``message`` (see :func:`mask_secrets`), wherever the message came from.
        """
        if self._secrets:
            message = mask_secrets(message, self._secrets)
        return ConfigIssue(self.source, self.line_of(loc), format_loc(loc), message)

    def redacted(self) -> SourceDocument:
        """A copy whose ``data`` shows every resolved secret as :data:`MASK`.

        Its :meth:`issue` still masks the secrets in messages.
        """
        return SourceDocument(self.source, redact(self.data), self.lines, self._secrets)


class RejectedError(Exception):
    """Internal to the readers: the document is unacceptable; carries where and why."""

    def __init__(self, line: int | None, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.loc = loc


def from_mapping(
    data: Mapping[str, Any], *, source: str | None = None, limits: ConfigLimits | None = None
) -> SourceDocument:
    """Wrap a config built in code as a :class:`SourceDocument` (with no line numbers).

    The data is copied into plain ``dict``/``list`` containers (tuples become
    lists). Non-string keys and nesting deeper than ``limits.max_depth``
    levels raise :class:`ConfigError`.
    """
    limits = limits or DEFAULT_LIMITS
    issues: list[ConfigIssue] = []
    try:
        plain = _plain(data, (), 1, source, issues, limits)
    except RejectedError as exc:
        issue = ConfigIssue(source, None, format_loc(exc.loc), exc.message)
        raise ConfigError([issue]) from None
    if issues:
        raise ConfigError(issues)
    if not isinstance(plain, dict):
        message = f"expected a mapping at the top level, got {type(data).__name__}"
        raise ConfigError([ConfigIssue(source, None, "", message)])
    return SourceDocument(source=source, data=plain, lines=empty_lines())


def _plain(
    value: Any,
    loc: Loc,
    depth: int,
    source: str | None,
    issues: list[ConfigIssue],
    limits: ConfigLimits,
) -> Any:
    if isinstance(value, Mapping | list | tuple) and depth > limits.max_depth:
        raise RejectedError(None, depth_message(limits), loc)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                message = f"mapping keys must be strings, got {type(key).__name__} {key!r}"
                issues.append(ConfigIssue(source, None, format_loc(loc), message))
                continue
            out[key] = _plain(item, (*loc, key), depth + 1, source, issues, limits)
        return out
    if isinstance(value, list | tuple):
        return [
            _plain(item, (*loc, index), depth + 1, source, issues, limits)
            for index, item in enumerate(value)
        ]
    return value
