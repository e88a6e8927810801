"""The ``finplug`` command: ``plugins``, ``check``, ``demo``, ``db``, ``jobs``, ``ledger``.

Plugins add their own commands through ``finplug_register_commands``
(``finplug payments janitor`` comes from the payments plugin); :func:`main`
mounts them once at start. Commands that load tenants share
:func:`platform_with_tenants` and the ``--tenants``/``--database-url``
options, which plugins' commands may reuse.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from finplug._commands import mount_plugin_commands
from finplug._errors import ConfigError, TenantNotFoundError
from finplug._jobs import JobState, one_line, run_jobs, tenant_jobs
from finplug._migrations import MigrationError, OwnerUpgrade
from finplug._platform import Platform
from finplug._plugin import PROJECT
from finplug._registry import PluginRecord
from finplug._storage import DEFAULT_DATABASE_URL
from finplug.ledger.errors import CheckpointError, LedgerError
from finplug.ledger.values import LedgerCheckpoint

__all__ = [
    "DEMO_TENANTS",
    "DatabaseUrlOption",
    "TenantsOption",
    "app",
    "build_app",
    "main",
    "mount_plugin_commands",
    "platform_with_tenants",
]

#: The demo's sample tenant configs, shipped with the package.
DEMO_TENANTS = Path(str(files("finplug") / "demo_tenants"))

#: Width of tables printed to a pipe or a file: wide enough never to clip a row.
_PIPED_WIDTH = 1000

app = typer.Typer(
    name="finplug",
    help="finplug: plugins discovered, tenants assembled.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AllowOption = Annotated[
    list[str] | None,
    typer.Option("--allow", help="Only these plugins may load (repeat the option)."),
]


def _console() -> Console:
    """A console for standard output; not clipped to 80 columns when piped."""
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(highlight=False, soft_wrap=True, width=_PIPED_WIDTH)
    return console


@app.command("plugins")
def plugins_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    allow: AllowOption = None,
) -> None:
    """List installed plugins with their components, hooks and load status."""
    platform = Platform.discover(allow=allow)
    records = [r.describe() for r in platform.plugins]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title="finplug plugins")
    for column in ("name", "version", "status", "components", "hooks", "error"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r["name"],
            r["version"] or "-",
            "[green]loaded[/]" if r["status"] == "loaded" else "[red]failed[/]",
            ", ".join(r["components"]) or "-",
            ", ".join(r["hooks"]) or "-",
            r["error"] or "",
        )
    _console().print(table)


@app.command("check")
def check_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Tenant config files or folders of them.", show_default=False),
    ],
    allow: AllowOption = None,
) -> None:
    """Validate tenant configs against the installed plugins; exit 1 listing every error."""
    platform = Platform.discover(allow=allow)
    issues = platform.check(*paths)
    if issues:
        for issue in issues:  # one line each, whatever the message (pluggy's span three)
            typer.echo(one_line(str(issue), limit=2000))
        typer.echo(f"{len(issues)} error(s) found", err=True)
        raise typer.Exit(code=1)
    typer.echo("all tenant configs are valid")


@app.command("demo")
def demo_command(
    tenants: Annotated[
        Path,
        typer.Option(
            "--tenants", help="Folder of tenant configs to assemble (default: the bundled ones)."
        ),
    ] = DEMO_TENANTS,
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder for the demo tenants' SQLite files (emptied first)."),
    ] = Path("finplug-data/demo"),
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Keep the demo tenants there instead (a PostgreSQL URL: a schema per tenant;"
            " a re-run replays the same payments).",
        ),
    ] = None,
) -> None:
    """Assemble the example tenants, show their plugboards and run their payments."""
    import shutil

    from finplug._demo import run_demo

    console = _console()
    if database_url is None:
        # The demo's own folder: start from empty books so every run tells the same story.
        shutil.rmtree(data, ignore_errors=True)
        database_url = f"sqlite:///{data}/{{tenant}}.db"
    try:
        platform = Platform.discover(database_url=database_url)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    with platform:
        try:
            run_demo(platform, tenants, console)
        except ConfigError as exc:
            for issue in exc.issues:
                typer.echo(one_line(str(issue), limit=2000), err=True)
            raise typer.Exit(code=1) from None


@app.command("new-plugin")
def new_plugin_command(
    name: Annotated[
        str,
        typer.Argument(
            help="The plugin's name, such as fx-rates (makes finplug-fx-rates/).",
            show_default=False,
        ),
    ],
    directory: Annotated[
        Path, typer.Option("--dir", help="The folder to make it in (default: this one).")
    ] = Path(),
) -> None:
    """Make a plugin distribution from finplug's template: finplug-NAME/, tests included."""
    from finplug._scaffold import ScaffoldError, new_plugin

    try:
        made = new_plugin(name, directory)
    except ScaffoldError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"made {made}")
    typer.echo(f'next: cd {made} && python -m pip install -e ".[test]" && python -m pytest')


