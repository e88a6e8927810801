"""The simulated channel: scripted outcomes, determinism, lookup, idempotency, its rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finplug import Money
from finplug.sockets.payments import (
    ChannelConnector,
    ChannelDeclinedError,
    ChannelError,
    ChannelOperation,
    ChannelResult,
    ChannelTimeoutError,
    ChannelUnavailableError,
    PaymentMethod,
)
from finplug_channels_sim import Outcome, OutcomeKind, SimConnector, outcome_digest
from sim_helpers import Answer, authorize, channel, connector, request, run, summary

SCRIPT = {
    "1.01": "approve",
    "1.02": "decline:stolen_card",
    "1.03": "unavailable",
    "1.04": "timeout_applied",
    "1.05": "timeout_lost",
    "1.06": "lookup_timeout",
    "2.00": "capture:timeout_applied",
    "3.00": {"authorize": "approve", "capture": "decline:expired_card", "*": "unavailable"},
}
NOISY = {"failure_rate": "0.2", "decline_rate": "0.2", "timeout_rate": "0.2"}


def scripted(seed: int = 0) -> SimConnector:
    # Random rates at their maximum: only the script can make these calls succeed.
    return connector(seed, script=SCRIPT, failure_rate="1")


def test_is_a_channel_connector() -> None:
    sim = connector(fee_rate="0.01", fee_fixed="0.25", min_amount="1", max_amount="500")
    assert isinstance(sim, ChannelConnector)
    info = sim.info
    assert info.name == "card-eu"
    assert info.methods == {PaymentMethod.CARD}
    assert info.currencies == {"EUR", "USD"}
    assert info.cost(Money("100.00", "EUR")) == 1 + info.fee_fixed
    assert info.accepts(Money("500.00", "EUR"), PaymentMethod.CARD)
    assert not info.accepts(Money("500.01", "EUR"), PaymentMethod.CARD)


# ------------------------------------------------------------------ scripted outcomes


def test_scripted_approve_beats_the_random_draws() -> None:
    sim = scripted()
    result = sim.execute(request(amount="1.01"))
    assert result == ChannelResult(sim.channel_reference(request(amount="1.01")))
    assert result.channel_reference.startswith("card-eu_authorize_")
    assert len(result.channel_reference) == len("card-eu_authorize_") + 12
    # Unscripted amounts follow the rates: failure_rate 1 always fails.
    with pytest.raises(ChannelUnavailableError) as info:
        sim.execute(request(reference="ref-2", amount="1.00"))
    assert (info.value.code, info.value.retriable) == ("channel_unavailable", True)


def test_scripted_decline() -> None:
    sim = scripted()
    with pytest.raises(ChannelDeclinedError) as info:
        sim.execute(request(amount="1.02"))
    assert (info.value.channel, info.value.code, info.value.retriable) == (
        "card-eu",
        "stolen_card",
        False,
    )
    answer = sim.lookup(request(amount="1.02"))
    assert isinstance(answer, ChannelDeclinedError)
    assert answer.code == "stolen_card"
    assert sim.authorizations == ()


def test_scripted_unavailable() -> None:
    sim = scripted()
    with pytest.raises(ChannelUnavailableError) as info:
        sim.execute(request(amount="1.03"))
    assert info.value.retriable
    answer = sim.lookup(request(amount="1.03"))
    assert isinstance(answer, ChannelUnavailableError)
    assert answer.code == "channel_unavailable"


def test_scripted_timeout_applied() -> None:
    sim = scripted()
    with pytest.raises(ChannelTimeoutError) as info:
        sim.execute(request(amount="1.04"))
    assert info.value.code == "timeout"
    # The channel did it: lookup says so, and the hold is in the journal.
    answer = sim.lookup(request(amount="1.04"))
    assert isinstance(answer, ChannelResult)
    state = sim.authorization(answer.channel_reference)
    assert state is not None
    assert state.amount == Money("1.04", "EUR")
    [entry] = sim.journal
    assert entry.applied
    assert entry.outcome == Outcome(OutcomeKind.TIMEOUT_APPLIED)


def test_scripted_timeout_lost() -> None:
    sim = scripted()
    with pytest.raises(ChannelTimeoutError):
        sim.execute(request(amount="1.05"))
    assert sim.lookup(request(amount="1.05")) is None
    assert sim.authorizations == ()
    [entry] = sim.journal
    assert not entry.applied


def test_scripted_lookup_timeout_until_released() -> None:
    sim = scripted()
    with pytest.raises(ChannelTimeoutError):
        sim.execute(request(amount="1.06"))
    for _ in range(3):
        with pytest.raises(ChannelTimeoutError) as info:
            sim.lookup(request(amount="1.06"))
        assert info.value.code == "lookup_timeout"
    sim.release_lookups("another-reference")
    with pytest.raises(ChannelTimeoutError):
        sim.lookup(request(amount="1.06"))
    sim.release_lookups("ref-1")
    answer = sim.lookup(request(amount="1.06"))
    assert isinstance(answer, ChannelResult)
    assert sim.authorization(answer.channel_reference) is not None


def test_release_all_lookups() -> None:
    sim = scripted()
    for reference in ("a", "b"):
        with pytest.raises(ChannelTimeoutError):
            sim.execute(request(reference=reference, amount="1.06"))
    sim.release_lookups()
    assert all(
        isinstance(sim.lookup(request(reference=ref, amount="1.06")), ChannelResult)
        for ref in ("a", "b")
    )
    assert len(sim.lookups) == 2


def test_script_scoped_to_one_operation() -> None:
    sim = connector(script=SCRIPT)
    auth = authorize(sim, "2.00")  # "capture:timeout_applied" leaves authorize to the draws
    with pytest.raises(ChannelTimeoutError):
        sim.execute(request("capture", "cap-1", "2.00", authorization=auth))
    assert sim.captured_total(auth) == Money("2.00", "EUR")
    captured = sim.lookup(request("capture", "cap-1", "2.00", authorization=auth))
    assert isinstance(captured, ChannelResult)
    assert captured.channel_reference.startswith("card-eu_capture_")


def test_script_mapping_per_operation() -> None:
    sim = connector(script=SCRIPT)
    auth = authorize(sim, "3.00")
    with pytest.raises(ChannelDeclinedError, match="expired_card"):
        sim.execute(request("capture", "cap-1", "3.00", authorization=auth))
    with pytest.raises(ChannelUnavailableError):  # "*" covers the other operations
        sim.execute(request("sale", "sale-1", "3.00"))
    assert sim.captured_total(auth) == Money("0.00", "EUR")


def test_script_matches_the_amount_in_any_currency() -> None:
    sim = scripted()
    with pytest.raises(ChannelDeclinedError):
        sim.execute(request(amount="1.02", currency="USD"))


# ------------------------------------------------------------------ determinism


REFERENCES = [f"pay-{i}" for i in range(300)]


def amount_for(reference: str) -> str:
    return f"{int(reference.split('-')[1]) % 50 + 1}.00"


def outcomes(sim: SimConnector, references: list[str]) -> dict[str, Answer]:
    return {ref: run(sim, request(reference=ref, amount=amount_for(ref))) for ref in references}


def test_same_seed_same_outcomes_in_any_order() -> None:
    first = outcomes(connector(7, **NOISY), REFERENCES)
    assert outcomes(connector(7, **NOISY), REFERENCES) == first
    # Order of calls does not matter, only each call's own inputs.
    assert outcomes(connector(7, **NOISY), REFERENCES[::-1]) == first
    one_each = {
        ref: run(connector(7, **NOISY), request(reference=ref, amount=amount_for(ref)))
        for ref in REFERENCES
    }
    assert one_each == first
    assert len(set(first.values())) > 100  # varied: results carry distinct references


def test_different_seed_different_outcomes() -> None:
    assert outcomes(connector(7, **NOISY), REFERENCES) != outcomes(
        connector(8, **NOISY), REFERENCES
    )


def test_outcome_depends_on_channel_operation_reference_and_amount() -> None:
    base = ("card-eu", ChannelOperation.AUTHORIZE, "r", Money("1.00", "EUR"))
    digest = outcome_digest(0, *base)
    assert outcome_digest(0, *base) == digest
    assert outcome_digest(1, *base) != digest
    assert outcome_digest(0, "other", *base[1:]) != digest
    assert outcome_digest(0, base[0], ChannelOperation.SALE, *base[2:]) != digest
    assert outcome_digest(0, *base[:2], "s", base[3]) != digest
    assert outcome_digest(0, *base[:3], Money("1.01", "EUR")) != digest
    assert outcome_digest(0, *base[:3], Money("1.00", "USD")) != digest
    assert outcome_digest(0, *base[:3], Money("1.0", "EUR")) == digest


def test_rates_shape_the_draws() -> None:
    sim = connector(3, **NOISY, decline_codes=["a", "b"], timeout_applied_rate="0.25")
    kinds = Counter(
        str(sim.predict(request(reference=f"r{i}", amount="5.00"))) for i in range(4000)
    )
    assert set(kinds) == {
        "approve",
        "unavailable",
        "decline:a",
        "decline:b",
        "timeout_applied",
        "timeout_lost",
    }
    # 40 % approve, 20 % each failure class; declines split evenly; a quarter of timeouts applied.
    assert 1500 < kinds["approve"] < 1700
    assert 700 < kinds["unavailable"] < 900
    assert 300 < kinds["decline:a"] < 500
    assert 300 < kinds["decline:b"] < 500
    assert 120 < kinds["timeout_applied"] < 280
    assert 500 < kinds["timeout_lost"] < 700


@pytest.mark.parametrize(
    ("rates", "kind"),
    [
        ({"failure_rate": "1"}, "unavailable"),
        ({"decline_rate": "1", "decline_codes": ["do_not_honor"]}, "decline:do_not_honor"),
        ({"timeout_rate": "1", "timeout_applied_rate": "1"}, "timeout_applied"),
        ({"timeout_rate": "1", "timeout_applied_rate": "0"}, "timeout_lost"),
        ({}, "approve"),
    ],
)
def test_certain_rates(rates: dict[str, str], kind: str) -> None:
    sim = SimConnector(channel(**rates))
    assert {str(sim.predict(request(reference=f"r{i}"))) for i in range(50)} == {kind}


_OTHER_PROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from sim_helpers import connector, request, run
sim = connector(7, failure_rate="0.2", decline_rate="0.2", timeout_rate="0.2")
refs = json.loads(sys.stdin.read())
print(json.dumps({r: run(sim, request(reference=r, amount=a)) for r, a in refs}))
"""


