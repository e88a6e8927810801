"""Shared fixtures for the kernel's tests.

In-memory plugins used across modules live in ``tests/sample_plugins.py``;
this folder is put on ``sys.path`` so test modules can import it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

PG_ENV = "FINPLUG_TEST_DATABASE_URL"


def _postgres_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        # Set but unreachable is a failure, never a skip: CI must not go green silently.
        pytest.fail(f"{PG_ENV} is set but PostgreSQL does not answer: {exc.orig}")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A platform database URL on each backend: SQLite files always, PostgreSQL when configured.

    PostgreSQL tenants get schemas named after the tenant; tests use unique tenant
    ids (see ``unique_id``) and drop what they create.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/db/{{tenant}}.db"
    else:
        yield _postgres_url()


@pytest.fixture
def unique_id() -> str:
    """A tenant-id suffix unique to this test run (schemas on a shared server never clash)."""
    return uuid.uuid4().hex[:10]
