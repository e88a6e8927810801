"""Kernel benchmark: hook call overhead, tenant assembly, and 10,000 tenants.

Run ``python benchmarks/kernel.py`` (full: about 30 s on two cores, as long
as ``add_tenant`` does not slow down with the number of tenants) or
``python benchmarks/kernel.py --quick`` (a few seconds, for tests). It prints
human-readable lines, then, as its last line, one JSON object with every
figure. It always exits 0: the aims are informational.

What is measured, and how:

1. **Hook call overhead** (``hook_ratio_1``, ``hook_ratio_5``, ``hook_ratio_20``).
   For N = 1, 5 and 20 implementations of ``finplug_assess_risk``, the same
   call is timed through finplug (``risk.finplug_assess_risk(context=ctx)`` with
   ``risk = risk_hooks.of(tenant.hooks)``, the risk socket's typed view of the relay,
   on a tenant of a :class:`finplug.Platform` built from N generated
   :class:`finplug.Plugin` subclasses) and through raw pluggy
   (``pm.hook.finplug_assess_risk(context=ctx)`` on a plain
   ``pluggy.PluginManager("finplug")`` holding N plain objects). Every
   implementation returns ``None``, so the figures are pure dispatch cost.
   Rounds alternate (A then B, then B then A, …) with the garbage collector
   off; each round is a loop of calls sized to take about 50 ms. The ratio is
   ``median(finplug ns/call) / median(raw ns/call)``.
2. **Assembly** (``assembly_us``): building a realistic tenant's runtime
   (the two bundled plugins, settings shaped like
   ``examples/tenants/acme.yaml``) from its already validated plan. It is
   timed through the public path that does exactly that, the first
   ``platform.tenant(id)`` of a tenant added beforehand (``build_tenant`` of
   the stored plan, plus a dict lookup and a lock): each round adds a batch
   of tenants to a fresh platform untimed, then times their first use; the
   figure is the median over rounds of the mean per tenant. Also
   ``first_component_us`` (the same plus the first ``tenant.component(RISK)``, which
   registers components lazily), ``validate_us`` (``Platform.validate`` of
   the config dict) and ``reload_us`` (``Platform.reload`` with the dict:
   validation, assembly and swap). GC is off while timing.
3. **10,000 tenants** (``tenants_10k_*``): a fresh platform with the two
   bundled plugins gets 10,000 tenant configs (ids ``t00000`` …, cycling
   through three shapes: both plugins, risk-rules only, fee-schedule only),
   then ``platform.tenant(id)`` is called for each and every runtime is kept
   alive. The timing pass runs with the garbage collector on (as a real
   process would); ``tenants_10k_s`` is the ``tenant()`` loop alone,
   ``tenants_10k_total_s`` adds ``add_tenant``; ``tenants_10k_gc_s`` is the
   part of the ``tenant()`` loop spent in the collector, and
   ``tenants_10k_add_first_us`` / ``tenants_10k_add_last_us`` (mean
   ``add_tenant`` of the first and last tenth) show whether adding a tenant
   slows down as tenants accumulate. A second, separate pass
   measures memory with :mod:`tracemalloc` (started before the first config
   is added): ``tenants_10k_kb_each`` is everything retained (configs, plans
   and runtimes) per tenant, ``tenants_10k_runtime_kb_each`` the assembly
   step alone.

Figures are only as quiet as the machine: the median ratio is the headline,
``hook_ratio_min_*`` (ratio of the fastest rounds) and
``hook_ratio_paired_*`` (median of per-pair ratios) are steadier when other
processes compete for the CPU; ``loadavg_1m`` records how busy it was.

``--quick`` uses fewer and shorter rounds and 1,000 tenants; the keys keep
their names (``"quick": true`` and ``tenants_count`` say what was run).
"""

from __future__ import annotations

import gc
import json
import platform as pyplatform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

import finplug
import finplug.hookspecs
import finplug.sockets.risk
from _bench import Aim, load_average, log, parse_args, report_aims
from finplug import (
    Money,
    NoSettings,
    Platform,
    Plugin,
    PluginMeta,
    hookimpl,
)
from finplug.sockets.risk import RISK, RiskContext, RiskDecision, RiskHooks, risk_hooks
from finplug_fee_schedule import FeeSchedulePlugin
from finplug_risk_rules import RiskRulesPlugin

