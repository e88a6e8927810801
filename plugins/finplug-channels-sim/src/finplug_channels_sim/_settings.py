"""The sim's settings: channels, their failure rates, scripted amounts and file discrepancies."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from finplug.sockets.payments import ChannelOperation, PaymentMethod
from finplug.types import Amount, Credential, CurrencyCode, PositiveAmount, Rate

__all__ = [
    "Discrepancy",
    "DiscrepancyKind",
    "Outcome",
    "OutcomeKind",
    "RowType",
    "ScriptEntry",
    "SimChannel",
    "SimSettings",
    "parse_script_entry",
]

_CODE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_ANY_OPERATION = "*"
_OPERATION_NAMES = frozenset(op.value for op in ChannelOperation)
_OPERATIONS = ", ".join(op.value for op in ChannelOperation)


class OutcomeKind(enum.StrEnum):
    """What the simulated channel does with one call."""

    APPROVE = "approve"
    """Does it and answers with a :class:`~finplug.ChannelResult`."""
    DECLINE = "decline"
    """Refuses for good: :class:`~finplug.ChannelDeclinedError` with the outcome's code."""
    UNAVAILABLE = "unavailable"
    """Fails before doing anything: :class:`~finplug.ChannelUnavailableError` (retriable)."""
    TIMEOUT_APPLIED = "timeout_applied"
    """Times out, but did it: ``lookup`` reports the result."""
    TIMEOUT_LOST = "timeout_lost"
    """Times out and never did it: ``lookup`` answers ``None``."""
    LOOKUP_TIMEOUT = "lookup_timeout"
    """Times out, did it, and ``lookup`` times out too until released."""
    RETURNED = "returned"
    """A payout paid, then sent back by the payee's bank: ``lookup`` says ``returned``."""

    @property
    def timeout(self) -> bool:
        """Whether ``execute`` raises :class:`~finplug.ChannelTimeoutError`."""
        return self in _TIMEOUTS

    @property
    def applied(self) -> bool:
        """Whether the channel in fact did what was asked."""
        return self in _APPLIED