db_app = typer.Typer(
    name="db",
    help="Tenant databases: bring the kernel's and the plugins' tables to head.",
    no_args_is_help=True,
)
app.add_typer(db_app)


def _print_upgrades(report: dict[str, dict[str, OwnerUpgrade]], title: str) -> None:
    table = Table(title=title)
    for column in ("tenant", "owner", "from → to"):
        table.add_column(column)
    for tenant_id, owners in report.items():
        for owner, result in owners.items():
            before = result.before or "(none)"
            change = f"{before} → {result.after}" if result.changed else f"{before} (at head)"
            table.add_row(tenant_id, owner, change)
    _console().print(table)


TenantsOption = Annotated[Path, typer.Option("--tenants", help="Folder of tenant configs to load.")]
DatabaseUrlOption = Annotated[
    str,
    typer.Option(
        "--database-url", help="Where tenants without a database of their own keep their data."
    ),
]


def platform_with_tenants(database_url: str, tenants: Path) -> tuple[Platform, list[str]]:
    """The installed plugins with every tenant config in ``tenants``; exit 1 on bad input.

    For commands (the kernel's and plugins'): returns the platform (close it,
    or use it as a context manager) and the loaded tenant ids.
    """
    try:
        platform = Platform.discover(database_url=database_url)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    try:
        loaded = platform.load_tenants(tenants)
    except ConfigError as exc:
        platform.close()
        for issue in exc.issues:
            typer.echo(one_line(str(issue), limit=2000))
        typer.echo(f"{len(exc.issues)} error(s) found", err=True)
        raise typer.Exit(code=1) from None
    return platform, loaded


