"""Random sequences of ledger operations against a simple in-memory model.

Hypothesis drives a :class:`~hypothesis.stateful.RuleBasedStateMachine` through
accounts, entries of 2-4 legs, holds, captures, voids, expiries, reversals,
replayed and conflicting keys and requests that must be refused, and
checkpoints, on SQLite and on PostgreSQL. Every example gets a fresh tenant
(a file or a schema).

The model is written from the ledger's rules, not from its code: four totals
per account (debits/credits, posted/pending), overdraft floors on
``available``, one resolution per hold, one reversal per entry, and keys that
replay or conflict. After every step the database must agree with it, and
the books must balance, verify (against the last checkpoint taken, if any),
and be untouched by a refused request.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from finplug import (
    AccountNotFoundError,
    AccountType,
    Entry,
    EntryKeyConflictError,
    EntryRequest,
    IdempotencyConflictError,
    LedgerError,
    Leg,
    Money,
    OverdraftError,
    PendingStateError,
    Platform,
    Tenant,
)
from finplug.ledger.schema import account_chain, accounts, chain, install_ledger, transfers
from finplug.ledger.values import LedgerCheckpoint

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
CURRENCIES = ("EUR", "JPY")
CODES = tuple(f"acct-{n}" for n in range(6))
UNKNOWN = "ghost"
Policy = Literal["none", "limit", "unlimited"]
POLICIES: tuple[Policy, ...] = ("none", "limit", "unlimited")

MACHINE_SETTINGS = settings(max_examples=25, stateful_step_count=40, deadline=None)
#: The HMAC key the machine signs its checkpoints with.
CHECKPOINT_KEY = "machine-checkpoint-key-" + "0123456789abcdef" * 2


class Clock:
    """A controllable UTC clock."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# ---------------------------------------------------------------- the model


@dataclass
class ModelAccount:
    code: str
    type: AccountType
    currency: str
    overdraft: Policy
    limit: int
    totals: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("dp", "cp", "dq", "cq"), 0)
    )

    @property
    def credit_normal(self) -> bool:
        return self.type in (AccountType.LIABILITY, AccountType.EQUITY, AccountType.INCOME)

    @property
    def posted(self) -> int:
        t = self.totals
        return t["cp"] - t["dp"] if self.credit_normal else t["dp"] - t["cp"]

    @property
    def pending(self) -> int:
        """What holds reserve against the account: what reduces it."""
        return self.totals["dq"] if self.credit_normal else self.totals["cq"]

    @property
    def floor(self) -> int | None:
        return {"none": 0, "limit": -self.limit, "unlimited": None}[self.overdraft]

    def within_policy(self) -> bool:
        floor = self.floor
        return floor is None or self.posted - self.pending >= floor


@dataclass
class ModelHold:
    debit: str
    credit: str
    currency: str
    amount: int
    timeout_at: datetime | None
    resolved: bool = False


@dataclass
class ModelEntry:
    kind: str
    posted: tuple[tuple[str, str, int], ...]  # (account, currency, debit + / credit -)
    reversed: bool = False


@dataclass(frozen=True)
class Request:
    """A write as the client made it; equal requests replay, different ones conflict."""

    kind: Literal["post", "hold", "post_pending", "void", "reverse", "expire"]
    legs: tuple[Leg, ...] = ()
    description: str = ""
    seq: int = 0
    amount: Money | None = None
    timeout: timedelta | None = None


# A change to one account total: (account, currency of the leg, total, delta).
Change = tuple[str, str, str, int]


