"""Reading one tenant-config document: YAML or TOML text to plain data plus line numbers.

A :class:`SourceDocument` holds the parsed top-level mapping together with the
1-based line of every key and list item, so that later validation can report
``acme.yaml:14: plugins.payments.channels[1].fee_rate: ...`` instead of a bare
message. :func:`resolve_references` then replaces ``${NAME}`` and
``${file:PATH}`` secret references with their values, each wrapped in a
:class:`ResolvedSecret` so that later stages can tell a value that came from a
reference from one written in the file; :meth:`SourceDocument.redacted` masks
them again for display.

Reading is bounded by :class:`ConfigLimits`: the size of a config file and of
a secret file, the nesting depth, and the parts of a TOML dotted key. Each is
checked before the work it protects (a file is never read past its cap, and a
long dotted key is refused before the TOML parser's quadratic work).

Whatever the input, the functions here raise :class:`~finplug._errors.ConfigError`
for bad content and nothing else, and no error message ever contains the value
of an environment variable or of a secret file.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from finplug._errors import ConfigError, ConfigIssue

__all__ = [
    "DEFAULT_LIMITS",
    "MASK",
    "ConfigLimits",
    "Loc",
    "ResolvedSecret",
    "SourceDocument",
    "format_loc",
    "from_mapping",
    "load_document",
    "mask_secrets",
    "parse_document",
    "parse_loc",
    "redact",
    "resolve_references",
]

Loc: TypeAlias = tuple[str | int, ...]
"""A field path: ``("plugins", "pay", "channels", 0, "fee")``."""


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


def _depth_message(limits: ConfigLimits) -> str:
    return (
        f"nesting is deeper than {limits.max_depth} levels;"
        f" expected at most {limits.max_depth} (ConfigLimits.max_depth)"
    )


_EMPTY_MESSAGE = (
    "the file is empty; expected a mapping with at least 'tenant' (and usually 'plugins')"
)

# ------------------------------------------------------------------ paths

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


# ------------------------------------------------------------------ secrets

MASK = "**********"
"""What a secret is shown as (the same mask as :class:`pydantic.SecretStr`)."""

_PREFIX_CHARS = 8
"""A message holding this many leading characters of a secret (a cut value) is masked too."""


class ResolvedSecret(str):
    """A string that came from a ``${VAR}`` or ``${file:PATH}`` reference.

    :func:`resolve_references` wraps every value it resolves in this type, so
    that :func:`redact` can mask it and a settings field typed
    :data:`finplug.types.Credential` can tell it from a literal written in the
    file. It is an ordinary ``str`` otherwise, except that its ``repr`` is the
    mask: a resolved value logged by mistake does not show. Pydantic turns it
    into a plain ``str`` when it validates a ``str`` field.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


def redact(value: Any) -> Any:
    """A copy of ``value`` (plain data) with every :class:`ResolvedSecret` replaced by :data:`MASK`.

    Mappings and lists are copied; other values are returned as they are.
    """
    if isinstance(value, ResolvedSecret):
        return MASK
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _secret_forms(secret: str) -> set[str]:
    """The ways a message may spell ``secret``: as is, escaped by ``repr`` and by JSON."""
    return {secret, repr(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}


def mask_secrets(message: str, secrets: Collection[str]) -> str:
    """``message`` with every occurrence of each of ``secrets`` replaced by :data:`MASK`.

    Also masks a secret as ``repr`` or JSON escape it and, once every whole
    secret is masked, a run of at least eight leading characters of a longer
    one (an error message that cuts long values shows only their start). A
    secret shorter than eight characters is masked only where it is not part
    of a longer word (``ok`` does not mask ``hook``). Blank secrets are
    ignored.
    """
    forms = sorted(
        {form for secret in secrets if secret.strip() for form in _secret_forms(secret)},
        key=len,
        reverse=True,
    )
    for form in forms:
        if len(form) < _PREFIX_CHARS:
            pattern = rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])"
            message = re.sub(pattern, MASK, message)
        else:
            message = message.replace(form, MASK)
    for form in forms:
        if len(form) > _PREFIX_CHARS:
            message = _mask_prefixes(message, form)
    return message


