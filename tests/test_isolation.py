"""No tenant reaches another's data: places compared by identity, and a PostgreSQL role per tenant.

Issue 8, points 4 to 7 (and the storage part of 9). PostgreSQL tests create
roles, which a server shares between all its databases: every role and
schema a test makes carries its ``unique_id`` and the ``pg_leftovers``
fixture drops whatever a failing test left behind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from conftest import PG_ENV, _postgres_url
from finplug import ConfigError, Money, Platform, TenantStorage
from finplug._storage import DatabaseRoles, EngineCache, StorageError, tenant_role_name

SECRET = "correct horse battery staple, but longer"


# ---------------------------------------------------------------- helpers


@contextmanager
def superuser() -> Iterator[Connection]:
    """A transaction as the test server's own user (for set-up and inspection)."""
    engine = create_engine(_postgres_url(), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def as_superuser(sql: str, **params: object) -> list[tuple[object, ...]]:
    """Run one statement as the server's own user and commit; its rows, if any."""
    with superuser() as conn:
        result = conn.execute(text(sql), params)
        return [tuple(row) for row in result] if result.returns_rows else []


def with_user(url: str, user: str | None) -> str:
    return make_url(url).set(username=user).render_as_string(hide_password=False)


def with_host(url: str, host: str | None) -> str:
    return make_url(url).set(host=host).render_as_string(hide_password=False)


def other_spelling(url: str) -> str:
    """The same server under another host name (``localhost`` <-> ``127.0.0.1`` …)."""
    host = make_url(url).host or "localhost"
    if host in ("127.0.0.1", "::1"):
        return with_host(url, "localhost")
    if host == "localhost":
        return with_host(url, "127.0.0.1")
    return with_host(url, socket.gethostbyname(host))


@pytest.fixture
def pg_leftovers(unique_id: str) -> Iterator[None]:
    """Drop every schema and role carrying this test's id, whatever the test did."""
    yield
    if not os.environ.get(PG_ENV):
        return
    like = f"%{unique_id}%"
    with superuser() as conn:
        for (schema,) in conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :l"), {"l": like}
        ):
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        roles = list(
            conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname LIKE :l"), {"l": like})
        )
        for (role,) in roles:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
        for (role,) in roles:
            conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.fixture
def pg(pg_leftovers: None) -> Iterator[Platform]:
    """A PostgreSQL platform in the default mode: a role per tenant."""
    with Platform([], environ={}, database_url=_postgres_url()) as platform:
        yield platform


def upgraded(platform: Platform, tenant_id: str, **database: str) -> TenantStorage:
    platform.add_tenant({"tenant": tenant_id, "database": database})
    platform.upgrade(tenant_id)
    return platform.tenant(tenant_id).storage


def owners(schema: str) -> set[object]:
    """Who owns the schema, its tables and its functions."""
    rows = as_superuser(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = :s"
        " UNION SELECT tableowner::text FROM pg_tables WHERE schemaname = :s"
        " UNION SELECT proowner::regrole::text FROM pg_proc"
        " WHERE pronamespace = to_regnamespace(:s)",
        s=schema,
    )
    return {row[0] for row in rows}


# ---------------------------------------------------------------- point 4


@pytest.mark.parametrize(
    "schema", ["public", "information_schema", "pg_catalog", "pg_toast", "pg_temp_1", "pg_x"]
)
def test_reserved_schema_is_refused(database_url: str, schema: str) -> None:
    platform = Platform([], environ={}, database_url=database_url)
    with pytest.raises(ConfigError) as caught:
        platform.add_tenant({"tenant": "acme", "database": {"schema": schema}})
    [issue] = caught.value.issues
    assert issue.path == "database.schema"
    assert "reserved" in issue.message or "shared by every user" in issue.message
    assert platform.tenant_ids == ()


def test_schema_another_tenants_default_would_take_is_refused(
    database_url: str, tmp_path: Path
) -> None:
    platform = Platform([], environ={}, database_url=database_url)
    with pytest.raises(ConfigError, match="could be another tenant's") as caught:
        platform.add_tenant({"tenant": "acme", "database": {"schema": "t_globex"}})
    assert caught.value.issues[0].path == "database.schema"
    # The tenant's own default, named explicitly, is its own.
    platform.add_tenant({"tenant": "acme", "database": {"schema": "t_acme"}})
    # `finplug check` reports it as well, located in the file.
    config = tmp_path / "beta.yaml"
    config.write_text("tenant: beta\ndatabase:\n  schema: t_acme\n")
    [issue] = platform.check(config)
    assert (issue.line, issue.path) == (3, "database.schema")


