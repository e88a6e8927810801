"""Migrations: the kernel and each plugin bring their own tables to head, per tenant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from finplug import Money, Platform, Plugin, PluginMeta, TenantStorage
from finplug._migrations import (
    KERNEL_MIGRATIONS,
    MigrationError,
    OwnerUpgrade,
    _script_directory,
    version_table_name,
)
from finplug._plugin import NoSettings
from finplug.cli import app

# The kernel's tables: the ledger (revision 0001, its guards changed by 0003 and 0004), the
# event outbox (0002), the recorded account definitions (0004) and the idempotency keys (0005).
LEDGER_TABLES = {
    "ledger_accounts",
    "ledger_transfers",
    "ledger_chain",
    "ledger_account_chain",
    "events_outbox",
    "events_counter",
    "events_dispatcher",
    "idempotency_keys",
}
FIXTURES = "migration_fixtures"
#: The kernel's revisions, oldest first.
KERNEL_REVISIONS = ("0001", "0002", "0003", "0004", "0005")
KERNEL_HEAD = KERNEL_REVISIONS[-1]


class StickyNotes(Plugin[NoSettings]):
    """Owns the ``notes`` table; its first revision refers to the kernel's ledger."""

    meta = PluginMeta(name="sticky-notes", version="0", migrations=f"{FIXTURES}.notes_migrations")


class NoteTags(Plugin[NoSettings]):
    """Owns ``note_tags``, which refers to ``notes``: must migrate after sticky-notes."""

    meta = PluginMeta(
        name="note-tags",
        version="0",
        requires_plugins=frozenset({"sticky-notes"}),
        migrations=f"{FIXTURES}.tags_migrations",
    )


class Plain(Plugin[NoSettings]):
    """Owns no tables."""

    meta = PluginMeta(name="plain", version="0")


class Broken(Plugin[NoSettings]):
    """Its second revision fails."""

    meta = PluginMeta(
        name="broken",
        version="0",
        after=frozenset({"sticky-notes"}),
        migrations=f"{FIXTURES}.broken_migrations",
    )


class Kernelish(Plugin[NoSettings]):
    """Named like the kernel's owner: its version table would clash."""

    meta = PluginMeta(name="kernel", version="0", migrations=f"{FIXTURES}.tags_migrations")


@pytest.fixture
def platform(database_url: str) -> Iterator[Platform]:
    """A platform over the test plugins; every tenant's schema or file is dropped afterwards."""
    with Platform(
        [StickyNotes, NoteTags, Plain, Broken, Kernelish], environ={}, database_url=database_url
    ) as platform:
        try:
            yield platform
        finally:
            for tenant_id in platform.tenant_ids:
                platform.tenant(tenant_id).storage.drop()


def tables(storage: TenantStorage, schema: str | None = None) -> set[str]:
    """Table names in a tenant's schema (or ``schema``) or file."""
    with storage.begin() as conn:
        return set(inspect(conn).get_table_names(schema=schema or storage.schema))


def versions(storage: TenantStorage) -> dict[str, str]:
    """Version table name -> revision recorded in it."""
    found: dict[str, str] = {}
    with storage.begin() as conn:
        for name in sorted(inspect(conn).get_table_names(schema=storage.schema)):
            if name.startswith("alembic_version_"):
                # Raw SQL: search_path (PostgreSQL) or the file (SQLite) finds the tenant's table.
                found[name] = conn.execute(text(f"SELECT version_num FROM {name}")).scalar_one()
    return found


def add(platform: Platform, tenant_id: str, *plugins: str) -> TenantStorage:
    platform.add_tenant({"tenant": tenant_id, "plugins": {name: {} for name in plugins}})
    return platform.tenant(tenant_id).storage


# ---------------------------------------------------------------- kernel