def test_another_process_draws_the_same_outcomes() -> None:
    tests = Path(__file__).parent
    shuffled = [(ref, amount_for(ref)) for ref in REFERENCES[::-1]]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, str(tests)],
        input=json.dumps(shuffled),
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    theirs = {
        ref: tuple(answer) if answer else None for ref, answer in json.loads(done.stdout).items()
    }
    assert theirs == outcomes(connector(7, **NOISY), REFERENCES)


# ------------------------------------------------------------------ lookup


def test_lookup_in_a_fresh_process_recomputes_the_truth() -> None:
    executing, other = scripted(), scripted()
    for amount in ("1.01", "1.02", "1.03", "1.04", "1.05"):
        call = request(reference=f"r-{amount}", amount=amount)
        run(executing, call)
        assert summary(other.lookup(call)) == summary(executing.lookup(call))
    with pytest.raises(ChannelTimeoutError):
        other.lookup(request(reference="r-1.06", amount="1.06"))


def test_lookup_teaches_the_journal_of_a_fresh_process() -> None:
    # The janitor in another process learns the timed-out authorization ...
    other = connector(script={"1.04": "authorize:timeout_applied"})
    answer = other.lookup(request(reference="r", amount="1.04"))
    assert isinstance(answer, ChannelResult)
    # ... so that process can capture it, once.
    capture = request("capture", "cap", "1.04", authorization=answer.channel_reference)
    other.execute(capture)
    assert other.captured_total(answer.channel_reference) == Money("1.04", "EUR")