def test_loading_reports_every_refused_schema_and_adds_none(
    database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text("tenant: a\ndatabase:\n  schema: public\n")
    (tmp_path / "b.yaml").write_text("tenant: b\ndatabase:\n  schema: t_a\n")
    (tmp_path / "c.yaml").write_text("tenant: c\n")
    platform = Platform([], environ={}, database_url=database_url)
    with pytest.raises(ConfigError) as caught:
        platform.load_tenants(tmp_path)
    assert [(i.source, i.path) for i in caught.value.issues] == [
        (str(tmp_path / "a.yaml"), "database.schema"),
        (str(tmp_path / "b.yaml"), "database.schema"),
    ]
    assert platform.tenant_ids == ()


def test_reserved_schema_never_reaches_storage() -> None:
    engines = EngineCache()
    for schema in ("public", "pg_catalog", "t_victim"):
        with pytest.raises(StorageError):
            TenantStorage("acme", "postgresql+psycopg://app@db/main", engines, schema)


@pytest.mark.parametrize("mode", ["per-tenant", "single"])
def test_drop_never_drops_another_tenants_schema(
    pg_leftovers: None, unique_id: str, mode: DatabaseRoles
) -> None:
    url = _postgres_url()
    shared = f"shr_{unique_id}"
    with (
        Platform([], environ={}, database_url=url, database_roles=mode) as first,
        Platform([], environ={}, database_url=url, database_roles=mode) as second,
    ):
        # Two platforms (two processes' views) whose configs disagree: both name `shared`.
        victim = upgraded(first, f"vic-{unique_id}", schema=shared)
        victim_tenant = first.tenant(f"vic-{unique_id}")
        victim_tenant.ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
        second.add_tenant({"tenant": f"att-{unique_id}", "database": {"schema": shared}})
        attacker = second.tenant(f"att-{unique_id}").storage
        with pytest.raises(StorageError, match="is not this tenant's"):
            attacker.ensure_schema()
        with pytest.raises(StorageError, match="refusing to drop schema"):
            attacker.drop()
        assert [a.code for a in victim_tenant.ledger.accounts()] == ["bank"]
        victim.drop()


def test_drop_never_drops_a_schema_finplug_did_not_make(pg: Platform, unique_id: str) -> None:
    foreign = f"other_app_{unique_id}"
    as_superuser(f'CREATE SCHEMA "{foreign}"')
    as_superuser(f'CREATE TABLE "{foreign}".invoices (id int)')
    pg.add_tenant({"tenant": f"odd-{unique_id}", "database": {"schema": foreign}})
    storage = pg.tenant(f"odd-{unique_id}").storage
    with pytest.raises(StorageError, match="holds tables finplug did not create"):
        storage.ensure_schema()
    with pytest.raises(StorageError, match="refusing to drop"):
        storage.drop()
    assert as_superuser("SELECT to_regclass(:t) IS NOT NULL", t=f"{foreign}.invoices") == [(True,)]


# ---------------------------------------------------------------- point 5: SQLite


@pytest.fixture
def sqlite_platform(tmp_path: Path) -> Iterator[Platform]:
    with Platform([], environ={}, database_url=f"sqlite:///{tmp_path}/db/{{tenant}}.db") as made:
        yield made


SHARED = "would share its storage with tenant 'first'"


@pytest.mark.parametrize(
    ("spelling", "refusal"),
    [
        ("{d}/./acme.db", SHARED),
        ("{d}//acme.db", SHARED),
        ("{d}/acme.db?synchronous=full", SHARED),
        ("{link}/acme.db", SHARED),  # a symbolic link to the directory
        ("own/acme.db", SHARED),  # relative to the working directory
        ("{d}/../own/acme.db", "'..' is not allowed"),  # refused before any comparison
    ],
)
def test_sqlite_path_spellings_are_one_location(
    sqlite_platform: Platform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spelling: str,
    refusal: str,
) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (tmp_path / "link").symlink_to(own)
    monkeypatch.chdir(tmp_path)
    sqlite_platform.add_tenant({"tenant": "first", "database": {"url": f"sqlite:///{own}/acme.db"}})
    url = "sqlite:///" + spelling.format(d=own, link=tmp_path / "link")
    with pytest.raises(ConfigError) as caught:
        sqlite_platform.add_tenant({"tenant": "second", "database": {"url": url}})
    [issue] = caught.value.issues
    assert issue.path == ("database" if refusal == SHARED else "database.url")
    assert refusal in issue.message
    assert sqlite_platform.tenant_ids == ("first",)


def test_sqlite_spellings_are_one_location_within_one_load(tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    folder.mkdir()
    (folder / "a.yaml").write_text(f"tenant: a\ndatabase:\n  url: sqlite:///{tmp_path}/x.db\n")
    (folder / "b.yaml").write_text(f"tenant: b\ndatabase:\n  url: sqlite:///{tmp_path}/./x.db\n")
    platform = Platform([], environ={}, database_url=f"sqlite:///{tmp_path}/db/{{tenant}}.db")
    with pytest.raises(ConfigError, match="would share its storage with tenant 'a'"):
        platform.load_tenants(folder)
    assert platform.tenant_ids == ()


def test_own_sqlite_file_may_not_be_another_tenants_default(
    sqlite_platform: Platform, tmp_path: Path
) -> None:
    # `future` is not configured (yet, or in this process): its file is still its own.
    with pytest.raises(ConfigError, match="gives tenant 'future'") as caught:
        sqlite_platform.add_tenant(
            {"tenant": "two", "database": {"url": f"sqlite:///{tmp_path}/db/./future.db"}}
        )
    assert caught.value.issues[0].path == "database.url"
    sqlite_platform.add_tenant(
        {"tenant": "two", "database": {"url": f"sqlite:///{tmp_path}/db/two.db"}}
    )
    sqlite_platform.add_tenant(
        {"tenant": "three", "database": {"url": f"sqlite:///{tmp_path}/x.db"}}
    )


def test_storage_url_is_the_resolved_file(sqlite_platform: Platform, tmp_path: Path) -> None:
    sqlite_platform.add_tenant({"tenant": "acme"})
    storage = sqlite_platform.tenant("acme").storage
    assert storage.identity.place == str((tmp_path / "db" / "acme.db").resolve())
    with storage.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x int)")
    assert (tmp_path / "db" / "acme.db").exists()
    storage.drop()
    assert not (tmp_path / "db" / "acme.db").exists()


# ---------------------------------------------------------------- point 6


@pytest.mark.parametrize(
    ("pattern", "refusal"),
    [
        ("{d}/{{tenant}}/../shared.db", "'..' is not allowed"),
        ("{d}/../{{tenant}}.db", "'..' is not allowed"),
        ("{d}/x/..\\{{tenant}}.db", "'..' is not allowed"),
        # '{tenant}' outside the path, or in a URI filename: one file for every tenant.
        ("{d}/shared.db?name={{tenant}}", "must contain '{tenant}' in its file path"),
        ("file:{d}/{{tenant}}.db?uri=true", "URI filenames (?uri=true) are not supported"),
    ],
)
def test_platform_url_with_dotdot_is_refused(tmp_path: Path, pattern: str, refusal: str) -> None:
    url = "sqlite:///" + pattern.format(d=tmp_path)
    with pytest.raises(StorageError) as caught:
        Platform([], environ={}, database_url=url)
    assert isinstance(caught.value, ValueError)  # as before: a bad argument
    assert refusal in str(caught.value)


def test_tenant_url_with_dotdot_is_refused(sqlite_platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'\.\.' is not allowed") as caught:
        sqlite_platform.add_tenant(
            {"tenant": "two", "database": {"url": f"sqlite:///{tmp_path}/own/../db/acme.db"}}
        )
    assert caught.value.issues[0].path == "database.url"


# ---------------------------------------------------------------- point 5: PostgreSQL


def answers(url: str) -> bool:
    """Whether a PostgreSQL server answers at ``url`` (a Unix socket may not exist in CI)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.mark.parametrize("spelling", ["other host name", "socket", "upper case"])
def test_postgres_database_spellings_are_one_location(
    pg: Platform, unique_id: str, spelling: str
) -> None:
    url = _postgres_url()
    victim_schema = f"vic_{unique_id}"
    victim = f"vic-{unique_id}"
    pg.add_tenant({"tenant": victim, "database": {"schema": victim_schema}})
    own = {
        "other host name": other_spelling(url),
        "socket": with_host(url, None),
        "upper case": with_host(url, (make_url(url).host or "localhost").upper()),
    }[spelling]
    # Where the spelling reaches no server it cannot be identified: refused all the same.
    refusal = (
        f"would share its storage with tenant {victim!r}"
        if answers(own)
        else f"cannot tell whether this is the database of tenant {victim!r}"
    )
    attacker = {"tenant": f"att-{unique_id}", "database": {"url": own, "schema": victim_schema}}
    with pytest.raises(ConfigError) as caught:
        pg.add_tenant(attacker)
    assert refusal in str(caught.value)
    assert pg.tenant_ids == (victim,)
    # The check holds in the other order too, and for the victim's default schema.
    pg.remove_tenant(victim)
    pg.add_tenant(attacker)
    with pytest.raises(ConfigError, match=f"tenant 'att-{unique_id}'"):
        pg.add_tenant({"tenant": victim, "database": {"schema": victim_schema}})
    with pytest.raises(ConfigError, match="could be another tenant's"):
        pg.add_tenant({"tenant": "att2", "database": {"url": own, "schema": f"t_vic_{unique_id}"}})
    # Another schema in the same database is another place.
    pg.add_tenant({"tenant": f"ok-{unique_id}", "database": {"url": own}})


def test_postgres_target_that_cannot_be_identified_is_refused(pg: Platform, unique_id: str) -> None:
    schema = f"vic_{unique_id}"
    pg.add_tenant({"tenant": f"vic-{unique_id}", "database": {"schema": schema}})
    nowhere = make_url(_postgres_url()).set(port=9, password="hunter2")
    config = {
        "tenant": f"att-{unique_id}",
        "database": {"url": nowhere.render_as_string(hide_password=False), "schema": schema},
    }
    with pytest.raises(ConfigError, match="cannot tell whether this is the database") as caught:
        pg.add_tenant(config)
    assert "hunter2" not in str(caught.value)


# ---------------------------------------------------------------- point 7


def test_tenant_role_cannot_read_other_schema(pg: Platform, unique_id: str) -> None:
    a = upgraded(pg, f"ra-{unique_id}")
    b = upgraded(pg, f"rb-{unique_id}")
    pg.tenant(f"rb-{unique_id}").ledger.open_account("bank", "asset", "EUR")
    assert a.role is not None
    assert b.role not in (None, a.role)
    # Migrations ran as the tenant's role: it owns its schema, tables and guard functions.
    assert owners(f"t_rb_{unique_id}") == {b.role}
    with a.begin() as conn:
        assert conn.execute(text("SELECT current_user, session_user")).one() == (a.role, a.role)
    [(platform_role,)] = as_superuser("SELECT session_user")
    attempts = [
        f'SELECT * FROM "{b.schema}".ledger_accounts',
        f"UPDATE \"{b.schema}\".ledger_accounts SET code = 'x'",
        f'CREATE TABLE "{b.schema}".planted (x int)',
        f'SET ROLE "{platform_role}"',
        f'SET ROLE "{b.role}"',
        f'SET SESSION AUTHORIZATION "{platform_role}"',
    ]
    for sql in attempts:
        with a.begin() as conn:
            conn.execute(text("RESET ROLE"))  # changes nothing: the session is the tenant's
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(sql))
            conn.rollback()
    assert [acc.code for acc in pg.tenant(f"rb-{unique_id}").ledger.accounts()] == ["bank"]
    a.drop()
    b.drop()
    assert as_superuser(
        "SELECT count(*) FROM pg_roles WHERE rolname IN (:a, :b)", a=a.role, b=b.role
    ) == [(0,)]


def test_single_role_mode_is_weaker_and_says_so(pg_leftovers: None, unique_id: str) -> None:
    url = _postgres_url()
    with Platform([], environ={}, database_url=url, database_roles="single") as platform:
        assert platform.database_roles == "single"
        a = upgraded(platform, f"sa-{unique_id}")
        b = upgraded(platform, f"sb-{unique_id}")
        platform.tenant(f"sb-{unique_id}").ledger.open_account("bank", "asset", "EUR")
        assert a.role is None
        # search_path keeps honest code apart ...
        with a.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM ledger_accounts")).scalar() == 0
            # ... but SQL that names another tenant's schema reads it: the documented weakness.
            codes = conn.execute(text(f'SELECT code FROM "{b.schema}".ledger_accounts')).all()
        assert codes == [("bank",)]
        a.drop()
        b.drop()


def test_database_roles_come_from_the_environment() -> None:
    url = "postgresql+psycopg://app@db/main"
    env = {"FINPLUG_DATABASE_ROLES": "single"}
    assert Platform([], environ=env, database_url=url).database_roles == "single"
    assert Platform([], environ={}, database_url=url).database_roles == "per-tenant"
    with pytest.raises(StorageError, match="database_roles must be one of per-tenant, single"):
        Platform([], environ={"FINPLUG_DATABASE_ROLES": "few"}, database_url=url)


def test_url_with_a_password_needs_a_role_secret() -> None:
    url = "postgresql+psycopg://app:hunter2@db/main"
    with pytest.raises(StorageError, match="pass role_secret") as caught:
        Platform([], environ={}, database_url=url)
    assert "hunter2" not in str(caught.value)
    Platform([], environ={}, database_url=url, role_secret=SECRET)
    Platform([], environ={"FINPLUG_ROLE_SECRET": SECRET}, database_url=url)
    Platform([], environ={}, database_url=url, database_roles="single")
    with pytest.raises(StorageError, match="at least 16 characters"):
        Platform([], environ={}, database_url=url, role_secret="short")


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a server's SCRAM-SHA-256 verifier accepts ``password`` (RFC 5802)."""
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    stored, _server = keys.split(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == base64.b64decode(
        stored
    )


def test_tenant_role_logs_in_with_a_password_derived_from_the_secret(
    pg_leftovers: None, unique_id: str
) -> None:
    url = _postgres_url()
    tenant_id = f"pw-{unique_id}"

    def stored_password() -> str:
        [(found,)] = as_superuser("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=role)
        assert isinstance(found, str)
        return found

    with Platform([], environ={}, database_url=url, role_secret=SECRET) as platform:
        storage = upgraded(platform, tenant_id)
        role = storage.role
        assert role == tenant_role_name(make_url(url).database or "", tenant_id)
        password = storage.engine.url.password
        assert isinstance(password, str)
        assert len(password) == 64
        assert "***" in storage.url
        assert password not in storage.url + repr(storage)
        # The server holds a verifier the runtime's password passes; never the password itself.
        assert _scram_matches(stored_password(), password)
        assert password not in stored_password()
    # A new secret takes effect at the next upgrade; the old password no longer passes.
    with Platform([], environ={}, database_url=url, role_secret=SECRET[::-1]) as platform:
        storage = upgraded(platform, tenant_id)
        new_password = storage.engine.url.password
        assert isinstance(new_password, str)
        assert new_password != password
        assert _scram_matches(stored_password(), new_password)
        assert not _scram_matches(stored_password(), password)
        storage.drop()


def test_existing_role_with_more_rights_is_not_used(pg: Platform, unique_id: str) -> None:
    tenant_id = f"rich-{unique_id}"
    role = tenant_role_name(make_url(_postgres_url()).database or "", tenant_id)
    as_superuser(f'CREATE ROLE "{role}" LOGIN CREATEDB')
    pg.add_tenant({"tenant": tenant_id})
    storage = pg.tenant(tenant_id).storage
    with pytest.raises(StorageError, match="more rights than a tenant role may have"):
        _ = storage.engine  # the first use checks the role before logging in as it


def test_operator_role_needs_only_createrole_and_create_on_the_database(
    pg_leftovers: None, unique_id: str
) -> None:
    url = _postgres_url()
    database = make_url(url).database
    operator = f"fp_op_{unique_id}"
    as_superuser(f'CREATE ROLE "{operator}" LOGIN CREATEROLE')
    as_superuser(f'GRANT CREATE ON DATABASE "{database}" TO "{operator}"')
    try:
        with Platform([], environ={}, database_url=with_user(url, operator)) as platform:
            a = upgraded(platform, f"oa-{unique_id}")
            b = upgraded(platform, f"ob-{unique_id}")
            ledger = platform.tenant(f"oa-{unique_id}").ledger
            ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
            ledger.open_account("wallet", "liability", "EUR")
            ledger.transfer("t-1", "bank", "wallet", Money("5.00", "EUR"))
            assert ledger.verify().ok
            assert owners(f"t_oa_{unique_id}") == {a.role}
            with pytest.raises(ProgrammingError, match="permission denied"), a.begin() as conn:
                conn.execute(text(f'SELECT * FROM "{b.schema}".ledger_accounts'))
            a.drop()
            b.drop()
        assert as_superuser(
            "SELECT count(*) FROM pg_roles WHERE rolname IN (:a, :b)", a=a.role, b=b.role
        ) == [(0,)]
    finally:
        as_superuser(f'REVOKE CREATE ON DATABASE "{database}" FROM "{operator}"')


def test_platform_role_that_may_not_create_roles_is_told_what_it_needs(
    pg_leftovers: None, unique_id: str
) -> None:
    url = _postgres_url()
    database = make_url(url).database
    operator = f"fp_weak_{unique_id}"
    as_superuser(f'CREATE ROLE "{operator}" LOGIN')
    as_superuser(f'GRANT CREATE ON DATABASE "{database}" TO "{operator}"')
    try:
        with Platform([], environ={}, database_url=with_user(url, operator)) as platform:
            platform.add_tenant({"tenant": f"wk-{unique_id}"})
            with pytest.raises(StorageError, match="needs CREATEROLE") as caught:
                platform.tenant(f"wk-{unique_id}").storage.ensure_schema()
            assert "database_roles='single'" in str(caught.value)
        # The managed-database way out: single-role mode, which needs no role at all.
        single = Platform(
            [], environ={}, database_url=with_user(url, operator), database_roles="single"
        )
        with single:
            storage = upgraded(single, f"wk-{unique_id}")
            assert storage.role is None
            storage.drop()
    finally:
        as_superuser(f'REVOKE CREATE ON DATABASE "{database}" FROM "{operator}"')


@pytest.mark.parametrize("handed_over_by", ["upgrade", "first use"])
def test_schema_of_an_earlier_finplug_is_handed_to_the_tenant_role(
    pg_leftovers: None, unique_id: str, handed_over_by: str
) -> None:
    url = _postgres_url()
    tenant_id = f"old-{unique_id}"
    schema = f"t_old_{unique_id}"
    with Platform([], environ={}, database_url=url, database_roles="single") as before:
        upgraded(before, tenant_id)
        ledger = before.tenant(tenant_id).ledger
        ledger.open_account("bank", "asset", "EUR", overdraft="unlimited")
        ledger.open_account("wallet", "liability", "EUR")
        ledger.transfer("t-1", "bank", "wallet", Money("5.00", "EUR"))
    # As a schema made before finplug marked its schemas: the platform's role, no mark.
    as_superuser(f'COMMENT ON SCHEMA "{schema}" IS NULL')
    assert owners(schema) == {as_superuser("SELECT session_user")[0][0]}
    with Platform([], environ={}, database_url=url) as after:
        if handed_over_by == "upgrade":
            storage = upgraded(after, tenant_id)
        else:  # the application served the tenant before anyone ran an upgrade
            after.add_tenant({"tenant": tenant_id})
            storage = after.tenant(tenant_id).storage
            assert after.tenant(tenant_id).ledger.balance("wallet").posted == Money("5", "EUR")
        assert owners(schema) == {storage.role}
        ledger = after.tenant(tenant_id).ledger
        ledger.transfer("t-2", "bank", "wallet", Money("2.00", "EUR"))
        assert ledger.balance("wallet").posted == Money("7.00", "EUR")
        assert ledger.verify().ok
        storage.drop()


# ---------------------------------------------------------------- point 9 (storage)


def test_storage_location_masks_password(database_url: str) -> None:
    secret_url = "postgresql+psycopg://app:hunter2@db.example/main"
    platform = Platform([], environ={"DB": secret_url}, database_url=database_url)
    platform.add_tenant({"tenant": "acme", "database": {"url": "${DB}"}})
    storage = platform.tenant("acme").storage
    assert storage.location == ("postgresql+psycopg://app:***@db.example/main", "t_acme")
    shown = [
        str(storage.location),
        str(storage.identity),
        repr(storage.identity),
        repr(storage),
        storage.url,
        str(platform.tenant("acme").describe()),
    ]
    assert all("hunter2" not in text for text in shown)
    # The platform's own password (and each tenant role's) is masked the same way.
    platform_url = "postgresql+psycopg://app:s3cret-admin@db.example/main"
    with_roles = Platform([], environ={}, database_url=platform_url, role_secret=SECRET)
    with_roles.add_tenant({"tenant": "globex"})
    storage = with_roles.tenant("globex").storage
    assert storage.url.startswith(f"postgresql+psycopg://{storage.role}:***@db.example/main")
    assert "s3cret-admin" not in str(storage.location) + repr(storage) + str(storage.identity)
