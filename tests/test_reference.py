"""docs/reference.md is generated from the code; these tests fail when it goes stale.

Regenerate the page after changing a public type or its docstrings::

    .venv/bin/python tests/test_reference.py

Every public type's fields (dataclass and pydantic fields, NamedTuple fields,
enum members, protocol methods and attributes, public methods of other
classes) must say what they mean: an attribute docstring (``\"\"\"…\"\"\"`` under
the field), a pydantic ``description`` or a method docstring.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import re
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "reference.md"

#: The modules whose public types the page documents, in page order.
MODULES = (
    "finplug",
    "finplug.components",
    "finplug.types",
    "finplug.sockets.payments",
    "finplug.sockets.risk",
    "finplug.sockets.fees",
)

HEADER = """\
# Public types

Every public type of finplug with its fields: the classes exported by
`finplug`, `finplug.components`, `finplug.types` and the sockets
`finplug.sockets.payments`, `.risk` and `.fees`. Functions, hooks and
constants are documented in their modules and in [the hook reference](hooks.md).

This page is generated from the code's docstrings by
`python tests/test_reference.py`; `tests/test_reference.py` fails when the page
differs from what the code says, or when a field says nothing. To change a
line here, change the docstring under the field in the code and regenerate.
"""


class Row(NamedTuple):
    """One documented member of a type: its name, its type or signature, its meaning."""

    name: str
    kind: str
    doc: str


# --- reading docstrings -------------------------------------------------------------------


def _class_source_docs(cls: type) -> dict[str, tuple[str, str]]:
    """Attribute name -> (annotation source, docstring) read from ``cls``'s own body."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))
    found: dict[str, tuple[str, str]] = {}
    body = node.body
    for i, stmt in enumerate(body):
        name: str | None = None
        annotation = ""
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name, annotation = stmt.target.id, ast.unparse(stmt.annotation)
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            name = stmt.targets[0].id
        if name is None:
            continue
        doc = ""
        following = body[i + 1] if i + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = inspect.cleandoc(following.value.value)
        found[name] = (annotation, doc)
    return found


def _attribute_docs(cls: type) -> dict[str, tuple[str, str]]:
    """Like :func:`_class_source_docs`, merged over the MRO (the subclass wins)."""
    merged: dict[str, tuple[str, str]] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("finplug"):
            merged.update(_class_source_docs(klass))
    return merged


_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`~?([^`]+)`")


def _markdown(text: str) -> str:
    """A docstring as one markdown line: reST roles and literals become code spans."""

    def role(match: re.Match[str]) -> str:
        target = match.group(1)
        if match.group(0).split("`", 1)[1].startswith("~"):
            target = target.rsplit(".", 1)[-1]
        return f"`{target}`"

    text = _ROLE.sub(role, text)
    text = text.replace("``", "`")
    text = text.replace("::\n", ":\n")
    return " ".join(text.split()).replace("|", "\\|")


