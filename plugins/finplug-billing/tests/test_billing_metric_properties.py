"""Properties of the billable-metric aggregations, over generated events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from finplug_billing.metrics import Aggregation, MeteredEvent, aggregate

START = datetime(2024, 2, 1, tzinfo=UTC)
END = datetime(2024, 3, 1, tzinfo=UTC)
SPAN = END - START

# Offsets reach a little outside the period on both sides, and hit its edges.
offsets = st.one_of(
    st.integers(
        min_value=-3_600_000_000, max_value=SPAN // timedelta(microseconds=1) + 3_600_000_000
    ),
    st.sampled_from([0, SPAN // timedelta(microseconds=1), -1]),
).map(lambda micros: START + timedelta(microseconds=micros))
values = st.one_of(
    st.none(),
    st.decimals(
        min_value=-1_000_000, max_value=1_000_000, places=3, allow_nan=False, allow_infinity=False
    ),
)
keys = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"]))
carried_levels = st.decimals(
    min_value=-1_000, max_value=1_000, places=2, allow_nan=False, allow_infinity=False
)


@st.composite
def event_lists(draw: st.DrawFn) -> list[MeteredEvent]:
    """Events with distinct ids (a shared id would have to repeat the same event)."""
    count = draw(st.integers(min_value=0, max_value=25))
    return [
        MeteredEvent(f"e{index}", draw(offsets), draw(values), draw(keys)) for index in range(count)
    ]


def every_result(events: list[MeteredEvent], carried: Decimal) -> dict[str, Decimal | Fraction]:
    results: dict[str, Decimal | Fraction] = {
        kind.value: aggregate(kind, events, start=START, end=END) for kind in Aggregation
    }
    for kind in (Aggregation.SUM, Aggregation.WEIGHTED_SUM):
        results[f"{kind.value}+carried"] = aggregate(
            kind, events, start=START, end=END, carried=carried
        )
    return results


@settings(max_examples=150, deadline=None)
@given(events=event_lists(), carried=carried_levels, data=st.data())
def test_input_order_does_not_matter(
    events: list[MeteredEvent], carried: Decimal, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events))
    assert every_result(shuffled, carried) == every_result(
        sorted(events, key=lambda e: e.at), carried
    )


@settings(max_examples=100, deadline=None)
@given(events=event_lists(), carried=carried_levels, data=st.data())
def test_replaying_events_changes_nothing(
    events: list[MeteredEvent], carried: Decimal, data: st.DataObject
) -> None:
    replays = data.draw(st.lists(st.sampled_from(events), max_size=10)) if events else []
    assert every_result(events + replays, carried) == every_result(events, carried)


@settings(max_examples=150, deadline=None)
@given(events=event_lists())
def test_unique_count_is_at_most_count(events: list[MeteredEvent]) -> None:
    unique = aggregate(Aggregation.UNIQUE_COUNT, events, start=START, end=END)
    assert 0 <= unique <= aggregate(Aggregation.COUNT, events, start=START, end=END)


@settings(max_examples=150, deadline=None)
@given(events=event_lists())
def test_simple_aggregations_agree_with_the_events_in_the_period(
    events: list[MeteredEvent],
) -> None:
    inside = [e.value for e in events if START <= e.at < END and e.value is not None]
    assert aggregate(Aggregation.SUM, events, start=START, end=END) == sum(inside, Decimal(0))
    biggest = aggregate(Aggregation.MAX, events, start=START, end=END)
    latest = aggregate(Aggregation.LATEST, events, start=START, end=END)
    if inside:
        assert biggest == max(inside)
        assert latest in inside
    else:
        assert biggest == latest == 0


@settings(max_examples=100, deadline=None)
@given(
    level=carried_levels,
    times=st.lists(offsets, max_size=10),
)
def test_weighted_sum_of_a_constant_level_is_that_level(
    level: Decimal, times: list[datetime]
) -> None:
    # Zero increments leave the level where it opened, however many there are.
    still = [MeteredEvent(f"z{i}", at, Decimal(0)) for i, at in enumerate(times)]
    assert aggregate(Aggregation.WEIGHTED_SUM, still, start=START, end=END, carried=level) == level
    # A metered level set at the very start of the period is held all period.
    opening = [MeteredEvent("open", START, level), *still]
    assert aggregate(Aggregation.WEIGHTED_SUM, opening, start=START, end=END) == level


@settings(max_examples=150, deadline=None)
@given(events=event_lists(), carried=carried_levels)
def test_weighted_sum_lies_between_the_lowest_and_highest_level(
    events: list[MeteredEvent], carried: Decimal
) -> None:
    level = Fraction(carried)
    levels = [level]
    for event in sorted(events, key=lambda e: e.at):
        if START <= event.at < END and event.value is not None:
            level += Fraction(event.value)
            levels.append(level)
    result = aggregate(Aggregation.WEIGHTED_SUM, events, start=START, end=END, carried=carried)
    assert isinstance(result, Fraction)
    assert min(levels) <= result <= max(levels)


@settings(max_examples=150, deadline=None)
@given(events=event_lists(), carried=carried_levels, cut=offsets)
def test_weighted_sum_splits_over_two_adjacent_windows(
    events: list[MeteredEvent], carried: Decimal, cut: datetime
) -> None:
    """The area over the period is the area over its two parts, the level carried across."""
    middle = min(max(cut, START + timedelta(seconds=1)), END - timedelta(seconds=1))
    whole = aggregate(Aggregation.WEIGHTED_SUM, events, start=START, end=END, carried=carried)
    first = aggregate(Aggregation.WEIGHTED_SUM, events, start=START, end=middle, carried=carried)
    level = aggregate(Aggregation.SUM, events, start=START, end=middle, carried=carried)
    assert isinstance(level, Decimal)
    second = aggregate(Aggregation.WEIGHTED_SUM, events, start=middle, end=END, carried=level)

    def micros(delta: timedelta) -> int:
        return delta // timedelta(microseconds=1)

    assert whole * micros(END - START) == (
        first * micros(middle - START) + second * micros(END - middle)
    )
