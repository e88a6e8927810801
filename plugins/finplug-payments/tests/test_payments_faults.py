"""Payments never lose money when a plugin or a channel fails, on SQLite and PostgreSQL.

A test plugin (``faults``) implements every hook the payment flow calls and
raises in the ones a test switches on; it registers two simulated channels
(``finplug-channels-sim`` connectors) behind a wrapper that can crash after
the channel applied a call, or crash on lookup. The connectors outlive the
platforms of a test, so a test can "restart the process" (a new
:class:`~finplug.Platform` on the same database) and the channel's own
record of what it did stays whole.

The regression tests name the issue-8 point they guard; the last test is the
fault-injection matrix: every hook fault and every channel fault, at every
step (authorize, authorize with capture, capture, refund, void, top-up),
then the janitor, then the books compared with the channel's journal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select, update

from finplug import (
    Entry,
    Event,
    HookCallError,
    Money,
    Platform,
    Plugin,
    PluginMeta,
    Tenant,
    hookimpl,
)
from finplug._idempotency import idempotency_keys as idempotency
from finplug.sockets.fees import Fee, FeeContext
from finplug.sockets.payments import (
    PAYMENTS,
    ChannelError,
    ChannelOperation,
    ChannelRequest,
    ChannelResult,
    Payment,
    PaymentsAPI,
    PaymentStatus,
    PaymentValidationError,
    RoutingStrategy,
)
from finplug.sockets.risk import RiskContext, RiskDecision
from finplug.testing import new_tenant_id
from finplug_channels_sim import SimChannel, SimConnector
from finplug_fee_schedule import FeeSchedulePlugin
from finplug_payments import PaymentsPlugin
from finplug_payments._schema import attempts, payments, transitions
from finplug_risk_rules import RiskRulesPlugin

S = PaymentStatus
OP = ChannelOperation
MERCHANT = "payments:merchant:m1:EUR"
WALLET = "payments:wallet:c1:EUR"


def eur(value: str) -> Money:
    return Money(value, "EUR")


# ---------------------------------------------------------------- the faulty world


@dataclass
class World:
    """What the ``faults`` plugin of one tenant does, switched by the test."""

    script: dict[str, str]
    raising: set[str] = field(default_factory=set)
    """Hook names whose implementation raises."""
    crash_after: set[ChannelOperation] = field(default_factory=set)
    """Operations the connector applies, then crashes on (not a ChannelError)."""
    broken_lookups: bool = False
    """``lookup`` raises (not a timeout: the status API answers garbage)."""
    bad_fee: Fee | None = None
    """A fee line the fee hook returns instead of nothing."""
    calls: Counter[str] = field(default_factory=Counter)
    sims: dict[str, SimConnector] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("card-a", "card-b"):
            channel = SimChannel.model_validate(
                {
                    "name": name,
                    "methods": ["card"],
                    "currencies": ["EUR"],
                    "script": self.script if name == "card-a" else {},
                }
            )
            self.sims[name] = SimConnector(channel, seed=5)
        self.connectors = [FaultyConnector(sim, self) for sim in self.sims.values()]

    def hit(self, hook: str) -> None:
        self.calls[hook] += 1
        if hook in self.raising:
            raise RuntimeError(f"{hook} is broken")


#: The world of each tenant, by tenant id: it outlives the tenant's platforms.
WORLDS: dict[str, World] = {}


class FaultyConnector:
    """A channel connector around a simulated one that can fail after the fact."""

    def __init__(self, sim: SimConnector, world: World) -> None:
        self.sim = sim
        self.world = world

    @property
    def info(self) -> Any:
        return self.sim.info

    def execute(self, request: ChannelRequest) -> ChannelResult:
        result = self.sim.execute(request)
        if request.operation in self.world.crash_after:
            raise RuntimeError("connection reset after the channel applied the call")
        return result

    def lookup(self, request: ChannelRequest) -> ChannelResult | ChannelError | None:
        if self.world.broken_lookups:
            raise RuntimeError("the status API answered garbage")
        return self.sim.lookup(request)


class Faults(Plugin[Any]):
    """Implements every hook the payment flow calls; raises where the world says."""

    meta = PluginMeta(
        sockets={"fees": ">=1.0,<2", "payments": ">=1.0,<2", "risk": ">=1.0,<2"},
        name="faults",
        version="1",
    )

    @property
    def world(self) -> World:
        return WORLDS[self.context.tenant_id]

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        self.world.hit("finplug_assess_risk")
        return None

    @hookimpl
    def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
        self.world.hit("finplug_calculate_fees")
        bad = self.world.bad_fee
        return None if bad is None else [bad]

    @hookimpl
    def finplug_register_channels(self) -> list[Any] | None:
        self.world.hit("finplug_register_channels")
        return list(self.world.connectors)

    @hookimpl
    def finplug_routing_strategies(self) -> dict[str, RoutingStrategy] | None:
        self.world.hit("finplug_routing_strategies")
        return None

    @hookimpl
    def finplug_on_event(self, event: Event) -> None:
        self.world.hit("finplug_on_event")


def tenant_config(tenant_id: str, *, risk_component: bool = True) -> dict[str, Any]:
    plugins: dict[str, Any] = {
        "payments": {
            "routing": {"strategy": "priority", "priority": ["card-a", "card-b"]},
            "janitor_grace_seconds": 0,
            "idempotency_wait_seconds": 0,
        },
        "fee-schedule": {
            "rules": [
                {"code": "acquiring", "operation": "capture", "rate": "0.01"},
                {"code": "loading", "operation": "topup", "rate": "0.02", "beneficiary": "bank"},
            ]
        },
        "faults": {},
    }
    if risk_component:
        plugins["risk-rules"] = {}
    return {"tenant": tenant_id, "plugins": plugins}


class Harness:
    """One tenant over the faulty world; ``restart()`` is a new process on the same database."""

    def __init__(
        self, database_url: str, tenant_id: str, script: dict[str, str], **config: Any
    ) -> None:
        self.database_url = database_url
        self.tenant_id = tenant_id
        self.world = WORLDS[tenant_id] = World(script)
        self.config = tenant_config(tenant_id, **config)
        self.platform = self._open()
        self.platform.upgrade(tenant_id)

    def _open(self) -> Platform:
        platform = Platform(
            [PaymentsPlugin, RiskRulesPlugin, FeeSchedulePlugin, Faults],
            environ={},
            database_url=self.database_url,
        )
        platform.add_tenant(self.config)
        return platform

    def restart(self) -> None:
        old, self.platform = self.platform, self._open()
        old.close()

    @property
    def tenant(self) -> Tenant:
        return self.platform.tenant(self.tenant_id)

    @property
    def payments(self) -> PaymentsAPI:
        return self.tenant.component(PAYMENTS)

    def counts(self) -> tuple[int, ...]:
        """Rows in every payments table, the ledger's entries and the outbox."""
        with self.tenant.storage.begin() as conn:
            rows = tuple(
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (payments, attempts, transitions, idempotency)
            )
        return (*rows, len(self.tenant.ledger.entries()), len(self.tenant.events.events()))

    def channel_calls(self) -> int:
        return sum(len(sim.calls) for sim in self.world.sims.values())

    def close(self) -> None:
        self.tenant.storage.drop()
        self.platform.close()
        del WORLDS[self.tenant_id]


