"""The ``risk`` component: a decision from lists, velocity features, graphs and the live rule set.

One :meth:`RiskEngine.assess`:

1. reads which version is live (and which shadows it) and takes their
   compiled rule sets from a per-version cache (compiled once per version);
2. builds the inputs from the :class:`~finplug.sockets.risk.RiskContext`
   (numbers as :class:`~decimal.Decimal`, attributes as strings);
3. looks every subject up on both lists at once and computes the velocity
   features both versions read, as of the decision's instant;
4. runs the live version's graphs and rules (and the shadow's, logged, never
   enforced), maps the deciding action to the socket's verdict, and logs the
   decision with its snapshot, version and latency.

With no live version the engine approves and logs nothing (a tenant that
has not published a rule set yet). A shadow that fails is logged and never
affects the live decision. :meth:`RiskEngine.backtest` replays a version over
the log's snapshots: the same inputs, features and list matches the live
version saw, so a backtest of the live version reproduces its verdicts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection

from finplug import Money, utc_now
from finplug.sockets.risk import RiskContext, RiskDecision, RiskReason, RiskVerdict
from finplug_risk_engine.decision_log import DecisionLog, FiredRule, LoggedDecision
from finplug_risk_engine.expr import pinned_clock
from finplug_risk_engine.lists import ListKind, RiskLists, Subject
from finplug_risk_engine.rules import Action, CompiledRuleSet, RuleDecision, compile_rule_set
from finplug_risk_engine.velocity import FeatureSpec, Key, Outcome
from finplug_risk_engine.versions import RuleSetVersions

__all__ = ["VERDICTS", "BacktestReport", "FeatureSource", "RiskEngine"]

#: The socket verdict each action gives.
VERDICTS: dict[Action | None, RiskVerdict] = {
    None: RiskVerdict.APPROVE,
    Action.ALLOW: RiskVerdict.APPROVE,
    Action.BLOCK: RiskVerdict.DECLINE,
    Action.REVIEW: RiskVerdict.REVIEW,
    Action.STEP_UP: RiskVerdict.STEP_UP,
}

#: Which attribute of a context names which list subject and velocity key.
_ATTRIBUTE_KEYS: dict[str, tuple[Subject | None, Key | None]] = {
    "card_fingerprint": (Subject.CARD_FINGERPRINT, Key.CARD_FINGERPRINT),
    "ip": (Subject.IP, Key.IP),
    "device": (None, Key.DEVICE),
    "email_domain": (Subject.EMAIL_DOMAIN, Key.EMAIL_DOMAIN),
}


class FeatureSource(Protocol):
    """Where velocity features come from: :class:`~.velocity.Velocity` or the Redis backend."""

    def record(self, outcome: Outcome) -> bool:
        """Count ``outcome`` once; whether it was new."""
        ...

    def features(
        self,
        specs: Sequence[FeatureSpec],
        keys: Mapping[Key | str, str | None],
        *,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> dict[str, int | Money]:
        """Each feature's value for the decision's keys, as of ``at`` (in ``conn``, if given)."""
        ...


@dataclass(slots=True)
class BacktestReport:
    """What a version would have decided over logged decisions, against what was decided."""

    version: int
    """The version replayed."""
    total: int = 0
    """Decisions replayed."""
    changed: int = 0
    """Decisions whose verdict would differ."""
    verdicts: dict[tuple[str, str], int] = field(default_factory=dict)
    """(logged verdict, replayed verdict) → how many."""
    rules: dict[str, int] = field(default_factory=dict)
    """Rule code → in how many replayed decisions it fired."""
    examples: list[tuple[int, str, str]] = field(default_factory=list)
    """Up to ten changed decisions: (log id, logged verdict, replayed verdict)."""


def _number(value: int | Money) -> Decimal:
    return value.amount if isinstance(value, Money) else Decimal(value)


class RiskEngine:
    """A tenant's risk engine (``tenant.component(RISK)`` once the plugin provides it)."""

    def __init__(
        self,
        begin: Callable[[], AbstractContextManager[Connection]],
        *,
        features: FeatureSource,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._begin = begin
        self.clock = clock
        """The platform's clock (UTC)."""
        self.features_source: FeatureSource = features
        """Where velocity features are counted (the database or Redis)."""
        self.lists = RiskLists(begin, clock=clock)
        """The tenant's block and allow lists."""
        self.versions = RuleSetVersions(begin, clock=clock)
        """The tenant's rule-set versions."""
        self.log = DecisionLog(begin)
        """The tenant's decision log."""
        self._compiled: dict[int, CompiledRuleSet] = {}
        self._lock = threading.Lock()

    # -- the socket ---------------------------------------------------------

    def assess(self, context: RiskContext) -> RiskDecision:
        """Decide ``context`` with the live rule set (approve when none is live); logged."""
        started = time.perf_counter_ns()
        # One transaction: the state, the lists and the features are read, and
        # the decision logged, at one instant of the tenant's data.
        with self._begin() as conn:
            state = self.versions.state(conn)
            if state.live is None:
                return RiskDecision.approve()
            live = self.compiled(state.live, conn)
            shadow = self.compiled(state.shadow, conn) if state.shadow is not None else None
            at = self.clock()
            subjects, keys = _subjects_and_keys(context)
            matches = self.lists.matches(subjects, at=at, conn=conn)
            specs = {s.name: s for s in live.features}
            if shadow is not None:
                specs.update({s.name: s for s in shadow.features})
            values = (
                self.features_source.features(list(specs.values()), keys, at=at, conn=conn)
                if specs
                else {}
            )
            snapshot = {
                **_inputs(context),
                "at": at.isoformat(),
                "features": {name: str(_number(v)) for name, v in values.items()},
                "lists": _lists(matches),
            }
            decision = _decide(live, snapshot)
            shadow_entry: tuple[int, str, Sequence[FiredRule]] | None = None
            if shadow is not None and state.shadow is not None:
                try:
                    shadowed = _decide(shadow, snapshot)
                    shadow_entry = (state.shadow, _verdict(shadowed.action), shadowed.fired)
                except Exception as exc:  # a shadow never affects the live decision
                    failed = FiredRule("shadow_failed", "review", f"{type(exc).__name__}: {exc}")
                    shadow_entry = (state.shadow, "error", (failed,))
            verdict = VERDICTS[decision.action]
            self.log.append(
                at=at,
                operation=context.operation,
                verdict=_verdict(decision.action),
                version=state.live,
                fired=decision.fired,
                snapshot=snapshot,
                latency_us=(time.perf_counter_ns() - started) // 1000,
                ref=context.attributes.get("payment_id"),
                customer=context.customer_id,
                merchant=context.merchant_id,
                shadow=shadow_entry,
                conn=conn,
            )
        deciding = decision.action
        reasons: tuple[RiskReason, ...] = ()
        if verdict is not RiskVerdict.APPROVE and deciding is not None:
            reasons = tuple(
                RiskReason(f.code, f.message, f"risk-engine:v{state.live}:{f.code}")
                for f in decision.fired
                if f.action == deciding.value
            )
        return RiskDecision(verdict, reasons)

    def rules(self) -> list[str]:
        """The live version's rule codes, in order (empty when none is live)."""
        live = self.versions.state().live
        return [] if live is None else self.compiled(live).rule_codes()

    # -- versions and backtests ---------------------------------------------

    def compiled(self, version: int, conn: Connection | None = None) -> CompiledRuleSet:
        """The compiled rule set of ``version`` (compiled once per process)."""
        found = self._compiled.get(version)
        if found is None:
            content = self.versions.get(version, conn).content
            found = compile_rule_set(content)
            with self._lock:
                found = self._compiled.setdefault(version, found)
        return found

    def backtest(
        self, version: int, decisions: Iterable[LoggedDecision] | None = None
    ) -> BacktestReport:
        """Replay ``version`` over logged decisions (default: the whole log)."""
        rules = self.compiled(version)
        report = BacktestReport(version)
        source = (
            ((d.id, d.verdict, d.snapshot) for d in decisions)
            if decisions is not None
            else self.log.snapshots()
        )
        verdicts, fired_counts = report.verdicts, report.rules
        for log_id, logged_verdict, snapshot in source:
            outcome = _decide(rules, snapshot)
            replayed = _verdict(outcome.action)
            report.total += 1
            pair = (logged_verdict, replayed)
            verdicts[pair] = verdicts.get(pair, 0) + 1
            for fired in outcome.fired:
                fired_counts[fired.code] = fired_counts.get(fired.code, 0) + 1
            if replayed != logged_verdict:
                report.changed += 1
                if len(report.examples) < 10:
                    report.examples.append((log_id, logged_verdict, replayed))
        return report


def _verdict(action: Action | None) -> str:
    return VERDICTS[action].name.lower()


def _inputs(context: RiskContext) -> dict[str, Any]:
    amount = context.amount
    return {
        "operation": context.operation,
        "amount": None if amount is None else str(amount.amount),
        "currency": None if amount is None else amount.currency.code,
        "merchant": context.merchant_id,
        "customer": context.customer_id,
        "country": context.country,
        "payment_method": context.payment_method,
        "attributes": dict(context.attributes),
    }


def _subjects_and_keys(
    context: RiskContext,
) -> tuple[dict[Subject | str, str | None], dict[Key | str, str | None]]:
    subjects: dict[Subject | str, str | None] = {
        Subject.CUSTOMER: context.customer_id,
        Subject.MERCHANT: context.merchant_id,
        Subject.COUNTRY: context.country,
    }
    keys: dict[Key | str, str | None] = {
        Key.CUSTOMER: context.customer_id,
        Key.MERCHANT: context.merchant_id,
        Key.COUNTRY: context.country,
    }
    for name, (subject, key) in _ATTRIBUTE_KEYS.items():
        value = context.attributes.get(name)
        if subject is not None:
            subjects[subject] = value
        if key is not None:
            keys[key] = value
    return subjects, keys


def _lists(matches: Iterable[Any]) -> dict[str, dict[str, bool]]:
    found: dict[str, dict[str, bool]] = {
        kind.value: {s.value: False for s in Subject} for kind in ListKind
    }
    for entry in matches:
        found[entry.list.value][entry.subject.value] = True
    return found


def _decide(rules: CompiledRuleSet, snapshot: Mapping[str, Any]) -> RuleDecision:
    """Evaluate ``rules`` over a snapshot (strings of numbers become Decimals).

    ``date('now')`` in a rule or graph reads the snapshot's ``at``, the
    decision's own instant, so a replay sees the time the decision saw.
    """
    inputs = dict(snapshot)
    if inputs.get("amount") is not None:
        inputs["amount"] = Decimal(inputs["amount"])
    inputs["features"] = {k: Decimal(v) for k, v in snapshot.get("features", {}).items()}
    with pinned_clock(snapshot.get("at")):
        inputs["graphs"] = rules.run_graphs(inputs) if rules.graphs else {}
        return rules.decide(inputs)