AIM_HOOK_RATIO = 1.05
AIM_ASSEMBLY_US = 250.0
AIM_TENANTS_S = 3.0
AIM_TENANTS_KB = 50.0


@dataclass(frozen=True)
class Settings:
    """How much work each part does."""

    quick: bool
    hook_rounds: int
    hook_round_ms: float
    assembly_rounds: int
    assembly_round_ms: float
    tenants: int


FULL = Settings(
    quick=False,
    hook_rounds=21,
    hook_round_ms=50.0,
    assembly_rounds=15,
    assembly_round_ms=50.0,
    tenants=10_000,
)
QUICK = Settings(
    quick=True,
    hook_rounds=5,
    hook_round_ms=10.0,
    assembly_rounds=5,
    assembly_round_ms=10.0,
    tenants=1_000,
)

# ---------------------------------------------------------------- helpers


def calibrate(run: Callable[[int], int], target_ms: float) -> int:
    """How many iterations make ``run(n)`` (which returns elapsed ns) last ``target_ms``."""
    n = 1
    while True:
        elapsed = run(n)
        if elapsed >= target_ms * 1e6 / 10 or n >= 1 << 24:
            break
        n *= 2
    return max(1, int(n * target_ms * 1e6 / max(elapsed, 1)))


def per_op_ns(run: Callable[[int], int], n: int) -> float:
    """Nanoseconds per iteration of one round of ``n`` iterations, GC off."""
    gc.disable()
    try:
        return run(n) / n
    finally:
        gc.enable()


def median_per_op_ns(run: Callable[[int], int], rounds: int, target_ms: float) -> float:
    """The median over ``rounds`` rounds of nanoseconds per iteration."""
    n = calibrate(run, target_ms)
    return statistics.median(per_op_ns(run, n) for _ in range(rounds))


# ---------------------------------------------------------------- 1. hook calls


def _finplug_plugin_class(index: int) -> type[Plugin[Any]]:
    class BenchPlugin(Plugin[NoSettings]):
        meta = PluginMeta(
            sockets={"risk": ">=1.0,<2"},
            name=f"bench-{index}",
            version="1",
            summary="benchmark plugin",
        )

        @hookimpl
        def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
            return None

    BenchPlugin.__name__ = BenchPlugin.__qualname__ = f"BenchPlugin{index}"
    return BenchPlugin


def _raw_plugin_object() -> object:
    class RawPlugin:
        @hookimpl
        def finplug_assess_risk(self, context: RiskContext) -> RiskDecision | None:
            return None

    return RawPlugin()


def finplug_plugin_classes(count: int) -> list[type[Plugin[Any]]]:
    """``count`` distinct in-memory plugin classes implementing ``finplug_assess_risk``."""
    return [_finplug_plugin_class(i) for i in range(count)]


def raw_plugin_objects(count: int) -> list[object]:
    """``count`` plain objects with the same hook method, for a bare pluggy manager."""
    return [_raw_plugin_object() for _ in range(count)]


