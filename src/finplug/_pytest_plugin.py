"""finplug's pytest plugin: the kit's fixtures, registered by the ``pytest11`` entry point.

Installed with ``finplug[testing]``; its fixtures need no import. Their
types, and everything usable without pytest, are in :mod:`finplug.testing`.

- ``finplug_tenant``: factory of migrated tenants on the test's backend,
  dropped after the test (:func:`finplug.testing.isolated_tenant`);
- ``finplug_database_url``: the backend itself; every test that uses it (or
  ``finplug_tenant``) runs on SQLite, and again on PostgreSQL when
  ``FINPLUG_TEST_DATABASE_URL`` is set;
- ``make_tenant`` and ``make_platform``: tenants and platforms whose storage
  is neither migrated nor opened until used (hooks, settings, configs), kept
  under the test's ``tmp_path`` and closed after the test.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from finplug import Platform, Plugin, Tenant
from finplug.testing import (
    DATABASE_URL_ENV,
    DatabaseUnavailableError,
    FinplugTenant,
    MakePlatform,
    MakeTenant,
    Settings,
    assert_valid_plugin,
    database_url_from_env,
    isolated_tenant,
)

_BACKEND = "finplug_database_url"


def _parametrized_by_the_test(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if _BACKEND in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that needs a backend on SQLite, and on PostgreSQL when configured."""
    if _BACKEND not in metafunc.fixturenames or _parametrized_by_the_test(metafunc):
        return
    backends = ["sqlite", "postgresql"] if os.environ.get(DATABASE_URL_ENV) else ["sqlite"]
    metafunc.parametrize(_BACKEND, backends, indirect=True)


@pytest.fixture(scope="session")
def _finplug_server_url() -> str:
    """The PostgreSQL URL of ``FINPLUG_TEST_DATABASE_URL``, checked once per session."""
    try:
        url = database_url_from_env()
    except DatabaseUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)  # set and down is a failure, never a skip
    if url is None:
        pytest.skip(f"{DATABASE_URL_ENV} is not set")
    return url


@pytest.fixture
def finplug_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The platform database URL of this test's backend (``sqlite`` or ``postgresql``).

    SQLite: a file per tenant under the test's ``tmp_path``. PostgreSQL: the
    server in ``FINPLUG_TEST_DATABASE_URL``, where each tenant gets a schema
    and a role of its own; the test fails if the variable is set and the
    server does not answer.
    """
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/finplug/{{tenant}}.db"
    url: str = request.getfixturevalue("_finplug_server_url")
    return url


@pytest.fixture
def finplug_tenant(finplug_database_url: str) -> Iterator[FinplugTenant]:
    """Factory fixture: a migrated tenant of its own per call, on the test's backend.

    Each call is :func:`finplug.testing.isolated_tenant` with
    ``database_url=finplug_database_url``; every tenant made is dropped (its
    schema and role, or its file) after the test, pass or fail.
    """
    with contextlib.ExitStack() as tenants:

        def factory(
            plugins: Sequence[type[Plugin[Any]]],
            settings: Settings | None = None,
            *,
            tenant_id: str | None = None,
            environ: Mapping[str, str] | None = None,
            clock: Callable[[], datetime] | None = None,
        ) -> Tenant:
            return tenants.enter_context(
                isolated_tenant(
                    plugins,
                    settings,
                    database_url=finplug_database_url,
                    tenant_id=tenant_id,
                    environ=environ,
                    clock=clock,
                )
            )

        yield factory


@pytest.fixture
def make_platform(tmp_path: Path) -> Iterator[MakePlatform]:
    """Factory fixture: a :class:`~finplug.Platform` over in-memory plugin classes.

    ``tenants`` are config mappings added to it; ``${VAR}`` references are
    looked up in ``environ`` (empty by default, so tests do not read the real
    environment). Storage is not migrated; by default it is an SQLite file
    per tenant in a folder of the platform's own under ``tmp_path``, created
    only if used. Every platform is closed after the test.
    """
    platforms: list[Platform] = []
    numbers = itertools.count(1)

    def factory(
        plugins: Sequence[type[Plugin[Any]]],
        tenants: Sequence[Mapping[str, Any]] = (),
        *,
        allow: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        database_url: str | None = None,
    ) -> Platform:
        if database_url is None:
            database_url = f"sqlite:///{tmp_path}/platform-{next(numbers)}/{{tenant}}.db"
        platform = Platform(
            plugins,
            allow=allow,
            environ=environ if environ is not None else {},
            database_url=database_url,
        )
        platforms.append(platform)
        for config in tenants:
            platform.add_tenant(config)
        return platform

    yield factory
    for platform in platforms:
        platform.close()


@pytest.fixture
def make_tenant(make_platform: MakePlatform) -> MakeTenant:
    """Factory fixture: one assembled tenant enabling exactly ``plugins``.

    Each plugin gets ``settings[name]`` or its defaults; every plugin is
    first checked with :func:`~finplug.testing.assert_valid_plugin`. Its
    storage is not migrated (use ``finplug_tenant`` for that) and lives under
    ``tmp_path``, apart from every other call's.
    """

    def factory(
        plugins: Sequence[type[Plugin[Any]]],
        settings: Settings | None = None,
        *,
        tenant_id: str = "test",
    ) -> Tenant:
        for cls in plugins:
            assert_valid_plugin(cls)
        enabled: dict[str, Mapping[str, Any] | None] = dict(settings or {})
        for cls in plugins:
            enabled.setdefault(cls.meta.name, {})
        platform = make_platform(plugins, [{"tenant": tenant_id, "plugins": enabled}])
        return platform.tenant(tenant_id)

    return factory
