"""finplug.testing: isolated tenants on real storage, with and without pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr
from sqlalchemy import create_engine, inspect, text

from finplug import ConfigError, NoSettings, Plugin, PluginMeta, TenantStorage, hookimpl
from finplug.testing import (
    DATABASE_URL_ENV,
    DatabaseUnavailableError,
    FinplugTenant,
    MakeTenant,
    assert_valid_plugin,
    database_url_from_env,
    isolated_tenant,
    new_tenant_id,
    spec_mismatches,
)

#: Nothing listens there: a PostgreSQL server that is down.
DOWN = "postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test"


class Quiet(Plugin[NoSettings]):
    """No hooks, no tables: a tenant with the kernel's storage only."""

    meta = PluginMeta(name="quiet", version="0")


def server_places(url: str) -> tuple[set[str], set[str]]:
    """The tenant schemas and roles the kit's tenants have on the server at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            schemas = conn.execute(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't_test_%'")
            )
            roles = conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname LIKE 'fp_test_%'")
            )
            return {row[0] for row in schemas}, {row[0] for row in roles}
    finally:
        engine.dispose()


def test_isolated_tenant_is_migrated_then_dropped(finplug_database_url: str) -> None:
    with isolated_tenant([Quiet], database_url=finplug_database_url) as tenant:
        storage = tenant.storage
        assert tenant.plugin_names[-1] == "quiet"
        with storage.begin() as conn:
            tables = set(inspect(conn).get_table_names(schema=storage.schema))
            kernel = conn.execute(text("SELECT version_num FROM alembic_version_kernel"))
            assert kernel.scalar_one()
        assert "alembic_version_kernel" in tables
        if storage.schema is None:
            database = storage.url.removeprefix("sqlite:///")
            assert Path(database).is_file()
        else:
            assert storage.role is not None
            schemas, roles = server_places(finplug_database_url)
            assert storage.schema in schemas
            assert storage.role in roles
    if storage.schema is None:
        assert not Path(database).exists()
    else:
        schemas, roles = server_places(finplug_database_url)
        assert storage.schema not in schemas
        assert storage.role not in roles


def test_isolated_tenant_is_dropped_when_the_test_fails(finplug_database_url: str) -> None:
    tenant_id = new_tenant_id()
    seen: list[TenantStorage] = []

    def failing_test() -> None:
        with isolated_tenant([Quiet], database_url=finplug_database_url, tenant_id=tenant_id) as t:
            seen.append(t.storage)
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        failing_test()
    [storage] = seen
    assert storage.tenant_id == tenant_id
    if storage.schema is None:
        assert not Path(storage.url.removeprefix("sqlite:///")).exists()
    else:
        schemas, roles = server_places(finplug_database_url)
        assert storage.schema not in schemas
        assert storage.role not in roles


def test_tenants_of_one_test_do_not_share_storage(finplug_tenant: FinplugTenant) -> None:
    one, two = finplug_tenant([Quiet]), finplug_tenant([Quiet])
    assert one.id != two.id
    assert one.storage.identity != two.storage.identity
    with one.storage.begin() as conn:
        conn.execute(text("CREATE TABLE quiet_notes (id INTEGER PRIMARY KEY)"))
    for tenant, expected in ((one, True), (two, False)):
        with tenant.storage.begin() as conn:
            tables = inspect(conn).get_table_names(schema=tenant.storage.schema)
        assert ("quiet_notes" in tables) is expected


def test_without_a_url_the_tenant_lives_in_a_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with isolated_tenant([Quiet]) as tenant:
        database = Path(tenant.storage.url.removeprefix("sqlite:///"))
        assert database.is_file()
        assert tmp_path not in database.parents
    assert not database.parent.exists()
    assert list(tmp_path.iterdir()) == []  # nothing in the working folder (no ./finplug-data)


class LimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = 1
    key: SecretStr | None = None


class Limited(Plugin[LimitSettings]):
    meta = PluginMeta(name="limited", version="0", settings=LimitSettings)


def test_settings_and_references_reach_the_plugin(finplug_tenant: FinplugTenant) -> None:
    settings = {"limited": {"limit": 7, "key": "${LIMITED_KEY}"}}
    tenant = finplug_tenant([Limited], settings, environ={"LIMITED_KEY": "k-123"})
    plugin = tenant.plugin("limited")
    assert isinstance(plugin, Limited)
    assert plugin.settings.limit == 7
    assert plugin.settings.key is not None
    assert plugin.settings.key.get_secret_value() == "k-123"
    assert isinstance(finplug_tenant([Limited]).plugin("limited"), Limited)  # defaults
    with pytest.raises(ConfigError, match="limit"):
        finplug_tenant([Limited], {"limited": {"limit": "many"}})


def test_make_tenant_keeps_its_storage_under_tmp_path(
    make_tenant: MakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = make_tenant([Quiet]), make_tenant([Quiet])
    with first.storage.begin() as conn:
        conn.execute(text("SELECT 1"))
    assert tmp_path in Path(first.storage.url.removeprefix("sqlite:///")).parents
    assert first.storage.identity != second.storage.identity  # same id "test", two folders
    assert not (tmp_path / "finplug-data").exists()


def test_database_url_from_env() -> None:
    assert database_url_from_env({}) is None
    assert database_url_from_env({DATABASE_URL_ENV: ""}) is None
    with pytest.raises(DatabaseUnavailableError) as info:
        database_url_from_env({DATABASE_URL_ENV: DOWN})
    assert f"{DATABASE_URL_ENV} is set" in str(info.value)
    assert "does not answer" in str(info.value)
    assert "hunter2" not in str(info.value)
    with pytest.raises(DatabaseUnavailableError, match="cannot be parsed"):
        database_url_from_env({DATABASE_URL_ENV: "not a url"})


def test_isolated_tenant_on_a_server_that_is_down_fails() -> None:
    with (
        pytest.raises(DatabaseUnavailableError, match="does not answer"),
        isolated_tenant([Quiet], database_url=DOWN),
    ):
        pass  # pragma: no cover


def test_spec_mismatches_reads_the_plugins_own_hookspecs() -> None:
    class Greets(Plugin[NoSettings]):
        meta = PluginMeta(name="greets", version="0", hookspecs=("sample_hookspecs",))

        @hookimpl
        def finplug_sample_greetings(self, name: str) -> list[str] | None:
            return [name]

    class Mistyped(Plugin[NoSettings]):
        meta = PluginMeta(name="mistyped", version="0", hookspecs=("sample_hookspecs",))

        @hookimpl
        def finplug_sample_greetings(self, name: int) -> list[str] | None:
            return [str(name)]

    assert_valid_plugin(Greets)
    assert spec_mismatches(Mistyped) == [
        "finplug_sample_greetings: name is annotated int, the spec says str"
    ]


def test_the_kit_imports_and_works_without_pytest(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = sys.modules["_pytest"] = None  # importing them now fails
        from finplug import NoSettings, Plugin, PluginMeta
        from finplug.testing import isolated_tenant

        class Quiet(Plugin[NoSettings]):
            meta = PluginMeta(name="quiet", version="0")

        with isolated_tenant([Quiet]) as tenant:
            print(tenant.plugin_names[-1], "pytest" in sys.modules and sys.modules["pytest"])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["quiet", "None"]


# ------------------------------------------------------------ the pytest plugin, from outside

INNER_TESTS = """
import json, os
from pathlib import Path

