"""The hook specifications: the typed relay mirrors them, and each hook has its own test."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from textwrap import dedent

import pytest

from finplug import (
    AssemblyError,
    Money,
    Plugin,
    PluginMeta,
    hookimpl,
)
from finplug._registry import module_specs
from finplug.hookspecs import ComponentRegistrar, Hooks
from finplug.sockets.fees import Fee, FeeContext, FeeHooks, fee_hooks
from finplug.sockets.payments import (
    PAYMENTS,
    ChannelConnector,
    ChannelInfo,
    ChannelStats,
    PaymentMethod,
    RouteRequest,
    RoutingStrategy,
)
from finplug.sockets.payments.hookspecs import PaymentsHooks, payments_hooks
from finplug.sockets.risk import (
    RISK,
    RiskContext,
    RiskDecision,
    RiskHooks,
    RiskReason,
    RiskVerdict,
    combine_risk_decisions,
    risk_hooks,
)
from finplug.testing import MakePlatform, MakeTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_payments.routing import RoutingConfigError
from sample_plugins import FeeEcho, FeeWrapper, SampleRiskPlugin, TaggedSettings

ROOT = Path(__file__).parents[1]
EUR = Money("100.00", "EUR")


#: Every spec module the kernel ships, with the Protocol its callers are typed by.
SPEC_MODULES: list[tuple[str, type]] = [
    ("finplug.hookspecs", Hooks),
    ("finplug.sockets.risk", RiskHooks),
    ("finplug.sockets.fees", FeeHooks),
    ("finplug.sockets.payments.hookspecs", PaymentsHooks),
]


@pytest.mark.parametrize(("module_name", "hooks_type"), SPEC_MODULES)
def test_every_spec_is_in_its_typed_relay_with_the_same_signature(
    module_name: str, hooks_type: type
) -> None:
    specs = module_specs(module_name)
    relay = typing.get_type_hints(hooks_type)
    assert set(relay) == set(specs)
    for name, entry in specs.items():
        spec = entry.function
        spec_sig = inspect.signature(spec)
        spec_hints = typing.get_type_hints(spec)
        caller_hints = typing.get_type_hints(relay[name].__call__)
        caller_sig = inspect.signature(relay[name].__call__)
        params = [p for p in caller_sig.parameters.values() if p.name != "self"]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), name
        assert [p.name for p in params] == list(spec_sig.parameters), name
        for param in spec_sig.parameters:
            assert caller_hints[param] == spec_hints[param], (name, param)
        result = spec_hints["return"]
        if entry.firstresult:
            expected = result
        else:  # collect all: pluggy drops None answers
            args = [a for a in typing.get_args(result) if a is not type(None)]
            expected = list[args[0]] if args else list[None]  # type: ignore[valid-type]
        assert caller_hints["return"] == expected, name


@pytest.mark.parametrize("module_name", [m for m, _ in SPEC_MODULES])
def test_every_spec_says_how_results_combine_and_what_nobody_means(module_name: str) -> None:
    for name, entry in module_specs(module_name).items():
        doc = inspect.getdoc(entry.function) or ""
        assert "Combination:" in doc, name
        assert "Nobody implements it:" in doc, name
        assert "Example::" in doc, name


def test_typed_relay_makes_mypy_reject_wrong_calls(tmp_path: Path) -> None:
    snippet = tmp_path / "wrong_calls.py"
    snippet.write_text(
        dedent(
            """
            from finplug import Money, Tenant
            from finplug.sockets.fees import FeeContext, fee_hooks
            from finplug.sockets.risk import RiskContext, risk_hooks

            def use(tenant: Tenant) -> None:
                risk = risk_hooks.of(tenant.hooks)
                risk.finplug_assess_risk(ctx=RiskContext("x"))
                risk.finplug_assess_risk(context=FeeContext("x", Money(1, "EUR")))
                fee_hooks.of(tenant.hooks).finplug_calculate_fees(FeeContext("x", Money(1, "EUR")))
                decisions: list[str] = risk.finplug_assess_risk(context=RiskContext("x"))
                tenant.hooks.finplug_no_such_hook()
            """
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1, out.stdout
    assert 'Unexpected keyword argument "ctx"' in out.stdout
    assert 'has incompatible type "FeeContext"; expected "RiskContext"' in out.stdout
    assert "Too many positional arguments" in out.stdout
    assert 'Incompatible types in assignment (expression has type "list[RiskDecision]"' in (
        out.stdout
    )
    assert '"Hooks" has no attribute "finplug_no_such_hook"' in out.stdout  # the kernel's relay
    assert out.stdout.count("error:") == 5, out.stdout


# ------------------------------------------------------------ one test per hook


def test_hook_finplug_register_components(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([SampleRiskPlugin])
    risk = tenant.component(RISK)
    assert risk.rules() == ["sample-risk:tag"]
    assert tenant.component("risk") is risk  # registered once, then cached
    # Nobody implements it: no components at all.
    bare = make_tenant([FeeEcho])
    # Only the kernel's built-in ones.
    assert bare.component_names == ("events", "idempotency", "ledger")
    assert bare.hooks.finplug_register_components(register=lambda n, o: None) == []

    class Liar(Plugin[TaggedSettings]):
        meta = PluginMeta(
            name="liar", version="0", components=frozenset({"risk"}), settings=TaggedSettings
        )

        @hookimpl
        def finplug_register_components(self, register: ComponentRegistrar) -> None:
            register("billing", object())

    with pytest.raises(AssemblyError, match="registered component 'billing'"):
        _ = make_tenant([Liar]).component(RISK)


def test_hook_finplug_assess_risk(make_tenant: MakeTenant) -> None:
    class Reviewer(Plugin[TaggedSettings]):
        meta = PluginMeta(
            sockets={"risk": ">=1.0,<2"}, name="reviewer", version="0", settings=TaggedSettings
        )

        @hookimpl
        def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
            if context.amount is not None and context.amount > EUR:
                return RiskDecision.review(RiskReason("big", "big amount", "reviewer"))
            return None

    tenant = make_tenant([SampleRiskPlugin, Reviewer], settings={"sample-risk": {"tag": "no"}})
    big = RiskContext("no", Money("500.00", "EUR"))
    answers = risk_hooks.of(tenant.hooks).finplug_assess_risk(context=big)
    assert sorted(a.verdict for a in answers) == [RiskVerdict.REVIEW, RiskVerdict.DECLINE]
    combined = combine_risk_decisions(answers)
    assert combined.verdict is RiskVerdict.DECLINE
    assert {r.code for r in combined.reasons} == {"big", "tagged"}
    assert tenant.component(RISK).assess(big) == combined
    # Abstentions are dropped by pluggy; nobody objecting means approve.
    small = RiskContext("yes", Money("1.00", "EUR"))
    assert risk_hooks.of(tenant.hooks).finplug_assess_risk(context=small) == []
    assert combine_risk_decisions([]).approved
    # Strictest wins: a step-up is stricter than approve, milder than review.
    step_up = RiskDecision.step_up(RiskReason("ip", "IP abroad", "a"))
    review = RiskDecision.review(RiskReason("big", "big", "b"))
    assert combine_risk_decisions([None, step_up]).verdict is RiskVerdict.STEP_UP
    assert combine_risk_decisions([step_up, review]).verdict is RiskVerdict.REVIEW
    assert [r.code for r in combine_risk_decisions([step_up, review]).reasons] == ["ip", "big"]
    assert RiskVerdict.APPROVE < RiskVerdict.STEP_UP < RiskVerdict.REVIEW < RiskVerdict.DECLINE
    # Nobody implements it: an empty list, i.e. approve.
    assert risk_hooks.of(make_tenant([FeeEcho]).hooks).finplug_assess_risk(context=big) == []


def test_hook_finplug_calculate_fees(make_tenant: MakeTenant) -> None:
    ctx = FeeContext("capture", EUR, payment_method="card")
    tenant = make_tenant([FeeEcho, FeeWrapper], settings={"fee-echo": {"tag": "echo"}})
    result = fee_hooks.of(tenant.hooks).finplug_calculate_fees(context=ctx)
    assert [[fee.code for fee in batch] for batch in result] == [["echo"], ["wrapped"]]
    assert all(isinstance(fee, Fee) for batch in result for fee in batch)
    # Nobody implements it: no fees.
    assert (
        fee_hooks.of(make_tenant([SampleRiskPlugin]).hooks).finplug_calculate_fees(context=ctx)
        == []
    )


def _sim_settings(*names: str) -> dict[str, object]:
    return {"channels": [{"name": n, "methods": ["card"], "currencies": ["EUR"]} for n in names]}


def test_hook_finplug_register_channels(make_tenant: MakeTenant) -> None:
    tenant = make_tenant(
        [PaymentsPlugin, ChannelsSimPlugin], settings={"channels-sim": _sim_settings("b", "a")}
    )
    answers = payments_hooks.of(tenant.hooks).finplug_register_channels()
    assert [[c.info.name for c in batch] for batch in answers] == [["b", "a"]]
    assert all(isinstance(c, ChannelConnector) for batch in answers for c in batch)
    assert [c.name for c in tenant.component(PAYMENTS).channels()] == ["a", "b"]
    # Nobody implements it: no channels, and payments has nothing to route to.
    bare = make_tenant([PaymentsPlugin])
    assert payments_hooks.of(bare.hooks).finplug_register_channels() == []
    assert bare.component(PAYMENTS).channels() == []

    class Twin(ChannelsSimPlugin):
        meta = ChannelsSimPlugin.meta.model_copy(update={"name": "twin"})

    twins = make_tenant(
        [PaymentsPlugin, ChannelsSimPlugin, Twin],
        settings={"channels-sim": _sim_settings("a"), "twin": _sim_settings("a")},
    )
    with pytest.raises(AssemblyError, match="channel named 'a'"):
        twins.component(PAYMENTS).channels()


def _reverse(
    request: RouteRequest, channels: Sequence[ChannelInfo], stats: Mapping[str, ChannelStats]
) -> list[str]:
    return [*sorted((c.name for c in channels), reverse=True), "ghost"]


class ReverseStrategy(Plugin[TaggedSettings]):
    meta = PluginMeta(
        sockets={"payments": ">=1.0,<2"}, name="reverse", version="0", settings=TaggedSettings
    )

    @hookimpl
    def finplug_routing_strategies(self) -> dict[str, RoutingStrategy] | None:
        return {"reverse": _reverse}


def test_hook_finplug_routing_strategies(make_tenant: MakeTenant) -> None:
    settings: dict[str, Mapping[str, object] | None] = {
        "channels-sim": _sim_settings("a", "b", "c"),
        "payments": {"routing": {"strategy": "reverse"}},
    }
    tenant = make_tenant([PaymentsPlugin, ChannelsSimPlugin, ReverseStrategy], settings=settings)
    offered = payments_hooks.of(tenant.hooks).finplug_routing_strategies()
    assert [sorted(batch) for batch in offered] == [["reverse"]]
    request = RouteRequest("pay_1", EUR, PaymentMethod.CARD, "m1")
    # The strategy orders; routing drops what is not an eligible channel ("ghost").
    assert tenant.component(PAYMENTS).route(request) == ["c", "b", "a"]
    # Nobody implements it: only built-ins; naming another strategy is a config error.
    assert payments_hooks.of(make_tenant([PaymentsPlugin]).hooks).finplug_routing_strategies() == []
    orphan = make_tenant([PaymentsPlugin, ChannelsSimPlugin], settings=settings)
    with pytest.raises(
        RoutingConfigError, match=r"plugins\.payments\.routing\.strategy: .*reverse"
    ):
        orphan.component(PAYMENTS).route(request)

    class Shadow(ReverseStrategy):
        meta = ReverseStrategy.meta.model_copy(update={"name": "shadow"})

        @hookimpl
        def finplug_routing_strategies(self) -> dict[str, RoutingStrategy] | None:
            return {"priority": _reverse}

    clash = make_tenant(
        [PaymentsPlugin, ChannelsSimPlugin, Shadow],
        settings={"channels-sim": settings["channels-sim"]},
    )
    with pytest.raises(AssemblyError, match="priority"):
        clash.component(PAYMENTS).route(request)


def test_hook_finplug_check_tenant(make_platform: MakePlatform, tmp_path: Path) -> None:
    config = tmp_path / "shop.yaml"
    config.write_text(
        dedent(
            """\
            tenant: shop
            plugins:
              payments:
                routing:
                  priority: [card, cart]
                  fallback: [ghost]
              channels-sim:
                channels:
                  - {name: card, currencies: [EUR]}
            """
        )
    )
    platform = make_platform([PaymentsPlugin, ChannelsSimPlugin])
    issues = platform.check(config)
    assert [str(i) for i in issues] == [
        f"{config}:5: plugins.payments.routing.priority[1]: unknown channel 'cart'"
        " (did you mean 'card'?); known: card",
        f"{config}:6: plugins.payments.routing.fallback[0]: unknown channel 'ghost'; known: card",
    ]
    # The hook itself answers unlocated issues; the kernel adds file and line.
    platform.load_tenants(config)
    answers = platform.tenant("shop").hooks.finplug_check_tenant()
    assert [[i.path for i in batch] for batch in answers] == [
        ["plugins.payments.routing.priority[1]", "plugins.payments.routing.fallback[0]"]
    ]
    assert all(i.source is None and i.line is None for batch in answers for i in batch)
    # Nobody implements it: nothing beyond each plugin's own settings model.
    assert make_platform([ChannelsSimPlugin]).check(config)[0].path == "plugins.payments"
    lone = tmp_path / "lone.yaml"
    lone.write_text("tenant: lone\nplugins:\n  channels-sim: {}\n")
    bare = make_platform([ChannelsSimPlugin])
    assert bare.check(lone) == []
    bare.load_tenants(lone)
    assert bare.tenant("lone").hooks.finplug_check_tenant() == []
