"""JSON values as the graph engine moves them: exact numbers, zen's merge.

Values are plain ``dict``/``list``/``str``/``bool``/``None`` and
:class:`~decimal.Decimal`. Nothing here mutates a value it was given: merges
build new containers along the path they change and share the rest, so node
outputs can be handed from node to node without copies.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "first_input",
    "get_path",
    "json_ready",
    "lift",
    "merge",
    "merge_results",
    "same_json",
    "set_path",
    "to_values",
]


def to_values(value: Any) -> Any:
    """A caller's input as engine values: numbers become ``Decimal`` exactly.

    ``int`` is taken as is and ``float`` by its shortest repr (``0.1`` is
    ``Decimal('0.1')``), as zen reads JSON numbers; mappings become ``dict``
    and sequences (other than text) ``list``. Anything else is refused.
    """
    kind = type(value)
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            # The common flat cases inline: this runs on every evaluation.
            item_kind = type(item)
            if item_kind is int:
                item = Decimal(item)
            elif (
                item_kind is not str
                and item_kind is not Decimal
                and item_kind is not bool
                and item is not None
            ):
                item = to_values(item)
            out[key if type(key) is str else str(key)] = item
        return out
    if value is None or kind is str or kind is bool or kind is Decimal:
        return value
    if kind is int:
        return Decimal(value)
    if kind is float:
        return Decimal(repr(value))
    if kind is list or kind is tuple:
        return [to_values(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_values(v) for k, v in value.items()}
    if isinstance(value, str | bool | Decimal):
        return value
    if isinstance(value, int):
        return Decimal(int(value))
    if isinstance(value, float):
        return Decimal(repr(float(value)))
    if isinstance(value, list | tuple):
        return [to_values(v) for v in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def json_ready(value: Any) -> Any:
    """A result with ``Decimal`` turned into ``int`` (integral) or ``float``.

    For display and for comparing with zen's own results, which come back as
    JSON numbers; the engine's results keep the exact ``Decimal``.
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value


def same_json(left: Any, right: Any) -> bool:
    """Exact JSON equality, as zen's test harness checks results.

    Numbers compare by value whatever their Python type (``Decimal('0.6')``
    equals ``0.6``; a float by its shortest repr), a boolean never equals a
    number, objects compare key by key and arrays item by item.
    """
    if type(left) is bool or type(right) is bool or left is None or right is None:
        return type(left) is type(right) and left == right
    if isinstance(left, int | float | Decimal) and isinstance(right, int | float | Decimal):
        return _number(left) == _number(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    return type(left) is type(right) and isinstance(left, str) and left == right


def _number(value: int | float | Decimal) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def lift(value: Any) -> Any:
    """``merge({}, value)``: the result when one node's data is all there is."""
    if type(value) is dict:
        return {k: v for k, v in value.items() if v is not None}
    if type(value) is list:
        return value
    return {}


def first_input(value: Any) -> Any:
    """What a node receives from its first (or only) predecessor.

    zen hands an object or an array over as it is (``null`` values
    included); anything else becomes an empty object.
    """
    if type(value) is dict or type(value) is list:
        return value
    return {}


def merge(base: Any, patch: Any) -> Any:
    """The merge zen applies to one node's data over another's.

    An array replaces. An object replaces anything that is not an object;
    into an object it merges key by key: ``null`` removes the key, objects
    merge recursively, anything else replaces; merged into itself (the same
    object) it changes nothing. Any other patch (``null``, a number ...)
    leaves ``base`` as it is. ``base`` is never modified: it is copied on
    the first real change, and given back as it is when nothing changes.
    """
    if type(patch) is dict:
        if type(base) is dict:
            return base if base is patch else _merge_objects(base, patch)
        return patch
    if type(patch) is list:
        return patch
    return base


def merge_results(parts: list[Any]) -> Any:
    """The result zen gives: the end nodes' data merged, in order, into an empty object.

    zen merges them in place: a nested object taken from one end node is the
    very object later ones merge into, so a ``null`` from a later node can
    remove a key from an earlier one's data, and from wherever else that
    data was handed on. To give the same answer the parts are deep-copied
    together (shared objects stay shared) and then merged in place.
    """
    if len(parts) == 1:
        return lift(parts[0])
    result: Any = {}
    for part in copy.deepcopy(parts):
        result = _merge_in_place(result, part)
    return result


def _merge_in_place(base: Any, patch: Any) -> Any:
    if type(patch) is dict:
        if type(base) is not dict:
            return patch
        if base is not patch:
            for key, value in patch.items():
                if value is None:
                    base.pop(key, None)
                    continue
                old = base.get(key)
                if type(value) is dict and type(old) is dict:
                    _merge_in_place(old, value)
                else:
                    base[key] = value
        return base
    if type(patch) is list:
        return patch
    return base


def _merge_objects(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge key by key, copying ``base`` only on the first real change.

    As zen's copy-on-write does, an unchanged merge gives ``base`` itself
    back, which matters because zen skips merging an object into itself.
    """
    out: dict[str, Any] | None = None
    for key, value in patch.items():
        current = base if out is None else out
        if value is None:
            if key in current:
                if out is None:
                    out = dict(base)
                del out[key]
            continue
        old = current.get(key, _MISSING)
        new = merge(old, value) if type(value) is dict and type(old) is dict else value
        if new is old or (type(new) is type(old) and new == old):
            continue
        if out is None:
            out = dict(base)
        out[key] = new
    return base if out is None else out


_MISSING: Any = object()


def set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set a dotted key in ``target`` (which the caller owns), creating objects.

    As zen does, a key under something that is not an object (``null``
    included) is dropped.
    """
    node = target
    for part in path[:-1]:
        child = node.get(part, _MISSING)
        if child is _MISSING:
            child = node[part] = {}
        elif isinstance(child, dict):
            # Copy on the way down: the object may be shared with an input.
            child = node[part] = dict(child)
        else:
            return
        node = child
    node[path[-1]] = value


def get_path(source: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path, ``None`` where it is missing."""
    value = source
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
