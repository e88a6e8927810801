"""The payments part of ``finplug demo``: a story played over the tenant's own channels.

A capture and a partial refund, an outage the cascade falls back from, a
final decline, a timeout the janitor settles, a wallet top-up and a big
ticket risk holds for review: what each step did, channel by channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from finplug import Money
from finplug.sockets.payments import Payment, PaymentError, PaymentsAPI

__all__ = ["PAYMENT_STORY", "StoryStep", "play_story"]


@dataclass(frozen=True, slots=True)
class StoryStep:
    """One step of the payment story the demo plays for every tenant with payments."""

    label: str
    """What the step shows, and the key other steps refer to it by."""
    action: str
    """``pay`` (authorize), ``pay+capture``, ``capture``, ``refund``, ``topup``, ``janitor``."""
    amount: Money | None = None
    """The amount to pay, top up or refund (``None``: all that is left)."""
    method: str = "card"
    """The payment method."""
    ref: str = ""
    """For capture, refund and janitor: the label of the step whose payment it acts on."""


#: The demo's payment story (the channels-sim demo tenants script the outages,
#: declines and the timeout by amount).
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


def _play(payments: PaymentsAPI, step: StoryStep, made: dict[str, Payment]) -> Payment:
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


def _row(payment: Payment) -> tuple[str, str, str]:
    route = ", ".join(
        f"{a.channel}: {a.operation} {a.status}" + (f" ({a.error_code})" if a.error_code else "")
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
    return f"[{colour}]{payment.status.value}[/]", route, note


def play_story(payments: PaymentsAPI) -> list[object]:
    """Play :data:`PAYMENT_STORY` through ``payments``; a table of what each step did.

    Keys are fixed (``demo:<label>``), so playing it again on the same storage
    replays the stored results instead of paying twice.
    """
    made: dict[str, Payment] = {}
    story = Table(title="payment story", title_justify="left")
    for column in ("step", "amount", "status", "route (channel: outcome)", "note"):
        story.add_column(column, overflow="fold")
    for step in PAYMENT_STORY:
        try:
            payment = _play(payments, step, made)
        except PaymentError as exc:
            story.add_row(step.label, str(step.amount or ""), "[red]error[/]", "", str(exc))
            continue
        made[step.label] = payment
        story.add_row(step.label, str(payment.amount), *_row(payment))
    return [story]