def test_upgrade_brings_the_kernel_to_head_and_the_ledger_works(
    platform: Platform, unique_id: str
) -> None:
    tenant_id = f"mig-k-{unique_id}"
    storage = add(platform, tenant_id)
    assert tables(storage) == set()

    report = platform.upgrade()

    assert report == {
        tenant_id: {
            "kernel": OwnerUpgrade(tenant_id, "kernel", None, KERNEL_HEAD, KERNEL_REVISIONS)
        }
    }
    assert tables(storage) == LEDGER_TABLES | {"alembic_version_kernel"}
    assert versions(storage) == {"alembic_version_kernel": KERNEL_HEAD}
    ledger = platform.tenant(tenant_id).ledger
    ledger.open_account("cash", "asset", "EUR")
    ledger.open_account("deposits", "liability", "EUR")
    ledger.transfer("t-1", "cash", "deposits", Money("12.50", "EUR"))
    assert ledger.balance("deposits").posted == Money("12.50", "EUR")
    assert ledger.verify().ok


def test_upgrade_is_idempotent(platform: Platform, unique_id: str) -> None:
    tenant_id = f"mig-i-{unique_id}"
    storage = add(platform, tenant_id, "sticky-notes")
    first = platform.upgrade()
    platform.tenant(tenant_id).ledger.open_account("cash", "asset", "EUR")
    snapshot = (tables(storage), versions(storage))

    second = platform.upgrade(tenant_id)

    assert [r.applied for r in first[tenant_id].values()] == [KERNEL_REVISIONS, ("0001", "0002")]
    assert second == {
        tenant_id: {
            "kernel": OwnerUpgrade(tenant_id, "kernel", KERNEL_HEAD, KERNEL_HEAD),
            "sticky-notes": OwnerUpgrade(tenant_id, "sticky-notes", "0002", "0002"),
        }
    }
    assert not any(r.changed for r in second[tenant_id].values())
    assert (tables(storage), versions(storage)) == snapshot
    assert [a.code for a in platform.tenant(tenant_id).ledger.accounts()] == ["cash"]


def schema_of(storage: TenantStorage) -> set[tuple[str, ...]]:
    """Everything a tenant's tables are made of: columns, constraints, indexes, triggers.

    Definitions as the database prints them, with the tenant's own schema name
    replaced, so that two tenants' schemas compare equal when they are alike.
    """
    with storage.begin() as conn:
        if conn.dialect.name == "sqlite":
            master = "SELECT type, name, tbl_name, sql FROM sqlite_master"
            found = {tuple(r) for r in conn.exec_driver_sql(master)}
        else:
            queries = [
                "SELECT 'column', table_name || '.' || column_name, data_type, is_nullable,"
                " coalesce(collation_name, ''), coalesce(column_default, '')"
                " FROM information_schema.columns WHERE table_schema = %(s)s",
                "SELECT 'constraint', c.relname, o.conname, pg_get_constraintdef(o.oid)"
                " FROM pg_constraint o JOIN pg_class c ON c.oid = o.conrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s",
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s",
                "SELECT 'trigger', t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                " JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %(s)s AND NOT t.tgisinternal",
                "SELECT 'function', p.proname, pg_get_functiondef(p.oid) FROM pg_proc p"
                " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s",
            ]
            found = set()
            for query in queries:
                found.update(tuple(r) for r in conn.exec_driver_sql(query, {"s": storage.schema}))
    schema = storage.schema or "\0"
    return {tuple(str(v).replace(schema, "<tenant>") for v in row) for row in found}


#: What the accounts' guard refused before revision 0004: a change of id or currency, a delete.
BEFORE_0004_MESSAGE = (
    "ledger: accounts cannot be deleted, and the id and currency of an account are immutable"
)