@pytest.fixture
def make(finplug_database_url: str) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []
    suffix = new_tenant_id()

    def build(script: dict[str, str] | None = None, **config: Any) -> Harness:
        tenant_id = f"faults-{len(made)}-{suffix}"
        harness = Harness(finplug_database_url, tenant_id, script or {}, **config)
        made.append(harness)
        return harness

    yield build
    for harness in made:
        harness.close()


def authorize(h: Harness, key: str, amount: str = "10.00", **kw: Any) -> Payment:
    return h.payments.authorize(key, amount=eur(amount), merchant_id="m1", method="card", **kw)


# ---------------------------------------------------------------- regressions (issue 8)


@pytest.mark.parametrize("step", ["capture", "authorize_and_capture", "topup"])
def test_raising_fee_hook_moves_no_money(make: Callable[..., Harness], step: str) -> None:
    """Point 2: fees are computed before the channel is asked; a raise writes nothing."""
    h = make()
    held = authorize(h, "held", "30.00") if step == "capture" else None
    before, calls = h.counts(), h.channel_calls()

    def act() -> Payment:
        if held is not None:
            return h.payments.capture("k", held.id)
        if step == "topup":
            return h.payments.topup("k", customer_id="c1", amount=eur("30.00"), method="card")
        return authorize(h, "k", "30.00", capture=True)

    h.world.raising.add("finplug_calculate_fees")
    with pytest.raises(HookCallError) as caught:
        act()
    assert (caught.value.plugin, caught.value.hook) == ("faults", "finplug_calculate_fees")
    assert h.channel_calls() == calls  # the channel was never asked
    assert h.counts() == before  # nothing written, not even the key
    if held is not None:
        assert h.payments.get(held.id) == held  # still authorized, nothing in flight

    h.world.raising.clear()
    done = act()  # the same key again, now that fees can be computed
    assert done.status is S.CAPTURED
    fee = Money("0.60", "EUR") if step == "topup" else Money("0.30", "EUR")
    assert done.fees == fee
    account = WALLET if step == "topup" else MERCHANT
    assert h.tenant.ledger.balance(account).posted == eur("30.00") - fee
    assert h.tenant.ledger.verify().ok


