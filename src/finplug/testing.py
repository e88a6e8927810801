"""The plugin author's kit: isolated tenants on real storage, and spec checks.

Importing it needs no pytest. :func:`isolated_tenant` works from any test
runner or script::

    with isolated_tenant([MyPlugin], {"my-plugin": {"limit": "10"}}) as tenant:
        ...  # tenant's storage is migrated (the kernel's tables, then each plugin's)

With pytest (``pip install "finplug[testing]"``), finplug's pytest plugin
(:mod:`finplug._pytest_plugin`, registered through the ``pytest11`` entry
point) adds fixtures that need no import; this module holds their types::

    def test_my_table(finplug_tenant: FinplugTenant) -> None:
        tenant = finplug_tenant([MyPlugin], settings={"my-plugin": {"limit": "10"}})
        with tenant.storage.begin() as conn:
            ...

    def test_plugin_matches_specs() -> None:
        assert_valid_plugin(MyPlugin)

Nothing here touches entry points: platforms are built from the plugin
classes you pass, so tests never depend on what else is installed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from finplug import FinplugError, Platform, Plugin, Tenant, check_plugin
from finplug._registry import spec_table

__all__ = [
    "DATABASE_URL_ENV",
    "DatabaseUnavailableError",
    "FinplugTenant",
    "MakePlatform",
    "MakeTenant",
    "assert_valid_plugin",
    "database_url_from_env",
    "isolated_tenant",
    "new_tenant_id",
    "spec_mismatches",
]

#: The environment variable naming the PostgreSQL server tests also run on.
DATABASE_URL_ENV = "FINPLUG_TEST_DATABASE_URL"

Settings = Mapping[str, Mapping[str, Any] | None]


class DatabaseUnavailableError(FinplugError):
    """The test database was asked for but cannot be used (down, or no driver installed).

    A failure, never a reason to skip: a suite told to run on PostgreSQL must
    not pass without it.
    """


class MakePlatform(Protocol):
    """Type of the ``make_platform`` fixture."""

    def __call__(
        self,
        plugins: Sequence[type[Plugin[Any]]],
        tenants: Sequence[Mapping[str, Any]] = (),
        *,
        allow: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        database_url: str | None = None,
    ) -> Platform:
        """Build a platform over ``plugins`` and add the ``tenants`` configs."""
        ...


class MakeTenant(Protocol):
    """Type of the ``make_tenant`` fixture."""

    def __call__(
        self,
        plugins: Sequence[type[Plugin[Any]]],
        settings: Settings | None = None,
        *,
        tenant_id: str = "test",
    ) -> Tenant:
        """Assemble one tenant enabling ``plugins`` with optional ``settings`` per plugin."""
        ...


class FinplugTenant(Protocol):
    """Type of the ``finplug_tenant`` fixture: :func:`isolated_tenant` on the test's backend."""

    def __call__(
        self,
        plugins: Sequence[type[Plugin[Any]]],
        settings: Settings | None = None,
        *,
        tenant_id: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Tenant:
        """A migrated tenant enabling ``plugins``, dropped when the test ends."""
        ...


def _backend(database_url: str) -> str:
    try:
        return make_url(database_url).get_backend_name()
    except ArgumentError:
        raise DatabaseUnavailableError(
            "the test database URL cannot be parsed; expected one such as"
            " postgresql+psycopg://user@host:5432/db"
        ) from None


def _check_answers(database_url: str, *, name: str) -> None:
    """Connect once; :class:`DatabaseUnavailableError` if the database does not answer."""
    url = make_url(database_url)
    shown = url.render_as_string(hide_password=True)
    args = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(url, connect_args=args)
    except ImportError as exc:
        raise DatabaseUnavailableError(
            f"{name} ({shown}) needs a driver that is not installed ({exc.name});"
            ' install the kit with pip install "finplug[testing]"'
        ) from None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise DatabaseUnavailableError(f"{name} ({shown}) does not answer: {reason}") from None
    finally:
        engine.dispose()


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The server URL in ``FINPLUG_TEST_DATABASE_URL``, checked to answer; ``None`` if unset.

    ``environ`` defaults to the process environment. Raises
    :class:`DatabaseUnavailableError` when the variable is set and the server
    does not answer (or its driver is missing): set means "test there".
    """
    env = os.environ if environ is None else environ
    url = env.get(DATABASE_URL_ENV) or None
    if url is not None:
        _backend(url)
        _check_answers(url, name=f"{DATABASE_URL_ENV} is set, but the database")
    return url


def new_tenant_id() -> str:
    """A tenant id no other test run uses: ``test-`` and 12 random hex digits.

    On PostgreSQL a tenant's schema and role are named after its id, and
    roles are shared by every database of a server, so ids must be unique
    across runs that share it.
    """
    return f"test-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def isolated_tenant(
    plugins: Sequence[type[Plugin[Any]]],
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    tenant_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Iterator[Tenant]:
    """A tenant with its storage migrated, in a place of its own; dropped on exit.

    Enables exactly ``plugins`` (each checked first with
    :func:`assert_valid_plugin`), each with ``settings[name]`` or its defaults;
    the kernel's default plugins come too. Before the tenant is handed out,
    the kernel's migrations run, then those of each plugin that has some
    (as :meth:`finplug.Platform.upgrade` does).

    Where the data goes:

    - ``database_url=None``: an SQLite file in a new temporary folder, removed on exit;
    - an SQLite URL with ``{tenant}`` in its path: that file, deleted on exit;
    - a PostgreSQL URL: a new schema and tenant role on that server (the
      URL's role needs ``CREATEROLE`` and ``CREATE`` on the database, see
      ``docs/storage.md``), dropped on exit. A server that does not answer
      raises :class:`DatabaseUnavailableError`.

    ``tenant_id`` defaults to a fresh :func:`new_tenant_id`; pass your own only
    where no other run shares the server. ``environ`` is where ``${VAR}``
    references in settings are looked up (default: empty, so tests never read
    the real environment); ``clock`` is the platform's time source.

    On exit, also when the body raised, the tenant's storage is dropped and
    the platform's connections are closed.
    """
    for cls in plugins:
        assert_valid_plugin(cls)
    tenant_id = tenant_id or new_tenant_id()
    enabled: dict[str, Mapping[str, Any] | None] = dict(settings or {})
    for cls in plugins:
        enabled.setdefault(cls.meta.name, {})
    with contextlib.ExitStack() as cleanup:  # runs backwards: drop, close, remove the folder
        if database_url is None:
            folder = tempfile.mkdtemp(prefix="finplug-test-")
            cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
            database_url = f"sqlite:///{folder}/{{tenant}}.db"
        server = _backend(database_url) != "sqlite"
        if server:
            _check_answers(database_url, name="the test database")
        platform = Platform(
            plugins,
            environ={} if environ is None else environ,
            database_url=database_url,
            clock=clock,
            # Tenant roles get passwords of their own, whatever pg_hba.conf asks of them.
            role_secret=secrets.token_urlsafe(32) if server else None,
        )
        cleanup.callback(platform.close)
        platform.add_tenant({"tenant": tenant_id, "plugins": enabled})
        tenant = platform.tenant(tenant_id)
        cleanup.callback(tenant.storage.drop)  # before the upgrade: a failed one leaves nothing
        platform.upgrade(tenant_id)
        yield tenant


def spec_mismatches(plugin_class: type[Plugin[Any]]) -> list[str]:
    """Where a plugin's hook implementations disagree with the specs' annotations.

    Compares each implementation's parameter and return annotations with its
    spec's (the kernel's, or one of the modules the plugin's meta names),
    where both can be resolved. Returns a list of human-readable problems
    (empty if none).
    """
    record = check_plugin(plugin_class)
    # PluginRecord.spec_modules (sockets included) where this finplug has it; meta.hookspecs before.
    modules = getattr(record, "spec_modules", None)
    if modules is None:
        modules = frozenset(plugin_class.meta.hookspecs)
    specs = spec_table(frozenset(modules))
    problems: list[str] = []
    for name in record.impls:
        spec = specs[name].function
        impl = getattr(plugin_class, name)
        try:
            spec_hints = typing.get_type_hints(spec)
            impl_hints = typing.get_type_hints(impl)
        except Exception as exc:  # unresolvable forward reference: report, don't guess
            problems.append(f"{name}: cannot resolve annotations ({exc})")
            continue
        opts = getattr(impl, "finplug_impl", {})
        for param, hint in impl_hints.items():
            if param == "return" and (opts.get("wrapper") or opts.get("hookwrapper")):
                continue  # a wrapper returns a generator, not the spec's result
            expected = spec_hints.get(param)
            if expected is not None and hint != expected:
                problems.append(
                    f"{name}: {param} is annotated {_show(hint)}, the spec says {_show(expected)}"
                )
    return problems


def _show(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def assert_valid_plugin(plugin_class: type[Plugin[Any]], *, strict_types: bool = True) -> None:
    """Fail (``AssertionError``) unless the plugin validates against finplug's specs.

    Runs the same checks as discovery (:func:`finplug.check_plugin`) and, with
    ``strict_types``, :func:`spec_mismatches`.
    """
    record = check_plugin(plugin_class)
    if record.status != "loaded":
        raise AssertionError(f"plugin {record.name!r} is invalid: {record.error}")
    if strict_types:
        problems = spec_mismatches(plugin_class)
        if problems:
            raise AssertionError(
                f"plugin {record.name!r} hook annotations differ from the specs:\n  "
                + "\n  ".join(problems)
            )