class Refused(Exception):  # noqa: N818 - the model's answer, not an error
    """The model refuses a request: the error the ledger must raise, and why."""

    def __init__(self, error: type[LedgerError], reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


@dataclass
class Model:
    accounts: dict[str, ModelAccount] = field(default_factory=dict)
    holds: dict[int, ModelHold] = field(default_factory=dict)
    entries: dict[int, ModelEntry] = field(default_factory=dict)
    keys: dict[str, tuple[Request, int]] = field(default_factory=dict)

    @property
    def last_seq(self) -> int:
        return len(self.entries)

    def open_holds(self) -> dict[int, ModelHold]:
        return {seq: h for seq, h in self.holds.items() if not h.resolved}

    # -- writes, all or nothing, in the ledger's documented order of checks

    def apply(self, ops: list[tuple[str, Request]], now: datetime) -> list[int]:
        """Apply ``ops`` as one transaction; raise :class:`Refused` and change nothing."""
        trial = copy.deepcopy(self)
        seqs = trial._apply(ops, now)
        self.__dict__.update(trial.__dict__)
        return seqs

    def _apply(self, ops: list[tuple[str, Request]], now: datetime) -> list[int]:
        # 1. keys: replays answer, conflicts refuse everything.
        fresh: dict[str, Request] = {}
        for key, request in ops:
            known = self.keys.get(key) or ((fresh[key], 0) if key in fresh else None)
            if known is not None:
                if known[0] != request:
                    raise Refused(EntryKeyConflictError, "key used for another request")
                continue
            fresh[key] = request
        # 2. each new request's changes (holds and entries as they were before the batch).
        resolved: set[int] = set()
        reversed_: set[int] = set()
        plans = [self._plan(r, now, resolved, reversed_) for r in fresh.values()]
        # 3. every account must exist.
        if any(change[0] not in self.accounts for plan in plans for change in plan):
            raise Refused(AccountNotFoundError, "unknown account")
        # 4. in order: currencies, then overdraft per entry.
        first = self.last_seq + 1
        for (key, request), plan in zip(fresh.items(), plans, strict=True):
            touched = []
            for code, cur, total, delta in plan:
                acct = self.accounts[code]
                if acct.currency != cur:
                    raise Refused(LedgerError, "leg currency is not the account's")
                acct.totals[total] += delta
                touched.append(acct)
            if not all(a.within_policy() for a in touched):
                raise Refused(OverdraftError, "overdraft")
            seq = self.last_seq + 1
            self.entries[seq] = self._entry(request, plan)
            self.keys[key] = (request, seq)
            if request.kind == "hold":
                debit, credit = request.legs
                self.holds[seq] = ModelHold(
                    debit.account,
                    credit.account,
                    debit.amount.currency.code,
                    debit.amount.minor_units,
                    now + request.timeout if request.timeout else None,
                )
            if request.kind in ("post_pending", "void", "expire"):
                self.holds[request.seq].resolved = True
            if request.kind == "reverse":
                self.entries[request.seq].reversed = True
        assert self.last_seq == first + len(fresh) - 1
        return [self.keys[key][1] for key, _ in ops]

    @staticmethod
    def _entry(request: Request, plan: list[Change]) -> ModelEntry:
        kind = {
            "post": "posted",
            "hold": "pending",
            "post_pending": "post_pending",
            "void": "void",
            "expire": "expire",
            "reverse": "reversal",
        }[request.kind]
        posted = tuple(
            (code, cur, delta if total == "dp" else -delta)
            for code, cur, total, delta in plan
            if total in ("dp", "cp")
        )
        return ModelEntry(kind, posted)

    def _plan(
        self, request: Request, now: datetime, resolved: set[int], reversed_: set[int]
    ) -> list[Change]:
        if request.kind in ("post", "hold"):
            return self._legs_plan(request.legs, pending=request.kind == "hold")
        if request.kind == "reverse":
            target = self.entries.get(request.seq)
            if target is None or target.kind not in ("posted", "post_pending"):
                raise Refused(LedgerError, "nothing to reverse")
            if target.reversed or request.seq in reversed_:
                raise Refused(LedgerError, "already reversed")
            reversed_.add(request.seq)
            return [
                (code, cur, "cp" if signed > 0 else "dp", abs(signed))
                for code, cur, signed in target.posted
            ]
        hold = self.holds.get(request.seq)
        if hold is None or hold.resolved or request.seq in resolved:
            raise Refused(PendingStateError, "no open hold")
        expired = hold.timeout_at is not None and now >= hold.timeout_at
        if request.kind == "post_pending" and expired:
            raise Refused(PendingStateError, "hold expired")
        if request.kind == "expire" and not expired:
            raise Refused(PendingStateError, "hold not expired")
        resolved.add(request.seq)
        release: list[Change] = [
            (hold.debit, hold.currency, "dq", -hold.amount),
            (hold.credit, hold.currency, "cq", -hold.amount),
        ]
        if request.kind != "post_pending":
            return release
        amount = request.amount
        units = hold.amount if amount is None else amount.minor_units
        if amount is not None and amount.currency.code != hold.currency:
            raise Refused(LedgerError, "amount in another currency")
        if not 0 < units <= hold.amount:
            raise Refused(PendingStateError, "amount out of range")
        return [
            *release,
            (hold.debit, hold.currency, "dp", units),
            (hold.credit, hold.currency, "cp", units),
        ]

    @staticmethod
    def _legs_plan(legs: tuple[Leg, ...], *, pending: bool) -> list[Change]:
        if len(legs) < 2 or any(leg.amount.minor_units <= 0 for leg in legs):
            raise Refused(LedgerError, "malformed legs")
        sums: dict[str, int] = {}
        plan: list[Change] = []
        for leg in legs:
            cur, units = leg.amount.currency.code, leg.amount.minor_units
            sums[cur] = sums.get(cur, 0) + (units if leg.side == "debit" else -units)
            total = ("d" if leg.side == "debit" else "c") + ("q" if pending else "p")
            plan.append((leg.account, cur, total, units))
        if any(sums.values()):
            raise Refused(LedgerError, "unbalanced")
        return plan


# ---------------------------------------------------------------- the machine

#: Column positions in a row of ``ledger_accounts``, and the model's names of the totals.
_COLUMNS = {column.name: n for n, column in enumerate(accounts.columns)}
_TOTALS = {
    "dp": "debits_posted",
    "cp": "credits_posted",
    "dq": "debits_pending",
    "cq": "credits_pending",
}


class LedgerMachine(RuleBasedStateMachine):
    """One tenant's ledger against the model; see the module docstring."""

    def __init__(self, platform: Platform, clock: Clock) -> None:
        super().__init__()
        self.platform = platform
        self.clock = clock
        clock.now = START
        self.tenant_id = f"sm-{uuid.uuid4().hex[:12]}"
        platform.add_tenant({"tenant": self.tenant_id})
        self.tenant: Tenant = platform.tenant(self.tenant_id)
        self.tenant.storage.ensure_schema()
        with self.tenant.storage.begin() as conn:
            install_ledger(conn)
        self.ledger = self.tenant.ledger
        self.model = Model()
        self.counter = 0
        self.refused_keys: set[str] = set()
        self.history: dict[datetime, dict[str, tuple[int, int]]] = {}
        self.unchanged = False  # the last step must not have changed the database
        self.checkpoint: LedgerCheckpoint | None = None  # the last one taken
        self.before = self.snapshot()

    def teardown(self) -> None:
        self.tenant.storage.drop()
        self.platform.remove_tenant(self.tenant_id)

    # -- helpers

    def snapshot(self) -> tuple[Any, ...]:
        with self.tenant.storage.begin() as conn:
            rows = tuple(tuple(r) for r in conn.execute(select(accounts).order_by(accounts.c.id)))
            head = tuple(conn.execute(select(chain)).one())
            counts = (
                conn.execute(
                    select(func.count()).select_from(transfers).where(transfers.c.pair == 0)
                ).scalar_one(),
                conn.execute(select(func.count()).select_from(transfers)).scalar_one(),
            )
            recorded = tuple(
                tuple(r)
                for r in conn.execute(select(account_chain).order_by(account_chain.c.account_id))
            )
        return rows, head, counts, recorded

    def key(self, data: st.DataObject) -> str:
        source = data.draw(st.sampled_from(["fresh"] * 6 + ["used", "refused"]), label="key")
        used = sorted(k for k in self.model.keys if not k.startswith("expire:"))
        if source == "used" and used:
            return data.draw(st.sampled_from(used), label="used key")
        if source == "refused" and self.refused_keys:
            return data.draw(st.sampled_from(sorted(self.refused_keys)), label="refused key")
        self.counter += 1
        return f"k{self.counter}"

    def codes(self, currency: str | None = None) -> list[str]:
        return sorted(c for c, a in self.model.accounts.items() if currency in (None, a.currency))

    def account(self, data: st.DataObject, currency: str | None = None) -> str:
        return data.draw(st.sampled_from(self.codes(currency) or [UNKNOWN]), label="account")

    def legs(self, data: st.DataObject) -> tuple[Leg, ...]:
        n = data.draw(st.integers(2, 4), label="legs")
        currencies = [c for c in CURRENCIES if self.codes(c)] or ["EUR"]
        if n == 4 and len(currencies) == 2 and data.draw(st.booleans(), label="two currencies"):
            groups = [("EUR", 2), ("JPY", 2)]
        else:
            groups = [(data.draw(st.sampled_from(currencies), label="currency"), n)]
        legs: list[Leg] = []
        for cur, m in groups:
            debits = data.draw(st.lists(st.integers(1, 3000), min_size=1, max_size=m - 1))
            credits = data.draw(
                st.lists(st.integers(1, 3000), min_size=m - len(debits), max_size=m - len(debits))
            )
            diff = sum(debits) - sum(credits)
            if diff > 0:
                credits[-1] += diff
            else:
                debits[-1] -= diff
            sides: tuple[tuple[Literal["debit", "credit"], list[int]], ...] = (
                ("debit", debits),
                ("credit", credits),
            )
            for side, amounts in sides:
                for units in amounts:
                    leg = Leg(self.account(data, cur), side, Money.from_minor(units, cur))
                    legs.append(leg)
        legs = list(data.draw(st.permutations(legs), label="order"))
        flaw = data.draw(
            st.sampled_from(["none"] * 12 + ["unbalanced", "unknown", "mismatch", "zero"]),
            label="flaw",
        )
        i = data.draw(st.integers(0, len(legs) - 1), label="flawed leg")
        leg = legs[i]
        leg_currency = leg.amount.currency
        if flaw == "unbalanced":
            units = leg.amount.minor_units + 1
            legs[i] = Leg(leg.account, leg.side, Money.from_minor(units, leg_currency))
        elif flaw == "unknown":
            legs[i] = Leg(UNKNOWN, leg.side, leg.amount)
        elif flaw == "mismatch":
            others = [
                c for c in self.codes() if self.model.accounts[c].currency != leg_currency.code
            ]
            legs[i] = Leg(others[0] if others else UNKNOWN, leg.side, leg.amount)
        elif flaw == "zero":
            legs[i] = Leg(leg.account, leg.side, Money.zero(leg_currency))
        return tuple(legs)

    def hold_seq(self, data: st.DataObject) -> int:
        """Mostly an open hold (often a due one); else a resolved hold, a non-hold, nothing."""
        model = self.model
        now = self.clock.now
        pools = {
            "open": sorted(model.open_holds()),
            "due": sorted(
                seq
                for seq, h in model.open_holds().items()
                if h.timeout_at is not None and h.timeout_at <= now
            ),
            "resolved": sorted(set(model.holds) - set(model.open_holds())),
            "not a hold": sorted(set(model.entries) - set(model.holds)),
            "no entry": [model.last_seq + 7],
        }
        kind = data.draw(
            st.sampled_from(["open"] * 5 + ["due"] * 2 + ["resolved", "not a hold", "no entry"]),
            label="pick",
        )
        return data.draw(st.sampled_from(pools[kind] or pools["open"] or [model.last_seq + 7]))

    def issue(self, key: str, request: Request) -> Entry:
        lg = self.ledger
        if request.kind == "post":
            return lg.post(key, request.legs, request.description)
        if request.kind == "hold":
            debit, credit = request.legs
            return lg.hold(
                key,
                debit.account,
                credit.account,
                debit.amount,
                timeout=request.timeout,
                description=request.description,
            )
        if request.kind == "post_pending":
            return lg.post_pending(key, request.seq, request.amount)
        if request.kind == "void":
            return lg.void_pending(key, request.seq)
        assert request.kind == "reverse"
        return lg.reverse(key, request.seq, request.description)

    def expect(self, ops: list[tuple[str, Request]], call: Callable[[], list[Entry]]) -> None:
        """Run ``call``; the database must do what the model does with ``ops``."""
        last_seq = self.model.last_seq
        try:
            expected: list[int] | Refused = self.model.apply(ops, self.clock.now)
        except Refused as refused:
            expected = refused
        try:
            got = call()
        except LedgerError as exc:
            assert isinstance(expected, Refused), f"refused, the model accepts: {exc!r}"
            assert type(exc) is expected.error, f"{exc!r}; the model says {expected!r}"
            self.refused_keys.update(key for key, _ in ops if key not in self.model.keys)
            self.unchanged = True
            return
        assert not isinstance(expected, Refused), f"accepted; the model says {expected!r}"
        assert [e.seq for e in got] == expected
        self.unchanged = max(expected, default=0) <= last_seq  # only replays
        for (key, request), entry in zip(ops, got, strict=True):
            assert entry.key == key
            stored = self.model.entries[entry.seq]
            assert entry.kind == stored.kind
            if request.kind == "post":
                assert entry.legs == request.legs
            if stored.kind != "pending":
                signed = [
                    (leg.account, leg.amount.currency.code, leg.amount.minor_units)
                    if leg.side == "debit"
                    else (leg.account, leg.amount.currency.code, -leg.amount.minor_units)
                    for leg in entry.legs
                ]
                assert sorted(signed) == sorted(stored.posted)
        self.refused_keys.difference_update(key for key, _ in ops)

    # -- rules

    ACCOUNT = st.tuples(
        st.sampled_from(CODES),
        st.sampled_from(list(AccountType)),
        st.sampled_from(CURRENCIES),
        st.sampled_from(POLICIES),
        st.integers(1, 5000),
    )

    @initialize(definitions=st.lists(ACCOUNT, min_size=2, max_size=4), data=st.data())
    def start_the_books(
        self, definitions: list[tuple[str, AccountType, str, Policy, int]], data: st.DataObject
    ) -> None:
        """A funding account per currency, a few accounts, some money and some holds.

        (Hypothesis enables a random subset of rules per example; starting with
        money and holds lets captures, voids and expiry run in most examples.)
        """
        for cur in CURRENCIES:
            self.ledger.open_account(f"fund-{cur}", "equity", cur, overdraft="unlimited")
            self.model.accounts[f"fund-{cur}"] = ModelAccount(
                f"fund-{cur}", AccountType.EQUITY, cur, "unlimited", 0
            )
        for definition in definitions:
            self.open_account(definition)
        for _ in range(data.draw(st.integers(0, 3), label="fundings")):
            self.fund(data)
        for _ in range(data.draw(st.integers(0, 3), label="holds")):
            self.hold(data)
        self.unchanged = False

    @rule(definition=ACCOUNT)
    def open_account(self, definition: tuple[str, AccountType, str, Policy, int]) -> None:
        code, kind, cur, policy, limit = definition
        units = limit if policy == "limit" else 0
        overdraft_limit = Money.from_minor(units, cur) if policy == "limit" else None
        existing = self.model.accounts.get(code)
        same = existing is not None and (
            existing.type,
            existing.currency,
            existing.overdraft,
            existing.limit,
        ) == (kind, cur, policy, units)
        if existing is not None and not same:
            with pytest.raises(IdempotencyConflictError):
                self.ledger.open_account(
                    code, kind, cur, overdraft=policy, overdraft_limit=overdraft_limit
                )
            self.unchanged = True
            return
        acct = self.ledger.open_account(
            code, kind, cur, overdraft=policy, overdraft_limit=overdraft_limit
        )
        assert (acct.type, acct.currency.code, acct.overdraft) == (kind, cur, policy)
        assert acct.overdraft_limit.minor_units == units
        self.unchanged = existing is not None
        if existing is None:
            self.model.accounts[code] = ModelAccount(code, kind, cur, policy, units)

    @rule(data=st.data())
    def fund(self, data: st.DataObject) -> None:
        """Money in from the funding account: mostly accepted, so the others can spend."""
        code = self.account(data)
        cur = self.model.accounts[code].currency if code != UNKNOWN else "EUR"
        amount = Money.from_minor(data.draw(st.integers(1, 5000), label="amount"), cur)
        # Credit a credit-normal account, debit a debit-normal one.
        if code == UNKNOWN or self.model.accounts[code].credit_normal:
            legs = (Leg.debit(f"fund-{cur}", amount), Leg.credit(code, amount))
        else:
            legs = (Leg.debit(code, amount), Leg.credit(f"fund-{cur}", amount))
        key = self.key(data)
        request = Request("post", legs, "fund")
        self.expect([(key, request)], lambda: [self.issue(key, request)])

    @rule(data=st.data())
    def post(self, data: st.DataObject) -> None:
        key = self.key(data)
        request = Request("post", self.legs(data), data.draw(st.sampled_from(["", "rent"])))
        self.expect([(key, request)], lambda: [self.issue(key, request)])

    @rule(data=st.data())
    def post_batch(self, data: st.DataObject) -> None:
        ops: list[tuple[str, Request]] = []
        for _ in range(data.draw(st.integers(1, 3), label="batch size")):
            again: bool = bool(ops) and data.draw(st.booleans(), label="key again in batch")
            if again:
                key = data.draw(st.sampled_from([k for k, _ in ops]), label="batch key")
                same: bool = data.draw(st.booleans(), label="same request")
                if same:
                    ops.append((key, dict(ops)[key]))
                    continue
            else:
                key = self.key(data)
            ops.append((key, Request("post", self.legs(data))))
        batch = [EntryRequest(key, r.legs, r.description) for key, r in ops]
        self.expect(ops, lambda: self.ledger.post_batch(batch))

    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        key = self.key(data)
        debit = self.account(data)
        cur = self.model.accounts[debit].currency if debit != UNKNOWN else "EUR"
        credit = self.account(data, data.draw(st.sampled_from([cur, cur, cur, None])))
        amount = Money.from_minor(data.draw(st.integers(0, 3000), label="amount"), cur)
        seconds = data.draw(
            st.none() | st.integers(1, 300) | st.integers(300, 3600), label="timeout"
        )
        timeout = None if seconds is None else timedelta(seconds=seconds)
        legs = (Leg.debit(debit, amount), Leg.credit(credit, amount))
        request = Request("hold", legs, timeout=timeout)
        self.expect([(key, request)], lambda: [self.issue(key, request)])

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        """Post (all, part, or a bad amount) or void a hold, mostly an open one."""
        key = self.key(data)
        seq = self.hold_seq(data)
        hold = self.model.holds.get(seq)
        held, cur = (hold.amount, hold.currency) if hold else (100, "EUR")
        other = "JPY" if cur == "EUR" else "EUR"
        amount = data.draw(
            st.sampled_from(
                [
                    "void",
                    "void",
                    None,
                    None,
                    Money.from_minor(held, cur),
                    Money.from_minor(max(held // 2, 1), cur),
                    Money.from_minor(held + 1, cur),
                    Money.zero(cur),
                    Money.from_minor(1, other),
                ]
            ),
            label="amount",
        )
        if amount == "void":
            request = Request("void", seq=seq)
        else:
            assert not isinstance(amount, str)
            request = Request("post_pending", seq=seq, amount=amount)
        self.expect([(key, request)], lambda: [self.issue(key, request)])

    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        key = self.key(data)
        reversible = sorted(
            seq
            for seq, e in self.model.entries.items()
            if e.kind in ("posted", "post_pending") and not e.reversed
        )
        seq = data.draw(
            st.sampled_from(
                [*reversible * 4, *sorted(self.model.entries), self.model.last_seq + 3]
            ),
            label="seq",
        )
        request = Request("reverse", seq=seq, description=data.draw(st.sampled_from(["", "x"])))
        self.expect([(key, request)], lambda: [self.issue(key, request)])

    @rule(
        seconds=st.integers(0, 900),
        then=st.sampled_from(["nothing", "late capture", "expire", "expire"]),
        data=st.data(),
    )
    def time_passes(self, seconds: int, then: str, data: st.DataObject) -> None:
        """The clock moves on; then maybe a late capture, or expire_pending.

        Until expire_pending runs, holds past their timeout stay open but cannot
        be posted.
        """
        if seconds:
            # Everything at the old time is final once the clock moves on.
            self.history[self.clock.now] = {
                code: (a.posted, a.pending) for code, a in self.model.accounts.items()
            }
            self.clock.now += timedelta(seconds=seconds)
        self.unchanged = True
        now = self.clock.now
        due = sorted(
            seq
            for seq, h in self.model.open_holds().items()
            if h.timeout_at is not None and h.timeout_at <= now
        )
        if then == "late capture" and due:
            key = self.key(data)
            request = Request("post_pending", seq=data.draw(st.sampled_from(due), label="seq"))
            self.expect([(key, request)], lambda: [self.issue(key, request)])
        elif then == "expire":
            ops = [(f"expire:{seq}", Request("expire", seq=seq)) for seq in due]
            self.expect(ops, self.ledger.expire_pending)

    @precondition(lambda self: any(not k.startswith("expire:") for k in self.model.keys))
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        key = data.draw(
            st.sampled_from(sorted(k for k in self.model.keys if not k.startswith("expire:")))
        )
        request, seq = self.model.keys[key]
        entry = self.issue(key, request)
        assert entry.seq == seq
        assert entry.key == key
        self.unchanged = True

    @rule()
    def take_a_checkpoint(self) -> None:
        """A checkpoint covers every entry and account so far (and extends the last one)."""
        checkpoint = self.ledger.checkpoint(CHECKPOINT_KEY, previous=self.checkpoint)
        assert checkpoint.seq == self.model.last_seq
        assert checkpoint.accounts == len(self.model.accounts)
        assert checkpoint.taken_at == self.clock.now
        if self.checkpoint is not None:
            assert checkpoint.seq >= self.checkpoint.seq
        self.checkpoint = LedgerCheckpoint.from_json(checkpoint.to_json())
        self.unchanged = True

    @rule(data=st.data())
    def as_of(self, data: st.DataObject) -> None:
        """Balances at past times come from the legs' running totals."""
        moments = sorted(self.history)
        when = data.draw(st.sampled_from([START - timedelta(days=1), *moments]), label="as_of")
        past = self.history.get(when, {})
        with self.ledger.session() as s:
            for code in self.model.accounts:
                balance = s.balance(code, as_of=when)
                assert (balance.posted.minor_units, balance.pending.minor_units) == past.get(
                    code, (0, 0)
                ), (code, when)
        self.unchanged = True

    # -- invariants, after every step

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        snapshot = self.snapshot()
        if self.unchanged:
            # A refused request, a replay or a read changed nothing at all.
            assert snapshot == self.before
        self.before = snapshot
        self.unchanged = False
        rows, head, (entry_count, _), recorded = snapshot
        assert entry_count == self.model.last_seq
        assert head[1] == self.model.last_seq  # (id, seq, hash, posted_at)
        model = self.model
        with self.ledger.session() as s:
            balances = {code: s.balance(code) for code in model.accounts}
            holds = s.open_holds()
            if self.checkpoint is None:
                report = s.verify()
            else:
                report = s.verify(checkpoint=self.checkpoint, key=CHECKPOINT_KEY)
        assert report.ok, report.problems
        assert report.entries == model.last_seq
        assert report.accounts == len(recorded) == len(model.accounts)
        by_code = {row[_COLUMNS["code"]]: row for row in rows}
        assert sorted(by_code) == sorted(model.accounts)
        for code, acct in model.accounts.items():
            got = {total: by_code[code][_COLUMNS[name]] for total, name in _TOTALS.items()}
            assert got == acct.totals, (code, got, acct.totals)
            balance = balances[code]
            assert balance.posted.minor_units == acct.posted
            assert balance.pending.minor_units == acct.pending
            # No account breaks its overdraft policy, holds included.
            assert acct.within_policy()
            floor = acct.floor
            assert floor is None or balance.available.minor_units >= floor
        # Debits equal credits per currency, posted and pending.
        for cur in CURRENCIES:
            in_cur = [a.totals for a in model.accounts.values() if a.currency == cur]
            assert sum(t["dp"] for t in in_cur) == sum(t["cp"] for t in in_cur)
            pending = sum(t["dq"] for t in in_cur)
            assert pending == sum(t["cq"] for t in in_cur)
            held = sum(h.amount for h in model.open_holds().values() if h.currency == cur)
            assert held == pending
        # The open holds are the model's.
        got_holds = {
            h.seq: (h.legs[0].account, h.legs[1].account, h.legs[0].amount.minor_units)
            for h in holds
        }
        assert got_holds == {
            seq: (h.debit, h.credit, h.amount) for seq, h in model.open_holds().items()
        }


# ---------------------------------------------------------------- the tests


@pytest.fixture
def machine_platform(database_url: str) -> Iterator[tuple[Platform, Clock]]:
    """One platform (one pool) per test; every example adds and drops its own tenant."""
    clock = Clock()
    platform = Platform([], environ={}, database_url=database_url, clock=clock)
    try:
        yield platform, clock
    finally:
        platform.close()


def test_ledger_state_machine(machine_platform: tuple[Platform, Clock]) -> None:
    platform, clock = machine_platform

    class OnThisBackend(LedgerMachine):
        def __init__(self) -> None:
            super().__init__(platform, clock)

    run_state_machine_as_test(OnThisBackend, settings=MACHINE_SETTINGS)
    assert platform.tenant_ids == ()  # every example dropped its tenant