@pytest.mark.parametrize(
    ("fee", "problem"),
    [
        (Fee("fx", Money("1.00", "USD")), "is in USD, the payment in EUR"),
        (Fee("neg", eur("-1.00")), "is negative"),
        (Fee("long", eur("1.00"), beneficiary="b" * 111), "longer than 110 characters"),
    ],
)
def test_unbookable_fee_line_moves_no_money(
    make: Callable[..., Harness], fee: Fee, problem: str
) -> None:
    """Point 2: a fee the ledger could not book is refused before the channel is asked."""
    h = make()
    held = authorize(h, "held", "30.00")
    before, calls = h.counts(), h.channel_calls()
    h.world.bad_fee = fee
    with pytest.raises(HookCallError, match=problem) as caught:
        h.payments.capture("k", held.id)
    assert caught.value.hook == "finplug_calculate_fees"
    assert isinstance(caught.value.__cause__, PaymentValidationError)
    assert (h.counts(), h.channel_calls()) == (before, calls)


def test_longest_fee_beneficiary_is_booked(make: Callable[..., Harness]) -> None:
    h = make()
    h.world.bad_fee = Fee("partner", eur("1.00"), beneficiary="b" * 110)
    paid = authorize(h, "k", "30.00", capture=True)
    code = f"payments:fees:{'b' * 110}:EUR"
    assert len(code) == 128
    assert h.tenant.ledger.balance(code).posted == eur("1.00")
    assert paid.fees == eur("1.30")


def test_janitor_books_the_fees_stored_with_the_call(make: Callable[..., Harness]) -> None:
    """Point 2: the janitor books what was computed before the call, without asking again."""
    h = make({"22.00": "capture:timeout_applied"})
    held = authorize(h, "held", "22.00")
    assert h.payments.capture("k", held.id).status is S.UNKNOWN
    h.world.raising.add("finplug_calculate_fees")
    fee_calls = h.world.calls["finplug_calculate_fees"]
    report = h.payments.resolve_unknown()
    assert (report.resolved, report.failed) == ((held.id,), ())
    assert h.world.calls["finplug_calculate_fees"] == fee_calls
    settled = h.payments.get(held.id)
    assert (settled.status, settled.fees) == (S.CAPTURED, eur("0.22"))
    assert h.tenant.ledger.balance(MERCHANT).posted == eur("21.78")


