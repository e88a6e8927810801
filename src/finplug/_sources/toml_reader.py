"""TOML to plain data and the line of each value, long dotted keys refused before parsing.

:mod:`tomllib` parses; it gives no line numbers, so
:class:`~finplug._sources.toml_locator.TomlLocator` finds them in the text.
Its cost grows with the square of a dotted key's parts, so a key of more than
:attr:`ConfigLimits.max_key_parts` parts is refused first, in one linear pass.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from finplug._sources.document import EMPTY_MESSAGE, RejectedError, SourceDocument
from finplug._sources.limits import ConfigLimits, depth_message
from finplug._sources.paths import Loc
from finplug._sources.toml_locator import BARE_KEY, TomlLocator

__all__ = ["parse_toml"]

_TOML_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def parse_toml(text: str, limits: ConfigLimits) -> tuple[dict[str, Any], dict[Loc, int]]:
    """The top-level table of one TOML document and the 1-based line of each value.

    Raises :class:`RejectedError` (and nothing else) for a document a tenant
    config may not be.
    """
    _check_toml_keys(text, limits)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _describe_toml_error(str(exc), text)
        raise RejectedError(line, message) from None
    except RecursionError:
        raise RejectedError(None, depth_message(limits)) from None
    except (ValueError, OverflowError, TypeError, LookupError) as exc:
        message = f"invalid TOML: {exc}"
        raise RejectedError(None, message) from None
    lines = TomlLocator(text).locate()
    lines = {loc: line for loc, line in lines.items() if _loc_exists(data, loc)}
    lines[()] = 1
    if not data:
        raise RejectedError(1, EMPTY_MESSAGE)
    too_deep = _too_deep(data, (), 1, limits.max_depth)
    if too_deep is not None:
        doc = SourceDocument(None, data, lines)
        raise RejectedError(doc.line_of(too_deep), depth_message(limits), too_deep)
    return data, lines


# The dotted-key scan reads TOML text one token at a time.
_TOML_TOKEN = re.compile(
    r"""
      [A-Za-z0-9_-]+                # a bare word
    | [ \t]+                        # blanks
    | \.                            # a dot
    | "{3} | '{3} | ["'#]           # a string opener or a comment
    | [^A-Za-z0-9_\- \t."'#]+       # anything else: ends a dotted key
    """,
    re.VERBOSE,
)
_TOML_STRING_REST = {
    '"': re.compile(r'(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"[^'\n]*'"),
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}'),
    "'''": re.compile(r"[\s\S]*?'{3,5}"),
}


def _check_toml_keys(text: str, limits: ConfigLimits) -> None:
    """Refuse a dotted key of more than ``limits.max_key_parts`` parts, in one linear pass.

    The TOML parser's cost grows with the square of a dotted key's parts (a
    31 KB key took 19 s), so this runs first. It counts ``part.part.part``
    runs outside strings and comments, wherever they are; TOML values never
    hold such a run of more than two parts (``1.5``, ``00:00:00.999``), so
    only keys can reach the limit.
    """
    limit = limits.max_key_parts
    parts = 0
    after_dot = False
    run_start = 0
    pos = 0
    size = len(text)
    while pos < size:
        match = _TOML_TOKEN.match(text, pos)
        assert match is not None  # the last alternative matches any other character
        token = match.group()
        end = match.end()
        first = token[0]
        if first in " \t":
            pos = end
            continue
        if token == ".":
            after_dot = parts > 0 and not after_dot
            if not after_dot:
                parts = 0
            pos = end
            continue
        if first in "\"'":
            rest = _TOML_STRING_REST[token].match(text, end)
            if rest is not None:
                end = rest.end()
            elif len(token) == 3:
                end = size  # an unterminated multi-line string: the parser will say so
            else:
                newline = text.find("\n", end)
                end = size if newline < 0 else newline
        elif first == "#" or not BARE_KEY.fullmatch(token):
            if first == "#":
                newline = text.find("\n", end)
                end = size if newline < 0 else newline
            parts, after_dot = 0, False
            pos = end
            continue
        if after_dot:
            parts += 1
        else:
            parts, run_start = 1, pos
        after_dot = False
        if parts > limit:
            _refuse_long_toml_key(text, run_start, limits)
        pos = end


def _refuse_long_toml_key(text: str, start: int, limits: ConfigLimits) -> None:
    """Raise the located error for the dotted key starting at offset ``start``."""
    line_start = text.rfind("\n", 0, start) + 1
    loc: Loc = ()
    if not text[line_start:start].strip().startswith("["):
        # A key inside a table: name that table (a too-long header is named at the root).
        locator = TomlLocator(text[:line_start])
        locator.locate()
        loc = locator.table
    message = (
        f"a dotted key has more than {limits.max_key_parts} parts;"
        f" expected at most {limits.max_key_parts} (ConfigLimits.max_key_parts)"
    )
    raise RejectedError(text.count("\n", 0, start) + 1, message, loc)


def _describe_toml_error(text: str, document: str) -> tuple[int | None, str]:
    match = _TOML_AT_LINE.search(text)
    if match is not None:
        return int(match[1]), f"invalid TOML: {text[: match.start()]} (column {match[2]})"
    match = _TOML_AT_END.search(text)
    if match is not None:
        line = document.rstrip().count("\n") + 1
        return line, f"invalid TOML: {text[: match.start()]} (at end of document)"
    return None, f"invalid TOML: {text}"


def _too_deep(value: Any, loc: Loc, depth: int, max_depth: int) -> Loc | None:
    if not isinstance(value, dict | list):
        return None
    if depth > max_depth:
        return loc
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in children:
        found = _too_deep(item, (*loc, key), depth + 1, max_depth)
        if found is not None:
            return found
    return None


def _loc_exists(data: Any, loc: Loc) -> bool:
    current = data
    for part in loc:
        if isinstance(current, dict):
            if not isinstance(part, str) or part not in current:
                return False
        elif isinstance(current, list):
            if isinstance(part, str | bool) or not 0 <= part < len(current):
                return False
        else:
            return False
        current = current[part]
    return True