def as_before_0004(storage: TenantStorage) -> None:
    """Turn a tenant at head back into what revision 0003 left.

    No recorded account definitions, and an accounts guard that keeps only
    their id and currency.
    """
    with storage.begin() as conn:
        conn.exec_driver_sql("DROP TABLE ledger_account_chain")  # with its guards
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER ledger_accounts_fixed_u")
            conn.exec_driver_sql(
                "CREATE TRIGGER ledger_accounts_fixed_u"
                " BEFORE UPDATE OF id, currency ON ledger_accounts"
                f" BEGIN SELECT RAISE(ABORT, '{BEFORE_0004_MESSAGE}'); END"
            )
        else:
            conn.exec_driver_sql("DROP TRIGGER ledger_accounts_fixed ON ledger_accounts")
            conn.exec_driver_sql(
                "CREATE TRIGGER ledger_accounts_fixed BEFORE UPDATE OF id, currency OR DELETE"
                " ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_accounts_fixed()"
            )
        conn.execute(text("UPDATE alembic_version_kernel SET version_num = '0003'"))


def as_before_0003(storage: TenantStorage) -> None:
    """Turn a tenant at head back into what revision 0002 left: the ledger's old guards."""
    as_before_0004(storage)
    with storage.begin() as conn:
        if conn.dialect.name == "sqlite":
            undo = ["DROP TRIGGER ledger_accounts_fixed_u", "DROP TRIGGER ledger_accounts_fixed_d"]
        else:
            undo = [
                *(
                    "ALTER TABLE ledger_transfers"
                    f" ADD CONSTRAINT fk_ledger_transfers_{side}_account"
                    f" FOREIGN KEY ({side}_id, currency)"
                    " REFERENCES ledger_accounts (id, currency)"
                    for side in ("debit", "credit")
                ),
                "DROP TRIGGER ledger_transfers_accounts ON ledger_transfers",
                "DROP FUNCTION ledger_transfers_accounts()",
                "DROP TRIGGER ledger_accounts_fixed ON ledger_accounts",
                "DROP TRIGGER ledger_accounts_no_truncate ON ledger_accounts",
                "DROP FUNCTION ledger_accounts_fixed()",
            ]
        for sql in undo:
            conn.exec_driver_sql(sql)
        conn.execute(text("UPDATE alembic_version_kernel SET version_num = '0002'"))


def test_a_tenant_from_before_0003_ends_with_the_schema_of_a_new_one(
    platform: Platform, unique_id: str
) -> None:
    new, old = f"mig-new-{unique_id}", f"mig-old-{unique_id}"
    new_storage = add(platform, new)
    old_storage = add(platform, old)
    platform.upgrade()
    ledger = platform.tenant(old).ledger
    ledger.open_account("cash", "asset", "EUR")
    ledger.open_account("deposits", "liability", "EUR")
    as_before_0003(old_storage)
    ledger.transfer("t-1", "cash", "deposits", Money("12.50", "EUR"))
    assert schema_of(old_storage) != schema_of(new_storage)

    report = platform.upgrade(old)

    assert report[old]["kernel"].applied == ("0003", "0004", "0005")
    assert schema_of(old_storage) == schema_of(new_storage)
    ledger.transfer("t-2", "cash", "deposits", Money("1.50", "EUR"))
    assert ledger.balance("deposits").posted == Money("14.00", "EUR")
    assert ledger.verify().ok


def test_a_tenant_from_before_0004_gets_immutable_recorded_account_definitions(
    platform: Platform, unique_id: str
) -> None:
    """0004 widens the accounts' guard and records the definitions of the accounts already open."""
    new, old = f"mig-new4-{unique_id}", f"mig-old4-{unique_id}"
    new_storage = add(platform, new)
    old_storage = add(platform, old)
    platform.upgrade()
    ledger = platform.tenant(old).ledger
    ledger.open_account("cash", "asset", "EUR", overdraft="unlimited")
    ledger.open_account("deposits", "liability", "EUR")
    ledger.transfer("t-1", "cash", "deposits", Money("12.50", "EUR"))
    as_before_0004(old_storage)
    assert schema_of(old_storage) != schema_of(new_storage)

    report = platform.upgrade(old)

    assert report[old]["kernel"].applied == ("0004", "0005")
    assert schema_of(old_storage) == schema_of(new_storage)
    report_after = ledger.verify()
    assert report_after.ok, report_after.problems
    assert report_after.accounts == 2
    with old_storage.begin() as conn:
        recorded = conn.execute(text("SELECT count(*) FROM ledger_account_chain")).scalar_one()
    assert recorded == 2
    refused = pytest.raises(IntegrityError, match="accounts cannot be deleted")
    with refused, old_storage.begin() as conn:
        conn.execute(text("UPDATE ledger_accounts SET type = 'asset', normal = 'debit'"))
    ledger.open_account("fees", "income", "EUR")  # chained after the recorded ones
    ledger.transfer("t-2", "deposits", "fees", Money("2.50", "EUR"))
    assert ledger.balance("deposits").posted == Money("10.00", "EUR")
    assert ledger.verify().ok
    assert platform.upgrade(old)[old]["kernel"].applied == ()


