"""``finplug new-plugin NAME``: a new plugin distribution made from the plugin template.

The template (``plugins/_template`` in finplug's repository) is a working
plugin named ``example``. A new plugin is a copy of it with the template's
names replaced everywhere, in file contents and paths alike; for ``fx-rates``:

- ``finplug-example`` (the distribution) becomes ``finplug-fx-rates``;
- ``finplug_example`` (the package) becomes ``finplug_fx_rates``;
- ``Example`` (the class-name prefix) becomes ``FxRates``;
- ``example`` next to an ``_`` (tables, version table, reason codes) becomes ``fx_rates``;
- any other ``example`` (the plugin name: ``meta.name``, entry point, config key)
  becomes ``fx-rates``.

Blocks between ``[template-only]`` and ``[/template-only]`` lines (the
template's note on itself) are left out.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from finplug import FinplugError, Platform, PluginMeta

__all__ = ["PluginNames", "ScaffoldError", "new_plugin", "template_dir"]

#: The plugin name the template is written for.
TEMPLATE_NAME = "example"
_ENTRY_POINT_GROUP = "finplug.plugins"
_TOKENS = re.compile(r"finplug-example|finplug_example|Example|example")
_SKIPPED = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".mypy_cache", "build", "dist"
)
_BLOCK_START = "[template-only]"
_BLOCK_END = "[/template-only]"


class ScaffoldError(FinplugError, ValueError):
    """A new plugin cannot be made: a bad or taken name, an existing folder, no template."""


@dataclass(frozen=True, slots=True)
class PluginNames:
    """Every name a plugin distribution derives from its plugin name."""

    plugin: str
    """The plugin's name: ``meta.name``, the entry point, the tenant config key (``fx-rates``)."""
    distribution: str
    """The distribution (``pip install``) name: ``finplug-fx-rates``."""
    package: str
    """The import package: ``finplug_fx_rates``."""
    classes: str
    """The prefix of the plugin and settings classes: ``FxRates``."""
    identifier: str
    """The name as an identifier part, for tables and codes: ``fx_rates``."""

    @classmethod
    def of(cls, name: str) -> PluginNames:
        """The names for plugin ``name``; :class:`ScaffoldError` if it cannot be a plugin name."""
        problem = _name_problem(name)
        if problem is not None:
            raise ScaffoldError(f"cannot make plugin {name!r}: {problem}")
        words = re.split(r"[-_]", name)
        return cls(
            plugin=name,
            distribution="finplug-" + "-".join(words),
            package="finplug_" + "_".join(words),
            classes="".join(word.capitalize() for word in words),
            identifier="_".join(words),
        )

    def replace(self, text: str) -> str:
        """``text`` with the template's names replaced by these."""

        def swap(match: re.Match[str]) -> str:
            token = match.group()
            if token == "finplug-example":
                return self.distribution
            if token == "finplug_example":
                return self.package
            if token == "Example":
                return self.classes
            before = text[match.start() - 1 : match.start()]
            after = text[match.end() : match.end() + 1]
            return self.identifier if "_" in (before, after) else self.plugin

        return _TOKENS.sub(swap, text)


def _name_problem(name: str) -> str | None:
    try:
        PluginMeta(name=name, version="0")  # the rule discovery applies, stated once
    except ValueError:
        return (
            "a plugin name is lower-case letters and digits, words joined by '-' or '_',"
            " starting with a letter (for example fx-rates)"
        )
    if re.match(r"finplug(?:[-_]|$)", name):
        return "leave out the finplug- prefix: the distribution is named finplug-NAME already"
    if name in {record.name for record in Platform(environ={}).plugins}:
        return f"{name!r} is a plugin built into finplug"
    for entry_point in importlib.metadata.entry_points(group=_ENTRY_POINT_GROUP):
        if entry_point.name == name:
            dist = entry_point.dist.name if entry_point.dist is not None else "a distribution"
            return f"{dist} installed here already provides a plugin named {name!r}"
    return None


def template_dir() -> Path:
    """The plugin template: ``plugins/_template`` of the finplug checkout this runs from.

    Raises :class:`ScaffoldError` where finplug was installed from a wheel,
    which does not carry the template.
    """
    checkout = Path(__file__).resolve().parents[2]
    template = checkout / "plugins" / "_template"
    if not (template / "pyproject.toml").is_file():
        raise ScaffoldError(
            "the plugin template (plugins/_template) is not here: new-plugin needs finplug"
            " installed from its repository (pip install -e path/to/finplug)"
        )
    return template


def _without_template_notes(text: str) -> str:
    kept: list[str] = []
    inside = after_block = False
    for line in text.splitlines(keepends=True):
        if _BLOCK_START in line:
            inside = True
        elif _BLOCK_END in line:
            inside, after_block = False, True
        elif not inside:
            if after_block and not line.strip() and (not kept or not kept[-1].strip()):
                continue  # the block's blank line before it is kept, the one after it is not
            kept.append(line)
            after_block = False
    return "".join(kept)


def new_plugin(
    name: str, directory: str | os.PathLike[str] = ".", *, template: Path | None = None
) -> Path:
    """Make ``<directory>/finplug-<name>/``, a plugin distribution from the template.

    Returns the new folder. Raises :class:`ScaffoldError`, leaving nothing
    behind, for a name that cannot be a plugin name, one a built-in or
    installed plugin has, or a folder that exists already.
    """
    names = PluginNames.of(name)
    source = template or template_dir()
    parent = Path(directory)
    target = parent / names.distribution
    if target.exists():
        raise ScaffoldError(f"{target} exists already; choose another name or folder")
    if not parent.is_dir():
        raise ScaffoldError(f"{parent} is not a folder")
    staging = Path(tempfile.mkdtemp(prefix=f".{names.distribution}-", dir=parent))
    try:
        shutil.copytree(source, staging, ignore=_SKIPPED, dirs_exist_ok=True)
        # Deepest first, so renaming a folder never moves a path still to visit.
        for path in sorted(staging.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                path.write_text(names.replace(_without_template_notes(text)), encoding="utf-8")
            renamed = names.replace(path.name)
            if renamed != path.name:
                path.rename(path.with_name(renamed))
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
