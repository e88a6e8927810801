"""Billable-metric aggregations: Lago's documented examples and the module's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from finplug_billing.metrics import Aggregation, MeteredEvent, aggregate

# Lago's aggregation pages all bill March 2022 for two events, on the 16th and the 17th.
MARCH_START = datetime(2022, 3, 1, tzinfo=UTC)
MARCH_END = datetime(2022, 4, 1, tzinfo=UTC)
ON_16TH = datetime(2022, 3, 16, tzinfo=UTC)
ON_17TH = datetime(2022, 3, 17, tzinfo=UTC)


def in_march(kind: Aggregation, events: list[MeteredEvent], **kwargs: Any) -> Decimal | Fraction:
    return aggregate(kind, events, start=MARCH_START, end=MARCH_END, **kwargs)


def two_events(first: str | None, second: str | None) -> list[MeteredEvent]:
    """Lago's pair of events: ``first`` on 16 March, ``second`` on 17 March."""
    return [
        MeteredEvent("event_a", ON_16TH, Decimal(first) if first else None, first),
        MeteredEvent("event_b", ON_17TH, Decimal(second) if second else None, second),
    ]


# --------------------------------------------------------------- Lago's documented examples


def test_count_matches_lago() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/count
    assert in_march(Aggregation.COUNT, two_events(None, None)) == 2


def test_sum_matches_lago() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/sum
    assert in_march(Aggregation.SUM, two_events("20", "10")) == 30


def test_max_matches_lago() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/max
    assert in_march(Aggregation.MAX, two_events("20", "10")) == 20


def test_unique_count_matches_lago() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/count-unique
    events = [
        MeteredEvent("event_a", ON_16TH, key="id_1"),
        MeteredEvent("event_b", ON_17TH, key="id_1"),
    ]
    assert in_march(Aggregation.UNIQUE_COUNT, events) == 1


def test_latest_matches_lago() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/latest
    assert in_march(Aggregation.LATEST, two_events("20", "10")) == 10


def test_lagos_cross_check_page_gives_the_same_answers() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/aggregation-examples
    # Two tracked_pages events, pageviews 10 then 20, one tracked_user_id.
    events = [
        MeteredEvent("page_1", ON_16TH, Decimal(10), "user_1"),
        MeteredEvent("page_2", ON_17TH, Decimal(20), "user_1"),
    ]
    assert in_march(Aggregation.COUNT, events) == 2
    assert in_march(Aggregation.SUM, events) == 30
    assert in_march(Aggregation.MAX, events) == 20
    assert in_march(Aggregation.UNIQUE_COUNT, events) == 1


def test_weighted_sum_matches_lagos_worked_example() -> None:
    # https://getlago.com/docs/guide/billable-metrics/aggregation-types/weighted-sum
    # +20 GB on 16 March, +10 GB on 17 March, March 2022 = 2,678,400 s. The page's
    # formula shows "+1 second" terms its own numbers ignore; we follow the numbers.
    result = in_march(Aggregation.WEIGHTED_SUM, two_events("20", "10"))
    assert isinstance(result, Fraction)
    level_20 = Fraction(20 * 86_400, 2_678_400)  # printed as 0.64516129032
    level_30 = Fraction(30 * 1_296_000, 2_678_400)  # printed as 14.5161290323
    assert result == level_20 + level_30 == Fraction(470, 31)
    assert round(level_20, 11) == Fraction("0.64516129032")
    assert round(level_30, 10) == Fraction("14.5161290323")
    assert round(result, 10) == Fraction("15.1612903226")  # the page's result


def test_recurring_weighted_sum_opens_at_the_carried_level() -> None:
    # Lago implementation (weighted_sum_service.rb): a recurring metric starts the
    # period at the previous period's closing level, a metered one at 0.
    events = two_events("20", "10")
    assert in_march(Aggregation.WEIGHTED_SUM, events, carried=Decimal(5)) == Fraction(470, 31) + 5
    closing = aggregate(
        Aggregation.SUM, events, start=MARCH_START, end=MARCH_END, carried=Decimal(5)
    )
    assert closing == 35  # the level carried into April
    april = aggregate(
        Aggregation.WEIGHTED_SUM,
        events,
        start=MARCH_END,
        end=datetime(2022, 5, 1, tzinfo=UTC),
        carried=closing,
    )
    assert april == 35


# --------------------------------------------------------------- the rules


def test_the_period_is_half_open() -> None:
    events = [
        MeteredEvent("at_start", MARCH_START, Decimal(1)),
        MeteredEvent("just_before_end", MARCH_END - timedelta(microseconds=1), Decimal(2)),
        MeteredEvent("at_end", MARCH_END, Decimal(4)),
        MeteredEvent("before", MARCH_START - timedelta(microseconds=1), Decimal(8)),
    ]
    assert in_march(Aggregation.COUNT, events) == 2
    assert in_march(Aggregation.SUM, events) == 3


@pytest.mark.parametrize("kind", list(Aggregation))
def test_nothing_to_aggregate_is_zero(kind: Aggregation) -> None:
    assert in_march(kind, []) == 0
    outside = [MeteredEvent("april", MARCH_END, Decimal(7), "k")]
    assert in_march(kind, outside) == 0


