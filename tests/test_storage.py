"""Tenant storage is physically isolated: PostgreSQL schemas, SQLite files, or URLs per tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text

from conftest import _postgres_url
from finplug import ConfigError, Platform, Plugin, PluginMeta, Tenant
from finplug._storage import EngineCache

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", String(200), nullable=False),
)


class NoSettings(BaseModel):
    pass


class NotesPlugin(Plugin[NoSettings]):
    """Owns one table and writes to it through the tenant's storage."""

    meta = PluginMeta(name="notes", version="0", settings=NoSettings)

    def _setup(self) -> None:
        self._ready = False

    def add(self, body: str) -> None:
        storage = self.context.storage
        if not self._ready:
            storage.create_all(metadata)
            self._ready = True
        with storage.begin() as conn:
            conn.execute(insert(notes).values(body=body))

    def bodies(self) -> list[str]:
        with self.context.storage.begin() as conn:
            return list(conn.execute(select(notes.c.body).order_by(notes.c.id)).scalars())


def notes_of(tenant: Tenant) -> NotesPlugin:
    plugin = tenant.plugin("notes")
    assert isinstance(plugin, NotesPlugin)
    return plugin


@pytest.fixture
def platform(database_url: str) -> Iterator[Platform]:
    with Platform([NotesPlugin], environ={}, database_url=database_url) as platform:
        yield platform


def _cleanup(platform: Platform) -> None:
    for tenant_id in platform.tenant_ids:
        platform.tenant(tenant_id).storage.drop()


def test_two_tenants_never_see_each_others_rows(platform: Platform, unique_id: str) -> None:
    a, b = f"alpha-{unique_id}", f"beta-{unique_id}"
    for tenant_id in (a, b):
        platform.add_tenant({"tenant": tenant_id, "plugins": {"notes": {}}})
    try:
        notes_of(platform.tenant(a)).add("alpha's secret plan")
        notes_of(platform.tenant(b)).add("beta's note")
        assert notes_of(platform.tenant(a)).bodies() == ["alpha's secret plan"]
        assert notes_of(platform.tenant(b)).bodies() == ["beta's note"]
        # Even raw SQL through a tenant's storage reaches only its own table.
        with platform.tenant(b).storage.begin() as conn:
            assert conn.execute(text("SELECT body FROM notes")).scalars().all() == ["beta's note"]
        with platform.tenant(a).storage.session() as session:
            assert session.execute(select(func.count()).select_from(notes)).scalar_one() == 1
    finally:
        _cleanup(platform)


def test_storage_layout_per_backend(platform: Platform, unique_id: str, database_url: str) -> None:
    tenant_id = f"layout-{unique_id}"
    platform.add_tenant({"tenant": tenant_id, "plugins": {"notes": {}}})
    storage = platform.tenant(tenant_id).storage
    if database_url.startswith("sqlite"):
        assert storage.schema is None
        assert storage.url.endswith(f"/{tenant_id}.db")
    else:
        assert storage.schema == f"t_layout_{unique_id}"
    assert platform.tenant(tenant_id).describe()["storage"]["schema"] == storage.schema


def test_a_failed_write_leaves_nothing(platform: Platform, unique_id: str) -> None:
    tenant_id = f"atomic-{unique_id}"
    platform.add_tenant({"tenant": tenant_id, "plugins": {"notes": {}}})
    plugin = notes_of(platform.tenant(tenant_id))
    try:
        plugin.add("kept")

        def write_then_crash() -> None:
            with plugin.context.storage.begin() as conn:
                conn.execute(insert(notes).values(body="rolled back"))
                raise RuntimeError("crash between two writes")

        with pytest.raises(RuntimeError):
            write_then_crash()
        assert plugin.bodies() == ["kept"]
    finally:
        _cleanup(platform)


def test_tenants_cannot_share_a_location(tmp_path: Path) -> None:
    shared = f"sqlite:///{tmp_path}/own/shared.db"
    platform = Platform(
        [NotesPlugin], environ={}, database_url=f"sqlite:///{tmp_path}/{{tenant}}.db"
    )
    platform.add_tenant({"tenant": "one", "database": {"url": shared}})
    with pytest.raises(ConfigError, match="would share its storage with tenant 'one'"):
        platform.add_tenant({"tenant": "two", "database": {"url": shared}})
    assert platform.tenant_ids == ("one",)


def test_postgres_schema_names_cannot_collide() -> None:
    platform = Platform([NotesPlugin], environ={}, database_url=_postgres_url())
    platform.add_tenant({"tenant": "same-name"})
    with pytest.raises(ConfigError, match="schema t_same_name"):
        platform.add_tenant({"tenant": "same_name"})


def test_sqlite_default_must_be_per_tenant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must contain '\\{tenant\\}'"):
        Platform([], database_url=f"sqlite:///{tmp_path}/all.db")


def test_database_password_never_shows(tmp_path: Path) -> None:
    platform = Platform([NotesPlugin], environ={"DB_URL": "postgresql://app:hunter2@db/main"})
    config = platform.add_tenant(
        {"tenant": "secretive", "database": {"url": "${DB_URL}"}, "plugins": {"notes": {}}}
    )
    tenant = platform.tenant("secretive")
    shown = [repr(config), repr(tenant.storage), str(tenant.describe()), tenant.storage.url]
    assert all("hunter2" not in text for text in shown)
    assert tenant.storage.url == "postgresql://app:***@db/main"


@pytest.mark.parametrize("url", ["", "not a url", "hunter2"])
def test_unparseable_database_url_is_a_config_error_that_hides_it(url: str) -> None:
    # Found by the config fuzzer: an empty URL validated, then failed at first use.
    platform = Platform([NotesPlugin], environ={"DB_URL": url})
    with pytest.raises(ConfigError) as caught:
        platform.add_tenant({"tenant": "odd", "database": {"url": "${DB_URL}"}})
    [issue] = caught.value.issues
    assert issue.path == "database.url"
    assert "expected a database URL" in issue.message
    if url:  # the value may be a secret: never repeated
        assert url not in str(caught.value)


def test_postgres_tests_fail_when_configured_but_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINPLUG_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/x")
    with pytest.raises(pytest.fail.Exception, match="does not answer"):
        _postgres_url()
    monkeypatch.delenv("FINPLUG_TEST_DATABASE_URL")
    with pytest.raises(pytest.skip.Exception):
        _postgres_url()


@pytest.mark.parametrize(
    ("query", "expected"), [("", 1), ("?synchronous=full", 2), ("?synchronous=NORMAL", 1)]
)
def test_sqlite_synchronous_level_comes_from_the_url(
    tmp_path: Path, query: str, expected: int
) -> None:
    engines = EngineCache()
    engine = engines.get(f"sqlite:///{tmp_path}/t.db{query}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engines.dispose()


def test_sqlite_synchronous_level_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of normal, full, extra"):
        EngineCache().get(f"sqlite:///{tmp_path}/t.db?synchronous=off")