def _summary(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring, as one markdown line."""
    doc = inspect.getdoc(obj) or ""
    return _markdown(doc.split("\n\n", 1)[0])


def _code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`" if text else ""


# --- members of each kind of type ---------------------------------------------------------


def _kind(cls: type) -> str:
    if issubclass(cls, BaseException):
        return "exception"
    if issubclass(cls, enum.Enum):
        return "enum"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return "named tuple"
    if getattr(cls, "_is_protocol", False):
        return "protocol"
    if hasattr(cls, "model_fields"):
        return "pydantic model"
    return "class"


def _signature(fn: Any) -> str:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return "(…)"
    params = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls"):
            continue
        text = p.name
        if p.kind is p.VAR_POSITIONAL:
            text = f"*{text}"
        elif p.kind is p.VAR_KEYWORD:
            text = f"**{text}"
        if p.default is not p.empty:
            text += "=…"
        params.append(text)
    keyword_only = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    if keyword_only and not any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        first = [p.name for p in sig.parameters.values() if p.name not in ("self", "cls")].index(
            keyword_only[0].name
        )
        params.insert(first, "*")
    returns = sig.return_annotation
    tail = f" -> {returns}" if isinstance(returns, str) else ""
    return f"({', '.join(params)}){tail}"


def _methods(cls: type, *, inherited: bool) -> Iterator[Row]:
    """Public methods and properties (own, or from every finplug class of the MRO)."""
    seen: set[str] = set()
    owners = [k for k in cls.__mro__ if k.__module__.startswith("finplug")]
    for klass in owners if inherited else [cls]:
        for name, member in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            if isinstance(member, property):
                seen.add(name)
                fget = member.fget
                returns = inspect.signature(fget).return_annotation if fget else ""
                yield Row(name, _code(str(returns)) + " (property)", _summary(member))
            elif isinstance(member, staticmethod | classmethod) or inspect.isfunction(member):
                seen.add(name)
                fn = member.__func__ if isinstance(member, staticmethod | classmethod) else member
                yield Row(f"{name}()", _code(_signature(fn)), _summary(fn))


def rows(cls: type) -> list[Row]:
    """The documented members of ``cls``, in declaration order."""
    kind = _kind(cls)
    docs = _attribute_docs(cls)
    if kind == "dataclass":
        fields = [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]
        out = [
            Row(f.name, _code(str(f.type)), _markdown(docs.get(f.name, ("", ""))[1]))
            for f in fields
        ]
        return out + list(_methods(cls, inherited=True))
    if kind == "named tuple":
        return [
            Row(name, _code(docs.get(name, ("", ""))[0]), _markdown(docs.get(name, ("", ""))[1]))
            for name in cls._fields  # type: ignore[attr-defined]
        ]
    if kind == "enum":
        return [
            Row(
                member.name,
                _code(repr(member.value)),
                _markdown(docs.get(member.name, ("", ""))[1]),
            )
            for member in typing.cast("type[enum.Enum]", cls)
        ]
    if kind == "pydantic model":
        out = []
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            annotation, doc = docs.get(name, ("", ""))
            out.append(Row(name, _code(annotation), _markdown(info.description or doc)))
        return out + list(_methods(cls, inherited=False))
    if kind == "protocol":
        out = [
            Row(name, _code(annotation), _markdown(doc))
            for name, (annotation, doc) in docs.items()
            if annotation and not name.startswith("_")
        ]
        return out + list(_methods(cls, inherited=True))
    return list(_methods(cls, inherited=False))


# --- the page -------------------------------------------------------------------------------


def _public_types(module_name: str) -> Iterator[tuple[str, object]]:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        # Classes, and type aliases: Annotated types and unions (documented by ``#:``).
        alias = typing.get_origin(obj) is typing.Annotated or isinstance(obj, types.UnionType)
        if inspect.isclass(obj) or alias:
            yield name, obj


def _alias_docs(module_name: str) -> dict[str, str]:
    """``#:`` comments above module-level names (how type aliases are documented)."""
    module = importlib.import_module(module_name)
    source = inspect.getsource(module).splitlines()
    docs: dict[str, str] = {}
    for i, line in enumerate(source):
        match = re.match(r"^(\w+)\s*(?::[^=]*)?=", line)
        if not match:
            continue
        comment: list[str] = []
        j = i - 1
        while j >= 0 and source[j].startswith("#:"):
            comment.insert(0, source[j][2:].strip())
            j -= 1
        if comment:
            docs[match.group(1)] = " ".join(comment)
    return docs


def _alias_section(name: str, obj: object, home: str) -> list[str]:
    doc = _alias_docs(home).get(name, "")
    shown = repr(obj).replace("typing.", "")
    if typing.get_origin(obj) is typing.Annotated:
        shown = f"Annotated[{typing.get_args(obj)[0].__name__}, …]"
    return [f"### `{name}`", "", f"*type alias* · `{home}` · `{shown}`", "", _markdown(doc), ""]


def render() -> str:
    """The whole page, as the code describes it today."""
    lines = [HEADER]
    placed: dict[int, str] = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        lines += [f"## {module_name}", "", _summary(module), ""]
        for name, obj in _public_types(module_name):
            if id(obj) in placed:
                lines += [f"### `{name}`", "", f"See [`{name}`](#{placed[id(obj)]}).", ""]
                continue
            placed[id(obj)] = name.lower()
            if not inspect.isclass(obj):
                home = module_name if module_name != "finplug" else "finplug.ledger.values"
                lines += _alias_section(name, obj, home)
                continue
            home = obj.__module__
            lines += [f"### `{name}`", "", f"*{_kind(obj)}* · `{home}`", "", _summary(obj), ""]
            members = rows(obj)
            if members:
                lines += ["| member | type | meaning |", "|---|---|---|"]
                lines += [f"| `{r.name}` | {r.kind} | {r.doc} |" for r in members]
                lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def undocumented() -> list[str]:
    """``Type.member`` for every public member that says nothing, and types without a summary."""
    missing = []
    for module_name in MODULES:
        for name, obj in _public_types(module_name):
            if not inspect.isclass(obj):
                continue
            if not _summary(obj):
                missing.append(name)
            missing += [f"{name}.{r.name}" for r in rows(obj) if not r.doc]
    return sorted(set(missing))


# --- the tests ------------------------------------------------------------------------------


def test_every_public_field_says_what_it_means() -> None:
    assert undocumented() == []


def test_reference_page_is_what_the_code_says() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/reference.md is stale: run `python tests/test_reference.py` and commit the result"
    )


def test_reference_page_names_every_public_type() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for module_name in MODULES:
        for name, _ in _public_types(module_name):
            assert f"### `{name}`" in text, f"{module_name}.{name} is missing"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