def test_lookup_of_a_never_sent_reference_can_say_not_received() -> None:
    sim = SimConnector(channel(), lookup_unseen="not_received")
    assert sim.lookup(request()) is None
    assert sim.journal == ()
    assert isinstance(connector().lookup(request()), ChannelResult)  # default: recompute


def test_lookup_of_an_approved_call() -> None:
    sim = connector()
    result = sim.execute(request())
    assert sim.lookup(request()) == result


# ------------------------------------------------------------------ idempotency


def test_same_reference_twice_has_one_effect() -> None:
    sim = connector()
    auth = authorize(sim, "10.00")
    capture = request("capture", "cap-1", "10.00", authorization=auth)
    first = sim.execute(capture)
    assert sim.execute(capture) == first
    assert sim.captured_total(auth) == Money("10.00", "EUR")
    assert [entry.request.reference for entry in sim.journal] == ["auth-1", "cap-1"]
    assert len(sim.calls) == 3
    refund = request("refund", "ref-1", "4.00", authorization=auth)
    sim.execute(refund)
    sim.execute(refund)
    assert sim.refunded_total(auth) == Money("4.00", "EUR")


@pytest.mark.parametrize("amount", ["1.02", "1.03", "1.04", "1.05", "1.06"])
def test_a_repeated_failure_fails_the_same_way(amount: str) -> None:
    sim = scripted()
    first, again = run(sim, request(amount=amount)), run(sim, request(amount=amount))
    assert first == again
    assert first is not None
    assert len(sim.journal) == 1
    assert len(sim.authorizations) == (1 if amount in ("1.04", "1.06") else 0)