def test_kernel_history_is_linear() -> None:
    script = _script_directory(KERNEL_MIGRATIONS)
    assert script.get_heads() == [KERNEL_HEAD]
    chain = [s.revision for s in script.walk_revisions()]  # head first
    assert chain[-1] == "0001"
    assert len(chain) == len(set(chain))


# ---------------------------------------------------------------- plugins


def test_plugin_migrations_run_after_the_kernel_in_plugin_order(
    platform: Platform, unique_id: str
) -> None:
    tenant_id = f"mig-p-{unique_id}"
    # Listed tags-first, and "note-tags" sorts first too: only the dependency orders them.
    storage = add(platform, tenant_id, "note-tags", "sticky-notes", "plain")

    report = platform.upgrade(tenant_id)[tenant_id]

    assert list(report) == ["kernel", "sticky-notes", "note-tags"]  # "plain" owns no tables
    assert {o: (r.before, r.after) for o, r in report.items()} == {
        "kernel": (None, KERNEL_HEAD),
        "sticky-notes": (None, "0002"),
        "note-tags": (None, "0001"),
    }
    assert tables(storage) == LEDGER_TABLES | {
        "notes",
        "note_tags",
        "alembic_version_kernel",
        "alembic_version_sticky_notes",
        "alembic_version_note_tags",
    }
    assert versions(storage) == {
        "alembic_version_kernel": KERNEL_HEAD,
        "alembic_version_note_tags": "0001",
        "alembic_version_sticky_notes": "0002",
    }
    with storage.begin() as conn:  # both revisions of sticky-notes ran: author exists
        conn.execute(text("INSERT INTO notes (body, author) VALUES ('hi', 'ann')"))
        conn.execute(text("INSERT INTO note_tags (note_id, tag) VALUES (1, 'x')"))
        assert conn.execute(text("SELECT author FROM notes")).scalar_one() == "ann"


def test_a_plugin_added_later_gets_its_tables_on_the_next_upgrade(
    platform: Platform, unique_id: str
) -> None:
    tenant_id = f"mig-l-{unique_id}"
    storage = add(platform, tenant_id)
    platform.upgrade()
    platform.add_tenant({"tenant": tenant_id, "plugins": {"sticky-notes": {}}}, replace=True)

    report = platform.upgrade()[tenant_id]

    assert {o: r.applied for o, r in report.items()} == {
        "kernel": (),
        "sticky-notes": ("0001", "0002"),
    }
    assert "notes" in tables(storage)


# ---------------------------------------------------------------- isolation


