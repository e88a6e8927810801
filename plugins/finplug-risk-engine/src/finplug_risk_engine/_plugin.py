"""The plugin class: ``risk-engine`` provides the tenant's ``risk`` component.

Settings (``plugins: {risk-engine: {...}}`` in a tenant config)::

    risk-engine:
      velocity: database          # or redis: hot counters in Redis
      redis_url: ${RISK_REDIS_URL}  # a credential reference, for velocity: redis
      redis_retention_days: 30

The engine counts what happened from the kernel's events: every payment and
top-up transition the payments plugin emits (``payment.*``, ``topup.*``)
becomes one velocity outcome, recorded once whatever the outbox redelivers.
The job ``risk-engine.expire_lists`` takes expired list entries off (audited).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import inspect

from finplug import ConfigIssue, Event, Money, Plugin, PluginMeta, hookimpl
from finplug.hookspecs import CommandRegistrar, ComponentRegistrar, JobRegistrar
from finplug.types import Credential
from finplug_risk_engine.engine import FeatureSource, RiskEngine
from finplug_risk_engine.velocity import Outcome, Velocity, VelocityError

__all__ = ["RiskEnginePlugin", "RiskEngineSettings"]

#: The event types whose payloads are counted (the payments plugin's).
_COUNTED_PREFIXES = ("payment.", "topup.")
#: Payload fields → velocity keys.
_PAYLOAD_KEYS = {"customer_id": "customer", "merchant_id": "merchant"}


class RiskEngineSettings(BaseModel):
    """A tenant's risk-engine settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    velocity: Literal["database", "redis"] = Field(
        default="database",
        description="Where velocity features are counted: the tenant's database, or Redis.",
    )
    redis_url: Credential | None = Field(
        default=None,
        description="The Redis URL (a ${VAR} or ${file:PATH} reference) for velocity: redis.",
    )
    redis_retention_days: int = Field(
        default=30, ge=1, le=400, description="How long Redis keeps an outcome, in days."
    )

    @model_validator(mode="after")
    def _redis_needs_a_url(self) -> RiskEngineSettings:
        if self.velocity == "redis" and self.redis_url is None:
            raise ValueError("velocity: redis needs redis_url (a ${VAR} reference)")
        return self


class RiskEnginePlugin(Plugin[RiskEngineSettings]):
    """Provides ``tenant.component(RISK)``: lists, velocity, versioned rule sets, a decision log."""

    meta = PluginMeta(
        name="risk-engine",
        version="0.1.0",
        summary="Risk decisions: JDM decision graphs, Radar-style rules, velocity, lists",
        components=frozenset({"risk"}),
        sockets={"risk": ">=1.0,<2"},
        api=">=1.0,<2",
        settings=RiskEngineSettings,
        migrations="finplug_risk_engine.migrations",
    )

    def _setup(self) -> None:
        self._features: FeatureSource | None = None
        self._engine: RiskEngine | None = None

    @property
    def engine(self) -> RiskEngine:
        """The tenant's engine (built on first use)."""
        if self._engine is None:
            self._engine = RiskEngine(
                self.context.storage.begin, features=self.features, clock=self.context.clock
            )
        return self._engine

    @property
    def features(self) -> FeatureSource:
        """Where the tenant's velocity features are counted."""
        if self._features is None:
            if self.settings.velocity == "redis":
                import redis

                from finplug_risk_engine.velocity_redis import RedisVelocity

                assert self.settings.redis_url is not None
                client = redis.Redis.from_url(self.settings.redis_url.get_secret_value())
                self._features = RedisVelocity(
                    client,
                    self.context.tenant_id,
                    retention=timedelta(days=self.settings.redis_retention_days),
                )
            else:
                self._features = Velocity(self.context.storage.begin, clock=self.context.clock)
        return self._features

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        """Register the tenant's risk engine as its ``risk`` component."""
        register("risk", self.engine)

    @hookimpl
    def finplug_check_tenant(self) -> list[ConfigIssue] | None:
        """The live rule set compiles (``finplug check``).

        ``finplug check`` may run before ``finplug db upgrade``: a tenant whose
        storage has no rule-set table yet has no live rule set to check.
        """
        with self.context.storage.begin() as conn:
            if not inspect(conn).has_table("risk_rule_set_state"):
                return None
        try:
            self.engine.rules()
        except Exception as exc:  # a stored version that no longer compiles
            return [ConfigIssue(None, None, "plugins.risk-engine", f"the live rule set: {exc}")]
        return None

    @hookimpl
    def finplug_on_event(self, event: Event) -> None:
        """Count a payment or top-up transition as one velocity outcome (once per event)."""
        if not event.type.startswith(_COUNTED_PREFIXES):
            return
        payload = event.payload
        keys: dict[str, str | None] = {
            key: payload.get(field) or None for field, key in _PAYLOAD_KEYS.items()
        }
        extra = payload.get("keys")
        if isinstance(extra, dict):
            keys.update({k: v for k, v in extra.items() if isinstance(v, str) and v})
        amount = None
        if isinstance(payload.get("amount"), str) and isinstance(payload.get("currency"), str):
            amount = Money(payload["amount"], payload["currency"])
        ref = f"event:{event.dedupe_key or event.id}"
        assert event.occurred_at is not None
        try:
            outcome = Outcome(ref, event.type, event.occurred_at, keys, amount)
            self.features.record(outcome)
        except VelocityError as exc:
            self.context.log.warning("event %s not counted: %s", event.id, exc)

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        """``risk-engine.expire_lists``: take expired list entries off, hourly."""
        register("risk-engine.expire_lists", self._expire, every=timedelta(hours=1))

    @hookimpl(tryfirst=True)  # the rules go live before other stories make payments
    def finplug_demo_story(self) -> list[object] | None:
        """``finplug demo``: a decision table, a velocity rule, a list and a backtest at work.

        Runs before the other plugins' stories, so the tenant's payments in the
        demo are decided by the live rule set it publishes.
        """
        from finplug_risk_engine._demo import play_story

        return play_story(self.engine)

    @staticmethod  # outermost: commands are per installation, so the hook is class-level
    @hookimpl
    def finplug_register_commands(register: CommandRegistrar) -> None:
        """``finplug risk test|publish|backtest|lists``."""
        from finplug_risk_engine._commands import risk_app

        register("risk", risk_app())

    def _expire(self) -> str:
        return f"{self.engine.lists.expire()} list entr(y/ies) expired"
