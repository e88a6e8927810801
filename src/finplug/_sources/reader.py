"""Text or a config file to a :class:`SourceDocument`, in the format its suffix names.

The size limit is checked here, before any parsing; the format's reader
(:mod:`~finplug._sources.yaml_reader`, :mod:`~finplug._sources.toml_reader`)
does the rest, and what it rejects becomes one located
:class:`~finplug._errors.ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from finplug._errors import ConfigError, ConfigIssue
from finplug._sources.document import RejectedError, SourceDocument
from finplug._sources.files import NotRegularFileError, TooLargeError, read_regular_file
from finplug._sources.limits import DEFAULT_LIMITS, ConfigLimits, too_large_message
from finplug._sources.paths import Loc, format_loc
from finplug._sources.toml_reader import parse_toml
from finplug._sources.yaml_reader import parse_yaml

__all__ = ["load_document", "parse_document"]


def parse_document(
    text: str,
    *,
    source: str | None,
    fmt: Literal["yaml", "toml"],
    limits: ConfigLimits | None = None,
) -> SourceDocument:
    """Parse one YAML or TOML document into a :class:`SourceDocument`.

    ``source`` is only used to name the document in error messages. Raises
    :class:`ConfigError` (and nothing else) if the text is not an acceptable
    tenant config document: a syntax error, a top level that is not a mapping,
    duplicate or non-string keys, YAML anchors, aliases, merge keys or custom
    tags, more than one YAML document, or anything beyond ``limits`` (default
    :data:`DEFAULT_LIMITS`): text longer than ``max_file_bytes``, nesting
    deeper than ``max_depth`` levels, a TOML dotted key of more than
    ``max_key_parts`` parts. The size and the key parts are checked before
    any parsing.
    """
    limits = limits or DEFAULT_LIMITS
    parser: Callable[[str, ConfigLimits], tuple[dict[str, Any], dict[Loc, int]]]
    if fmt == "yaml":
        parser = parse_yaml
    elif fmt == "toml":
        parser = parse_toml
    else:
        raise ValueError(f"unknown config format {fmt!r}; expected 'yaml' or 'toml'")
    if _utf8_size_above(text, limits.max_file_bytes):
        raise ConfigError([ConfigIssue(source, None, "", too_large_message(limits))])
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data, lines = parser(text, limits)
    except RejectedError as exc:
        issue = ConfigIssue(source, exc.line, format_loc(exc.loc), exc.message)
        raise ConfigError([issue]) from None
    return SourceDocument(source=source, data=data, lines=MappingProxyType(lines))


def _utf8_size_above(text: str, limit: int) -> bool:
    """Whether ``text`` takes more than ``limit`` bytes as UTF-8 (at most 4 bytes a character)."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


_SUFFIX_FORMATS: dict[str, Literal["yaml", "toml"]] = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
}


def load_document(
    path: str | os.PathLike[str], *, limits: ConfigLimits | None = None
) -> SourceDocument:
    """Read and parse the tenant-config file at ``path``.

    The format follows the suffix: ``.yaml``/``.yml`` for YAML, ``.toml`` for
    TOML. An unknown suffix, an unreadable file, anything but a regular file
    (a directory, a device, a pipe), a file larger than
    ``limits.max_file_bytes`` (never read past that size) or content that is
    not UTF-8 raises :class:`ConfigError` naming the file, as does everything
    :func:`parse_document` rejects.
    """
    limits = limits or DEFAULT_LIMITS
    source = os.fspath(path)
    suffix = Path(source).suffix
    fmt = _SUFFIX_FORMATS.get(suffix.lower())
    if fmt is None:
        shown = repr(suffix) if suffix else "no suffix"
        message = f"unsupported config file type ({shown}); expected .yaml, .yml or .toml"
        raise ConfigError([ConfigIssue(source, None, "", message)])
    try:
        raw = read_regular_file(source, limits.max_file_bytes)
    except NotRegularFileError as exc:
        message = f"cannot read the file: it is {exc.kind}, not a regular file"
        raise ConfigError([ConfigIssue(source, None, "", message)]) from None
    except TooLargeError:
        raise ConfigError([ConfigIssue(source, None, "", too_large_message(limits))]) from None
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        message = f"cannot read the file: {reason}"
        raise ConfigError([ConfigIssue(source, None, "", message)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"the file is not valid UTF-8 text (bad byte at offset {exc.start})"
        raise ConfigError([ConfigIssue(source, line, "", message)]) from None
    return parse_document(text, source=source, fmt=fmt, limits=limits)
