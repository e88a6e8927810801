"""Routing: which channels a payment is sent to, and in what order.

Routing is a pure function of the tenant's :class:`RoutingSettings`, the
channels it has (:class:`~finplug.ChannelInfo`), the payment
(:class:`~finplug.RouteRequest`) and the channels' recent record
(:class:`~finplug.ChannelStats`). It reads no clock, no database and no
random state, so the same inputs always give the same list, and a decision
can be tested and timed on its own.

The settings are compiled once into a :class:`RoutingTable`, which checks
every channel and strategy name they mention and precomputes what does not
depend on the payment::

    table = RoutingTable.build(settings, channels, strategies)
    order = table.route(request, stats)   # e.g. ["card-eu", "card-global"]

A decision goes in four steps:

1. **Rule.** The first rule of ``rules`` whose conditions all hold for the
   payment applies; later rules are not looked at. A rule may restrict the
   candidates to its ``channels``, drop some with ``exclude``, and choose
   another ``strategy``.
2. **Eligibility.** Candidates that cannot take the payment (disabled, wrong
   currency or method, amount outside their bounds: :meth:`ChannelInfo.accepts`)
   are dropped. Nothing routing returns is ever ineligible.
3. **Order.** The strategy ranks the eligible candidates it has an opinion on
   (its *picks*); then come the ``fallback`` channels in the listed order; then
   every other eligible candidate, by name. Names appear once.
4. **Cap.** The list is cut to ``max_attempts``: the payments service tries
   them in order, moving on only after a retriable failure.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from types import MappingProxyType
from typing import Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from finplug import ConfigError, ConfigIssue
from finplug.sockets.payments import (
    ChannelInfo,
    ChannelStats,
    PaymentMethod,
    RouteRequest,
    RoutingStrategy,
)
from finplug.types import Amount, CurrencyCode

__all__ = [
    "BUILTIN_STRATEGIES",
    "RoutingConfigError",
    "RoutingRule",
    "RoutingSettings",
    "RoutingTable",
    "route",
]

#: The strategies every tenant can name without a plugin.
BUILTIN_STRATEGIES: Final[frozenset[str]] = frozenset(
    {"priority", "volume_split", "lowest_cost", "success_rate"}
)

_NO_STRATEGIES: Final[Mapping[str, RoutingStrategy]] = MappingProxyType({})
_NO_STATS: Final = ChannelStats()

_Name = Annotated[str, Field(min_length=1)]
_Weight = Annotated[StrictInt, Field(ge=0)]


def _duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    return sorted(repeated)


# ---------------------------------------------------------------- settings


class RoutingRule(BaseModel):
    """A routing rule: conditions on the payment, and what to do when they all hold.

    Every condition left out matches any payment. ``min_amount`` and
    ``max_amount`` are inclusive and compare the amount in the payment's own
    currency (major units), so an amount rule usually names ``currencies`` too.

    Actions: ``channels`` restricts the candidates to those channels (no
    other channel is tried for a matching payment, not even from the tenant's
    fallback list); they are tried in the listed order unless the rule names a
    ``strategy``, which then orders them. ``exclude`` removes channels from
    the candidates. A rule needs at least one action.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _Name = Field(description="Shown in logs and error messages; unique per tenant.")
    min_amount: Amount | None = Field(default=None, description="Match amounts >= this.")
    max_amount: Amount | None = Field(default=None, description="Match amounts <= this.")
    currencies: frozenset[CurrencyCode] | None = Field(
        default=None, min_length=1, description="Match these currencies only."
    )
    methods: frozenset[PaymentMethod] | None = Field(
        default=None, min_length=1, description="Match these payment methods only."
    )
    merchants: frozenset[_Name] | None = Field(
        default=None, min_length=1, description="Match these merchant ids only."
    )
    channels: list[_Name] | None = Field(
        default=None, min_length=1, description="Route only to these channels, in this order."
    )
    exclude: list[_Name] = Field(default_factory=list, description="Never route to these.")
    strategy: _Name | None = Field(
        default=None, description="Order the candidates with this strategy instead."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems: list[str] = []
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            problems.append(f"min_amount {self.min_amount} is above max_amount {self.max_amount}")
        if self.channels is None and not self.exclude and self.strategy is None:
            problems.append("a rule needs an action: channels, exclude or strategy")
        for field, names in (("channels", self.channels or []), ("exclude", self.exclude)):
            if dup := _duplicates(names):
                problems.append(f"{field} lists {', '.join(map(repr, dup))} more than once")
        if both := sorted(set(self.channels or []) & set(self.exclude)):
            problems.append(f"{', '.join(map(repr, both))} in both channels and exclude")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def matches(self, request: RouteRequest) -> bool:
        """Whether every condition of this rule holds for ``request``."""
        value = request.amount.amount
        return (
            (self.min_amount is None or value >= self.min_amount)
            and (self.max_amount is None or value <= self.max_amount)
            and (self.currencies is None or request.amount.currency.code in self.currencies)
            and (self.methods is None or request.method in self.methods)
            and (self.merchants is None or request.merchant_id in self.merchants)
        )


class RoutingSettings(BaseModel):
    """A tenant's routing, under ``plugins.payments.routing`` in its config.

    Channel and strategy names are checked against the tenant's channels and
    the strategies plugins offer when the :class:`RoutingTable` is built, not
    here: the model alone cannot know them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: _Name = Field(
        default="priority",
        description=(
            "How to order channels: priority, volume_split, lowest_cost, success_rate,"
            " or a name offered through the finplug_routing_strategies hook."
        ),
    )
    priority: list[_Name] = Field(
        default_factory=list, description="Channel order for the priority strategy."
    )
    weights: dict[_Name, _Weight] = Field(
        default_factory=dict, description="Relative volume per channel for volume_split."
    )
    rules: list[RoutingRule] = Field(
        default_factory=list, description="Checked in order; the first that matches applies."
    )
    fallback: list[_Name] = Field(
        default_factory=list, description="Tried after the strategy's picks, in this order."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="At most this many channels per payment."
    )
    success_window: int = Field(
        default=100, ge=1, description="Last attempts per channel counted by success_rate."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        problems: list[str] = []
        for field, names in (("priority", self.priority), ("fallback", self.fallback)):
            if dup := _duplicates(names):
                problems.append(f"{field} lists {', '.join(map(repr, dup))} more than once")
        if dup := _duplicates([rule.name for rule in self.rules]):
            problems.append(f"rule names must be unique: {', '.join(map(repr, dup))}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ---------------------------------------------------------------- errors


class RoutingConfigError(ConfigError):
    """Routing settings name channels or strategies the tenant does not have.

    Found when the :class:`RoutingTable` is built. Every problem is listed,
    each with its field path: ``routing.rules[2].channels[0]: unknown channel 'cardx'``.
    """


# ---------------------------------------------------------------- built-in strategies


def _payment_point(payment_id: str, total: int) -> int:
    """A stable point in ``[0, total)`` for a payment: its volume-split bucket."""
    digest = hashlib.sha256(payment_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % total


@dataclass(frozen=True, slots=True)
class _Ordered:
    """Picks the channels of a fixed list, in its order (priority, a rule's channels)."""

    order: tuple[str, ...]

    def __call__(
        self,
        request: RouteRequest,
        channels: Sequence[ChannelInfo],
        stats: Mapping[str, ChannelStats],
    ) -> Sequence[str]:
        present = {c.name for c in channels}
        return [name for name in self.order if name in present]


class _VolumeSplit:
    """First a weighted pick by the payment id's hash, then the rest by weight desc, name."""

    __slots__ = ("_by_name", "_by_weight")

    def __init__(self, weights: Mapping[str, int]) -> None:
        positive = sorted((name, w) for name, w in weights.items() if w > 0)
        # Cumulative buckets in name order, so the split does not depend on input order.
        self._by_name: tuple[tuple[str, int], ...] = tuple(positive)
        self._by_weight: tuple[str, ...] = tuple(
            name for name, _ in sorted(positive, key=lambda p: (-p[1], p[0]))
        )

    def __call__(
        self,
        request: RouteRequest,
        channels: Sequence[ChannelInfo],
        stats: Mapping[str, ChannelStats],
    ) -> Sequence[str]:
        present = {c.name for c in channels}
        weighted = [(name, w) for name, w in self._by_name if name in present]
        if not weighted:
            return ()
        point = _payment_point(request.payment_id, sum(w for _, w in weighted))
        first = weighted[-1][0]
        for name, weight in weighted:
            if point < weight:
                first = name
                break
            point -= weight
        return [first, *(n for n in self._by_weight if n in present and n != first)]


def _lowest_cost(
    request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
) -> Sequence[str]:
    amount = request.amount
    return [c.name for c in sorted(channels, key=lambda c: (c.cost(amount), c.name))]


def _success_rate(
    request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
) -> Sequence[str]:
    def key(channel: ChannelInfo) -> tuple[Decimal, str]:
        return (-stats.get(channel.name, _NO_STATS).rate(), channel.name)

    return [c.name for c in sorted(channels, key=key)]


# ---------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class _Plan:
    """What to do with a payment once its rule (or no rule) is known."""

    candidates: tuple[ChannelInfo, ...]
    """Allowed channels, by name, before the eligibility check."""
    strategy: RoutingStrategy
    fallback: tuple[str, ...]
    """The tenant's fallback list, cut to the channels this plan allows."""


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: RoutingRule
    plan: _Plan


@dataclass(frozen=True, slots=True, eq=False)
class RoutingTable:
    """A tenant's routing settings, checked against its channels and compiled.

    Build it with :meth:`build`; it is immutable and safe to share between
    threads. :meth:`route` makes one decision.
    """

    settings: RoutingSettings
    """The settings it was built from."""
    channels: tuple[ChannelInfo, ...]
    """The tenant's channels, by name."""
    _rules: tuple[_CompiledRule, ...]
    _default: _Plan

    @classmethod
    def build(
        cls,
        settings: RoutingSettings,
        channels: Sequence[ChannelInfo],
        strategies: Mapping[str, RoutingStrategy] = _NO_STRATEGIES,
        *,
        path: str = "routing",
    ) -> RoutingTable:
        """Check ``settings`` against ``channels`` and ``strategies``, and compile them.

        ``strategies`` are the ones plugins offer through
        ``finplug_routing_strategies``, merged. ``path`` prefixes the field
        paths in error messages (``"plugins.payments.routing"`` in a tenant
        config).

        Raises :class:`RoutingConfigError` listing every unknown channel or
        strategy name, and :class:`ValueError` when two channels share a name
        or a plugged strategy takes a built-in's name.
        """
        by_name = {c.name: c for c in channels}
        if len(by_name) != len(channels):
            dup = _duplicates([c.name for c in channels])
            raise ValueError(f"two channels are named {', '.join(map(repr, dup))}")
        if clash := sorted(BUILTIN_STRATEGIES & strategies.keys()):
            raise ValueError(f"strategies {', '.join(map(repr, clash))} clash with built-ins")

        problems: list[ConfigIssue] = []
        known_strategies = sorted(BUILTIN_STRATEGIES | strategies.keys())

        def check_channel(field: str, name: str) -> None:
            if name not in by_name:
                problems.append(ConfigIssue(None, None, field, _unknown("channel", name, by_name)))

        has_weights = any(settings.weights.values())

        def check_strategy(field: str, name: str) -> None:
            if name not in BUILTIN_STRATEGIES and name not in strategies:
                problems.append(
                    ConfigIssue(None, None, field, _unknown("strategy", name, known_strategies))
                )
            elif name == "volume_split" and not has_weights:
                problems.append(
                    ConfigIssue(
                        None, None, field, "volume_split needs a positive weight in weights"
                    )
                )

        check_strategy(f"{path}.strategy", settings.strategy)
        for i, name in enumerate(settings.priority):
            check_channel(f"{path}.priority[{i}]", name)
        for name in settings.weights:
            check_channel(f"{path}.weights.{name}", name)
        for i, name in enumerate(settings.fallback):
            check_channel(f"{path}.fallback[{i}]", name)
        for r, rule in enumerate(settings.rules):
            where = f"{path}.rules[{r}]"
            for i, name in enumerate(rule.channels or ()):
                check_channel(f"{where}.channels[{i}]", name)
            for i, name in enumerate(rule.exclude):
                check_channel(f"{where}.exclude[{i}]", name)
            if rule.strategy is not None:
                check_strategy(f"{where}.strategy", rule.strategy)
        if problems:
            raise RoutingConfigError(problems, sort=False)

        builtins: dict[str, RoutingStrategy] = {
            "priority": _Ordered(tuple(settings.priority)),
            "volume_split": _VolumeSplit(settings.weights),
            "lowest_cost": _lowest_cost,
            "success_rate": _success_rate,
        }
        known: Mapping[str, RoutingStrategy] = {**strategies, **builtins}
        ordered = tuple(sorted(channels, key=lambda c: c.name))

        def plan(rule: RoutingRule | None) -> _Plan:
            allowed = set(by_name)
            strategy = known[settings.strategy]
            if rule is not None:
                if rule.channels is not None:
                    allowed = set(rule.channels)
                    strategy = _Ordered(tuple(rule.channels))
                allowed -= set(rule.exclude)
                if rule.strategy is not None:
                    strategy = known[rule.strategy]
            return _Plan(
                candidates=tuple(c for c in ordered if c.name in allowed),
                strategy=strategy,
                fallback=tuple(n for n in settings.fallback if n in allowed),
            )

        return cls(
            settings=settings,
            channels=ordered,
            _rules=tuple(_CompiledRule(rule, plan(rule)) for rule in settings.rules),
            _default=plan(None),
        )

    def rule_for(self, request: RouteRequest) -> RoutingRule | None:
        """The rule that applies to ``request``: the first that matches, or ``None``."""
        for compiled in self._rules:
            if compiled.rule.matches(request):
                return compiled.rule
        return None

    def route(self, request: RouteRequest, stats: Mapping[str, ChannelStats]) -> list[str]:
        """The channels to try for ``request``, in order; at most ``max_attempts``.

        ``stats`` holds each channel's recent record (a channel missing from
        it counts as unused); only ``success_rate`` and plugged strategies
        look at it. An empty list means no channel can take the payment.
        A plugged strategy's answer is filtered: names it returns that are
        unknown, ineligible, excluded or repeated are ignored. Exceptions a
        plugged strategy raises propagate.
        """
        plan = self._default
        for compiled in self._rules:
            if compiled.rule.matches(request):
                plan = compiled.plan
                break
        amount, method = request.amount, request.method
        eligible = tuple(c for c in plan.candidates if c.accepts(amount, method))
        if not eligible:
            return []
        cap = self.settings.max_attempts
        remaining = {c.name for c in eligible}
        chosen: list[str] = []
        # Picks, then fallback, then the rest by name: each name once, eligible only.
        for name in chain(
            plan.strategy(request, eligible, stats), plan.fallback, (c.name for c in eligible)
        ):
            if name in remaining:
                remaining.discard(name)
                chosen.append(name)
                if len(chosen) >= cap:
                    break
        return chosen


def _unknown(kind: str, name: str, known: Mapping[str, object] | Sequence[str]) -> str:
    names = sorted(known)
    message = f"unknown {kind} {name!r}"
    if close := difflib.get_close_matches(name, names, n=1):
        message += f" (did you mean {close[0]!r}?)"
    return message + f"; known: {', '.join(names) if names else 'none'}"


def route(
    settings: RoutingSettings,
    channels: Sequence[ChannelInfo],
    request: RouteRequest,
    stats: Mapping[str, ChannelStats],
    strategies: Mapping[str, RoutingStrategy] = _NO_STRATEGIES,
) -> list[str]:
    """One routing decision without keeping the table: ``RoutingTable.build(...).route(...)``.

    Builds the table each time; a service routing many payments keeps a
    :class:`RoutingTable` instead.
    """
    return RoutingTable.build(settings, channels, strategies).route(request, stats)
