"""Small in-memory plugins the kernel's tests plug together."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from decimal import Decimal
from typing import NoReturn

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from finplug import Plugin, PluginMeta, hookimpl
from finplug.hookspecs import CommandRegistrar, ComponentRegistrar, JobRegistrar
from finplug.sockets.fees import Fee, FeeContext
from finplug.sockets.risk import (
    RiskContext,
    RiskDecision,
    RiskReason,
    combine_risk_decisions,
    risk_hooks,
)
from finplug.types import Amount, CurrencyCode, Rate


class ChannelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    currency: CurrencyCode
    fee_rate: Rate = Decimal(0)
    api_key: SecretStr | None = None


class PaymentsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    merchant_name: str = "demo"
    channels: list[ChannelSettings] = Field(default_factory=list)
    limit: Amount | None = None


class FakePayments:
    """A payments component double: has PaymentsAPI's shape, records what it was asked.

    Every call is recorded in ``calls`` and then refused: tests of the kernel
    only need a provider that the component check accepts.
    """

    def __init__(self, plugin: PaymentsPlugin) -> None:
        self.plugin = plugin
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def _record(self, name: str, *args: object, **kwargs: object) -> NoReturn:
        self.calls.append((name, args, kwargs))
        raise NotImplementedError(f"FakePayments.{name} is a test double")

    def authorize(self, key: str, **kwargs: object) -> NoReturn:
        self._record("authorize", key, **kwargs)

    def confirm(self, key: str, payment_id: str, *, approve: bool) -> NoReturn:
        self._record("confirm", key, payment_id, approve=approve)

    def capture(self, key: str, payment_id: str, amount: object = None) -> NoReturn:
        self._record("capture", key, payment_id, amount)

    def void(self, key: str, payment_id: str) -> NoReturn:
        self._record("void", key, payment_id)

    def refund(self, key: str, payment_id: str, amount: object = None) -> NoReturn:
        self._record("refund", key, payment_id, amount)

    def topup(self, key: str, **kwargs: object) -> NoReturn:
        self._record("topup", key, **kwargs)

    def get(self, payment_id: str) -> NoReturn:
        self._record("get", payment_id)

    def list(self, **kwargs: object) -> NoReturn:
        self._record("list", **kwargs)

    def resolve_unknown(self, limit: int = 100) -> NoReturn:
        self._record("resolve_unknown", limit)

    def channels(self) -> NoReturn:
        self._record("channels")

    def route(self, request: object) -> NoReturn:
        self._record("route", request)


class PaymentsPlugin(Plugin[PaymentsSettings]):
    meta = PluginMeta(
        name="payments",
        version="1.2.3",
        components=frozenset({"payments"}),
        requires_components=frozenset({"risk"}),
        settings=PaymentsSettings,
    )

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        register("payments", FakePayments(self))


class TaggedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str = "v1"


class RiskService:
    def __init__(self, plugin: Plugin[TaggedSettings]) -> None:
        self.plugin = plugin

    def assess(self, context: RiskContext) -> RiskDecision:
        answers = risk_hooks.of(self.plugin.context.hooks).finplug_assess_risk(context=context)
        return combine_risk_decisions(answers)

    def rules(self) -> list[str]:
        return ["sample-risk:tag"]


class SampleRiskPlugin(Plugin[TaggedSettings]):
    """Provides ``risk``; declines when the operation equals its tag."""

    meta = PluginMeta(
        sockets={"risk": ">=1.0,<2"},
        name="sample-risk",
        version="0.1",
        components=frozenset({"risk"}),
        settings=TaggedSettings,
    )

    @hookimpl
    def finplug_register_components(self, register: ComponentRegistrar) -> None:
        register("risk", RiskService(self))

    @hookimpl
    def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
        if context.operation == self.settings.tag:
            return RiskDecision.decline(RiskReason("tagged", self.settings.tag, self.meta.name))
        return None


class FeeEcho(Plugin[TaggedSettings]):
    """Answers every fee request with one zero fee whose code is its tag."""

    meta = PluginMeta(
        sockets={"fees": ">=1.0,<2"}, name="fee-echo", version="0.1", settings=TaggedSettings
    )

    @hookimpl
    def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
        return [Fee(self.settings.tag, context.amount * 0, rule=self.meta.name)]


class FeeWrapper(Plugin[TaggedSettings]):
    """Wraps fee calculation and appends a marker fee to the combined result."""

    meta = PluginMeta(
        sockets={"fees": ">=1.0,<2"}, name="fee-wrapper", version="0.1", settings=TaggedSettings
    )

    @hookimpl(wrapper=True)
    def finplug_calculate_fees(
        self, context: FeeContext
    ) -> Generator[None, list[list[Fee]], list[list[Fee]]]:
        result = yield
        return [*result, [Fee("wrapped", context.amount * 0, rule=self.meta.name)]]


def tagged_plugin(
    name: str,
    *,
    before: frozenset[str] = frozenset(),
    after: frozenset[str] = frozenset(),
    requires: frozenset[str] = frozenset(),
) -> type[Plugin[TaggedSettings]]:
    """A plugin class whose fee hook answers with its own name (to observe call order)."""

    class Tagged(Plugin[TaggedSettings]):
        meta = PluginMeta(
            sockets={"fees": ">=1.0,<2"},
            name=name,
            version="0",
            before=before,
            after=after,
            requires_plugins=requires,
            settings=TaggedSettings,
        )

        @hookimpl
        def finplug_calculate_fees(self, context: FeeContext) -> list[Fee] | None:
            return [Fee(self.meta.name, context.amount * 0, rule=self.settings.tag)]

    Tagged.__name__ = Tagged.__qualname__ = f"Tagged_{name.replace('-', '_')}"
    return Tagged


class CounterSettings(BaseModel):
    """Settings of :class:`CounterPlugin`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fail: bool = False


class CounterPlugin(Plugin[CounterSettings]):
    """Adds the command ``finplug counter hello`` and the job ``counter.tick`` (every hour)."""

    meta = PluginMeta(name="counter", version="0.1.0", settings=CounterSettings)

    def _setup(self) -> None:
        self.ticks = 0

    @staticmethod
    @hookimpl
    def finplug_register_commands(register: CommandRegistrar) -> None:
        import typer

        group = typer.Typer(name="counter", no_args_is_help=True)

        @group.command("hello")
        def hello(name: str = "world") -> None:
            typer.echo(f"hello {name} from counter")

        @group.command("other")
        def other() -> None:  # a second command keeps ``counter`` a group
            typer.echo("other")

        register("counter", group)

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        register("counter.tick", self.tick, every=timedelta(hours=1))

    def tick(self) -> str:
        if self.settings.fail:
            raise RuntimeError("counter\nis broken")
        self.ticks += 1
        return f"tick {self.ticks}"
