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

from finplug._money import Money
from finplug._platform import Platform
from finplug._runtime import Tenant
from finplug.sockets.fees import FeeContext, fee_hooks
from finplug.sockets.payments import PAYMENTS, Payment, PaymentError
from finplug.sockets.risk import RISK, RiskContext, RiskDecision

__all__ = ["PAYMENT_STORY", "SAMPLES", "Sample", "StoryStep", "run_demo"]


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


@dataclass(frozen=True, slots=True)
class StoryStep:
    """One step of the payment story the demo plays for every tenant with payments."""

    label: str
    action: str
    """``pay`` (authorize), ``pay+capture``, ``capture``, ``refund``, ``topup``, ``janitor``."""
    amount: Money | None = None
    method: str = "card"
    ref: str = ""
    """For capture and refund: the label of the step whose payment it acts on."""


#: The demo's payment story: a capture and refund, an outage that falls back,
#: a final decline, a timeout the janitor settles, a top-up and a big ticket
#: that risk holds for review.
PAYMENT_STORY: tuple[StoryStep, ...] = (
    StoryStep("card payment", "pay", Money("120.00", "EUR")),
    StoryStep("capture it", "capture", ref="card payment"),
    StoryStep("refund part", "refund", Money("20.00", "EUR"), ref="card payment"),
    StoryStep("outage, falls back", "pay+capture", Money("66.00", "EUR")),
    StoryStep("declined card", "pay", Money("13.00", "EUR")),
    StoryStep("channel timeout", "pay", Money("14.00", "EUR")),
    StoryStep("janitor settles it", "janitor", ref="channel timeout"),
    StoryStep("wallet top-up", "topup", Money("200.00", "EUR"), method="bank_transfer"),
    StoryStep("big ticket", "pay", Money("4800.00", "EUR")),
)


def _play(tenant: Tenant, step: StoryStep, made: dict[str, Payment]) -> Payment:
    payments = tenant.component(PAYMENTS)
    key = f"demo:{step.label}"
    if step.action in ("pay", "pay+capture"):
        assert step.amount is not None
        return payments.authorize(
            key,
            amount=step.amount,
            merchant_id="m-001",
            customer_id="c-001",
            method=step.method,
            capture=step.action == "pay+capture",
        )
    if step.action == "topup":
        assert step.amount is not None
        return payments.topup(key, customer_id="c-001", amount=step.amount, method=step.method)
    target = made[step.ref]
    if step.action == "janitor":
        payments.resolve_unknown()
        return payments.get(target.id)
    if step.action == "capture":
        return payments.capture(key, target.id)
    return payments.refund(key, target.id, step.amount)


def _payments_tables(tenant: Tenant) -> tuple[Table, Table]:
    made: dict[str, Payment] = {}
    story = Table(title="payment story", title_justify="left")
    for column in ("step", "amount", "status", "route (channel: outcome)", "note"):
        story.add_column(column, overflow="fold")
    for step in PAYMENT_STORY:
        try:
            payment = _play(tenant, step, made)
        except PaymentError as exc:
            story.add_row(step.label, str(step.amount or ""), "[red]error[/]", "", str(exc))
            continue
        made[step.label] = payment
        route = ", ".join(
            f"{a.channel}: {a.operation} {a.status}"
            + (f" ({a.error_code})" if a.error_code else "")
            for a in payment.attempts
        )
        colour = "red" if payment.status.value in ("failed", "unknown") else "green"
        if payment.status.value == "requires_action":
            colour = "yellow"
        note = payment.failure_code or ", ".join(payment.risk_reasons)
        if payment.refunded:
            note = f"refunded {payment.refunded}"
        if payment.fees:
            note = (note + "; " if note else "") + f"fees {payment.fees}"
        story.add_row(
            step.label, str(payment.amount), f"[{colour}]{payment.status.value}[/]", route, note
        )
    balances = Table(title="ledger balances", title_justify="left")
    for column in ("account", "posted", "pending"):
        balances.add_column(column)
    for account in tenant.ledger.accounts():
        balance = tenant.ledger.balance(account.code)
        balances.add_row(account.code, str(balance.posted), str(balance.pending))
    return story, balances


def run_demo(platform: Platform, folder: Path, console: Console) -> None:
    """Load every tenant config in ``folder`` and print each tenant's plugboard.

    Tenants with a payments component also play :data:`PAYMENT_STORY` over
    their own channels and routing, and show their ledger balances.
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
        console.print(_plugins_table(tenant))
        console.print(_samples_table(tenant))
        if tenant.has_component("payments"):
            platform.upgrade(tenant_id)
            story, balances = _payments_tables(tenant)
            console.print(story)
            console.print(balances)
            verified = tenant.ledger.verify()
            console.print(
                f"ledger: {verified.entries} entries, hash chain and balances "
                + ("[green]verified[/]" if verified.ok else f"[red]BROKEN[/]: {verified.problems}")
            )
