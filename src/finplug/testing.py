"""The plugin author's kit: pytest fixtures and spec checks.

Installed with finplug and registered as a pytest plugin (entry point
``pytest11``), so its fixtures are available in any test suite::

    def test_my_rule(make_tenant):
        tenant = make_tenant([MyPlugin], settings={"my-plugin": {"limit": "10"}})
        assert tenant.hooks.finplug_assess_risk(context=ctx) == [...]

    def test_plugin_matches_specs():
        assert_valid_plugin(MyPlugin)

Nothing here touches entry points: platforms are built from the plugin
classes you pass, so tests never depend on what else is installed.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pytest

from finplug import hookspecs
from finplug._platform import Platform
from finplug._plugin import Plugin
from finplug._registry import check_plugin
from finplug._runtime import Tenant

__all__ = [
    "MakePlatform",
    "MakeTenant",
    "assert_valid_plugin",
    "make_platform",
    "make_tenant",
    "spec_mismatches",
]


class MakePlatform(Protocol):
    """Type of the :func:`make_platform` fixture."""

    def __call__(
        self,
        plugins: Sequence[type[Plugin[Any]]],
        tenants: Sequence[Mapping[str, Any]] = (),
        *,
        allow: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Platform:
        """Build a platform over ``plugins`` and add the ``tenants`` configs."""
        ...


class MakeTenant(Protocol):
    """Type of the :func:`make_tenant` fixture."""

    def __call__(
        self,
        plugins: Sequence[type[Plugin[Any]]],
        settings: Mapping[str, Mapping[str, Any] | None] | None = None,
        *,
        tenant_id: str = "test",
    ) -> Tenant:
        """Assemble one tenant enabling ``plugins`` with optional ``settings`` per plugin."""
        ...


def _make_platform(
    plugins: Sequence[type[Plugin[Any]]],
    tenants: Sequence[Mapping[str, Any]] = (),
    *,
    allow: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Platform:
    platform = Platform(plugins, allow=allow, environ=environ if environ is not None else {})
    for config in tenants:
        platform.add_tenant(config)
    return platform


def _make_tenant(
    plugins: Sequence[type[Plugin[Any]]],
    settings: Mapping[str, Mapping[str, Any] | None] | None = None,
    *,
    tenant_id: str = "test",
) -> Tenant:
    for cls in plugins:
        assert_valid_plugin(cls)
    enabled = dict(settings or {})
    for cls in plugins:
        enabled.setdefault(cls.meta.name, {})
    platform = _make_platform(plugins, [{"tenant": tenant_id, "plugins": enabled}])
    return platform.tenant(tenant_id)


@pytest.fixture
def make_platform() -> MakePlatform:
    """Factory fixture: a :class:`~finplug.Platform` over in-memory plugin classes.

    ``tenants`` are config mappings added to it; ``${VAR}`` references are
    looked up in ``environ`` (empty by default, so tests do not read the
    real environment).
    """
    return _make_platform


@pytest.fixture
def make_tenant() -> MakeTenant:
    """Factory fixture: one assembled tenant enabling exactly ``plugins``.

    Each plugin gets ``settings[name]`` or its defaults; every plugin is
    first checked with :func:`assert_valid_plugin`.
    """
    return _make_tenant


def spec_mismatches(plugin_class: type[Plugin[Any]]) -> list[str]:
    """Where a plugin's hook implementations disagree with the specs' annotations.

    Compares each implementation's parameter and return annotations with the
    spec's, where both can be resolved. Returns a list of human-readable
    problems (empty if none).
    """
    problems: list[str] = []
    for name in check_plugin(plugin_class).impls:
        spec = getattr(hookspecs, name)
        impl = getattr(plugin_class, name)
        try:
            spec_hints = typing.get_type_hints(spec)
            impl_hints = typing.get_type_hints(impl)
        except Exception as exc:  # unresolvable forward reference: report, don't guess
            problems.append(f"{name}: cannot resolve annotations ({exc})")
            continue
        opts = getattr(impl, "finplug_impl", {})
        for param, hint in impl_hints.items():
            if param == "return" and (opts.get("wrapper") or opts.get("hookwrapper")):
                continue  # a wrapper returns a generator, not the spec's result
            expected = spec_hints.get(param)
            if expected is not None and hint != expected:
                problems.append(
                    f"{name}: {param} is annotated {_show(hint)}, the spec says {_show(expected)}"
                )
    return problems


def _show(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def assert_valid_plugin(plugin_class: type[Plugin[Any]], *, strict_types: bool = True) -> None:
    """Fail (``AssertionError``) unless the plugin validates against finplug's specs.

    Runs the same checks as discovery (:func:`finplug.check_plugin`) and, with
    ``strict_types``, :func:`spec_mismatches`.
    """
    record = check_plugin(plugin_class)
    if record.status != "loaded":
        raise AssertionError(f"plugin {record.name!r} is invalid: {record.error}")
    if strict_types:
        problems = spec_mismatches(plugin_class)
        if problems:
            raise AssertionError(
                f"plugin {record.name!r} hook annotations differ from the specs:\n  "
                + "\n  ".join(problems)
            )