_TIMEOUTS = frozenset(
    {OutcomeKind.TIMEOUT_APPLIED, OutcomeKind.TIMEOUT_LOST, OutcomeKind.LOOKUP_TIMEOUT}
)
_APPLIED = frozenset(
    {
        OutcomeKind.APPROVE,
        OutcomeKind.TIMEOUT_APPLIED,
        OutcomeKind.LOOKUP_TIMEOUT,
        OutcomeKind.RETURNED,
    }
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome of a simulated call: a kind and, for declines, the decline code."""

    kind: OutcomeKind
    code: str = ""
    """The decline code (``insufficient_funds`` …); empty for other kinds."""

    @classmethod
    def parse(cls, text: str) -> Outcome:
        """Parse one outcome: ``approve``, ``decline:<code>``, ``timeout_lost`` and so on.

        Raises :class:`ValueError` saying what is expected (without echoing ``text``).
        """
        head, sep, code = text.strip().partition(":")
        try:
            kind = OutcomeKind(head)
        except ValueError:
            raise ValueError(
                "unknown outcome: expected approve, decline:<code>, unavailable,"
                " timeout_applied, timeout_lost, lookup_timeout or returned"
            ) from None
        if kind is OutcomeKind.DECLINE:
            if not _CODE.match(code):
                raise ValueError(
                    "a decline needs a code of lower-case letters, digits and '_',"
                    " as in decline:insufficient_funds"
                )
            return cls(kind, code)
        if sep:
            raise ValueError(f"only decline takes a code (decline:<code>), not {kind.value}")
        return cls(kind)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.code}" if self.code else self.kind.value


def _operation(text: str) -> ChannelOperation:
    try:
        return ChannelOperation(text.strip())
    except ValueError:
        raise ValueError(f"unknown operation: expected one of {_OPERATIONS} or '*'") from None


#: The value of one ``script`` entry as written in a tenant config.
ScriptEntry = str | dict[str, str]


def parse_script_entry(entry: ScriptEntry) -> dict[ChannelOperation | None, Outcome]:
    """Read one ``script`` value into outcomes per operation (``None``: any operation).

    * ``"decline:do_not_honor"``: that outcome for every operation;
    * ``"capture:timeout_applied"``: that outcome for captures only;
    * ``{"authorize": "approve", "capture": "timeout_lost", "*": "unavailable"}``:
      one outcome per operation, ``"*"`` for the operations not listed.

    Operations with no outcome here fall back to the channel's random draws.
    """
    if isinstance(entry, str):
        head, sep, rest = entry.strip().partition(":")
        if sep and head in _OPERATION_NAMES:
            return {ChannelOperation(head): Outcome.parse(rest)}
        return {None: Outcome.parse(entry)}
    if not entry:
        raise ValueError("an operation mapping needs at least one operation")
    parsed: dict[ChannelOperation | None, Outcome] = {}
    for key, text in entry.items():
        operation = None if key.strip() == _ANY_OPERATION else _operation(key)
        parsed[operation] = Outcome.parse(text)
    return parsed


def _check_entry(entry: ScriptEntry) -> ScriptEntry:
    parse_script_entry(entry)
    return entry


def _decline_code(code: str) -> str:
    if not _CODE.match(code):
        raise ValueError("decline codes are lower-case letters, digits and '_'")
    return code


def _channel_name(name: str) -> str:
    if not _CHANNEL_NAME.match(name):
        raise ValueError(
            "channel names are lower-case letters and digits, words joined by '-' or '_'"
        )
    return name


#: What a scripted discrepancy does to the rows it selects (see :class:`Discrepancy`).
DiscrepancyKind = Literal["missing", "duplicate", "amount_off", "late", "fee_off"]

#: The ``type`` of a settlement file row.
RowType = Literal["capture", "fee", "refund", "payout", "payout_return"]

_NEEDS_BY = frozenset({"amount_off", "fee_off"})


def _decimal_string(value: object) -> object:
    """Let only strings (and Decimals built in code) through to the exact-decimal check."""
    if isinstance(value, str | Decimal):
        return value
    raise ValueError(
        "expected a decimal string such as '0.10' or '-0.05'; numbers are refused, so quote it"
    )


class Discrepancy(BaseModel):
    """One scripted difference between what the channel did and what its file says.

    Select rows by ``payment`` (every row whose ``payment_reference`` is that
    payment id, or a payout's reference) or by ``line`` (a 0-based index among
    one day's rows as the journal gives them, before any discrepancy), then
    narrow them by ``type``. ``day`` binds the discrepancy to one day's rows;
    without it a ``payment`` selection looks at every day and a ``line`` is a
    line of the file being written. The kinds:

    * ``missing``: the rows are left out;
    * ``duplicate``: the rows are written twice;
    * ``amount_off``: ``by`` is added to the amount of each selected row that is
      not a fee (with ``type: fee``, to fee rows);
    * ``fee_off``: ``by`` is added to the selected fee rows;
    * ``late``: the rows' booking and value dates move ``days`` later: they leave
      their day's file and appear in that later day's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DiscrepancyKind
    payment: str | None = Field(
        default=None, min_length=1, description="Select the rows of this payment id."
    )
    line: int | None = Field(
        default=None, ge=0, strict=True, description="Select this 0-based row of a day."
    )
    amount: PositiveAmount | None = Field(
        default=None,
        description=(
            "Select the capture, refund and payout rows of this amount (fee rows: theirs);"
            " in the settings, it applies whenever such a row comes, like a script entry."
        ),
    )
    day: date | None = Field(
        default=None, description="The day whose rows are selected (local, as the file's)."
    )
    type: RowType | None = Field(default=None, description="Only rows of this type.")
    by: Annotated[Amount, BeforeValidator(_decimal_string)] | None = Field(
        default=None, description="For amount_off and fee_off: added to the amount."
    )
    days: int | None = Field(
        default=None, ge=1, strict=True, description="For late: how many days later."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Discrepancy:
        if sum(x is not None for x in (self.payment, self.line, self.amount)) != 1:
            raise ValueError(
                "select rows with one of payment: <payment id>, line: <index>"
                " or amount: <decimal string>"
            )
        if self.kind in _NEEDS_BY:
            if self.by is None:
                raise ValueError(f"{self.kind} needs by: a decimal string such as '0.10'")
            if self.by.is_zero():
                raise ValueError(f"{self.kind} with by: '0' would change nothing")
        elif self.by is not None:
            raise ValueError(f"by is for amount_off and fee_off, not {self.kind}")
        if self.kind == "late":
            if self.days is None:
                raise ValueError("late needs days: how many days later the rows are booked")
        elif self.days is not None:
            raise ValueError(f"days is for late, not {self.kind}")
        if self.kind == "fee_off" and self.type not in (None, "fee"):
            raise ValueError(f"fee_off changes fee rows; type: {self.type} selects none")
        return self


class SimChannel(BaseModel):
    """One simulated channel: what it accepts, what it costs, and how it misbehaves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, AfterValidator(_channel_name)] = Field(
        description="Unique channel name; prefixes its channel references."
    )
    methods: frozenset[PaymentMethod] = Field(default=frozenset({PaymentMethod.CARD}), min_length=1)
    currencies: frozenset[CurrencyCode] = Field(min_length=1)
    min_amount: Amount | None = Field(
        default=None, description="Smallest authorize/sale amount accepted; none by default."
    )
    max_amount: PositiveAmount | None = Field(
        default=None, description="Largest authorize/sale amount accepted; none by default."
    )
    fee_rate: Rate = Decimal(0)
    fee_fixed: Amount = Decimal(0)
    enabled: bool = True
    payouts: bool = Field(
        default=False, description="Whether it pays out (settlement payouts), in its currencies."
    )
    latency_ms: int = Field(default=0, ge=0, description="Sleep this long in every call.")
    failure_rate: Rate = Field(
        default=Decimal(0), description="Chance of a retriable `channel_unavailable` error."
    )
    decline_rate: Rate = Field(
        default=Decimal(0), description="Chance of a final decline, code from `decline_codes`."
    )
    decline_codes: tuple[Annotated[str, AfterValidator(_decline_code)], ...] = Field(
        default=("do_not_honor", "insufficient_funds"),
        description="Codes a random decline draws from (evenly).",
    )
    timeout_rate: Rate = Field(default=Decimal(0), description="Chance of a timeout.")
    timeout_applied_rate: Rate = Field(
        default=Decimal("0.5"),
        description="Of timed-out calls, the chance that the channel did it all the same.",
    )
    script: dict[Amount, Annotated[ScriptEntry, AfterValidator(_check_entry)]] = Field(
        default_factory=dict,
        description="Exact amounts mapped to a fixed outcome, checked before random draws.",
    )
    settlement_discrepancies: tuple[Discrepancy, ...] = Field(
        default=(),
        description="Differences written into the channel's daily settlement files, applied"
        " in order; each must select at least one row.",
    )
    api_key: Credential | None = Field(
        default=None,
        description="The channel's API key, as a real acquirer would need one: only from"
        " ${VAR} or ${file:PATH}, never written into the config, and not blank. The"
        " simulator sends it nowhere.",
    )

    @field_validator("decline_codes")
    @classmethod
    def _some_decline_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give at least one decline code")
        return value

    @field_validator("settlement_discrepancies")
    @classmethod
    def _lines_have_days(cls, value: tuple[Discrepancy, ...]) -> tuple[Discrepancy, ...]:
        for index, discrepancy in enumerate(value):
            if discrepancy.line is not None and discrepancy.day is None:
                raise ValueError(
                    f"settlement_discrepancies[{index}]: a line selection in the settings"
                    " needs day: <YYYY-MM-DD>, the day whose file it changes"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SimChannel:
        if self.min_amount is not None and self.min_amount < 0:
            raise ValueError("min_amount must not be negative")
        if self.fee_fixed < 0:
            raise ValueError("fee_fixed must not be negative")
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise ValueError("min_amount must not be greater than max_amount")
        total = self.failure_rate + self.decline_rate + self.timeout_rate
        if total > 1:
            raise ValueError(
                "failure_rate + decline_rate + timeout_rate must not exceed 1"
                f" (they sum to {total})"
            )
        return self

    def scripted(self) -> dict[tuple[Decimal, ChannelOperation | None], Outcome]:
        """The script parsed: ``(amount, operation or None for any) -> outcome``."""
        return {
            (amount, operation): outcome
            for amount, entry in self.script.items()
            for operation, outcome in parse_script_entry(entry).items()
        }


class SimSettings(BaseModel):
    """The sim's tenant settings: a seed and the channels it simulates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, description="Changes every random draw; same seed, same run.")
    channels: tuple[SimChannel, ...] = ()
    lookup_unseen: Literal["recompute", "not_received"] = Field(
        default="recompute",
        description="How `lookup` answers for a reference this process never executed:"
        " recompute the outcome from the seed (as another process would have drawn it),"
        " or answer `None` (the channel never received it).",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> SimSettings:
        seen: set[str] = set()
        for index, channel in enumerate(self.channels):
            if channel.name in seen:
                raise ValueError(
                    f"channels[{index}].name: channel {channel.name!r} is defined twice;"
                    " names must be unique"
                )
            seen.add(channel.name)
        return self