def test_janitor_computes_fees_of_a_call_reserved_before_fees_were_stored(
    make: Callable[..., Harness],
) -> None:
    """An attempt from before payments revision 0002 has no fees stored: computed when settled."""
    h = make({"22.00": "capture:timeout_applied"})
    held = authorize(h, "held", "22.00")
    h.payments.capture("k", held.id)
    with h.tenant.storage.begin() as conn:
        conn.execute(update(attempts).values(fees=None))
    assert h.payments.resolve_unknown().resolved == (held.id,)
    assert h.payments.get(held.id).fees == eur("0.22")
    assert h.tenant.ledger.balance(MERCHANT).posted == eur("21.78")


@pytest.mark.parametrize("operation", ["authorize", "topup"])
def test_replay_calls_no_risk_hook(make: Callable[..., Harness], operation: str) -> None:
    """Point 3: an idempotent replay answers before any hook runs."""
    h = make()

    def call() -> Payment:
        if operation == "topup":
            return h.payments.topup("k", customer_id="c1", amount=eur("5.00"), method="card")
        return authorize(h, "k", "5.00")

    first = call()
    asked = dict(h.world.calls)
    assert asked["finplug_assess_risk"] == 1
    h.restart()  # even a fresh process, whose channels are not wired yet
    assert call() == first
    assert call() == first
    assert dict(h.world.calls) == asked  # no hook at all: risk, fees, channels, strategies


@pytest.mark.parametrize("risk_component", [True, False], ids=["component", "hook"])
def test_raising_risk_plugin_holds_payment_for_review(
    make: Callable[..., Harness], risk_component: bool
) -> None:
    """Point 4: a raising risk plugin holds this payment for review; the tenant goes on."""
    h = make(risk_component=risk_component)
    assert h.tenant.has_component("risk") is risk_component
    h.world.raising.add("finplug_assess_risk")
    held = authorize(h, "k1", "10.00")
    topup = h.payments.topup("k2", customer_id="c1", amount=eur("10.00"), method="card")
    for payment in (held, topup):
        assert payment.status is S.REQUIRES_ACTION
        assert payment.risk_reasons == ("risk_check_failed",)
        assert payment.transitions[-1].reason == "risk review: risk_check_failed (faults)"
    assert h.channel_calls() == 0
    # Operations that ask no risk go on as before.
    h.world.raising.clear()
    paid = authorize(h, "k3", "10.00")
    h.world.raising.add("finplug_assess_risk")
    assert h.payments.capture("k4", paid.id).status is S.CAPTURED
    # A person approves the held ones.
    assert h.payments.confirm("k5", held.id, approve=True).status is S.AUTHORIZED
    assert h.payments.confirm("k6", topup.id, approve=True).status is S.CAPTURED
    assert h.tenant.ledger.verify().ok


def test_janitor_skips_a_payment_it_cannot_settle(make: Callable[..., Harness]) -> None:
    """Point 5: one payment that cannot be settled is reported; the others are settled."""
    h = make({"14.00": "authorize:timeout_applied"})
    broken = authorize(h, "k1", "14.00")
    fine = authorize(h, "k2", "14.00")
    assert (broken.status, fine.status) == (S.UNKNOWN, S.UNKNOWN)
    # As a payment made before merchant ids were checked against the account code:
    # booking its authorization is refused by the ledger.
    with h.tenant.storage.begin() as conn:
        conn.execute(
            update(payments).where(payments.c.id == broken.id).values(merchant_id="m" * 128)
        )
    report = h.payments.resolve_unknown()
    assert report.resolved == (fine.id,)
    assert report.still_unknown == ()
    [failure] = report.failed
    assert failure.payment_id == broken.id
    assert failure.reason.startswith("LedgerError: ")
    assert h.payments.get(broken.id).status is S.UNKNOWN  # nothing of it was written
    assert h.payments.get(fine.id).status is S.AUTHORIZED
    assert h.payments.resolve_unknown().failed == report.failed  # reported again, still skipped

    with h.tenant.storage.begin() as conn:
        conn.execute(update(payments).where(payments.c.id == broken.id).values(merchant_id="m1"))
    assert h.payments.resolve_unknown() == type(report)(resolved=(broken.id,))
    assert h.tenant.ledger.verify().ok


