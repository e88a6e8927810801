"""Planning a tenant: validate its config against the installed plugins, then order them.

Planning is pure and cheap: it validates each enabled plugin's settings with
the plugin's model, checks requirements and component providers, and orders
plugins by dependencies and ``before``/``after``. Every problem it finds is a
located :class:`ConfigIssue`, so ``finplug check`` reports them with file and
line, and a tenant that plans cleanly cannot fail on these at call time.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from finplug._config import TenantConfig, pydantic_issues
from finplug._errors import ConfigError, ConfigIssue
from finplug._registry import HookSpec, HookSpecError, PluginRecord, spec_table
from finplug._socket import Socket
from finplug._sources import from_mapping
from finplug._text import did_you_mean

__all__ = ["TenantPlan", "plan_tenant"]


@dataclass(frozen=True, slots=True)
class TenantPlan:
    """A tenant config validated against the installed plugins, ready to build."""

    config: TenantConfig
    order: tuple[PluginRecord, ...]
    """Enabled plugins in hook-call order: the first one's implementations run first."""
    settings: Mapping[str, BaseModel]
    """Validated settings per plugin name."""
    components: Mapping[str, str]
    """Component name -> name of the plugin providing it."""
    hookspec_modules: frozenset[str] = frozenset()
    """Hook spec modules beyond the kernel's that the enabled plugins declare."""
    sockets: Mapping[str, Socket[Any]] = field(default_factory=dict)
    """The sockets the enabled plugins plug into, by name."""

    @property
    def specs(self) -> Mapping[str, HookSpec]:
        """Every hook specification this tenant knows: the kernel's and its plugins'."""
        return spec_table(self.hookspec_modules)

    @property
    def tenant_id(self) -> str:
        """The tenant's id."""
        return self.config.tenant


def plan_tenant(
    config: TenantConfig,
    plugins: Mapping[str, PluginRecord],
    defaults: tuple[str, ...] = (),
) -> TenantPlan:
    """Validate ``config`` against ``plugins`` and compute the plugin order.

    Raises :class:`ConfigError` listing every problem, each located in the
    config's file when it has one.
    """
    issues: list[ConfigIssue] = []
    enabled: dict[str, PluginRecord] = {}
    settings: dict[str, BaseModel] = {}
    document = config.document or from_mapping({})
    wanted: dict[str, dict[str, Any] | None] = dict.fromkeys(defaults)
    wanted.update(config.resolved_plugins())
    for name, raw in wanted.items():
        loc = ("plugins", name)
        record = plugins.get(name)
        if record is None:
            hint = did_you_mean(name, plugins)
            known = ", ".join(sorted(n for n, r in plugins.items() if r.status == "loaded"))
            detail = hint or f" (loaded: {known or 'none'})"
            issues.append(config.issue(loc, f"no plugin named {name!r} is installed{detail}"))
            continue
        if record.plugin_class is None:
            issues.append(config.issue(loc, f"plugin {name!r} is not available: {record.error}"))
            continue
        model = record.plugin_class.meta.settings
        try:
            settings[name] = model.model_validate(raw or {})
        except ValidationError as exc:
            issues.extend(pydantic_issues(exc, document, prefix=loc, model=model))
            continue
        enabled[name] = record

    components: dict[str, str] = {}
    for name, record in enabled.items():
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        for component in sorted(meta.components):
            other = components.get(component)
            if other is not None:
                issues.append(
                    config.issue(
                        ("plugins", name),
                        f"component {component!r} is provided by both {other!r} and {name!r};"
                        " a tenant enables exactly one provider per component",
                    )
                )
            else:
                components[component] = name
    for name, record in enabled.items():
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        for needed in sorted(meta.requires_plugins):
            if needed not in wanted:
                issues.append(
                    config.issue(
                        ("plugins", name),
                        f"plugin {name!r} requires plugin {needed!r}, which this tenant does"
                        " not enable",
                    )
                )
        for component in sorted(meta.requires_components):
            if component not in components:
                issues.append(
                    config.issue(
                        ("plugins", name),
                        f"plugin {name!r} requires a {component!r} component, which no plugin"
                        " enabled by this tenant provides",
                    )
                )
    modules = frozenset(m for record in enabled.values() for m in record.spec_modules)
    sockets = {name: sk for record in enabled.values() for name, sk in record.sockets.items()}
    try:
        spec_table(modules)
    except HookSpecError as exc:
        issues.append(config.issue(("plugins",), f"the enabled plugins' hook specs clash: {exc}"))
    if issues:
        raise ConfigError(issues)
    order = _order(enabled, config)
    return TenantPlan(
        config=config,
        order=tuple(enabled[n] for n in order),
        settings=settings,
        components=components,
        hookspec_modules=modules,
        sockets=sockets,
    )


def _order(enabled: Mapping[str, PluginRecord], config: TenantConfig) -> list[str]:
    """Topological order: dependencies and ``after`` targets first; ties by name."""
    edges: dict[str, set[str]] = {name: set() for name in enabled}  # a -> b: a runs before b
    for name, record in enabled.items():
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        for dep in meta.requires_plugins | meta.after:
            if dep in enabled:
                edges[dep].add(name)
        for later in meta.before:
            if later in enabled:
                edges[name].add(later)
        for component in meta.requires_components:
            for other, rec in enabled.items():
                if other != name and component in rec.plugin_class.meta.components:  # type: ignore[union-attr]
                    edges[other].add(name)
    indegree = dict.fromkeys(enabled, 0)
    for targets in edges.values():
        for target in targets:
            indegree[target] += 1
    ready = [name for name, deg in indegree.items() if deg == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for target in edges[name]:
            indegree[target] -= 1
            if indegree[target] == 0:
                heapq.heappush(ready, target)
    if len(order) != len(enabled):
        cycle = _find_cycle({n: edges[n] for n in enabled if n not in order})
        raise ConfigError(
            [
                config.issue(
                    ("plugins", cycle[0]),
                    "plugin ordering has a cycle: "
                    + " -> ".join(cycle)
                    + " (from requires/before/after); break one of these constraints",
                )
            ]
        )
    return order


def _find_cycle(edges: Mapping[str, set[str]]) -> list[str]:
    """One cycle among the nodes Kahn's algorithm could not place, closed (a -> b -> a).

    Every such node has a predecessor that is also unplaced, so walking
    predecessors must revisit a node; the walk's loop, reversed, is a cycle.
    """
    preds: dict[str, set[str]] = {n: set() for n in edges}
    for node, targets in edges.items():
        for target in targets:
            if target in preds:
                preds[target].add(node)
    node = min(edges)
    seen: dict[str, int] = {}
    walk: list[str] = []
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = min(preds[node])
    loop = walk[seen[node] :][::-1]
    start = loop.index(min(loop))
    loop = loop[start:] + loop[:start]
    return [*loop, loop[0]]