def test_a_reference_reused_for_another_call_is_refused() -> None:
    sim = connector()
    authorize(sim, "10.00", reference="same")
    with pytest.raises(ChannelDeclinedError, match="reference_reused"):
        sim.execute(request("authorize", "same", "11.00"))
    with pytest.raises(ChannelDeclinedError, match="reference_reused"):
        sim.execute(request("sale", "same", "10.00"))
    assert len(sim.journal) == 1


# ------------------------------------------------------------------ the channel's rules


def declined(sim: SimConnector, operation: str, reference: str, amount: str, auth: str) -> str:
    with pytest.raises(ChannelDeclinedError) as info:
        sim.execute(request(operation, reference, amount, authorization=auth))
    assert not info.value.retriable
    return info.value.code


def test_double_capture_is_refused() -> None:
    sim = connector()
    auth = authorize(sim)
    sim.execute(request("capture", "cap-1", "6.00", authorization=auth))
    assert declined(sim, "capture", "cap-2", "4.00", auth) == "already_captured"
    state = sim.authorization(auth)
    assert state is not None
    assert (state.captured, state.capture_reference) == (Money("6.00", "EUR"), "cap-1")


def test_capture_above_the_authorized_amount_is_refused() -> None:
    sim = connector()
    auth = authorize(sim, "10.00")
    assert declined(sim, "capture", "cap-1", "10.01", auth) == "amount_exceeds_authorization"
    sim.execute(request("capture", "cap-2", "10.00", authorization=auth))


def test_refunds_never_exceed_the_captured_amount() -> None:
    sim = connector()
    auth = authorize(sim, "10.00")
    assert declined(sim, "refund", "rf-0", "1.00", auth) == "not_captured"
    sim.execute(request("capture", "cap-1", "8.00", authorization=auth))
    assert declined(sim, "refund", "rf-1", "8.01", auth) == "amount_exceeds_captured"
    sim.execute(request("refund", "rf-2", "5.00", authorization=auth))
    sim.execute(request("refund", "rf-3", "3.00", authorization=auth))
    assert declined(sim, "refund", "rf-4", "0.01", auth) == "amount_exceeds_captured"
    assert sim.refunded_total(auth) == sim.captured_total(auth) == Money("8.00", "EUR")


def test_void_only_before_capture() -> None:
    sim = connector()
    captured = authorize(sim, reference="a-1")
    sim.execute(request("capture", "cap-1", "10.00", authorization=captured))
    assert declined(sim, "void", "v-1", "10.00", captured) == "already_captured"

    voided = authorize(sim, reference="a-2")
    sim.execute(request("void", "v-2", "10.00", authorization=voided))
    assert declined(sim, "void", "v-3", "10.00", voided) == "already_voided"
    assert declined(sim, "capture", "cap-2", "10.00", voided) == "authorization_voided"
    state = sim.authorization(voided)
    assert state is not None
    assert state.voided
    assert state.captured == Money("0.00", "EUR")


def test_acting_on_an_unknown_authorization_is_refused() -> None:
    sim = connector(script={"10.00": "approve"})
    for operation in ("capture", "void", "refund"):
        assert declined(sim, operation, f"{operation}-1", "10.00", "nope") == (
            "unknown_authorization"
        )
    other_channel = SimConnector(channel("card-us"))
    auth = authorize(other_channel)
    assert declined(sim, "capture", "cap-x", "10.00", auth) == "unknown_authorization"
    with pytest.raises(KeyError, match="no authorization"):
        sim.captured_total("nope")


