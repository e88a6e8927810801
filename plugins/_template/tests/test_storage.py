from __future__ import annotations

from sqlalchemy import inspect, text

from finplug.testing import FinplugTenant
from finplug_example import ExamplePlugin

ADD_REVIEW = text(
    "INSERT INTO example_reviews (amount, currency, reason) VALUES (:amount, :currency, :reason)"
)
COUNT_REVIEWS = text("SELECT count(*) FROM example_reviews")


def test_the_tenant_comes_migrated(finplug_tenant: FinplugTenant) -> None:
    tenant = finplug_tenant([ExamplePlugin])  # the kernel's migrations ran, then this plugin's
    with tenant.storage.begin() as conn:
        tables = inspect(conn).get_table_names(schema=tenant.storage.schema)
        revision = conn.execute(text("SELECT version_num FROM alembic_version_example"))
        assert revision.scalar_one() == "0001"
    assert "example_reviews" in tables


def test_each_tenant_keeps_its_own_rows(finplug_tenant: FinplugTenant) -> None:
    one = finplug_tenant([ExamplePlugin])
    other = finplug_tenant([ExamplePlugin])
    with one.storage.begin() as conn:
        conn.execute(ADD_REVIEW, {"amount": "150.00", "currency": "EUR", "reason": "above 100"})
    with one.storage.begin() as conn:
        assert conn.execute(COUNT_REVIEWS).scalar_one() == 1
    with other.storage.begin() as conn:
        assert conn.execute(COUNT_REVIEWS).scalar_one() == 0