def _mask_prefixes(message: str, form: str) -> str:
    """Mask each run in ``message`` of at least ``_PREFIX_CHARS`` leading characters of ``form``."""
    head = form[:_PREFIX_CHARS]
    found = message.find(head)
    if found < 0:
        return message
    out: list[str] = []
    at = 0
    while found >= 0:
        end = found + _PREFIX_CHARS
        stop = min(len(message), found + len(form))
        while end < stop and message[end] == form[end - found]:
            end += 1
        out.append(message[at:found])
        out.append(MASK)
        at = end
        found = message.find(head, at)
    out.append(message[at:])
    return "".join(out)


def _empty_lines() -> Mapping[Loc, int]:
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
    lines: Mapping[Loc, int] = field(default_factory=_empty_lines)
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


# ------------------------------------------------------------------ entry points


class _RejectedError(Exception):
    """Internal: the document is unacceptable; carries where and why."""

    def __init__(self, line: int | None, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.loc = loc


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
        parser = _parse_yaml
    elif fmt == "toml":
        parser = _parse_toml
    else:
        raise ValueError(f"unknown config format {fmt!r}; expected 'yaml' or 'toml'")
    if _utf8_size_above(text, limits.max_file_bytes):
        raise ConfigError([ConfigIssue(source, None, "", _too_large_message(limits))])
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data, lines = parser(text, limits)
    except _RejectedError as exc:
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


def _too_large_message(limits: ConfigLimits) -> str:
    return (
        f"the config is too large: expected at most {limits.max_file_bytes:,} bytes"
        " (ConfigLimits.max_file_bytes)"
    )


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
        raw = _read_regular_file(source, limits.max_file_bytes)
    except _NotRegularFileError as exc:
        message = f"cannot read the file: it is {exc.kind}, not a regular file"
        raise ConfigError([ConfigIssue(source, None, "", message)]) from None
    except _TooLargeError:
        raise ConfigError([ConfigIssue(source, None, "", _too_large_message(limits))]) from None
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


class _NotRegularFileError(Exception):
    """Internal: the path names a directory, device, pipe or socket."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _TooLargeError(Exception):
    """Internal: the file holds more bytes than its cap."""


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, for messages; ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)  # Windows: no newline translation
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the check must not block open()
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_CHUNK = 64 * 1024


def _read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``, reading at most ``max_bytes + 1`` of them.

    Refuses anything but a regular file before opening it (so a device is
    never opened) and again on the open descriptor (so a file swapped in
    between is caught too). Raises :class:`_NotRegularFileError`,
    :class:`_TooLargeError`, :class:`OSError` or :class:`ValueError` (a path
    with a NUL character).
    """
    kind = _file_kind(os.stat(path).st_mode)
    if kind is not None:
        raise _NotRegularFileError(kind)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        kind = _file_kind(info.st_mode)
        if kind is not None:
            raise _NotRegularFileError(kind)
        if info.st_size > max_bytes:
            raise _TooLargeError
        chunks: list[bytes] = []
        left = max_bytes + 1  # sizes can lie (/proc files say 0): read one byte past the cap
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise _TooLargeError
    return b"".join(chunks)


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
    except _RejectedError as exc:
        issue = ConfigIssue(source, None, format_loc(exc.loc), exc.message)
        raise ConfigError([issue]) from None
    if issues:
        raise ConfigError(issues)
    if not isinstance(plain, dict):
        message = f"expected a mapping at the top level, got {type(data).__name__}"
        raise ConfigError([ConfigIssue(source, None, "", message)])
    return SourceDocument(source=source, data=plain, lines=_empty_lines())


def _plain(
    value: Any,
    loc: Loc,
    depth: int,
    source: str | None,
    issues: list[ConfigIssue],
    limits: ConfigLimits,
) -> Any:
    if isinstance(value, Mapping | list | tuple) and depth > limits.max_depth:
        raise _RejectedError(None, _depth_message(limits), loc)
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


# ------------------------------------------------------------------ YAML

_YAML_TAG = "tag:yaml.org,2002:"
_MAP_TAG = _YAML_TAG + "map"
_SEQ_TAG = _YAML_TAG + "seq"
_STR_TAG = _YAML_TAG + "str"
_MERGE_TAG = _YAML_TAG + "merge"
_VALUE_TAG = _YAML_TAG + "value"
_SCALAR_TAGS = frozenset(
    _YAML_TAG + name for name in ("null", "bool", "int", "float", "str", "timestamp")
)
_KEY_KINDS = {
    _YAML_TAG + "null": "a null",
    _YAML_TAG + "bool": "a boolean",
    _YAML_TAG + "int": "an integer",
    _YAML_TAG + "float": "a number",
    _YAML_TAG + "timestamp": "a date/time",
}
_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_ANCHOR_MESSAGE = "YAML anchors and aliases are not supported in tenant configs"


def _show_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


def _unsupported_tag(tag: str) -> str:
    return f"YAML tag {_show_tag(tag)!r} is not supported in tenant configs"


def _peek_event(loader: yaml.SafeLoader) -> Any:
    return loader.peek_event()  # type: ignore[no-untyped-call]


class _TenantYamlLoader(yaml.SafeLoader):
    """A SafeLoader that refuses anchors, aliases and over-deep nesting while composing."""

    def __init__(self, stream: str, limits: ConfigLimits) -> None:
        super().__init__(stream)
        self.finplug_depth = 0
        self.finplug_limits = limits

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = _peek_event(self)
        line = int(event.start_mark.line) + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _RejectedError(line, _ANCHOR_MESSAGE)
        nested = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if nested:
            self.finplug_depth += 1
            if self.finplug_depth > self.finplug_limits.max_depth:
                raise _RejectedError(line, _depth_message(self.finplug_limits))
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self.finplug_depth -= 1


def _parse_yaml(text: str, limits: ConfigLimits) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        return _compose_and_build(text, limits)
    except _RejectedError:
        raise
    except yaml.YAMLError as exc:
        line, message = _describe_yaml_error(exc, text)
        raise _RejectedError(line, message) from None
    except RecursionError:
        raise _RejectedError(None, _depth_message(limits)) from None
    except (ValueError, OverflowError, TypeError, LookupError, AttributeError) as exc:
        message = f"invalid YAML: the document could not be read ({type(exc).__name__})"
        raise _RejectedError(None, message) from None


def _compose_and_build(text: str, limits: ConfigLimits) -> tuple[dict[str, Any], dict[Loc, int]]:
    loader = _TenantYamlLoader(text, limits)
    try:
        root = loader.get_node() if loader.check_node() else None
        if loader.check_node():
            event = _peek_event(loader)
            message = (
                "a tenant config file must hold exactly one YAML document, "
                "but another document starts here"
            )
            raise _RejectedError(int(event.start_mark.line) + 1, message)
        if root is None or (
            isinstance(root, ScalarNode) and root.tag == _YAML_TAG + "null" and not root.value
        ):
            raise _RejectedError(1, _EMPTY_MESSAGE)
        if not isinstance(root, MappingNode):
            kind = "a list" if isinstance(root, SequenceNode) else "a single value"
            message = f"expected a mapping at the top level (with 'tenant', …), got {kind}"
            raise _RejectedError(root.start_mark.line + 1, message)
        lines: dict[Loc, int] = {(): 1}
        data = _build_yaml(loader, root, (), lines)
        return data, lines
    finally:
        loader.dispose()


def _build_yaml(loader: _TenantYamlLoader, node: Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        if node.tag != _MAP_TAG:
            raise _RejectedError(line, _unsupported_tag(node.tag), loc)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = _yaml_key(key_node, key_line, loc)
            child = (*loc, key)
            if key in mapping:
                first = lines.get(child)
                where = f" (first defined on line {first})" if first is not None else ""
                raise _RejectedError(key_line, f"duplicate key {key!r}{where}", loc)
            lines[child] = key_line
            mapping[key] = _build_yaml(loader, value_node, child, lines)
        return mapping
    if isinstance(node, SequenceNode):
        if node.tag != _SEQ_TAG:
            raise _RejectedError(line, _unsupported_tag(node.tag), loc)
        items: list[Any] = []
        for index, item_node in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_build_yaml(loader, item_node, child, lines))
        return items
    if isinstance(node, ScalarNode):
        return _yaml_scalar(loader, node, line, loc)
    raise _RejectedError(line, f"unsupported YAML node {type(node).__name__}", loc)


def _yaml_key(node: Node, line: int, loc: Loc) -> str:
    if isinstance(node, MappingNode | SequenceNode):
        shape = "a mapping" if isinstance(node, MappingNode) else "a list"
        raise _RejectedError(
            line, f"mapping keys must be strings, found {shape} used as a key", loc
        )
    if node.tag == _MERGE_TAG:
        message = "YAML merge keys ('<<') are not supported in tenant configs"
        raise _RejectedError(line, message, loc)
    if node.tag in (_STR_TAG, _VALUE_TAG):
        return str(node.value)
    kind = _KEY_KINDS.get(node.tag)
    if kind is None:
        raise _RejectedError(line, _unsupported_tag(node.tag), loc)
    message = (
        f"mapping keys must be strings, found {kind} key {node.value!r}; "
        "quote it to use it as a string"
    )
    raise _RejectedError(line, message, loc)


def _yaml_scalar(loader: _TenantYamlLoader, node: ScalarNode, line: int, loc: Loc) -> Any:
    tag = node.tag
    if tag == _VALUE_TAG:
        # PyYAML resolves a plain "=" to a tag it cannot construct; it is just a string.
        return str(node.value)
    if tag not in _SCALAR_TAGS:
        raise _RejectedError(line, _unsupported_tag(tag), loc)
    try:
        return loader.construct_object(node, deep=True)
    except Exception as exc:  # any failure of a scalar constructor is bad input
        reason = f": {exc}" if isinstance(exc, ValueError | OverflowError) else ""
        message = f"invalid {_show_tag(tag)} value{reason}"
        raise _RejectedError(line, message, loc) from None


def _describe_yaml_error(exc: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed document"
        details: list[str] = []
        if exc.problem and exc.context:
            details.append(exc.context)
        if mark is not None:
            details.append(f"column {mark.column + 1}")
        suffix = f" ({', '.join(details)})" if details else ""
        return line, f"invalid YAML: {problem}{suffix}"
    if isinstance(exc, yaml.reader.ReaderError):
        position = exc.position if isinstance(exc.position, int) else None
        line = None
        if position is not None:
            line = len(_YAML_BREAKS.findall(text, 0, position)) + 1
        character = exc.character
        code: int | None = None
        if isinstance(character, int):
            code = character
        elif isinstance(character, str) and len(character) == 1:
            code = ord(character)
        what = f"character #x{code:04X}" if code is not None else "character"
        return line, f"invalid YAML: unacceptable {what}: {exc.reason}"
    return None, f"invalid YAML: {exc}"


# ------------------------------------------------------------------ TOML

_TOML_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def _parse_toml(text: str, limits: ConfigLimits) -> tuple[dict[str, Any], dict[Loc, int]]:
    _check_toml_keys(text, limits)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _describe_toml_error(str(exc), text)
        raise _RejectedError(line, message) from None
    except RecursionError:
        raise _RejectedError(None, _depth_message(limits)) from None
    except (ValueError, OverflowError, TypeError, LookupError) as exc:
        message = f"invalid TOML: {exc}"
        raise _RejectedError(None, message) from None
    lines = _TomlLocator(text).locate()
    lines = {loc: line for loc, line in lines.items() if _loc_exists(data, loc)}
    lines[()] = 1
    if not data:
        raise _RejectedError(1, _EMPTY_MESSAGE)
    too_deep = _too_deep(data, (), 1, limits.max_depth)
    if too_deep is not None:
        doc = SourceDocument(None, data, lines)
        raise _RejectedError(doc.line_of(too_deep), _depth_message(limits), too_deep)
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
        elif first == "#" or not _TOML_BARE_KEY.fullmatch(token):
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
        locator = _TomlLocator(text[:line_start])
        locator.locate()
        loc = locator.table
    message = (
        f"a dotted key has more than {limits.max_key_parts} parts;"
        f" expected at most {limits.max_key_parts} (ConfigLimits.max_key_parts)"
    )
    raise _RejectedError(text.count("\n", 0, start) + 1, message, loc)


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


_TOML_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
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


class _TomlLocator:
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
                match = _TOML_BARE_KEY.match(text, pos)
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


# ------------------------------------------------------------------ secret references

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_REFERENCE = re.compile(r"\$\{file:(.*)\}", re.DOTALL)
_ESCAPED_REFERENCE = re.compile(r"\$(\$\{.*\})", re.DOTALL)


def resolve_references(
    doc: SourceDocument,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    limits: ConfigLimits | None = None,
    public: Collection[Loc] = (),
) -> SourceDocument:
    """Return a copy of ``doc`` with its secret references replaced by their values.

    A string value that is exactly ``${NAME}`` becomes ``environ[NAME]``
    (``environ`` defaults to :data:`os.environ`); exactly ``${file:PATH}``
    becomes the content of that file with one trailing newline removed
    (relative paths are taken against ``base_dir``, by default the directory
    of ``doc.source``, else the current directory). ``$${...}`` stands for the
    literal text ``${...}``. Other strings, and all keys, are left alone.

    A secret file must be a regular file (not a directory, device, pipe or
    socket) of at most ``limits.max_secret_bytes`` bytes; it is never read
    past that size.

    Each resolved value is a :class:`ResolvedSecret`, and the returned
    document masks all of them in :meth:`SourceDocument.issue` messages,
    except values at the field paths in ``public`` (identity fields such as
    the tenant id, which are shown by design): those are plain strings.

    Every reference that cannot be resolved is reported in one
    :class:`ConfigError`; the messages name the variable or file but never a
    value.
    """
    if base_dir is not None:
        base = Path(base_dir)
    elif doc.source is not None:
        base = Path(doc.source).parent
    else:
        base = Path.cwd()
    resolver = _Resolver(
        doc,
        os.environ if environ is None else environ,
        base,
        limits or DEFAULT_LIMITS,
        frozenset(public),
    )
    data = resolver.resolve(doc.data, ())
    if resolver.issues:
        raise ConfigError(resolver.issues)
    return SourceDocument(doc.source, data, doc.lines, doc._secrets.union(resolver.secrets))


class _Resolver:
    def __init__(
        self,
        doc: SourceDocument,
        environ: Mapping[str, str],
        base: Path,
        limits: ConfigLimits,
        public: frozenset[Loc],
    ) -> None:
        self.doc = doc
        self.environ = environ
        self.base = base
        self.limits = limits
        self.public = public
        self.issues: list[ConfigIssue] = []
        self.secrets: set[str] = set()

    def resolve(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, str):
            return self._string(value, loc)
        if isinstance(value, dict):
            return {key: self.resolve(item, (*loc, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item, (*loc, index)) for index, item in enumerate(value)]
        return value

    def _string(self, value: str, loc: Loc) -> str:
        match = _ENV_REFERENCE.fullmatch(value)
        if match is not None:
            name = match[1]
            resolved = self.environ.get(name)
            if resolved is None:
                self.issues.append(self.doc.issue(loc, f"environment variable {name!r} is not set"))
                return value
            return self._resolved(resolved, loc)
        match = _FILE_REFERENCE.fullmatch(value)
        if match is not None:
            content = self._file(match[1], loc)
            return value if content is None else self._resolved(content, loc)
        match = _ESCAPED_REFERENCE.fullmatch(value)
        if match is not None:
            return match[1]
        return value

    def _resolved(self, value: str, loc: Loc) -> str:
        if loc in self.public:
            return str(value)
        self.secrets.add(value)
        return ResolvedSecret(value)

    def _file(self, raw: str, loc: Loc) -> str | None:
        if not raw:
            self.issues.append(self.doc.issue(loc, "file reference '${file:}' names no file"))
            return None
        path = Path(raw)
        if not path.is_absolute():
            path = self.base / path
        shown = repr(raw) if str(path) == raw else f"{raw!r} (looked for {str(path)!r})"
        limit = self.limits.max_secret_bytes
        problem: str | None = None
        try:
            content = _read_regular_file(path, limit).decode("utf-8")
        except FileNotFoundError:
            problem = f"secret file {shown} does not exist"
        except _NotRegularFileError as exc:
            problem = f"secret file {shown} is {exc.kind}; expected a regular file"
        except _TooLargeError:
            problem = (
                f"secret file {shown} is too large: expected at most {limit:,} bytes"
                " (ConfigLimits.max_secret_bytes)"
            )
        except PermissionError:
            problem = f"secret file {shown} cannot be read: permission denied"
        except UnicodeDecodeError:
            problem = f"secret file {shown} is not valid UTF-8 text"
        except OSError as exc:
            problem = f"secret file {shown} cannot be read: {exc.strerror or type(exc).__name__}"
        except ValueError:
            problem = f"secret file path {raw!r} is not a valid path"
        if problem is not None:
            self.issues.append(self.doc.issue(loc, problem))
            return None
        if content.endswith("\r\n"):
            return content[:-2]
        if content.endswith("\n"):
            return content[:-1]
        return content