from finplug import NoSettings, Plugin, PluginMeta


class Quiet(Plugin[NoSettings]):
    meta = PluginMeta(name="quiet", version="0")


def record(**fields):
    with open(os.environ["KIT_RECORD"], "a") as out:
        out.write(json.dumps(fields) + "\\n")


def test_backend(finplug_database_url):
    record(backend=finplug_database_url.split(":")[0])


def test_fails_after_making_a_tenant(finplug_tenant):
    tenant = finplug_tenant([Quiet])
    storage = tenant.storage
    record(url=storage.url, schema=storage.schema, role=storage.role)
    assert False, "this test fails on purpose"


def test_make_tenant(make_tenant):
    tenant = make_tenant([Quiet])
    with tenant.storage.begin():
        pass
    record(make_tenant=tenant.storage.url)
"""


def run_inner(
    tmp_path: Path, database_url: str | None
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS, encoding="utf-8")
    records = tmp_path / "records.jsonl"
    env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    env["KIT_RECORD"] = str(records)
    if database_url is not None:
        env[DATABASE_URL_ENV] = database_url
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "--basetemp",
            str(tmp_path / "base"),
            "test_inner.py",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    lines = records.read_text(encoding="utf-8").splitlines() if records.exists() else []
    return out, [json.loads(line) for line in lines]


def test_fixtures_run_each_backend_and_drop_tenants_of_failed_tests(tmp_path: Path) -> None:
    server = os.environ.get(DATABASE_URL_ENV) or None
    out, records = run_inner(tmp_path, server)
    report = out.stdout + out.stderr
    backends = ["sqlite", "postgresql"] if server else ["sqlite"]
    for backend in backends:
        assert f"test_backend[{backend}] PASSED" in report
        assert f"test_fails_after_making_a_tenant[{backend}] FAILED" in report
    assert "SKIPPED" not in report
    assert "test_make_tenant PASSED" in report
    assert out.returncode == 1, report
    made = [r for r in records if "url" in r]
    assert len(made) == len(backends)
    for tenant in made:
        if tenant["schema"] is None:
            assert not Path(tenant["url"].removeprefix("sqlite:///")).exists()
        else:
            assert server is not None
            schemas, roles = server_places(server)
            assert tenant["schema"] not in schemas
            assert tenant["role"] not in roles
    [light] = [r["make_tenant"] for r in records if "make_tenant" in r]
    assert (tmp_path / "base") in Path(light.removeprefix("sqlite:///")).parents
    assert not (tmp_path / "finplug-data").exists()


def test_a_server_that_is_down_fails_the_postgresql_run(tmp_path: Path) -> None:
    out, _ = run_inner(tmp_path, DOWN)
    report = out.stdout + out.stderr
    assert "test_backend[sqlite] PASSED" in report
    assert "test_backend[postgresql] ERROR" in report
    assert f"{DATABASE_URL_ENV} is set, but the database" in report
    assert "does not answer" in report
    assert "SKIPPED" not in report
    assert "hunter2" not in report