def test_a_declined_or_lost_authorization_cannot_be_captured() -> None:
    sim = scripted()
    for amount in ("1.02", "1.05"):
        call = request(reference=f"a-{amount}", amount=amount)
        run(sim, call)
        auth = sim.channel_reference(call)
        assert declined(sim, "capture", f"c-{amount}", amount, auth) == "unknown_authorization"


def test_a_sale_is_captured_and_refundable() -> None:
    sim = connector()
    sale = sim.execute(request("sale", "s-1", "20.00")).channel_reference
    assert sale.startswith("card-eu_sale_")
    assert sim.captured_total(sale) == Money("20.00", "EUR")
    assert declined(sim, "capture", "c-1", "20.00", sale) == "already_captured"
    assert declined(sim, "void", "v-1", "20.00", sale) == "already_captured"
    sim.execute(request("refund", "rf-1", "20.00", authorization=sale))
    assert sim.refunded_total(sale) == Money("20.00", "EUR")


def test_currency_and_amount_checks() -> None:
    sim = connector()
    auth = authorize(sim)
    with pytest.raises(ChannelDeclinedError, match="currency_mismatch"):
        sim.execute(request("capture", "c-1", "10.00", currency="USD", authorization=auth))
    assert declined(sim, "capture", "c-2", "0.00", auth) == "invalid_amount"


def test_calls_the_channel_does_not_take_are_retriable() -> None:
    sim = connector(max_amount="100")
    for call in (
        request(amount="100.01"),
        request(reference="r-2", currency="JPY", amount="10"),
        request(reference="r-3", method=PaymentMethod.WALLET),
    ):
        with pytest.raises(ChannelUnavailableError, match="not_supported"):
            sim.execute(call)
    disabled = connector(enabled=False)
    with pytest.raises(ChannelUnavailableError, match="channel_disabled"):
        disabled.execute(request())


def test_rules_come_before_the_script() -> None:
    sim = connector(script={"5.00": "timeout_applied"})
    with pytest.raises(ChannelDeclinedError, match="unknown_authorization"):
        sim.execute(request("capture", "c-1", "5.00", authorization="nope"))


def test_latency_is_slept() -> None:
    sim = connector(latency_ms=40)
    started = time.perf_counter()
    sim.execute(request())
    sim.lookup(request())
    assert time.perf_counter() - started >= 0.08


# ------------------------------------------------------------------ properties

AMOUNTS = st.one_of(
    st.integers(1, 10**7).map(lambda minor: str(Money.from_minor(minor, "EUR").amount)),
    st.sampled_from(sorted(SCRIPT)),
)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    reference=st.text(min_size=1, max_size=40),
    amount=AMOUNTS,
    operation=st.sampled_from(["authorize", "sale"]),
)
def test_execute_then_lookup_agree(seed: int, reference: str, amount: str, operation: str) -> None:
    sim = connector(seed, **NOISY, script=SCRIPT)
    call = request(operation, reference, amount)
    predicted = sim.predict(call)
    try:
        answer: ChannelResult | ChannelError = sim.execute(call)
    except ChannelError as exc:
        answer = exc

    def looked_up(where: SimConnector) -> Answer | str:
        try:
            return summary(where.lookup(call))
        except ChannelTimeoutError:
            return "lookup timed out"

    here, elsewhere = looked_up(sim), looked_up(connector(seed, **NOISY, script=SCRIPT))
    assert here == elsewhere
    expected: Answer | str
    if isinstance(answer, ChannelTimeoutError):
        assert predicted.kind.timeout
        if predicted.kind is OutcomeKind.TIMEOUT_LOST:
            expected = None
        elif predicted.kind is OutcomeKind.LOOKUP_TIMEOUT:
            expected = "lookup timed out"
        else:
            expected = ("result", sim.channel_reference(call))
    else:
        assert not predicted.kind.timeout
        expected = summary(answer)
    assert here == expected
    # The journal holds the hold exactly when the channel did it.
    held = sim.authorization(sim.channel_reference(call))
    assert (held is not None) == predicted.kind.applied