def bench_hooks(settings: Settings, results: dict[str, Any]) -> None:
    log("== hook call: finplug tenant.hooks vs raw pluggy (finplug_assess_risk) ==")
    ctx = RiskContext(
        operation="payment.authorize",
        amount=Money("125.00", "EUR"),
        merchant_id="m-0001",
        country="DE",
    )
    for count in (1, 5, 20):
        classes = finplug_plugin_classes(count)
        platform = Platform(classes)
        platform.add_tenant({"tenant": "bench", "plugins": {c.meta.name: {} for c in classes}})
        tenant = platform.tenant("bench")

        pm = pluggy.PluginManager("finplug")
        pm.add_hookspecs(finplug.hookspecs)
        pm.add_hookspecs(finplug.sockets.risk)  # the risk socket's spec, as the tenant has it
        for obj in raw_plugin_objects(count):
            pm.register(obj)

        assert risk_hooks.of(tenant.hooks).finplug_assess_risk(context=ctx) == []
        assert pm.hook.finplug_assess_risk(context=ctx) == []

        # A caller holds the socket's typed view (payments does, per service); the view is
        # the tenant's relay itself, so each call is a relay attribute read and a call.
        risk = risk_hooks.of(tenant.hooks)

        def run_finplug(n: int, risk: RiskHooks = risk) -> int:
            start = time.perf_counter_ns()
            for _ in range(n):
                risk.finplug_assess_risk(context=ctx)
            return time.perf_counter_ns() - start

        def run_raw(n: int, pm: pluggy.PluginManager = pm) -> int:
            start = time.perf_counter_ns()
            for _ in range(n):
                pm.hook.finplug_assess_risk(context=ctx)
            return time.perf_counter_ns() - start

        def run_loop(n: int) -> int:
            start = time.perf_counter_ns()
            for _ in range(n):
                pass
            return time.perf_counter_ns() - start

        n = max(
            calibrate(run_finplug, settings.hook_round_ms),
            calibrate(run_raw, settings.hook_round_ms),
        )
        finplug_ns: list[float] = []
        raw_ns: list[float] = []
        for i in range(settings.hook_rounds):
            # A/B then B/A, so that whatever favours the first (or second) of a pair cancels.
            if i % 2 == 0:
                finplug_ns.append(per_op_ns(run_finplug, n))
                raw_ns.append(per_op_ns(run_raw, n))
            else:
                raw_ns.append(per_op_ns(run_raw, n))
                finplug_ns.append(per_op_ns(run_finplug, n))
        loop_ns = statistics.median(per_op_ns(run_loop, n) for _ in range(5))
        med_f = statistics.median(finplug_ns)
        med_r = statistics.median(raw_ns)
        ratio = med_f / med_r
        results[f"hook_ratio_{count}"] = round(ratio, 4)
        results[f"hook_ratio_min_{count}"] = round(min(finplug_ns) / min(raw_ns), 4)
        paired = statistics.median(f / r for f, r in zip(finplug_ns, raw_ns, strict=True))
        results[f"hook_ratio_paired_{count}"] = round(paired, 4)
        results[f"hook_finplug_ns_{count}"] = round(med_f, 1)
        results[f"hook_raw_ns_{count}"] = round(med_r, 1)
        results[f"hook_loop_ns_{count}"] = round(loop_ns, 1)
        log(
            f"  {count:>2} impls: finplug {med_f:8.1f} ns/call   raw pluggy {med_r:8.1f} ns/call"
            f"   ratio {ratio:.3f} (paired {paired:.3f})"
            f"   (loop {loop_ns:.1f} ns; {settings.hook_rounds} rounds x {n} calls each side,"
            f" min finplug/raw {min(finplug_ns):.1f}/{min(raw_ns):.1f})"
        )


# ---------------------------------------------------------------- 2. assembly

RISK_SETTINGS: dict[str, Any] = {
    "allowed_currencies": ["EUR", "USD"],
    "decline_above": {"EUR": "10000.00", "USD": "10000.00"},
    "review_above": {"EUR": "2500.00"},
    "blocked_countries": ["KP", "IR"],
    "blocked_merchants": ["m-0666"],
}

FEE_SETTINGS: dict[str, Any] = {
    "rounding": "half_even",
    "rules": [
        {
            "code": "acquiring",
            "operation": "capture",
            "payment_method": "card",
            "currency": "EUR",
            "rate": "0.014",
            "fixed": "0.25",
            "minimum": "0.50",
        },
        {
            "code": "acquiring",
            "operation": "capture",
            "payment_method": "card",
            "currency": "USD",
            "rate": "0.029",
            "fixed": "0.30",
        },
        {
            "code": "topup",
            "operation": "topup",
            "rate": "0.005",
            "currency": "EUR",
            "maximum": "25.00",
        },
    ],
}


def tenant_config(tenant_id: str, shape: int = 0) -> dict[str, Any]:
    """A tenant config dict: shape 0 both plugins, 1 risk-rules only, 2 fee-schedule only."""
    plugins: dict[str, Any] = {}
    if shape in (0, 1):
        plugins["risk-rules"] = RISK_SETTINGS
    if shape in (0, 2):
        plugins["fee-schedule"] = FEE_SETTINGS
    return {"tenant": tenant_id, "name": f"Tenant {tenant_id}", "plugins": plugins}


def bundled_platform() -> Platform:
    return Platform([RiskRulesPlugin, FeeSchedulePlugin])


