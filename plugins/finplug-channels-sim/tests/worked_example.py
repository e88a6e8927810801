"""A channel connector plugin: one card channel in front of a (toy) vendor API."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from finplug import (
    Money,
    Plugin,
    PluginMeta,
    hookimpl,
)
from finplug.sockets.payments import (
    ChannelConnector,
    ChannelDeclinedError,
    ChannelError,
    ChannelInfo,
    ChannelRequest,
    ChannelResult,
    ChannelTimeoutError,
    ChannelUnavailableError,
    PaymentMethod,
)
from finplug.types import CurrencyCode, PositiveAmount, Rate


class PiggyBankError(Exception):
    """What the vendor SDK raises: an HTTP status and the vendor's error code."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


class PiggyBankAPI:
    """Stands in for the vendor SDK. Idempotent by key, like most acquirers' APIs."""

    def __init__(self, limit_minor: int) -> None:
        self.limit_minor = limit_minor
        self.down = False
        self.charges: dict[str, dict[str, str]] = {}

    def charge(self, idempotency_key: str, action: str, minor: int, currency: str) -> str:
        """Do ``action``; a repeated key returns the first charge's id."""
        if self.down:
            raise PiggyBankError(503, "maintenance")
        if idempotency_key not in self.charges:
            if minor > self.limit_minor:
                raise PiggyBankError(402, "limit_exceeded")
            self.charges[idempotency_key] = {"id": f"pb_{len(self.charges) + 1}", "action": action}
        return self.charges[idempotency_key]["id"]

    def find(self, idempotency_key: str) -> str | None:
        """The id of the charge made under ``idempotency_key``, if any."""
        if self.down:
            raise TimeoutError("read timed out")
        charge = self.charges.get(idempotency_key)
        return None if charge is None else charge["id"]


class PiggyBankSettings(BaseModel):
    """The tenant's contract with Piggy Bank."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str = "piggy-bank"
    currency: CurrencyCode = "EUR"
    limit: PositiveAmount = Decimal(500)
    fee_rate: Rate = Decimal("0.015")


class PiggyBankConnector:
    """One channel: translates finplug requests to vendor calls and vendor errors back."""

    def __init__(self, settings: PiggyBankSettings, api: PiggyBankAPI) -> None:
        self.api = api
        self._info = ChannelInfo(
            name=settings.channel,
            methods=frozenset({PaymentMethod.CARD}),
            currencies=frozenset({settings.currency}),
            max_amount=settings.limit,
            fee_rate=settings.fee_rate,
        )

    @property
    def info(self) -> ChannelInfo:
        """What routing needs: methods, currencies, limit, cost."""
        return self._info

    def execute(self, request: ChannelRequest) -> ChannelResult:
        """Call the vendor with finplug's reference as the idempotency key."""
        amount = request.amount
        try:
            charge_id = self.api.charge(
                request.reference, request.operation.value, amount.minor_units, amount.currency.code
            )
        except TimeoutError:  # sent, but no answer: the money may have moved
            raise ChannelTimeoutError(self._info.name, "timeout") from None
        except PiggyBankError as exc:
            raise self._translate(exc) from None
        return ChannelResult(charge_id)

    def lookup(self, request: ChannelRequest) -> ChannelResult | ChannelError | None:
        """Ask the vendor what became of the call made under ``request.reference``."""
        try:
            charge_id = self.api.find(request.reference)
        except TimeoutError:  # still no answer: the janitor asks again later
            raise ChannelTimeoutError(self._info.name, "lookup_timeout") from None
        return None if charge_id is None else ChannelResult(charge_id)

    def _translate(self, exc: PiggyBankError) -> ChannelError:
        """The one place vendor errors become retriable or final."""
        if exc.status >= 500 or exc.status == 429:
            return ChannelUnavailableError(self._info.name, exc.code)
        return ChannelDeclinedError(self._info.name, exc.code)


class PiggyBankPlugin(Plugin[PiggyBankSettings]):
    """Connects the tenant to Piggy Bank."""

    meta = PluginMeta(
        sockets={"payments": ">=1.0,<2"},
        name="piggy-bank",
        version="0.1.0",
        summary="Card payments through Piggy Bank",
        api=">=1.0,<2",
        settings=PiggyBankSettings,
    )

    def _setup(self) -> None:
        limit = Money(self.settings.limit, self.settings.currency)
        self.connector = PiggyBankConnector(self.settings, PiggyBankAPI(limit.minor_units))

    @hookimpl
    def finplug_register_channels(self) -> list[ChannelConnector] | None:
        """The one channel, built once per tenant in ``_setup``."""
        return [self.connector]
