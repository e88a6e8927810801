"""Velocity features over Redis: the same facts and answers as :class:`~.velocity.Velocity`, hot.

For tenants whose decisions cannot afford a database aggregate per feature.
Each outcome is recorded by one Lua script, atomically: the reference is
claimed (``SET NX``), the outcome's fields go in a hash, and its reference
joins one sorted set per key it belongs to, scored by its time in
milliseconds. Recording the same reference again changes nothing, whatever
the number of processes. Features read the window's references and fields
in one script and are folded in Python with integers, so sums stay exact
(Lua's numbers are doubles). Entries older than ``retention`` are trimmed
when a key is written and expire with it.

Every key starts with ``finplug:<tenant>:risk:``; give each tenant its own
Redis database or ACL user (``~finplug:<tenant>:*``) where tenants must not
share a server's key space.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from finplug import Money, as_utc, utc_now
from finplug_risk_engine.velocity import (
    Aggregate,
    FeatureSpec,
    Key,
    Outcome,
    VelocityError,
    outcome_row,
)

__all__ = ["RedisVelocity"]

_KEYS: Final = tuple(k.value for k in Key)

# KEYS: claim, hash, then one sorted set per key the outcome belongs to.
# ARGV: ttl_ms, score_ms, trim_before_ms, then field/value pairs for the hash.
_RECORD: Final = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then
  return 0
end
local n = #ARGV
for i = 4, n, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
for k = 3, #KEYS do
  redis.call('ZADD', KEYS[k], ARGV[2], KEYS[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[k], ARGV[1])
end
return 1
"""

# KEYS: the sorted set of one key. ARGV: from_ms (exclusive), to_ms (inclusive),
# then the hash fields to return for each outcome in the window.
_WINDOW: Final = """
local refs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'WITHSCORES')
local out = {}
for i = 1, #refs, 2 do
  local fields = {}
  for f = 3, #ARGV do fields[#fields + 1] = ARGV[f] end
  out[#out + 1] = refs[i + 1]
  out[#out + 1] = redis.call('HMGET', refs[i], unpack(fields))
end
return out
"""


def _ms(at: datetime) -> int:
    return int(as_utc(at).timestamp() * 1000)


class RedisVelocity:
    """A tenant's velocity facts and features in Redis (``redis.Redis`` client given)."""

    def __init__(
        self,
        client: Any,
        tenant_id: str,
        *,
        retention: timedelta = timedelta(days=30),
    ) -> None:
        if retention <= timedelta(0):
            raise VelocityError(f"retention must be positive, got {retention}")
        self._client = client
        self._prefix = f"finplug:{tenant_id}:risk:"
        self._retention_ms = int(retention.total_seconds() * 1000)
        self._record = client.register_script(_RECORD)
        self._window = client.register_script(_WINDOW)

    def _zset(self, key: Key, value: str) -> str:
        return f"{self._prefix}k:{key.value}:{value}"

    def record(self, outcome: Outcome) -> bool:
        """Count ``outcome`` once; whether it was new."""
        row = outcome_row(outcome)  # the same checks as the database's recorder
        at = row["at"]
        assert isinstance(at, datetime)
        score = _ms(at)
        fields: list[str] = ["kind", str(row["kind"])]
        if row["amount"] is not None:
            fields += ["amount", str(row["amount"]), "currency", str(row["currency"])]
        keys = [f"{self._prefix}ref:{outcome.ref}", f"{self._prefix}o:{outcome.ref}"]
        for name in _KEYS:
            value = row[name]
            if value is not None:
                fields += [name, str(value)]
                keys.append(self._zset(Key(name), str(value)))
        args = [self._retention_ms, score, score - self._retention_ms, *fields]
        return bool(self._record(keys=keys, args=args))

    def record_many(self, outcomes: Iterable[Outcome]) -> int:
        """Record several outcomes; how many were new."""
        return sum(self.record(o) for o in outcomes)

    def features(
        self,
        specs: Sequence[FeatureSpec],
        keys: Mapping[Key | str, str | None],
        *,
        at: datetime | None = None,
        conn: object = None,
    ) -> dict[str, int | Money]:
        """Each feature's value for the decision's keys, as of ``at`` (default: now).

        One script per key the features group by; the same answers as
        :meth:`Velocity.features` for the same outcomes. ``conn`` (a database
        transaction the caller holds) is not used: Redis is its own store.
        """
        when = _ms(at if at is not None else utc_now())
        wanted = {Key(k): v for k, v in keys.items()}
        by_key: dict[Key, list[FeatureSpec]] = {}
        for spec in specs:
            by_key.setdefault(spec.key, []).append(spec)
        values: dict[str, int | Money] = {}
        for key, group in by_key.items():
            value = wanted.get(key)
            widest = max(int(s.window.total_seconds() * 1000) for s in group)
            rows: list[tuple[int, list[bytes | None]]] = []
            if value is not None:
                reply = self._window(
                    keys=[self._zset(key, value)],
                    args=[when - widest, when, "kind", "amount", "currency", *_KEYS],
                )
                rows = [(int(float(reply[i])), reply[i + 1]) for i in range(0, len(reply), 2)]
            for spec in group:
                values[spec.name] = _fold(spec, rows, when)
        return {spec.name: values[spec.name] for spec in specs}


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


def _fold(
    spec: FeatureSpec, rows: Sequence[tuple[int, list[bytes | None]]], when: int
) -> int | Money:
    start = when - int(spec.window.total_seconds() * 1000)
    total = 0
    seen: set[str] = set()
    for score, fields in rows:
        if score <= start:
            continue
        kind, amount, cur = _text(fields[0]), _text(fields[1]), _text(fields[2])
        if spec.kinds and kind not in spec.kinds:
            continue
        if spec.aggregate is Aggregate.COUNT:
            total += 1
        elif spec.aggregate is Aggregate.SUM:
            if amount is not None and cur == spec.currency:
                total += int(amount)
        else:
            assert spec.of is not None
            other = _text(fields[3 + _KEYS.index(spec.of.value)])
            if other is not None:
                seen.add(other)
    if spec.aggregate is Aggregate.SUM:
        assert spec.currency is not None
        return Money.from_minor(total, spec.currency)
    if spec.aggregate is Aggregate.DISTINCT:
        return len(seen)
    return total