@db_app.command("upgrade")
def db_upgrade_command(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Upgrade only this tenant (default: all).")
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Migrate tenants to head: the kernel first, then each enabled plugin, in plugin order."""
    platform, _ = platform_with_tenants(database_url, tenants)
    with platform:
        try:
            report = platform.upgrade(tenant)
        except TenantNotFoundError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
        except MigrationError as exc:
            if exc.completed:
                _print_upgrades(exc.completed, "finplug db upgrade (stopped)")
            typer.echo(f"migration failed: {exc}", err=True)
            raise typer.Exit(code=1) from None
    _print_upgrades(report, "finplug db upgrade")
    changed = sum(r.changed for owners in report.values() for r in owners.values())
    typer.echo(
        f"{changed} owner(s) upgraded in {len(report)} tenant(s)"
        if changed
        else f"all {len(report)} tenant(s) already at head"
    )


jobs_app = typer.Typer(
    name="jobs",
    help="Jobs plugins register per tenant (outbox dispatch, hold expiry, the payments janitor…).",
    no_args_is_help=True,
)
app.add_typer(jobs_app)

StateOption = Annotated[
    Path,
    typer.Option("--state", help="JSON file recording when each job last succeeded."),
]


def _every(every: timedelta | None) -> str:
    return "every run" if every is None else f"every {every}"


@jobs_app.command("list")
def jobs_list_command(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant (default: every tenant).")
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """List each tenant's jobs and how often they are due."""
    platform, loaded = platform_with_tenants(database_url, tenants)
    with platform:
        ids = _chosen_tenants(loaded, tenant, tenants)
        table = Table(title="finplug jobs")
        for column in ("tenant", "job", "due"):
            table.add_column(column)
        for tenant_id in ids:
            jobs, failures = tenant_jobs(platform.tenant(tenant_id))
            for job in jobs:
                table.add_row(tenant_id, job.name, _every(job.every))
            for failure in failures:
                table.add_row(tenant_id, failure.job, f"[red]cannot list[/]: {failure.summary}")
        _console().print(table)


def _chosen_tenants(loaded: list[str], tenant: str | None, tenants: Path) -> list[str]:
    if tenant is None:
        return loaded
    if tenant not in loaded:
        typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
        raise typer.Exit(code=1)
    return [tenant]


@jobs_app.command("run")
def jobs_run_command(
    job: Annotated[
        str | None, typer.Argument(help="Run only this job, due or not (default: every due job).")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant (default: every tenant).")
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    state: StateOption = Path("finplug-data/jobs.json"),
) -> None:
    """Run each tenant's due jobs once (or the named one), each job on its own.

    Prints one line per job run. Exit 0 when all succeeded, 2 when some job
    (or some plugin's job registration) failed, the others having run; 1 on a
    configuration error, an unknown tenant, or a JOB no tenant has.
    """
    platform, loaded = platform_with_tenants(database_url, tenants)
    with platform:
        ids = _chosen_tenants(loaded, tenant, tenants)
        results = run_jobs(platform, ids, job, state=JobState(state))
    for result in results:
        typer.echo(str(result))
    if job is not None and not results:
        typer.echo(f"no tenant has a job {job!r}", err=True)
        raise typer.Exit(code=1)
    failed = sum(not r.ok for r in results)
    typer.echo(f"{len(results) - failed} job(s) succeeded, {failed} failed", err=True)
    if failed:
        raise typer.Exit(code=2)


ledger_app = typer.Typer(
    name="ledger",
    help="Ledgers: verify their books, sign checkpoints to keep outside the database.",
    no_args_is_help=True,
)
app.add_typer(ledger_app)

KeyEnvOption = Annotated[
    str,
    typer.Option(
        "--key-env",
        help="Name of the environment variable that holds the checkpoint HMAC key"
        " (the variable's name, never the key).",
    ),
]


def _checkpoint_key(key_env: str) -> str:
    """The key in environment variable ``key_env``; exit 1 naming the variable if it is unset."""
    key = os.environ.get(key_env, "")
    if not key:
        typer.echo(f"environment variable {key_env!r} is not set (it must hold the key)", err=True)
        raise typer.Exit(code=1)
    return key


def _read_checkpoint(path: Path) -> LedgerCheckpoint:
    """The checkpoint in ``path``; exit 1 saying why if it cannot be read."""
    try:
        return LedgerCheckpoint.from_json(path.read_bytes())
    except OSError as exc:
        typer.echo(f"{path}: cannot read the checkpoint: {exc.strerror}", err=True)
    except CheckpointError as exc:
        typer.echo(f"{path}: {exc}", err=True)
    raise typer.Exit(code=1)


@ledger_app.command("checkpoint")
def ledger_checkpoint_command(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant whose books to sign.")],
    key_env: KeyEnvOption,
    previous: Annotated[
        Path | None,
        typer.Option("--previous", help="The tenant's last checkpoint: the books must reach it."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write the checkpoint here (default: standard output)."),
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Verify a tenant's books, then print a checkpoint of them signed with the key.

    Exit 1, signing nothing, when the books do not verify (against
    ``--previous`` too), or on a missing key, tenant or checkpoint file.
    """
    key = _checkpoint_key(key_env)
    before = _read_checkpoint(previous) if previous is not None else None
    platform, loaded = platform_with_tenants(database_url, tenants)
    with platform:
        if tenant not in loaded:
            typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
            raise typer.Exit(code=1)
        try:
            checkpoint = platform.tenant(tenant).ledger.checkpoint(key, previous=before)
        except LedgerError as exc:
            typer.echo(f"{tenant}: {exc}", err=True)
            raise typer.Exit(code=1) from None
    if output is None:
        typer.echo(checkpoint.to_json())
    else:
        output.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
        typer.echo(f"{tenant}: checkpoint of entry {checkpoint.seq} written to {output}")


@ledger_app.command("verify")
def ledger_verify_command(
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only this tenant (default: every tenant)."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Check the books against this checkpoint (one tenant)."),
    ] = None,
    key_env: Annotated[
        str | None,
        typer.Option(
            "--key-env",
            help="With --checkpoint: the environment variable that holds its HMAC key.",
        ),
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Recompute each ledger's hash chains and balances; print every problem found.

    Exit 0 when every ledger verifies, 1 when one does not, or on a bad
    checkpoint (unreadable, or not signed with the key), key or tenant.
    """
    if checkpoint is not None and (tenant is None or key_env is None):
        typer.echo("--checkpoint needs --tenant and --key-env", err=True)
        raise typer.Exit(code=1)
    if checkpoint is None and key_env is not None:
        typer.echo("--key-env is only for checking a --checkpoint", err=True)
        raise typer.Exit(code=1)
    key = _checkpoint_key(key_env) if key_env is not None else None
    anchor = _read_checkpoint(checkpoint) if checkpoint is not None else None
    platform, loaded = platform_with_tenants(database_url, tenants)
    failed = 0
    with platform:
        if tenant is not None and tenant not in loaded:
            typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
            raise typer.Exit(code=1)
        for tenant_id in [tenant] if tenant is not None else loaded:
            try:
                report = platform.tenant(tenant_id).ledger.verify(checkpoint=anchor, key=key)
            except LedgerError as exc:
                typer.echo(f"{tenant_id}: {exc}", err=True)
                raise typer.Exit(code=1) from None
            against = f", checked against the checkpoint of entry {anchor.seq}" if anchor else ""
            summary = f"{report.entries} entries, {report.accounts} accounts{against}"
            if report.ok:
                typer.echo(f"{tenant_id}: ok ({summary})")
                continue
            failed += 1
            typer.echo(f"{tenant_id}: {len(report.problems)} problem(s) ({summary})")
            for problem in report.problems:
                typer.echo(f"  {problem}")
    if failed:
        raise typer.Exit(code=1)


class _OncePerProcess(logging.Filter):
    """Let each distinct warning through once (discovery warns per platform otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self._seen:
            return False
        self._seen.add(message)
        return True


def _warn_once() -> None:
    """Print finplug's warnings to standard error, each once per process, on one line."""
    logger = logging.getLogger(PROJECT)
    if any(isinstance(f, _OncePerProcess) for h in logger.handlers for f in h.filters):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(_OncePerProcess())
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger.addHandler(handler)


def build_app(records: Iterable[PluginRecord] | None = None) -> typer.Typer:
    """The ``finplug`` command: the kernel's commands plus every plugin's.

    ``records`` default to the installed plugins (discovered once per
    process); a failing plugin's commands are left out with a warning on
    standard error.
    """
    root = typer.Typer(
        name="finplug",
        help=app.info.help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.registered_commands.extend(app.registered_commands)
    root.registered_groups.extend(app.registered_groups)
    if records is None:
        records = Platform.discover().plugins
    for warning in mount_plugin_commands(root, records):
        logging.getLogger(f"{PROJECT}.cli").warning("%s", warning)
    return root


def main() -> None:
    """Entry point of the ``finplug`` script."""
    _warn_once()
    build_app()()
