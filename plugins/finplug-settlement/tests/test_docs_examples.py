"""The self-contained examples of docs/settlement.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).parents[3] / "docs" / "settlement.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
#: Blocks that need a tenant (``tenant``, ``payment``) are compiled by tests/test_docs.py only.
RUNNABLE = [b for b in BLOCKS if "tenant." not in b]


def test_the_page_has_runnable_examples() -> None:
    assert len(RUNNABLE) >= 2


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"block{i}" for i in range(len(RUNNABLE))])
def test_example_runs(block: str) -> None:
    exec(compile(block, str(PAGE), "exec"), {})  # the docs' own example