def test_janitor_reports_a_lookup_that_raises(make: Callable[..., Harness]) -> None:
    """Point 5: a connector whose lookup raises fails that payment only."""
    h = make({"14.00": "authorize:timeout_applied"})
    first = authorize(h, "k1", "14.00")
    h.world.broken_lookups = True
    report = h.payments.resolve_unknown()
    assert [f.payment_id for f in report.failed] == [first.id]
    assert "RuntimeError: the status API answered garbage" in report.failed[0].reason
    h.world.broken_lookups = False
    assert h.payments.resolve_unknown().resolved == (first.id,)


def test_janitor_reports_a_payment_whose_call_it_cannot_read(
    make: Callable[..., Harness],
) -> None:
    """Point 5: a payment left unknown without a readable call is reported, not skipped silently."""
    h = make({"14.00": "authorize:timeout_applied"})
    lost, fine = authorize(h, "k1", "14.00"), authorize(h, "k2", "14.00")
    with h.tenant.storage.begin() as conn:
        conn.execute(update(payments).where(payments.c.id == lost.id).values(pending_reference="x"))
    report = h.payments.resolve_unknown()
    assert report.resolved == (fine.id,)
    [failure] = report.failed
    assert failure.payment_id == lost.id
    assert "has no recorded call" in failure.reason


@pytest.mark.parametrize("hook", ["finplug_register_channels", "finplug_routing_strategies"])
@pytest.mark.parametrize("operation", ["authorize", "capture", "refund", "void", "confirm"])
def test_raising_channel_or_strategy_hook_writes_nothing(
    make: Callable[..., Harness], hook: str, operation: str
) -> None:
    """Point 6: wiring hooks propagate before anything is written; the same key works later."""
    h = make()
    if operation == "confirm":
        h.world.raising.add("finplug_assess_risk")
    paid = authorize(h, "prep", "10.00", capture=operation == "refund")
    h.world.raising.clear()
    h.restart()  # a process whose channels are not wired yet
    before, calls = h.counts(), h.channel_calls()

    def act() -> Payment:
        if operation == "authorize":
            return authorize(h, "k", "10.00")
        if operation == "confirm":
            return h.payments.confirm("k", paid.id, approve=True)
        method: Callable[[str, str], Payment] = getattr(h.payments, operation)
        return method("k", paid.id)

    h.world.raising.add(hook)
    with pytest.raises(HookCallError) as caught:
        act()
    assert (caught.value.plugin, caught.value.hook) == ("faults", hook)
    assert (h.counts(), h.channel_calls()) == (before, calls)
    h.world.raising.clear()
    assert act().status in {S.AUTHORIZED, S.CAPTURED, S.REFUNDED, S.VOIDED}


# ---------------------------------------------------------------- the fault-injection matrix

#: Each step's amount (the channel's script keys on it) and the channel call the fault hits.
STEPS: dict[str, tuple[str, ChannelOperation]] = {
    "authorize": ("41.00", OP.AUTHORIZE),
    "authorize_and_capture": ("42.00", OP.CAPTURE),
    "capture": ("43.00", OP.CAPTURE),
    "refund": ("44.00", OP.REFUND),
    "void": ("45.00", OP.VOID),
    "topup": ("46.00", OP.SALE),
}
SUCCESS = {
    "authorize": S.AUTHORIZED,
    "authorize_and_capture": S.CAPTURED,
    "capture": S.CAPTURED,
    "refund": S.REFUNDED,
    "void": S.VOIDED,
    "topup": S.CAPTURED,
}
HOOK_FAULTS = {
    "risk": "finplug_assess_risk",
    "fees": "finplug_calculate_fees",
    "channels": "finplug_register_channels",
    "strategies": "finplug_routing_strategies",
    "events": "finplug_on_event",
}
SCRIPTED_FAULTS = ("timeout_applied", "timeout_lost", "lookup_timeout")
CRASH_FAULTS = ("crash_after_apply", "lookup_crash")
FAULTS = (*HOOK_FAULTS, *SCRIPTED_FAULTS, *CRASH_FAULTS)