def test_events_without_the_field_are_skipped_except_by_count() -> None:
    events = [
        MeteredEvent("valued", ON_16TH, Decimal(-3), "a"),
        MeteredEvent("bare", ON_17TH),
    ]
    assert in_march(Aggregation.COUNT, events) == 2
    assert in_march(Aggregation.SUM, events) == -3
    assert in_march(Aggregation.MAX, events) == -3
    assert in_march(Aggregation.LATEST, events) == -3  # the later event has no value
    assert in_march(Aggregation.UNIQUE_COUNT, events) == 1


def test_latest_breaks_a_timestamp_tie_by_id_whatever_the_order() -> None:
    first = MeteredEvent("b", ON_16TH, Decimal(1))
    second = MeteredEvent("a", ON_16TH, Decimal(2))
    assert in_march(Aggregation.LATEST, [first, second]) == 1
    assert in_march(Aggregation.LATEST, [second, first]) == 1


def test_a_replayed_event_counts_once() -> None:
    event = MeteredEvent("once", ON_16TH, Decimal(5), "k")
    replay = MeteredEvent(
        "once", ON_16TH.astimezone(timezone(timedelta(hours=8))), Decimal("5.0"), "k"
    )
    for kind in Aggregation:
        assert in_march(kind, [event, replay, event]) == in_march(kind, [event])


def test_two_different_events_with_one_id_are_refused() -> None:
    events = [MeteredEvent("same", ON_16TH, Decimal(5)), MeteredEvent("same", ON_17TH, Decimal(5))]
    with pytest.raises(ValueError, match="share the id 'same'"):
        in_march(Aggregation.COUNT, events)


def test_sum_is_exact_beyond_the_default_decimal_precision() -> None:
    events = [
        MeteredEvent("big", ON_16TH, Decimal("1e30")),
        MeteredEvent("small", ON_17TH, Decimal("0.000000000000000000000000000001")),
    ]
    total = in_march(Aggregation.SUM, events)
    assert total == Decimal("1000000000000000000000000000000.000000000000000000000000000001")


def test_weighted_sum_follows_increments_down_and_at_the_same_instant() -> None:
    half = MARCH_START + (MARCH_END - MARCH_START) / 2
    events = [
        MeteredEvent("up", MARCH_START, Decimal(10)),
        MeteredEvent("down", half, Decimal(-10)),
        MeteredEvent("up_again", half, Decimal(4)),
    ]
    # 10 for the first half, 10 - 10 + 4 = 4 for the second.
    assert in_march(Aggregation.WEIGHTED_SUM, events) == 7


def test_events_are_stored_in_utc() -> None:
    taipei = timezone(timedelta(hours=8))
    event = MeteredEvent("e", datetime(2022, 3, 16, 8, tzinfo=taipei))
    assert event.at == ON_16TH
    assert event.at.tzinfo is UTC


def test_kind_may_be_given_by_name() -> None:
    assert aggregate("sum", two_events("1", "2"), start=MARCH_START, end=MARCH_END) == 3
    assert Aggregation("weighted_sum") is Aggregation.WEIGHTED_SUM


def test_which_aggregations_may_recur() -> None:
    recurring = {kind for kind in Aggregation if kind.can_recur}
    assert recurring == {Aggregation.SUM, Aggregation.UNIQUE_COUNT, Aggregation.WEIGHTED_SUM}


# --------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "", "at": ON_16TH}, "non-empty string"),
        ({"id": "e", "at": datetime(2022, 3, 16)}, "time-zone-aware"),
        ({"id": "e", "at": ON_16TH, "value": 1.5}, "expected a Decimal, got float"),
        ({"id": "e", "at": ON_16TH, "value": 2}, "expected a Decimal, got int"),
        ({"id": "e", "at": ON_16TH, "value": Decimal("NaN")}, "finite"),
        ({"id": "e", "at": ON_16TH, "value": Decimal("Infinity")}, "finite"),
        ({"id": "e", "at": ON_16TH, "key": 7}, "expected a string or None"),
    ],
)
def test_a_bad_event_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MeteredEvent(**fields)


def test_bad_windows_and_kinds_are_refused() -> None:
    events = two_events("1", "2")
    with pytest.raises(ValueError, match="time-zone-aware"):
        aggregate(Aggregation.SUM, events, start=datetime(2022, 3, 1), end=MARCH_END)
    with pytest.raises(ValueError, match="start before end"):
        aggregate(Aggregation.SUM, events, start=MARCH_END, end=MARCH_END)
    with pytest.raises(ValueError, match="not a valid Aggregation"):
        aggregate("median", events, start=MARCH_START, end=MARCH_END)
    with pytest.raises(ValueError, match="expected MeteredEvent"):
        aggregate(Aggregation.SUM, [object()], start=MARCH_START, end=MARCH_END)  # type: ignore[list-item]


@pytest.mark.parametrize(
    "kind", [Aggregation.COUNT, Aggregation.MAX, Aggregation.LATEST, Aggregation.UNIQUE_COUNT]
)
def test_carried_is_refused_where_it_means_nothing(kind: Aggregation) -> None:
    with pytest.raises(ValueError, match="carried applies to sum and weighted_sum only"):
        in_march(kind, [], carried=Decimal(1))


def test_a_float_carried_level_is_refused() -> None:
    with pytest.raises(ValueError, match="carried: expected a Decimal, got float"):
        in_march(Aggregation.WEIGHTED_SUM, [], carried=1.0)