def first_use_ns(config: dict[str, Any], count: int, *, component: bool) -> float:
    """Nanoseconds per first ``platform.tenant(id)`` over ``count`` fresh tenants, GC off.

    The tenants (copies of ``config`` under ids ``a00000`` …) are added to a
    fresh platform before the clock starts, so only assembly from the stored,
    validated plans is timed. With ``component`` the first ``tenant.component(RISK)``
    lookup (lazy component registration) is timed too.
    """
    platform = bundled_platform()
    ids = [f"a{i:05d}" for i in range(count)]
    for tenant_id in ids:
        platform.add_tenant({**config, "tenant": tenant_id})
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        if component:
            for tenant_id in ids:
                platform.tenant(tenant_id).component(RISK)
        else:
            for tenant_id in ids:
                platform.tenant(tenant_id)
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed / count


def median_first_use_us(
    config: dict[str, Any], settings: Settings, *, component: bool
) -> tuple[float, int]:
    """Median over rounds of :func:`first_use_ns`, in µs, and the tenants per round."""
    probe = first_use_ns(config, 50, component=component)
    count = int(min(2000, max(20, settings.assembly_round_ms * 1e6 / probe)))
    values = [
        first_use_ns(config, count, component=component) for _ in range(settings.assembly_rounds)
    ]
    return statistics.median(values) / 1000, count