def prepare(h: Harness, step: str) -> str | None:
    """The payment a step acts on, made with no fault on (``None`` for authorize and top-up)."""
    amount, _ = STEPS[step]
    if step in ("capture", "void"):
        return authorize(h, f"{step}-prep", amount).id
    if step == "refund":
        return authorize(h, f"{step}-prep", amount, capture=True).id
    return None


def act(h: Harness, step: str, payment_id: str | None) -> Payment:
    amount, _ = STEPS[step]
    key = f"{step}-key"
    if step == "authorize":
        return authorize(h, key, amount)
    if step == "authorize_and_capture":
        return authorize(h, key, amount, capture=True)
    if step == "topup":
        return h.payments.topup(key, customer_id="c1", amount=eur(amount), method="card")
    assert payment_id is not None
    method: Callable[[str, str], Payment] = getattr(h.payments, step)
    return method(key, payment_id)


def expect(
    h: Harness, fault: str, step: str, outcome: Payment | Exception, unchanged: bool
) -> None:
    """What one step under one fault must give (before the janitor runs)."""
    hook = HOOK_FAULTS.get(fault)
    propagates = fault in ("channels", "strategies") or (
        fault == "fees" and STEPS[step][1] in (OP.CAPTURE, OP.SALE)
    )
    if propagates:
        assert isinstance(outcome, HookCallError), outcome
        assert (outcome.plugin, outcome.hook) == ("faults", hook)
        assert unchanged, "a propagating hook failure wrote or called something"
    elif fault == "risk" and step in ("authorize", "authorize_and_capture", "topup"):
        assert isinstance(outcome, Payment), outcome
        assert outcome.status is S.REQUIRES_ACTION
        assert outcome.risk_reasons == ("risk_check_failed",)
    elif fault in SCRIPTED_FAULTS:
        assert isinstance(outcome, Payment), outcome
        assert outcome.status is S.UNKNOWN
    elif fault in CRASH_FAULTS:
        assert isinstance(outcome, RuntimeError), outcome
    else:  # the hook is not on this step's path
        assert isinstance(outcome, Payment), outcome
        assert outcome.status is SUCCESS[step]


def settle(h: Harness, fault: str) -> None:
    """Run the janitor as an operator would until nothing is left unknown."""
    if fault == "lookup_timeout":
        report = h.payments.resolve_unknown()
        assert len(report.still_unknown) == len(STEPS)
        assert report.failed == ()
        for sim in h.world.sims.values():
            sim.release_lookups()
    if fault == "lookup_crash":
        h.world.broken_lookups = True
        report = h.payments.resolve_unknown()
        assert len(report.failed) == len(STEPS)
        assert report.resolved == ()
        h.world.broken_lookups = False
    report = h.payments.resolve_unknown()
    assert (report.still_unknown, report.failed) == ((), ())
    assert h.payments.resolve_unknown() == type(report)()


def entry_amount(entry: Entry) -> Money:
    legs = entry.legs or entry.released
    return sum((leg.amount for leg in legs if leg.side == "debit"), Money.zero("EUR"))


