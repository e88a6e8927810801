"""YAML to plain data and the line of each value, refusing what a tenant config may not use.

The document is composed node by node with PyYAML's safe loader, so that each
key and list item keeps its line; anchors, aliases, merge keys, custom tags,
non-string keys, duplicate keys, a second document and nesting deeper than
:attr:`ConfigLimits.max_depth` are refused with their line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from finplug._sources.document import EMPTY_MESSAGE, RejectedError
from finplug._sources.limits import ConfigLimits, depth_message
from finplug._sources.paths import Loc

__all__ = ["parse_yaml"]


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
            raise RejectedError(line, _ANCHOR_MESSAGE)
        nested = isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if nested:
            self.finplug_depth += 1
            if self.finplug_depth > self.finplug_limits.max_depth:
                raise RejectedError(line, depth_message(self.finplug_limits))
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self.finplug_depth -= 1


def parse_yaml(text: str, limits: ConfigLimits) -> tuple[dict[str, Any], dict[Loc, int]]:
    """The top-level mapping of one YAML document and the 1-based line of each value.

    Raises :class:`RejectedError` (and nothing else) for a document a tenant
    config may not be.
    """
    try:
        return _compose_and_build(text, limits)
    except RejectedError:
        raise
    except yaml.YAMLError as exc:
        line, message = _describe_yaml_error(exc, text)
        raise RejectedError(line, message) from None
    except RecursionError:
        raise RejectedError(None, depth_message(limits)) from None
    except (ValueError, OverflowError, TypeError, LookupError, AttributeError) as exc:
        message = f"invalid YAML: the document could not be read ({type(exc).__name__})"
        raise RejectedError(None, message) from None


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
            raise RejectedError(int(event.start_mark.line) + 1, message)
        if root is None or (
            isinstance(root, ScalarNode) and root.tag == _YAML_TAG + "null" and not root.value
        ):
            raise RejectedError(1, EMPTY_MESSAGE)
        if not isinstance(root, MappingNode):
            kind = "a list" if isinstance(root, SequenceNode) else "a single value"
            message = f"expected a mapping at the top level (with 'tenant', …), got {kind}"
            raise RejectedError(root.start_mark.line + 1, message)
        lines: dict[Loc, int] = {(): 1}
        data = _build_yaml(loader, root, (), lines)
        return data, lines
    finally:
        loader.dispose()


def _build_yaml(loader: _TenantYamlLoader, node: Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        if node.tag != _MAP_TAG:
            raise RejectedError(line, _unsupported_tag(node.tag), loc)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = _yaml_key(key_node, key_line, loc)
            child = (*loc, key)
            if key in mapping:
                first = lines.get(child)
                where = f" (first defined on line {first})" if first is not None else ""
                raise RejectedError(key_line, f"duplicate key {key!r}{where}", loc)
            lines[child] = key_line
            mapping[key] = _build_yaml(loader, value_node, child, lines)
        return mapping
    if isinstance(node, SequenceNode):
        if node.tag != _SEQ_TAG:
            raise RejectedError(line, _unsupported_tag(node.tag), loc)
        items: list[Any] = []
        for index, item_node in enumerate(node.value):
            child = (*loc, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_build_yaml(loader, item_node, child, lines))
        return items
    if isinstance(node, ScalarNode):
        return _yaml_scalar(loader, node, line, loc)
    raise RejectedError(line, f"unsupported YAML node {type(node).__name__}", loc)


def _yaml_key(node: Node, line: int, loc: Loc) -> str:
    if isinstance(node, MappingNode | SequenceNode):
        shape = "a mapping" if isinstance(node, MappingNode) else "a list"
        raise RejectedError(line, f"mapping keys must be strings, found {shape} used as a key", loc)
    if node.tag == _MERGE_TAG:
        message = "YAML merge keys ('<<') are not supported in tenant configs"
        raise RejectedError(line, message, loc)
    if node.tag in (_STR_TAG, _VALUE_TAG):
        return str(node.value)
    kind = _KEY_KINDS.get(node.tag)
    if kind is None:
        raise RejectedError(line, _unsupported_tag(node.tag), loc)
    message = (
        f"mapping keys must be strings, found {kind} key {node.value!r}; "
        "quote it to use it as a string"
    )
    raise RejectedError(line, message, loc)


def _yaml_scalar(loader: _TenantYamlLoader, node: ScalarNode, line: int, loc: Loc) -> Any:
    tag = node.tag
    if tag == _VALUE_TAG:
        # PyYAML resolves a plain "=" to a tag it cannot construct; it is just a string.
        return str(node.value)
    if tag not in _SCALAR_TAGS:
        raise RejectedError(line, _unsupported_tag(tag), loc)
    try:
        return loader.construct_object(node, deep=True)
    except Exception as exc:  # any failure of a scalar constructor is bad input
        reason = f": {exc}" if isinstance(exc, ValueError | OverflowError) else ""
        message = f"invalid {_show_tag(tag)} value{reason}"
        raise RejectedError(line, message, loc) from None


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
