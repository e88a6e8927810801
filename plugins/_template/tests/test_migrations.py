from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from finplug import Platform
from finplug_example import ExamplePlugin


def test_upgrade_creates_the_plugins_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/{{tenant}}.db"
    with Platform([ExamplePlugin], environ={}, database_url=url) as platform:
        platform.add_tenant({"tenant": "acme", "plugins": {"example": {}}})
        report = platform.upgrade()
        assert report["acme"]["example"].after == "0001"
        assert list(report["acme"]) == ["kernel", "example"]  # the kernel's tables come first
        with platform.tenant("acme").storage.begin() as conn:
            names = set(inspect(conn).get_table_names())
        assert {"example_reviews", "alembic_version_example", "ledger_accounts"} <= names
        assert not platform.upgrade()["acme"]["example"].changed  # running it again: a no-op