def assert_books_match_the_channels(h: Harness) -> None:
    """Every payment settled; every movement a channel applied booked once, and nothing else."""
    ledger = h.tenant.ledger
    with h.tenant.storage.begin() as conn:
        pending = conn.execute(
            select(func.count()).where(payments.c.pending_operation.is_not(None))
        ).scalar_one()
        open_keys = conn.execute(
            select(func.count()).where(idempotency.c.state != "done")
        ).scalar_one()
    assert (pending, open_keys) == (0, 0)
    every = h.payments.list()
    for payment in every:
        assert payment.status is not S.UNKNOWN, payment
        assert all(a.status in ("succeeded", "failed") for a in payment.attempts), payment

    applied: Counter[tuple[str, Money]] = Counter()
    for sim in h.world.sims.values():
        for entry in sim.journal:
            if not entry.applied:
                continue
            request = entry.request
            pid, op = request.payment_id, request.operation
            key = {
                OP.AUTHORIZE: f"{pid}:hold",
                OP.SALE: f"{pid}:topup",
                OP.CAPTURE: f"{pid}:capture",
                OP.VOID: f"{pid}:void",
                OP.REFUND: f"{pid}:refund:{request.reference}",
            }[op]
            applied[key, request.amount] += 1
    booked: Counter[tuple[str, Money]] = Counter()
    fees: Counter[str] = Counter()
    for posted in ledger.entries():
        if ":fees:" in posted.key:
            fees[posted.key.split(":")[0]] += entry_amount(posted).minor_units
        else:
            booked[posted.key, entry_amount(posted)] += 1
    assert booked == applied
    assert set(booked.values()) == {1}

    by_id = {p.id: p for p in every}
    for sim in h.world.sims.values():
        for state in sim.authorizations:
            payment = by_id[state.reference.split(":")[0]]
            assert (payment.captured, payment.refunded) == (state.captured, state.refunded)
            assert payment.fees.minor_units == fees[payment.id]
    merchant = sum(
        (p.captured - p.refunded - p.fees for p in every if p.kind.value == "payment"),
        eur("0"),
    )
    wallet = sum((p.captured - p.fees for p in every if p.kind.value == "topup"), eur("0"))
    opened = {account.code for account in ledger.accounts()}
    assert ledger.balance(MERCHANT).posted == merchant
    assert (ledger.balance(WALLET).posted if WALLET in opened else eur("0")) == wallet
    held = {e.key.split(":")[0] for e in ledger.open_holds()}
    assert held == {p.id for p in every if p.status is S.AUTHORIZED}
    report = ledger.verify()
    assert report.ok, report


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_at_every_step_leaves_the_books_matching_the_channels(
    make: Callable[..., Harness], fault: str
) -> None:
    """Done-when of issue 8: a fault at every step; the janitor settles; the books match."""
    script = {}
    if fault in SCRIPTED_FAULTS:
        script = {amount: f"{op.value}:{fault}" for amount, op in STEPS.values()}
    h = make(script)
    made: dict[str, str | None] = {}
    for step, (_, operation) in STEPS.items():
        target = prepare(h, step)
        h.restart()  # a new process for every step: wiring happens inside the step
        before, calls = h.counts(), h.channel_calls()
        if fault in HOOK_FAULTS:
            h.world.raising.add(HOOK_FAULTS[fault])
        elif fault in CRASH_FAULTS:
            h.world.crash_after.add(operation)
        outcome: Payment | Exception
        try:
            outcome = act(h, step, target)
        except Exception as exc:
            outcome = exc
        finally:
            h.world.raising.clear()
            h.world.crash_after.clear()
        unchanged = (h.counts(), h.channel_calls()) == (before, calls)
        expect(h, fault, step, outcome, unchanged)
        made[step] = outcome.id if isinstance(outcome, Payment) else target

    settle(h, fault)
    # The client retries every call with its key: what failed before anything was
    # written now runs, the rest answer with what was stored or settled.
    for step in STEPS:
        again = act(h, step, made[step])
        assert made[step] in (None, again.id)
    for payment in h.payments.list(status=S.REQUIRES_ACTION):
        h.payments.confirm(f"confirm-{payment.id}", payment.id, approve=True)
    if fault == "events":
        h.world.raising.add(HOOK_FAULTS[fault])
        report = h.tenant.events.dispatch()
        assert report.failed
        assert not report.delivered
        h.world.raising.clear()
    while h.tenant.events.dispatch().delivered:
        pass
    assert h.tenant.events.undelivered() == []
    assert_books_match_the_channels(h)
