"""``finplug demo``: assemble the example tenants and show what each has plugged in.

Every tenant sees the same sample operations; what differs is only what the
tenant enabled and how it configured it, which is the point of the plugboard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from finplug._money import Money
from finplug._platform import Platform
from finplug._runtime import Tenant
from finplug._text import cut
from finplug.sockets.fees import FeeContext, fee_hooks
from finplug.sockets.risk import RISK, RiskContext, RiskDecision

__all__ = ["SAMPLES", "Sample", "run_demo"]

_STORY_HOOK = "finplug_demo_story"


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample money movement the demo puts to every tenant."""

    label: str
    operation: str
    fee_operation: str
    amount: Money
    payment_method: str
    country: str
    merchant_id: str


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "card payment",
        "payment.authorize",
        "capture",
        Money("120.00", "EUR"),
        "card",
        "DE",
        "m-001",
    ),
    Sample(
        "large card payment",
        "payment.authorize",
        "capture",
        Money("4800.00", "EUR"),
        "card",
        "FR",
        "m-001",
    ),
    Sample(
        "wallet top-up",
        "wallet.topup",
        "topup",
        Money("15000.00", "EUR"),
        "bank_transfer",
        "DE",
        "m-002",
    ),
    Sample(
        "card payment", "payment.authorize", "capture", Money("75.00", "USD"), "card", "KP", "m-003"
    ),
    Sample(
        "bank transfer",
        "payment.authorize",
        "capture",
        Money("900.00", "GBP"),
        "bank_transfer",
        "GB",
        "m-004",
    ),
)


def _assess(tenant: Tenant, sample: Sample) -> tuple[RiskDecision, str]:
    context = RiskContext(
        operation=sample.operation,
        amount=sample.amount,
        merchant_id=sample.merchant_id,
        country=sample.country,
        payment_method=sample.payment_method,
    )
    source = "risk component" if tenant.has_component("risk") else "no risk plugin"
    # No risk plugin: the socket's default asks the rules there are (none: approve).
    return tenant.component(RISK).assess(context), source


def _fees(tenant: Tenant, sample: Sample) -> str:
    context = FeeContext(
        operation=sample.fee_operation,
        amount=sample.amount,
        payment_method=sample.payment_method,
        merchant_id=sample.merchant_id,
    )
    batches = fee_hooks.of(tenant.hooks).finplug_calculate_fees(context=context)
    lines = [fee for batch in batches for fee in batch]
    if not lines:
        return "none"
    return ", ".join(f"{fee.code} {fee.amount}" for fee in lines)


def _plugins_table(tenant: Tenant) -> Table:
    table = Table(title="plugged in", title_justify="left", expand=False)
    for column in ("plugin", "version", "components", "hooks", "settings (non-default)"):
        table.add_column(column, overflow="fold")
    for record in tenant.plan.order:
        meta = record.plugin_class.meta  # type: ignore[union-attr]
        settings = tenant.plan.settings[record.name].model_dump(mode="json", exclude_defaults=True)
        table.add_row(
            record.name,
            meta.version,
            ", ".join(sorted(meta.components)) or "-",
            "\n".join(record.hooks),
            _settings_summary(settings),
        )
    return table


def _settings_summary(settings: dict[str, object]) -> str:
    lines = []
    for key, value in settings.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{key}: {len(value)} entries")
        else:
            lines.append(f"{key}: {json.dumps(value, sort_keys=True)}")
    return "\n".join(lines) or "(defaults)"


def _samples_table(tenant: Tenant) -> Table:
    table = Table(title="sample operations", title_justify="left")
    for column in ("operation", "amount", "country", "risk", "reasons", "fees"):
        table.add_column(column, overflow="fold")
    for sample in SAMPLES:
        decision, how = _assess(tenant, sample)
        verdict = decision.verdict.name.lower()
        colour = {"approve": "green", "review": "yellow", "decline": "red"}[verdict]
        reasons = "; ".join(r.message for r in decision.reasons) or f"({how})"
        table.add_row(
            f"{sample.label} ({sample.payment_method})",
            str(sample.amount),
            sample.country,
            f"[{colour}]{verdict}[/]",
            reasons,
            _fees(tenant, sample),
        )
    return table


def _stories(tenant: Tenant) -> list[object]:
    """Each plugin's ``finplug_demo_story``, called on its own (failure policy: report)."""
    shown: list[object] = []
    for name, impl in tenant.implementations(_STORY_HOOK):
        try:
            parts = impl()
        except Exception as exc:
            failure = f"{name}: its demo story failed: {type(exc).__name__}: {cut(str(exc), 200)}"
            shown.append(Text(failure, style="red"))
            continue
        shown.extend(parts or ())
    return shown


def _balances(tenant: Tenant) -> Table | None:
    accounts = tenant.ledger.accounts()
    if not accounts:
        return None
    balances = Table(title="ledger balances", title_justify="left")
    for column in ("account", "posted", "pending"):
        balances.add_column(column)
    for account in accounts:
        balance = tenant.ledger.balance(account.code)
        balances.add_row(account.code, str(balance.posted), str(balance.pending))
    return balances


def run_demo(platform: Platform, folder: Path, console: Console) -> None:
    """Load every tenant config in ``folder`` and print each tenant's plugboard.

    Each tenant's storage is migrated, each of its plugins plays its own
    story (``finplug_demo_story``: payments over the tenant's own channels and
    routing), and the tenant's ledger balances are shown and verified.
    """
    loaded = [r for r in platform.plugins if r.status == "loaded"]
    failed = [r for r in platform.plugins if r.status == "failed"]
    console.print(
        f"[bold]finplug demo[/]: {len(loaded)} plugins loaded"
        + (f", {len(failed)} failed" if failed else "")
        + f"; tenant configs from {folder}"
    )
    for record in failed:
        console.print(f"  [red]failed[/] {record.name}: {record.error}")
    for tenant_id in platform.load_tenants(folder):
        tenant = platform.tenant(tenant_id)
        console.print()
        console.print(
            Panel.fit(
                f"[bold]{tenant.config.display_name}[/] ({tenant.id})\n"
                f"config: {tenant.config.source}\n"
                f"components: {', '.join(tenant.component_names) or 'none'}\n"
                f"hook order: {' → '.join(tenant.plugin_names) or 'no plugins'}"
                + (
                    ""
                    if tenant.has_component("risk")
                    else "\nrisk: no risk plugin enabled, so no decision means approve"
                ),
                title=f"tenant {tenant.id}",
            )
        )
        platform.upgrade(tenant_id)  # a risk component may read its tables for the samples
        console.print(_plugins_table(tenant))
        # The stories first: a plugin's story may set the tenant up (the risk
        # engine's makes its rule set live), and the samples then show it at work.
        for part in _stories(tenant):
            console.print(part)
        console.print(_samples_table(tenant))
        balances = _balances(tenant)
        if balances is not None:
            console.print(balances)
            verified = tenant.ledger.verify()
            console.print(
                f"ledger: {verified.entries} entries, hash chain and balances "
                + ("[green]verified[/]" if verified.ok else f"[red]BROKEN[/]: {verified.problems}")
            )