def test_tenants_are_upgraded_independently(platform: Platform, unique_id: str) -> None:
    a, b = f"mig-a-{unique_id}", f"mig-b-{unique_id}"
    store_a = add(platform, a, "sticky-notes")
    store_b = add(platform, b)

    report = platform.upgrade()

    assert list(report) == [a, b]
    assert list(report[a]) == ["kernel", "sticky-notes"]
    assert list(report[b]) == ["kernel"]
    assert {"notes", "alembic_version_sticky_notes"} <= tables(store_a)
    assert tables(store_b) == LEDGER_TABLES | {"alembic_version_kernel"}
    if store_a.schema is not None:
        assert store_b.schema is not None
        assert store_a.schema != store_b.schema
        # Nothing landed in the default schema, and each schema holds only its own tables.
        assert not {"notes", "alembic_version_kernel"} & tables(store_a, "public")
        assert "notes" not in tables(store_a, store_b.schema)
    else:
        assert store_a.location[0] != store_b.location[0]
    # Each tenant's ledger is its own.
    platform.tenant(a).ledger.open_account("only-in-a", "asset", "EUR")
    assert platform.tenant(b).ledger.accounts() == []


def test_tenant_option_limits_the_upgrade_to_one(platform: Platform, unique_id: str) -> None:
    a, b = f"mig-one-{unique_id}", f"mig-other-{unique_id}"
    store_a = add(platform, a, "sticky-notes")
    store_b = add(platform, b, "sticky-notes")

    report = platform.upgrade(a)

    assert list(report) == [a]
    assert "notes" in tables(store_a)
    assert tables(store_b) == set()


def test_unknown_tenant_is_an_error(platform: Platform) -> None:
    with pytest.raises(LookupError, match="no tenant 'ghost' is configured"):
        platform.upgrade("ghost")


# ---------------------------------------------------------------- failures


def test_a_broken_revision_names_tenant_owner_and_revision(
    platform: Platform, unique_id: str
) -> None:
    ok, bad = f"mig-ok-{unique_id}", f"mig-zbad-{unique_id}"
    add(platform, ok)
    storage = add(platform, bad, "sticky-notes", "broken")

    with pytest.raises(MigrationError) as caught:
        platform.upgrade()

    error = caught.value
    assert (error.tenant, error.owner, error.revision) == (bad, "broken", "0002")
    assert str(error).startswith(
        f"tenant {bad!r}, owner 'broken', revision '0002': migration failed"
    )
    assert "no_such_table" in str(error)
    assert "rolled back (it stays unmigrated)" in str(error)
    # The tenant before it, and this tenant's earlier owners, stay upgraded.
    assert list(error.completed) == [ok, bad]
    assert list(error.completed[bad]) == ["kernel", "sticky-notes"]
    assert versions(storage) == {
        "alembic_version_kernel": KERNEL_HEAD,
        "alembic_version_sticky_notes": "0002",
    }
    # The failing owner's transaction rolled back whole: revision 0001 too.
    assert "broken_things" not in tables(storage)
    assert "alembic_version_broken" not in tables(storage)


def test_a_database_ahead_of_the_code_is_refused(platform: Platform, unique_id: str) -> None:
    tenant_id = f"mig-ahead-{unique_id}"
    storage = add(platform, tenant_id, "sticky-notes")
    platform.upgrade()
    with storage.begin() as conn:  # as if a newer plugin version had migrated this tenant
        conn.execute(text("UPDATE alembic_version_sticky_notes SET version_num = '0003'"))

    with pytest.raises(MigrationError) as caught:
        platform.upgrade()

    assert (caught.value.owner, caught.value.revision) == ("sticky-notes", None)
    assert "the database is at revision 0003" in str(caught.value)
    assert versions(storage)["alembic_version_sticky_notes"] == "0003"


def test_version_tables_that_would_clash_are_refused(platform: Platform, unique_id: str) -> None:
    tenant_id = f"mig-clash-{unique_id}"
    storage = add(platform, tenant_id, "kernel")
    expected = "plugin 'kernel' cannot have the version table 'alembic_version_kernel': it is"
    with pytest.raises(MigrationError, match=f"{expected} already the kernel's"):
        platform.upgrade(tenant_id)
    assert tables(storage) == set()


