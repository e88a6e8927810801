"""Field paths in a tenant config, and the way error messages spell them."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TypeAlias

__all__ = ["Loc", "format_loc", "parse_loc"]

Loc: TypeAlias = tuple[str | int, ...]
"""A field path: ``("plugins", "pay", "channels", 0, "fee")``."""

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


_LOC_PART = re.compile(r'\[(\d+)\]|\.?("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)')


def parse_loc(path: str) -> Loc:
    """The inverse of :func:`format_loc`: ``plugins.pay.channels[0]`` to a :data:`Loc`.

    Raises :class:`ValueError` for text :func:`format_loc` never produces.
    """
    loc: list[str | int] = []
    at = 0
    while at < len(path):
        match = _LOC_PART.match(path, at)
        if match is None or (match.group(2) and at and not path.startswith(".", at)):
            raise ValueError(f"not a field path: {path!r}")
        index, key = match.groups()
        if index is not None:
            loc.append(int(index))
        else:
            loc.append(json.loads(key) if key.startswith('"') else key)
        at = match.end()
    return tuple(loc)


def format_loc(loc: Sequence[str | int]) -> str:
    """Render a field path the way error messages show it.

    ``("plugins", "pay", "channels", 0, "fee")`` becomes
    ``plugins.pay.channels[0].fee`` and ``()`` becomes ``""``. Keys that are
    not plain words (they contain dots, spaces, … or are empty) are shown
    double-quoted, as in TOML: ``plugins."my.plugin".enabled``.
    """
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
            continue
        key = part if _PLAIN_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out.append(f".{key}" if out else key)
    return "".join(out)
