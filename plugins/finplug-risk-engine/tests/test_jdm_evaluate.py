"""JDM graphs: evaluation of the shared files equals zen-engine's.

zen-engine (GoRules' own evaluator, the ``test`` extra) is the oracle: every
result is compared with zen's by exact JSON equality (numbers by value, a
boolean never equal to a number).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finplug_risk_engine.jdm import (
    load_graph,
    same_json,
)
from shared_data import ZEN_DATA
from zen_oracle import assert_same_as_zen

MOCK_TIME = "2025-08-19T16:55:02.078Z"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """zen's harness pins "now" so date functions give fixed answers."""
    monkeypatch.setenv("__ZEN_MOCK_UTC_TIME", MOCK_TIME)


def zen_files() -> list[Path]:
    files = sorted(ZEN_DATA.glob("*.json"))
    assert files, f"no JDM graphs found in {ZEN_DATA.resolve()}"  # fail, never skip
    return files


def read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ZEN_DATA / name).read_text(encoding="utf-8"))
    return data


def shared_cases() -> Iterator[Any]:
    for path in zen_files():
        for index, case in enumerate(json.loads(path.read_text(encoding="utf-8")).get("tests", [])):
            yield pytest.param(path, case["input"], case["output"], id=f"{path.stem}-{index}")


# ------------------------------------------------------------------ shared files


@pytest.mark.parametrize(("path", "given_input", "expected"), list(shared_cases()))
def test_shared_graph_tests_array(path: Path, given_input: Any, expected: Any) -> None:
    result = load_graph(str(path)).evaluate(given_input)
    assert same_json(result, expected)


def test_every_shared_graph_is_covered() -> None:
    with_tests = {p.name for p in zen_files() if read(p.name).get("tests")}
    assert {p.name for p in zen_files()} - with_tests == {
        "expression.json",
        "table-collect-columns.json",
        "table.json",
    }


@pytest.mark.parametrize("value", [15, 10, 11, 0, -3, 10.5, "12", None, True, [11]])
def test_table_json_matches_zen(value: Any) -> None:
    graph = read("table.json")
    assert_same_as_zen(graph, {"input": value})


@pytest.mark.parametrize("age", [70, 65, 64, 30, 21, 20, 18, 17, 0, None, "old"])
def test_collect_columns_match_zen(age: Any) -> None:
    graph = read("table-collect-columns.json")
    assert_same_as_zen(graph, {"customer": {"age": age}})
    collect = json.loads(json.dumps(graph))
    collect["nodes"][1]["content"]["hitPolicy"] = "collect"
    assert_same_as_zen(collect, {"customer": {"age": age}})


def test_collect_columns_gather_every_matching_row() -> None:
    result = load_graph(str(ZEN_DATA / "table-collect-columns.json")).evaluate(
        {"customer": {"age": 30}}
    )
    assert result == {
        "customer": {"tier": "standard", "tags": ["adult", "age-verified", "customer"]}
    }


def test_expression_json_matches_zen() -> None:
    graph = read("expression.json")
    data = {"numbers": [1, 5, 10, 15, 2.5], "firstName": "Ada", "lastName": "Lovelace"}
    assert_same_as_zen(graph, data)
    ours = load_graph(str(ZEN_DATA / "expression.json")).evaluate(data)
    assert ours["deep"]["nested"]["sum"] == Decimal("33.5")


# ------------------------------------------------------------------ generated inputs

money = st.one_of(
    st.integers(min_value=-1_000, max_value=300_000),
    st.decimals(min_value=-1000, max_value=300_000, places=2).map(float),
)


@SETTINGS
@given(value=st.one_of(money, st.none(), st.text(max_size=3), st.booleans()))
def test_table_json_generated(value: Any) -> None:
    assert_same_as_zen(read("table.json"), {"input": value})


@SETTINGS
@given(age=st.one_of(st.integers(min_value=-5, max_value=120), st.none()))
def test_collect_columns_generated(age: Any) -> None:
    assert_same_as_zen(read("table-collect-columns.json"), {"customer": {"age": age}})


item = st.fixed_dictionaries({"unitPrice": money, "quantity": st.integers(0, 20)})


@SETTINGS
@given(
    items=st.lists(item, max_size=4),
    tags=st.lists(st.sampled_from(["premium", "vip", "new"]), max_size=2),
    country=st.sampled_from(["US", "GB", "IE", "DE", "ROW"]),
)
def test_shipping_generated(items: list[Any], tags: list[str], country: str) -> None:
    data = {"cart": {"items": items}, "customer": {"tags": tags, "country": country}}
    assert_same_as_zen(read("decision-table-shipping.json"), data)


@SETTINGS
@given(
    country=st.sampled_from(["US", "CA", "DE"]),
    currency=st.sampled_from(["USD", "CAD", "EUR", "AUD", "GBP"]),
    amount=money,
)
def test_set_fee_generated(country: str, currency: str, amount: Any) -> None:
    data = {"country": country, "currency": currency, "amount": amount}
    assert_same_as_zen(read("set-fee.json"), data)


@SETTINGS
@given(
    score=st.integers(300, 850),
    income=st.integers(0, 250_000),
    debt=st.integers(0, 9_000),
    monthly=st.sampled_from([1_000, 2_000, 4_000, 5_000, 8_000, 10_000]),
    years=st.integers(0, 30),
    status=st.sampled_from(["full_time", "part_time", "self_employed", "unemployed"]),
)
def test_loan_approval_generated(
    score: int, income: int, debt: int, monthly: int, years: int, status: str
) -> None:
    data = {
        "applicantId": "APL-1",
        "creditScore": score,
        "annualIncome": income,
        "monthlyDebt": debt,
        "monthlyIncome": monthly,
        "employmentYears": years,
        "employmentStatus": status,
        "loanAmount": 100_000,
        "loanTerm": 30,
    }
    assert_same_as_zen(read("loan-approval.json"), data)


@SETTINGS
@given(
    code=st.sampled_from(["WELCOME_2023", "BACK_TO_BACK", "EARLY_BIRD", "NONE"]),
    created=st.dates().map(str),
    joined=st.dates().map(str),
    purchases=st.integers(0, 15),
)
def test_discounts_generated(code: str, created: str, joined: str, purchases: int) -> None:
    data = {
        "code": code,
        "order": {"createdAt": created},
        "customer": {"joinDate": joined, "pastPurchases": [{}] * purchases},
    }
    assert_same_as_zen(read("decision-table-discounts.json"), data)


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (Decimal("0.6"), 0.6, True),
        (Decimal("4.0"), 4, True),
        ({"a": [Decimal(1), "x"]}, {"a": [1.0, "x"]}, True),
        (True, 1, False),
        (Decimal(1), True, False),
        (None, False, False),
        ({"a": None}, {}, False),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
    ],
)
def test_same_json_is_exact(left: Any, right: Any, equal: bool) -> None:
    assert same_json(left, right) is equal
    assert same_json(right, left) is equal
