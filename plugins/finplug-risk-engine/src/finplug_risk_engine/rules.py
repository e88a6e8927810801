"""Rule sets: velocity features, JDM graphs and Radar-style rules, compiled once per version.

A rule set's content is JSON (what :class:`~.versions.RuleSetVersions`
stores)::

    {
      "features": [{"name": "payments_per_card_1h", "aggregate": "count",
                    "key": "card_fingerprint", "window": "1h"}],
      "graphs": {"score": { ...a JDM graph... }},
      "rules": [{"code": "card_velocity", "action": "block",
                 "when": "features.payments_per_card_1h >= 5",
                 "message": "more than 4 payments on this card in an hour"}]
    }

Rules are ZEN expressions over the decision's inputs: ``operation``,
``amount`` (a number), ``currency``, ``merchant``, ``customer``, ``country``,
``payment_method``, ``attributes`` (strings), ``features.<name>``,
``lists.block.<subject>`` / ``lists.allow.<subject>`` (booleans) and
``graphs.<name>`` (the graph's result). A name outside these, a feature or
graph the set does not define, an expression that does not parse: each is a
located :class:`RuleSetError` when the set is compiled, never at decision
time.

Every rule is evaluated and every match reported; the verdict follows
Stripe Radar's precedence: *request step-up* rules first, then *allow*
(which lets the operation through whatever block or review rules say), then
*block*, then *review*. A rule whose expression fails on an input (a type
mismatch the data brought) counts as a *review* match with code
``rule_failed:<code>``: the engine fails closed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from finplug import FinplugError
from finplug._text import did_you_mean
from finplug_risk_engine.decision_log import FiredRule
from finplug_risk_engine.expr import (
    EvaluationError,
    Expression,
    ExpressionError,
    compile_expression,
)
from finplug_risk_engine.expr._ast import (
    ArrayLit,
    Binary,
    Call,
    Conditional,
    Ident,
    IntervalLit,
    Literal,
    Member,
    Node,
    ObjectLit,
    Template,
    Unary,
)
from finplug_risk_engine.jdm import CompiledGraph, JdmError, compile_graph, graph_from_json
from finplug_risk_engine.velocity import Aggregate, FeatureSpec, Key

__all__ = [
    "INPUT_NAMES",
    "PRECEDENCE",
    "Action",
    "CompiledRuleSet",
    "RuleDecision",
    "RuleSetError",
    "compile_rule_set",
]


class Action(enum.StrEnum):
    """What a rule asks for when it matches."""

    STEP_UP = "step_up"
    """Ask the customer to authenticate again (3-D Secure, a one-time code)."""
    ALLOW = "allow"
    """Let the operation through, whatever block and review rules say."""
    BLOCK = "block"
    """Refuse the operation."""
    REVIEW = "review"
    """Hold it for a person."""


#: Radar's order: the first action with a matching rule decides.
PRECEDENCE: Final = (Action.STEP_UP, Action.ALLOW, Action.BLOCK, Action.REVIEW)

#: The names a rule may read at the top level.
INPUT_NAMES: Final = frozenset(
    {
        "operation",
        "amount",
        "currency",
        "merchant",
        "customer",
        "country",
        "payment_method",
        "attributes",
        "features",
        "lists",
        "graphs",
    }
)

_TOP_KEYS: Final = frozenset({"description", "features", "graphs", "rules"})
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_WINDOW: Final = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class RuleSetError(FinplugError, ValueError):
    """A rule set that cannot be compiled; ``path`` says where (``rules[2].when``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        """Where in the rule set: ``features[0].window``, ``rules[3].when`` …"""
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """What a rule set made of one decision's inputs."""

    action: Action | None
    """The deciding action (``None``: no rule matched)."""
    fired: tuple[FiredRule, ...]
    """Every rule that matched, in the set's order."""


@dataclass(frozen=True, slots=True)
class _Rule:
    code: str
    action: Action
    message: str
    when: Expression


@dataclass(frozen=True, slots=True)
class CompiledRuleSet:
    """A rule set ready to decide: features to compute, graphs and rules compiled."""

    features: tuple[FeatureSpec, ...]
    """The velocity features its rules read."""
    graphs: Mapping[str, CompiledGraph]
    """Its decision graphs, by name."""
    rules: tuple[_Rule, ...]
    """Its rules, in order."""

    def rule_codes(self) -> list[str]:
        """The rules' codes, in order."""
        return [r.code for r in self.rules]

    def decide(self, inputs: Mapping[str, Any]) -> RuleDecision:
        """Evaluate every rule over ``inputs`` (graphs' results already in ``inputs["graphs"]``)."""
        fired: list[FiredRule] = []
        matched: set[Action] = set()
        for rule in self.rules:
            try:
                hit = rule.when.evaluate(inputs) is True
            except EvaluationError as exc:
                fired.append(
                    FiredRule(
                        f"rule_failed:{rule.code}",
                        Action.REVIEW.value,
                        f"rule {rule.code!r} could not be evaluated: {exc}",
                    )
                )
                matched.add(Action.REVIEW)
                continue
            if hit:
                fired.append(FiredRule(rule.code, rule.action.value, rule.message))
                matched.add(rule.action)
        action = next((a for a in PRECEDENCE if a in matched), None)
        return RuleDecision(action, tuple(fired))

    def run_graphs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Each graph's result for ``inputs``, by name."""
        return {name: graph.evaluate(inputs) for name, graph in self.graphs.items()}


def _window(path: str, value: object) -> timedelta:
    if not isinstance(value, str) or not (m := _WINDOW.fullmatch(value)):
        raise RuleSetError(path, f"expected a window such as '30m', '1h' or '7d', got {value!r}")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _str(path: str, value: object, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise RuleSetError(path, f"expected a non-empty string, got {value!r}")
    if pattern is not None and not pattern.fullmatch(value):
        raise RuleSetError(
            path, f"expected lower-case letters, digits and _ (at most 64), got {value!r}"
        )
    return value


def _obj(
    path: str, value: object, allowed: frozenset[str], required: frozenset[str]
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RuleSetError(path, f"expected an object, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise RuleSetError(f"{path}.{key}", f"unknown key{did_you_mean(str(key), allowed)}")
    for key in sorted(required):
        if key not in value:
            raise RuleSetError(f"{path}.{key}", "is required")
    return value


def _enum(path: str, value: object, kind: type[enum.StrEnum]) -> Any:
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    known = ", ".join(m.value for m in kind)
    raise RuleSetError(path, f"expected one of {known}, got {value!r}")


def _feature(path: str, raw: object) -> FeatureSpec:
    allowed = frozenset({"name", "aggregate", "key", "window", "kinds", "currency", "of"})
    spec = _obj(path, raw, allowed, frozenset({"name", "aggregate", "key", "window"}))
    kinds = spec.get("kinds", [])
    if not isinstance(kinds, list) or not all(isinstance(k, str) and k for k in kinds):
        raise RuleSetError(f"{path}.kinds", "expected a list of outcome kinds")
    try:
        return FeatureSpec(
            name=_str(f"{path}.name", spec["name"], pattern=_CODE),
            aggregate=_enum(f"{path}.aggregate", spec["aggregate"], Aggregate),
            key=_enum(f"{path}.key", spec["key"], Key),
            window=_window(f"{path}.window", spec["window"]),
            kinds=frozenset(kinds),
            currency=spec.get("currency"),
            of=None if spec.get("of") is None else _enum(f"{path}.of", spec["of"], Key),
        )
    except ValueError as exc:
        if isinstance(exc, RuleSetError):
            raise
        raise RuleSetError(path, str(exc)) from None


def _walk(node: Node) -> Iterator[Node]:
    yield node
    children: Sequence[Node | str] = ()
    if isinstance(node, Member):
        children = (node.obj, node.key)
    elif isinstance(node, Unary):
        children = (node.operand,)
    elif isinstance(node, Binary):
        children = (node.left, node.right)
    elif isinstance(node, Conditional):
        children = (node.cond, node.then, node.otherwise)
    elif isinstance(node, IntervalLit):
        children = (node.low, node.high)
    elif isinstance(node, ArrayLit | Call):
        children = node.items if isinstance(node, ArrayLit) else node.args
    elif isinstance(node, ObjectLit):
        children = [part for entry in node.entries for part in entry]
    elif isinstance(node, Template):
        children = node.parts
    for child in children:
        if not isinstance(child, str):
            yield from _walk(child)


def _check_names(path: str, when: Expression, features: set[str], graphs: set[str]) -> None:
    """Every top-level name is an input; every ``features.x`` and ``graphs.x`` is defined."""
    for node in _walk(when.tree):
        if (
            isinstance(node, Member)
            and isinstance(node.obj, Ident)
            and isinstance(node.key, Literal)
        ):
            known = {"features": features, "graphs": graphs}.get(node.obj.name)
            name = node.key.value
            if known is not None and isinstance(name, str) and name not in known:
                what = node.obj.name[:-1]
                raise RuleSetError(
                    path,
                    f"unknown {what} {name!r} at offset {node.key.pos}{did_you_mean(name, known)}"
                    f" (defined: {', '.join(sorted(known)) or 'none'})",
                )
        if isinstance(node, Ident) and node.name not in INPUT_NAMES and node.name not in ("$", "#"):
            hint = did_you_mean(node.name, INPUT_NAMES)
            raise RuleSetError(path, f"unknown name {node.name!r} at offset {node.pos}{hint}")


def compile_rule_set(content: Mapping[str, Any]) -> CompiledRuleSet:
    """Check and compile a rule set's content; :class:`RuleSetError` naming the first problem."""
    top = _obj("rule set", content, _TOP_KEYS, frozenset({"rules"}))
    raw_features = top.get("features", [])
    if not isinstance(raw_features, list):
        raise RuleSetError("features", "expected a list")
    features = tuple(_feature(f"features[{i}]", f) for i, f in enumerate(raw_features))
    names = [f.name for f in features]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise RuleSetError(f"features[{i}].name", f"{name!r} is defined twice")
    raw_graphs = top.get("graphs", {})
    if not isinstance(raw_graphs, Mapping):
        raise RuleSetError("graphs", "expected an object of graphs by name")
    graphs: dict[str, CompiledGraph] = {}
    for name, graph in raw_graphs.items():
        path = f"graphs.{name}"
        _str(path, name, pattern=_CODE)
        try:
            graphs[name] = compile_graph(graph_from_json(graph))
        except JdmError as exc:
            raise RuleSetError(path, str(exc)) from None
    raw_rules = top["rules"]
    if not isinstance(raw_rules, list):
        raise RuleSetError("rules", "expected a list")
    rules: list[_Rule] = []
    allowed = frozenset({"code", "action", "when", "message"})
    for i, raw in enumerate(raw_rules):
        path = f"rules[{i}]"
        spec = _obj(path, raw, allowed, frozenset({"code", "action", "when"}))
        code = _str(f"{path}.code", spec["code"], pattern=_CODE)
        if any(r.code == code for r in rules):
            raise RuleSetError(f"{path}.code", f"{code!r} is used by another rule")
        action = _enum(f"{path}.action", spec["action"], Action)
        text = _str(f"{path}.when", spec["when"])
        try:
            when = compile_expression(text, where=f"{path}.when ({code})")
        except ExpressionError as exc:
            raise RuleSetError(f"{path}.when", str(exc)) from None
        _check_names(f"{path}.when", when, set(names), set(graphs))
        message = spec.get("message", code)
        rules.append(_Rule(code, action, _str(f"{path}.message", message), when))
    return CompiledRuleSet(features, graphs, tuple(rules))
