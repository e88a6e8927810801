"""Mount the commands plugins add through ``finplug_register_commands`` (a class-level hook)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import typer

from finplug._jobs import one_line
from finplug._plugin import PROJECT
from finplug._registry import PluginRecord

__all__ = ["mount_plugin_commands"]


def _kernel_names(root: typer.Typer) -> set[str]:
    names = {
        g.name or (g.typer_instance.info.name if g.typer_instance else None)
        for g in root.registered_groups
    }
    names |= {
        c.name or (c.callback.__name__ if c.callback else None) for c in root.registered_commands
    }
    return {n for n in names if isinstance(n, str)}


def _hook_of(cls: type[Any]) -> Callable[..., object] | None:
    """The class-level ``finplug_register_commands`` of a plugin class, if it has one."""
    hook = "finplug_register_commands"
    if getattr(getattr(cls, hook, None), f"{PROJECT}_impl", None) is None:
        return None
    raw = inspect.getattr_static(cls, hook)
    if not isinstance(raw, staticmethod | classmethod):
        raise TypeError(
            f"{hook} must be a @staticmethod (outermost, above @hookimpl): commands are"
            " per installation, so there is no tenant and no plugin instance"
        )
    found: Callable[..., object] = getattr(cls, hook)
    return found


def mount_plugin_commands(root: typer.Typer, records: Iterable[PluginRecord]) -> list[str]:
    """Mount every loaded plugin's commands on ``root``; return one warning per failure.

    Each plugin is called on its own (failure policy: report): a raising hook
    or a name already taken skips that registration and the others go on.
    """
    taken = _kernel_names(root)
    warnings: list[str] = []
    for record in records:
        cls = record.plugin_class
        if record.status != "loaded" or cls is None:
            continue
        try:
            hook = _hook_of(cls)
        except TypeError as exc:
            warnings.append(f"plugin {record.name!r}: {exc}")
            continue
        if hook is None:
            continue

        def register(
            name: str, command: typer.Typer | Callable[..., object], _plugin: str = record.name
        ) -> None:
            if name in taken:
                raise ValueError(f"command name {name!r} is already taken")
            if isinstance(command, typer.Typer):
                root.add_typer(command, name=name)
            elif callable(command):
                root.command(name)(command)
            else:
                raise TypeError(f"command {name!r} must be a typer.Typer or a function")
            taken.add(name)

        try:
            hook(register=register)
        except Exception as exc:
            warnings.append(
                one_line(
                    f"plugin {record.name!r}: finplug_register_commands raised"
                    f" {type(exc).__name__}: {exc}; its other commands are mounted"
                )
            )
    return warnings