def bench_assembly(settings: Settings, results: dict[str, Any]) -> None:
    log("== tenant assembly (risk-rules + fee-schedule, acme-shaped settings) ==")
    config = tenant_config("acme")
    platform = bundled_platform()
    platform.add_tenant(config)
    assert platform.tenant("acme").plugin_names == (
        "events",
        "fee-schedule",
        "idempotency",
        "ledger",
        "risk-rules",
    )

    def run_validate(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            platform.validate(config)
        return time.perf_counter_ns() - start

    def run_reload(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            platform.reload("acme", config)
        return time.perf_counter_ns() - start

    rounds, target = settings.assembly_rounds, settings.assembly_round_ms
    assembly_us, per_round = median_first_use_us(config, settings, component=False)
    component_us, _ = median_first_use_us(config, settings, component=True)
    figures = {
        "assembly_us": assembly_us,
        "first_component_us": component_us,
        "validate_us": median_per_op_ns(run_validate, rounds, target) / 1000,
        "reload_us": median_per_op_ns(run_reload, rounds, target) / 1000,
    }
    labels = {
        "assembly_us": f"platform.tenant(id), first use: assembly from plan ({per_round}/round)",
        "first_component_us": "tenant.component(RISK), first use: assembly + components",
        "validate_us": "platform.validate(config dict)",
        "reload_us": "platform.reload(id, config dict): validate + assemble + swap",
    }
    for key, value in figures.items():
        results[key] = round(value, 2)
        log(f"  {value:9.2f} us  {labels[key]}")


# ---------------------------------------------------------------- 3. many tenants


class GCTimer:
    """A :data:`gc.callbacks` entry adding up the wall time of every collection."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def bench_many_tenants(settings: Settings, results: dict[str, Any]) -> None:
    count = settings.tenants
    log(f"== {count:,} tenants (3 config shapes, all runtimes kept alive) ==")
    ids = [f"t{i:05d}" for i in range(count)]

    # Timing pass (GC on, no tracemalloc); a GC callback adds up time spent collecting.
    gc.collect()
    platform = bundled_platform()
    gc_timer = GCTimer()
    gc.callbacks.append(gc_timer)
    try:
        tenth = max(1, count // 10)
        marks: dict[int, float] = {}
        start = time.perf_counter()
        for i, tenant_id in enumerate(ids):
            if i in (tenth, count - tenth):
                marks[i] = time.perf_counter()
            platform.add_tenant(tenant_config(tenant_id, i % 3))
        added = time.perf_counter()
        gc_add_s, gc_timer.total = gc_timer.total, 0.0
        tenants = [platform.tenant(tenant_id) for tenant_id in ids]
        done = time.perf_counter()
        gc_build_s = gc_timer.total
    finally:
        gc.callbacks.remove(gc_timer)
    assert len(tenants) == count
    add_s, build_s = added - start, done - added
    # Mean add_tenant() of the first and of the last tenth: equal if adding is O(1).
    add_first_us = (marks.get(tenth, added) - start) / tenth * 1e6
    add_last_us = (added - marks.get(count - tenth, start)) / tenth * 1e6
    del tenants, platform
    gc.collect()

    # Memory pass (separate: tracemalloc slows everything down).
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    platform = bundled_platform()
    for i, tenant_id in enumerate(ids):
        platform.add_tenant(tenant_config(tenant_id, i % 3))
    gc.collect()
    after_configs = tracemalloc.get_traced_memory()[0]
    tenants = [platform.tenant(tenant_id) for tenant_id in ids]
    gc.collect()
    after_build = tracemalloc.get_traced_memory()[0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(tenants) == count
    del tenants, platform
    gc.collect()

    kb_each = (after_build - before) / count / 1024
    runtime_kb_each = (after_build - after_configs) / count / 1024
    config_kb_each = (after_configs - before) / count / 1024
    results.update(
        tenants_count=count,
        tenants_10k_s=round(build_s, 4),
        tenants_10k_total_s=round(add_s + build_s, 4),
        tenants_10k_add_s=round(add_s, 4),
        tenants_10k_add_first_us=round(add_first_us, 1),
        tenants_10k_add_last_us=round(add_last_us, 1),
        tenants_10k_gc_s=round(gc_build_s, 4),
        tenants_10k_add_gc_s=round(gc_add_s, 4),
        tenants_10k_kb_each=round(kb_each, 3),
        tenants_10k_runtime_kb_each=round(runtime_kb_each, 3),
        tenants_10k_config_kb_each=round(config_kb_each, 3),
        tenants_10k_peak_mb=round(peak / 2**20, 2),
    )
    log(
        f"  {build_s:8.3f} s   tenant() for all ({build_s / count * 1e6:.1f} us each;"
        f" {gc_build_s:.3f} s of it in the garbage collector)"
    )
    log(
        f"  {add_s:8.3f} s   add_tenant() for all ({add_s / count * 1e6:.1f} us each;"
        f" {gc_add_s:.3f} s of it in the garbage collector)"
    )
    log(
        f"  {add_first_us:8.1f} us  add_tenant() each, first tenth;"
        f" {add_last_us:.1f} us last tenth (equal if adding a tenant is O(1))"
    )
    log(f"  {add_s + build_s:8.3f} s   total")
    log(
        f"  {kb_each:8.2f} KB  retained per tenant (configs + plans + runtimes;"
        f" {config_kb_each:.2f} KB config/plan, {runtime_kb_each:.2f} KB runtime)"
    )
    log(f"  {peak / 2**20:8.1f} MB  traced peak")


# ---------------------------------------------------------------- report


def check_aims(results: dict[str, Any]) -> None:
    count = results["tenants_count"]
    aims = [
        Aim(
            f"hook ratio, {n} impl(s) <= {AIM_HOOK_RATIO}",
            results[f"hook_ratio_{n}"],
            AIM_HOOK_RATIO,
        )
        for n in (1, 5, 20)
    ]
    aims.append(
        Aim(f"assembly <= {AIM_ASSEMBLY_US:.0f} us", results["assembly_us"], AIM_ASSEMBLY_US)
    )
    aims.append(
        Aim(f"{count:,} tenants <= {AIM_TENANTS_S:.0f} s", results["tenants_10k_s"], AIM_TENANTS_S)
    )
    aims.append(
        Aim(
            f"{count:,} tenants <= {AIM_TENANTS_KB:.0f} KB each",
            results["tenants_10k_kb_each"],
            AIM_TENANTS_KB,
        )
    )
    report_aims(results, aims)
    if count != 10_000:
        log(f"  (quick run: {count:,} tenants, not 10,000; the time aim is for 10,000)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(
        __doc__, argv, quick_help="fewer rounds and 1,000 tenants (for tests)", database_url=False
    )
    settings = QUICK if args.quick else FULL

    log(
        f"finplug kernel benchmark ({'quick' if settings.quick else 'full'}):"
        f" Python {pyplatform.python_version()}, pluggy {pluggy.__version__},"
        f" {sys.platform}"
    )
    load = load_average()
    if load is not None:
        log(f"load average before start: {load} (other processes skew every figure)")
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": settings.quick}
    bench_hooks(settings, results)
    bench_assembly(settings, results)
    bench_many_tenants(settings, results)
    check_aims(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 2)
    results["loadavg_1m"] = load_average()
    log(f"done in {results['elapsed_s']} s")
    print(json.dumps(results, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
