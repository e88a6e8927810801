"""Ledger operations inside one open transaction: :class:`LedgerSession`.

Each public method checks its arguments (:mod:`finplug.ledger.checks`), then
runs the write path:

1. lock the chain head and read the batch's keys (:mod:`~finplug.ledger.store`);
   replays return the stored entry, a key reused for another request refuses
   the batch (:func:`finplug.ledger.rules.fresh`);
2. read the entries that holds' captures, voids, expiries and reversals refer to;
3. expand every request into transfer rows (:mod:`~finplug.ledger.rules`);
4. read every account they touch, in one query;
5. apply the rows to running totals, check overdrafts and chain the hashes
   (:func:`finplug.ledger.rows.encode`);
6. write accounts, rows and the head (in a savepoint inside a caller's
   transaction);
7. answer in request order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Connection

from finplug._money import Money, currency
from finplug.ledger import rules
from finplug.ledger.chain import check_signature, key_bytes, sign_checkpoint, verify_books
from finplug.ledger.checks import (
    EXPIRE_PREFIX,
    MAX_DESCRIPTION,
    MAX_KEY,
    check_account,
    check_code,
    check_description,
    check_int,
    check_key,
    check_legs,
    check_money,
    check_seq,
    check_time,
    check_timeout,
)
from finplug.ledger.errors import (
    CheckpointError,
    EntryKeyConflictError,
    LedgerError,
    PendingStateError,
    bad,
)
from finplug.ledger.rows import account_of, balance_of, encode, stored_time
from finplug.ledger.statements import FEW_ROWS, MAX_POSTING_ACCOUNTS
from finplug.ledger.store import Head, LedgerStore
from finplug.ledger.values import (
    MAX_MINOR,
    Account,
    AccountType,
    Balance,
    CheckpointKey,
    Entry,
    EntryRequest,
    LedgerCheckpoint,
    Leg,
    Posting,
    VerifyReport,
)

__all__ = ["LedgerSession"]

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_CODES = "a sequence of account codes (a list of str)"


def _account_codes(accounts: object) -> list[str]:
    """The distinct codes of ``accounts`` (a sequence of str, never a str itself), sorted."""
    if isinstance(accounts, str | bytes | Mapping):
        raise bad("accounts", _CODES, accounts)
    try:
        found = list(cast("Sequence[object]", accounts))
    except TypeError:
        raise bad("accounts", _CODES, accounts) from None
    codes = sorted({check_code(code, f"accounts[{i}]") for i, code in enumerate(found)})
    if len(codes) > MAX_POSTING_ACCOUNTS:
        raise LedgerError(
            f"postings reads at most {MAX_POSTING_ACCOUNTS} accounts at a time;"
            f" got {len(codes)}: read them in groups"
        )
    return codes


class LedgerSession:
    """Ledger operations inside one open transaction (see :meth:`Ledger.session`).

    Each write runs in a savepoint (unless ``savepoint`` is false, when the
    transaction is the ledger's own): a refused request leaves the caller's
    transaction exactly as it was, even if the caller catches the error and
    commits.
    """

    def __init__(
        self, conn: Connection, clock: Callable[[], datetime], *, savepoint: bool = True
    ) -> None:
        self.conn = conn
        self._clock = clock
        self._savepoint = savepoint
        self._store = LedgerStore(conn)

    def _now(self) -> datetime:
        return check_time(self._clock(), "the ledger clock's time")

    # -- accounts ---------------------------------------------------------

    def open_account(
        self,
        code: str,
        type: AccountType | str,
        currency_code: str,
        *,
        overdraft: Literal["none", "limit", "unlimited"] = "none",
        overdraft_limit: Money | None = None,
    ) -> Account:
        """Open an account; opening an identical one again returns it, a different one raises.

        A new account's definition is immutable (the database refuses to
        change it) and its hash is recorded, chained to the previous
        account's, for :meth:`verify` to check.
        """
        kind, cur, limit = check_account(code, type, currency_code, overdraft, overdraft_limit)
        store = self._store
        # Concurrent identical opens: the second sees the first's row. The lock
        # also orders new accounts, whose recorded hashes form a chain.
        store.lock_head()
        existing = store.find_account(code)
        if existing is None:
            row = store.add_account(
                {
                    "code": code,
                    "type": kind.value,
                    "currency": cur.code,
                    "normal": kind.normal,
                    "overdraft": overdraft,
                    "overdraft_limit": limit.minor_units,
                    "debits_posted": 0,
                    "credits_posted": 0,
                    "debits_pending": 0,
                    "credits_pending": 0,
                    "version": 0,
                    "opened_at": self._now(),
                }
            )
            return account_of(row)
        found = account_of(existing)
        if (found.type, found.currency, found.overdraft, found.overdraft_limit) != (
            kind,
            cur,
            overdraft,
            limit,
        ):
            raise EntryKeyConflictError(f"account:{code}")
        return found

    def account(self, code: str) -> Account:
        """An account's definition; :class:`AccountNotFoundError` if none."""
        return account_of(self._store.account_row(check_code(code, "code")))

    def accounts(self) -> list[Account]:
        """Every account, by code."""
        return [account_of(r) for r in self._store.account_rows()]

    # -- writes -----------------------------------------------------------

    def post(self, key: str, legs: Sequence[Leg], description: str = "") -> Entry:
        """Post one balanced entry of any number of legs."""
        checked = check_legs(legs, "legs")
        op = rules.posted(check_key(key), checked, check_description(description))
        return self._apply([op])[0]

    def transfer(
        self, key: str, debit: str, credit: str, amount: Money, description: str = ""
    ) -> Entry:
        """Post a two-leg entry: debit one account, credit another."""
        legs = (
            Leg.debit(check_code(debit, "debit"), check_money(amount, "amount")),
            Leg.credit(check_code(credit, "credit"), amount),
        )
        op = rules.posted(check_key(key), legs, check_description(description))
        return self._apply([op])[0]

    def post_batch(self, requests: Sequence[EntryRequest]) -> list[Entry]:
        """Post many entries in this transaction: all or none."""
        if isinstance(requests, str | bytes | Mapping | EntryRequest):
            raise bad("requests", "a sequence of EntryRequest", requests)
        try:
            items = iter(requests)
        except TypeError:
            raise bad("requests", "a sequence of EntryRequest", requests) from None
        ops = []
        for index, req in enumerate(items):
            if type(req) is not EntryRequest and not isinstance(req, EntryRequest):
                raise bad(f"requests[{index}]", "an EntryRequest", req)
            key, description = req.key, req.description
            # The checks' common case inline (the hot path); the functions say what is wrong.
            if (
                type(key) is not str
                or not key
                or len(key) > MAX_KEY
                or "\x00" in key
                or key.startswith(EXPIRE_PREFIX)
            ):
                check_key(key, f"requests[{index}].key")
            if type(description) is not str or (
                description and (len(description) > MAX_DESCRIPTION or "\x00" in description)
            ):
                check_description(description, f"requests[{index}].description")
            legs = check_legs(req.legs, f"requests[{index}].legs")
            ops.append(rules.posted(key, legs, description))
        return self._apply(ops)

    def hold(
        self,
        key: str,
        debit: str,
        credit: str,
        amount: Money,
        *,
        timeout: timedelta | None = None,
        description: str = "",
    ) -> Entry:
        """Reserve ``amount`` from ``debit`` to ``credit`` until posted, voided or expired."""
        check_key(key)
        legs = (
            Leg.debit(check_code(debit, "debit"), check_money(amount, "amount")),
            Leg.credit(check_code(credit, "credit"), amount),
        )
        check_description(description)
        check_timeout(timeout)
        timeout_at = None if timeout is None else self._now() + timeout
        return self._apply([rules.held(key, legs, description, timeout, timeout_at)])[0]

    def post_pending(self, key: str, pending_seq: int, amount: Money | None = None) -> Entry:
        """Post ``amount`` (default: all) of hold ``pending_seq``; release the rest."""
        check_key(key)
        check_seq(pending_seq, "pending_seq", "hold", PendingStateError)
        if amount is not None:
            check_money(amount, "amount")
        return self._apply([rules.posting_hold(key, pending_seq, amount)])[0]

    def void_pending(self, key: str, pending_seq: int) -> Entry:
        """Release hold ``pending_seq`` without posting."""
        check_key(key)
        check_seq(pending_seq, "pending_seq", "hold", PendingStateError)
        return self._apply([rules.voiding(key, pending_seq)])[0]

    def expire_pending(self, now: datetime | None = None) -> list[Entry]:
        """Release every open hold whose timeout is at or before ``now``."""
        moment = self._now() if now is None else check_time(now, "now")
        # Lock before looking: a hold resolved by a writer that commits while we
        # wait for the lock must not be in the list (it would refuse the batch).
        head = self._store.lock_head()
        ops = [rules.expiring(seq) for seq in self._store.hold_seqs(moment)]
        return self._apply(ops, now=moment, head=head) if ops else []

    def reverse(self, key: str, seq: int, description: str = "") -> Entry:
        """Reverse posted entry ``seq`` (once); overdraft rules apply to the reversal."""
        check_key(key)
        check_seq(seq, "seq")
        check_description(description)
        return self._apply([rules.reversing(key, seq, description)])[0]

    # -- the write path ---------------------------------------------------

    def _apply(
        self, ops: list[rules.Op], now: datetime | None = None, head: Head | None = None
    ) -> list[Entry]:
        if not ops:
            return []
        store = self._store
        # Keys and descriptions were checked by the public methods (expire_pending makes its own).
        keys = [op.key for op in ops]
        named: list[str] | None = None  # accounts read with the keys, if any
        named_rows: list[Any] | None = None
        if head is None and store.pipelined and len(ops) <= FEW_ROWS:
            named = rules.named_codes(ops)
            head, key_rows, named_rows = store.read_pipelined(keys, named)
        else:
            if head is None:
                head = store.lock_head()
            key_rows = store.fetch("keys", keys)
        # 1. idempotency: replays return the stored entry; conflicts refuse the batch.
        known = {key: (bytes(request_hash), seq) for key, request_hash, seq in key_rows}
        fresh = rules.fresh(ops, known)
        # 2. holds and entries referenced by post/void/expire/reversal.
        referenced, resolved, reversed_ = store.references(fresh)
        # 3. expand each op into transfer rows (debit, credit, currency, units, flow, legs),
        # 4. and read the accounts they touch in one query.
        clock = self._now if now is None else lambda: now
        plans = []
        wanted = set()
        for op in fresh:
            if op.kind == "posted":
                plan = rules.pairs(op.legs, rules.POSTED)
            else:
                plan = rules.expand(op, referenced, resolved, reversed_, clock)
            plans.append(plan)
            for pair in plan:
                wanted.add(pair[0])
                wanted.add(pair[1])
        if named_rows is None or named is None or not wanted.issubset(named):
            named_rows = None
        state = store.account_states(sorted(wanted), named_rows)
        # 5. apply in order: running totals, overdraft checks, chain.
        seq, prev_hash, last_at = head
        moment = max(clock(), last_at if last_at is not None else _EARLIEST)
        batch = encode(
            fresh, plans, state, (seq, prev_hash), moment, as_text=store.as_text, plain=store.plain
        )
        # 6. write: accounts first (a stale version refuses the request before
        #    anything else is written), then the transfer rows, then the head.
        #    In a caller's transaction this runs in a savepoint.
        if batch.rows or batch.plain:
            with self.conn.begin_nested() if self._savepoint else nullcontext():
                store.write(state, batch, moment)
        # 7. answer in request order: new entries, or the stored originals of replays.
        replay_seqs = [known[op.key][1] for op in ops if op.key in known]
        stored = store.load_entries(replay_seqs) if replay_seqs else {}
        new = batch.entries
        return [new[op.key] if op.key in new else stored[known[op.key][1]] for op in ops]

    # -- reads ------------------------------------------------------------

    def entry(self, seq: int) -> Entry:
        """One entry by sequence number; :class:`LedgerError` if none."""
        check_seq(seq, "seq")
        found = self._store.load_entries([seq])
        if seq not in found:
            raise LedgerError(f"no entry {seq}")
        return found[seq]

    def entries(self, after: int = 0, limit: int = 1000) -> list[Entry]:
        """Entries in chain order after ``after``, at most ``limit``."""
        check_int(after, "after", "a sequence number (an int)", -MAX_MINOR)
        check_int(limit, "limit", "a number of entries (an int from 0)", 0)
        seqs = self._store.entry_seqs(after, limit)
        found = self._store.load_entries(seqs)
        return [found[s] for s in seqs]

    def open_holds(self) -> list[Entry]:
        """Holds not yet resolved, in chain order."""
        seqs = self._store.hold_seqs()
        found = self._store.load_entries(seqs)
        return [found[s] for s in seqs]

    def balance(self, code: str, as_of: datetime | None = None) -> Balance:
        """Balances now, or just after the last entry posted at or before ``as_of``."""
        row = self._store.account_row(check_code(code, "code"))
        cur = currency(row.currency)
        if as_of is None:
            dp, cp = row.debits_posted, row.credits_posted
            return balance_of(
                code, cur, row.normal, dp, cp, row.debits_pending, row.credits_pending
            )
        found = self._store.totals_as_of(row.id, check_time(as_of, "as_of"))
        if found is None:
            return balance_of(code, cur, row.normal, 0, 0, 0, 0)
        net, dq, cq = found
        return balance_of(code, cur, row.normal, max(net, 0), max(-net, 0), dq, cq)

    def postings(
        self,
        accounts: Sequence[str],
        *,
        after: int = 0,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[Posting]:
        """What entries did to the posted balances of ``accounts``: one :class:`Posting` each.

        One per (entry, account) the entry moved posted money on, by ``seq``
        then account code: holds make none, a capture makes one at its own
        ``seq``, a void or an expiry none. ``after`` is a cursor (only
        entries after that ``seq``), ``until`` keeps entries written at or
        before that time.

        A page holds whole entries: at most ``limit`` postings, ending
        before an entry whose postings would not all fit (so ``limit`` must
        be 0 or at least the number of accounts), and it may hold fewer
        even when more follow. To read them all, call again with ``after``
        set to the last posting's ``seq`` until a call returns none; entries
        commit in ``seq`` order, so the cursor never skips one.

        Every code must be an account's (:class:`AccountNotFoundError`
        names the first that is not); at most 200 accounts per call.
        """
        codes = _account_codes(accounts)
        check_int(after, "after", "a sequence number (an int)", -MAX_MINOR)
        check_int(limit, "limit", "a number of postings (an int from 0)", 0)
        moment = None if until is None else check_time(until, "until")
        if limit and limit < len(codes):
            raise LedgerError(
                f"limit must be 0 or at least the number of accounts ({len(codes)}): a page"
                f" holds whole entries, and one entry can post to each account; got {limit}"
            )
        if not codes:
            return []
        state = self._store.account_states(codes)
        if not limit:
            return []
        ids = [state[code].id for code in codes]
        # One posting more than asked for shows whether the last entry goes on.
        rows = self._store.postings(ids, after, moment, min(limit, MAX_MINOR - 1) + 1)
        if len(rows) > limit:
            # A full page: it ends before the entry of the posting past it.
            going_on = rows[limit][0]
            rows = [row for row in rows[:limit] if row[0] != going_on]
        out = []
        for seq, code, delta, posted_at, key, description, kind in rows:
            account = state[code]
            units = int(delta)  # debits positive; PostgreSQL sums bigints as numeric
            if account.normal == "credit":
                units = -units
            amount = Money.from_minor(units, account.currency)
            out.append(Posting(seq, code, amount, stored_time(posted_at), key, description, kind))
        return out

    def verify(
        self,
        *,
        checkpoint: LedgerCheckpoint | None = None,
        key: CheckpointKey | None = None,
    ) -> VerifyReport:
        """Walk both chains and recompute every account's totals from the transfer rows.

        Checks every entry's hash and rows, every running total, every
        account's totals, and every account's definition against the hash
        recorded when it was opened. With a ``checkpoint`` (and the ``key`` it
        was signed with) also that the entries still reach its sequence
        number with its hash, and the recorded definitions its count with
        its hash: a cut or rewritten chain is a problem in the report. A
        checkpoint whose signature does not match the key raises
        :class:`CheckpointError`.

        Holds a shared lock on the chain head (PostgreSQL; SQLite's
        transaction holds the write lock): writers wait, so the books are
        read as of one moment.
        """
        if checkpoint is not None:
            if not isinstance(checkpoint, LedgerCheckpoint):
                raise bad("checkpoint", "a LedgerCheckpoint (or None)", checkpoint)
            if key is None:
                raise CheckpointError("verify(checkpoint=...) needs the key it was signed with")
            check_signature(checkpoint, key_bytes(key))
        elif key is not None:
            raise CheckpointError("verify(key=...) is only for checking a checkpoint")
        store = self._store
        store.lock_head_shared()
        definitions = {r.id: r for r in store.account_rows("id")}
        recorded = store.recorded_definitions()
        return verify_books(
            definitions, recorded, store.transfer_rows(), store.head_row, checkpoint
        )

    def checkpoint(
        self, key: CheckpointKey, *, previous: LedgerCheckpoint | None = None
    ) -> LedgerCheckpoint:
        """Sign where both chains stand now, once the books verify (against ``previous``, if given).

        Locks the chain head first (writers wait while the books are
        verified), so the checkpoint is of the books just verified. Raises
        :class:`CheckpointError` if they do not verify: a checkpoint must not
        vouch for books already wrong. Keep the result outside the database
        (see :meth:`LedgerCheckpoint.to_json`).
        """
        secret = key_bytes(key)
        seq, digest, _ = self._store.lock_head()
        report = self.verify(checkpoint=previous, key=key if previous is not None else None)
        if not report.ok:
            more = len(report.problems) - 1
            raise CheckpointError(
                f"the books do not verify ({report.problems[0]}"
                + (f", and {more} more problem(s)" if more else "")
                + "); no checkpoint is signed for them"
            )
        accounts_hash = self._store.last_definition_hash()
        return sign_checkpoint(secret, seq, digest, report.accounts, accounts_hash, self._now())
