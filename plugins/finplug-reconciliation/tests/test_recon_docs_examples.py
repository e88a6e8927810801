"""The examples of docs/reconciliation.md and its two companion pages run as written.

Each block runs with what its page says it is given: ``tenant`` (a shop with
a captured payment) and ``data`` (that payment's channel statement) for the
component's examples; ``data`` a real camt.053 file for the format
detection example, a German bank's CSV export for the mapping example; the
protocol sketch with its names imported. The matching page's example runs
bare and checks its own results.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import pytest

from finplug.sockets.reconciliation import Statement
from finplug.testing import FinplugTenant
from recon_helpers import STATEMENTS, Clock, capture, csv_file, day_at, shop

DOCS = Path(__file__).parents[3] / "docs"
CAMT = STATEMENTS / "camt"
PAGES = ("reconciliation.md", "reconciliation-formats.md", "reconciliation-matching.md")
BLOCKS = [
    (page, block)
    for page in PAGES
    for block in re.findall(r"```python\n(.*?)```", (DOCS / page).read_text("utf-8"), flags=re.S)
]
GERMAN_CSV = (
    "Buchungstag;Valuta;Soll;Haben;Auftraggeber;Verwendungszweck\n"
    "02.11.2026;02.11.2026;1.234,56;;Stadtwerke;Abschlag November\n"
    "03.11.2026;03.11.2026;;99,00;Erika Muster;RE 2026-118\n"
).encode("cp1252")


def test_every_page_has_examples() -> None:
    assert {page for page, _block in BLOCKS} == set(PAGES)


def _given(block: str, finplug_tenant: FinplugTenant) -> dict[str, Any]:
    if "tenant." in block:
        day = date.today()
        tenant = shop(finplug_tenant, Clock(day_at(day)))
        paid = capture(tenant, "k1", "12.00")
        return {"tenant": tenant, "data": csv_file([(day, "capture", paid.id, "12.00")])}
    if "CsvMapping(" in block:
        return {"data": GERMAN_CSV}
    if "detect(" in block:
        return {"data": (CAMT / "genkgo-camt053.v8.xml").read_bytes()}
    if "class StatementParser(Protocol)" in block:
        return {"Protocol": Protocol, "Statement": Statement}
    return {}


@pytest.mark.parametrize(
    ("page", "block"), BLOCKS, ids=[f"{p}-{i}" for i, (p, _b) in enumerate(BLOCKS)]
)
def test_example_runs(page: str, block: str, finplug_tenant: FinplugTenant) -> None:
    namespace = _given(block, finplug_tenant)
    if "tenant" in namespace:
        block = block.replace("date(2026, 12, 1)", "date.today()")
    exec(compile(block, str(DOCS / page), "exec"), namespace)  # the docs' own example
    if "CsvMapping(" in block:
        (statement,) = namespace["statements"]
        assert [str(line.amount) for line in statement.lines] == ["-1234.56 EUR", "99.00 EUR"]
    if "tenant" in namespace and "recon.run" in block:
        assert namespace["run"].matches == 1
