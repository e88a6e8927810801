"""The line of each key and table header in TOML text, which the TOML parser does not give."""

from __future__ import annotations

import bisect
import contextlib
import re

from finplug._sources.paths import Loc

__all__ = ["BARE_KEY", "TomlLocator"]

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
"""A bare TOML key: ASCII letters, digits, ``_`` and ``-``."""
_TOML_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    '"': '"',
    "\\": "\\",
}


class TomlLocator:
    """Best-effort scanner that finds the line of each key and table header in TOML text.

    It never raises: whatever it cannot place is simply missing, and
    :meth:`SourceDocument.line_of` falls back to the nearest ancestor.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        self.newlines = [match.start() for match in re.finditer("\n", text)]
        self.lines: dict[Loc, int] = {}
        self.array_counts: dict[Loc, int] = {}
        self.table: Loc = ()
        """The table the scan was in when it stopped."""

    def locate(self) -> dict[Loc, int]:
        """Scan the text; return the line of every key and header it could place."""
        with contextlib.suppress(Exception):
            self._scan()
        return self.lines

    def _line_at(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def _scan(self) -> None:
        text = self.text
        pos = 0
        while pos < self.size:
            pos = self._skip_blanks(pos)
            ch = text[pos : pos + 1]
            if not ch:
                break
            if ch in ("\n", "\r"):
                pos += 1
                continue
            start = pos
            if ch == "[":
                is_array = text.startswith("[[", pos)
                keys, pos = self._key(pos + (2 if is_array else 1))
                if keys:
                    self.table = self._header(keys, is_array=is_array, line=self._line_at(start))
            elif ch != "#":
                keys, pos = self._key(pos)
                pos = self._skip_blanks(pos)
                if keys and text.startswith("=", pos):
                    self._record(self.table, keys, self._line_at(start))
                    pos = self._skip_value(pos + 1)
            pos = self._line_end(pos)

    def _skip_blanks(self, pos: int) -> int:
        while pos < self.size and self.text[pos] in " \t":
            pos += 1
        return pos

    def _line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return self.size if end < 0 else end

    def _key(self, pos: int) -> tuple[list[str], int]:
        text = self.text
        parts: list[str] = []
        while True:
            pos = self._skip_blanks(pos)
            ch = text[pos : pos + 1]
            part: str | None
            if ch == '"':
                part, pos = self._basic_key(pos + 1)
            elif ch == "'":
                end = text.find("'", pos + 1)
                newline = text.find("\n", pos + 1)
                if end < 0 or 0 <= newline < end:
                    return [], pos
                part, pos = text[pos + 1 : end], end + 1
            else:
                match = BARE_KEY.match(text, pos)
                part = match.group() if match is not None else None
                if match is not None:
                    pos = match.end()
            if part is None:
                return [], pos
            parts.append(part)
            pos = self._skip_blanks(pos)
            if not text.startswith(".", pos):
                return parts, pos
            pos += 1

    def _basic_key(self, pos: int) -> tuple[str | None, int]:
        text = self.text
        out: list[str] = []
        while pos < self.size:
            ch = text[pos]
            if ch == '"':
                return "".join(out), pos + 1
            if ch == "\n":
                break
            if ch != "\\":
                out.append(ch)
                pos += 1
                continue
            escape = text[pos + 1 : pos + 2]
            if escape in ("u", "U"):
                width = 4 if escape == "u" else 8
                digits = text[pos + 2 : pos + 2 + width]
                try:
                    out.append(chr(int(digits, 16)))
                except (ValueError, OverflowError):
                    break
                pos += 2 + width
            elif escape and escape in _TOML_ESCAPES:
                out.append(_TOML_ESCAPES[escape])
                pos += 2
            else:
                break
        return None, pos

    def _skip_value(self, pos: int) -> int:
        """Move past one value (strings, arrays and inline tables may span lines)."""
        text = self.text
        depth = 0
        while pos < self.size:
            ch = text[pos]
            if ch in "\"'":
                pos = self._skip_string(pos)
                continue
            if ch == "#":
                pos = self._line_end(pos)
                continue
            if ch == "\n" and depth <= 0:
                return pos
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            pos += 1
        return pos

    def _skip_string(self, pos: int) -> int:
        text = self.text
        quote = text[pos]
        if text.startswith(quote * 3, pos):
            pos += 3
            while pos < self.size:
                if quote == '"' and text[pos] == "\\":
                    pos += 2
                    continue
                if text.startswith(quote * 3, pos):
                    # A closing delimiter may be preceded by up to two quotes of content.
                    while text.startswith(quote, pos):
                        pos += 1
                    return pos
                pos += 1
            return pos
        pos += 1
        while pos < self.size:
            ch = text[pos]
            if ch == "\n":
                return pos
            if quote == '"' and ch == "\\":
                pos += 2
                continue
            pos += 1
            if ch == quote:
                return pos
        return pos

    def _header(self, keys: list[str], *, is_array: bool, line: int) -> Loc:
        loc: Loc = ()
        last = len(keys) - 1
        for index, key in enumerate(keys):
            loc = (*loc, key)
            if index == last and is_array:
                count = self.array_counts.get(loc, 0)
                self.array_counts[loc] = count + 1
                self.lines.setdefault(loc, line)
                loc = (*loc, count)
                self.lines[loc] = line
            elif loc in self.array_counts:
                loc = (*loc, self.array_counts[loc] - 1)
            elif index == last:
                self.lines[loc] = line
            else:
                self.lines.setdefault(loc, line)
        return loc

    def _record(self, table: Loc, keys: list[str], line: int) -> None:
        loc = table
        for key in keys[:-1]:
            loc = (*loc, key)
            self.lines.setdefault(loc, line)
        self.lines[(*loc, keys[-1])] = line