def test_a_missing_migrations_package_is_reported(tmp_path: Path) -> None:
    class Lost(Plugin[NoSettings]):
        meta = PluginMeta(name="lost", version="0", migrations=f"{FIXTURES}.not_there")

    url = f"sqlite:///{tmp_path}/{{tenant}}.db"
    with Platform([Lost], environ={}, database_url=url) as platform:
        platform.add_tenant({"tenant": "t", "plugins": {"lost": {}}})
        with pytest.raises(MigrationError) as caught:
            platform.upgrade()
        assert list(caught.value.completed["t"]) == ["kernel"]
    assert (caught.value.owner, caught.value.revision) == ("lost", None)
    assert "cannot load the revision scripts" in str(caught.value)
    assert "ModuleNotFoundError" in str(caught.value)


# ---------------------------------------------------------------- names


def test_version_table_names_are_identifiers() -> None:
    assert version_table_name("kernel") == "alembic_version_kernel"
    assert version_table_name("fee-schedule") == "alembic_version_fee_schedule"
    long_a = version_table_name("a" * 80)
    long_b = version_table_name("a" * 79 + "b")
    assert len(long_a) == 63
    assert long_a.isidentifier()
    assert long_a != long_b


def test_plugin_meta_migrations_must_be_a_dotted_name() -> None:
    assert PluginMeta(name="x", version="0", migrations="pkg.sub_1.migrations").migrations
    assert PluginMeta(name="x", version="0").migrations is None
    for bad in ("pkg/migrations", "pkg..migrations", "1pkg", "", "pkg.migrations."):
        with pytest.raises(ValidationError, match="dotted package name"):
            PluginMeta(name="x", version="0", migrations=bad)


# ---------------------------------------------------------------- CLI


def _write(folder: Path, tenant_id: str, body: str = "") -> None:
    (folder / f"{tenant_id}.yaml").write_text(f"tenant: {tenant_id}\n{body}", encoding="utf-8")


def test_cli_db_upgrade_end_to_end(database_url: str, unique_id: str, tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    folder.mkdir()
    a, b = f"cli-a-{unique_id}", f"cli-b-{unique_id}"
    _write(folder, a, "plugins:\n  risk-rules: {}\n")
    _write(folder, b)
    runner = CliRunner()
    args = ["db", "upgrade", "--tenants", str(folder), "--database-url", database_url]
    try:
        only_b = runner.invoke(app, [*args, "--tenant", b])
        assert only_b.exit_code == 0, only_b.output
        assert b in only_b.output
        assert a not in only_b.output
        assert f"(none) → {KERNEL_HEAD}" in only_b.output

        both = runner.invoke(app, args)
        assert both.exit_code == 0, both.output
        assert f"{KERNEL_HEAD} (at head)" in both.output  # b, already migrated
        assert f"(none) → {KERNEL_HEAD}" in both.output  # a
        assert "1 owner(s) upgraded in 2 tenant(s)" in both.output

        again = runner.invoke(app, args)
        assert again.exit_code == 0, again.output
        assert "all 2 tenant(s) already at head" in again.output
        assert "→" not in again.output.split("from → to", 1)[1]

        ghost = runner.invoke(app, [*args, "--tenant", "ghost"])
        assert ghost.exit_code == 1
        assert "no tenant 'ghost' is configured" in ghost.output
    finally:
        with Platform.discover(database_url=database_url) as platform:
            platform.load_tenants(folder)
            for tenant_id in platform.tenant_ids:
                platform.tenant(tenant_id).storage.drop()


def test_cli_db_upgrade_reports_config_errors(tmp_path: Path) -> None:
    _write(tmp_path, "broken", "plugins:\n  nope: {}\n")
    url = f"sqlite:///{tmp_path}/db/{{tenant}}.db"
    result = CliRunner().invoke(
        app, ["db", "upgrade", "--tenants", str(tmp_path), "--database-url", url]
    )
    assert result.exit_code == 1
    assert "broken.yaml:3: plugins.nope: no plugin named 'nope' is installed" in result.output
    assert "1 error(s) found" in result.output
    assert not (tmp_path / "db").exists()
