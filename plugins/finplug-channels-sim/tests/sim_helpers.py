"""Small builders shared by the channels-sim tests."""

from __future__ import annotations

from typing import Any

from finplug import Money
from finplug.sockets.payments import (
    ChannelError,
    ChannelOperation,
    ChannelRequest,
    ChannelResult,
    PaymentMethod,
)
from finplug_channels_sim import SimChannel, SimConnector

Answer = tuple[str, str] | None


def channel(name: str = "card-eu", **changes: Any) -> SimChannel:
    """A EUR/USD card channel that approves everything unless ``changes`` say otherwise."""
    fields: dict[str, Any] = {"name": name, "currencies": ["EUR", "USD"], **changes}
    return SimChannel.model_validate(fields)


def connector(seed: int = 0, **changes: Any) -> SimConnector:
    return SimConnector(channel(**changes), seed=seed)


def request(
    operation: str = "authorize",
    reference: str = "ref-1",
    amount: str = "10.00",
    *,
    currency: str = "EUR",
    authorization: str = "",
    method: PaymentMethod = PaymentMethod.CARD,
) -> ChannelRequest:
    return ChannelRequest(
        operation=ChannelOperation(operation),
        reference=reference,
        amount=Money(amount, currency),
        method=method,
        merchant_id="m-1",
        authorization=authorization,
    )


def summary(answer: ChannelResult | ChannelError | None) -> Answer:
    """An answer as comparable data: ``(kind, reference or code)`` or ``None``."""
    if answer is None:
        return None
    if isinstance(answer, ChannelResult):
        return ("result", answer.channel_reference)
    return (type(answer).__name__, answer.code)


def run(sim: SimConnector, call: ChannelRequest) -> Answer:
    """Execute ``call``; a raised error becomes its summary."""
    try:
        return summary(sim.execute(call))
    except ChannelError as exc:
        return summary(exc)


def authorize(sim: SimConnector, amount: str = "10.00", reference: str = "auth-1") -> str:
    """Authorize ``amount`` and return the channel's authorization reference."""
    return sim.execute(request("authorize", reference, amount)).channel_reference
