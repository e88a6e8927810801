"""The ``finplug`` command line: ``plugins``, ``check``, ``demo``, ``db upgrade``, ``payments``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from finplug._errors import ConfigError, TenantNotFoundError
from finplug._migrations import MigrationError, OwnerUpgrade
from finplug._platform import Platform
from finplug._storage import DEFAULT_DATABASE_URL

__all__ = ["app", "main"]

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
    return Console(highlight=False, soft_wrap=True)


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
        for issue in issues:
            typer.echo(str(issue))
        typer.echo(f"{len(issues)} error(s) found", err=True)
        raise typer.Exit(code=1)
    typer.echo("all tenant configs are valid")


@app.command("demo")
def demo_command(
    tenants: Annotated[
        Path, typer.Option("--tenants", help="Folder of tenant configs to assemble.")
    ] = Path("examples/tenants"),
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder for the demo tenants' SQLite files (emptied first)."),
    ] = Path("finplug-data/demo"),
) -> None:
    """Assemble the example tenants, show their plugboards and run their payments."""
    import shutil

    from finplug._demo import run_demo

    console = _console()
    # The demo's own folder: start from empty books so every run tells the same story.
    shutil.rmtree(data, ignore_errors=True)
    try:
        platform = Platform.discover(database_url=f"sqlite:///{data}/{{tenant}}.db")
        run_demo(platform, tenants, console)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(code=1) from None


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


def _platform_with_tenants(database_url: str, tenants: Path) -> tuple[Platform, list[str]]:
    """The installed plugins with every tenant config in ``tenants``; exit 1 on bad input."""
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
            typer.echo(str(issue))
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
    platform, _ = _platform_with_tenants(database_url, tenants)
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


payments_app = typer.Typer(
    name="payments",
    help="Payments: settle channel calls whose outcome is unknown.",
    no_args_is_help=True,
)
app.add_typer(payments_app)


@payments_app.command("janitor")
def payments_janitor_command(
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only this tenant (default: every tenant with payments)."),
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Payments per tenant.")] = 100,
) -> None:
    """Ask the channels about calls that timed out or were cut off, and settle them.

    Exit 0 when nothing is left unknown, 2 when some channel still did not
    answer (run it again later), 1 on a configuration error.
    """
    platform, loaded = _platform_with_tenants(database_url, tenants)
    with platform:
        if tenant is not None and tenant not in loaded:
            typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
            raise typer.Exit(code=1)
        table = Table(title="finplug payments janitor")
        for column in ("tenant", "settled", "still unknown"):
            table.add_column(column)
        stuck = 0
        for tenant_id in [tenant] if tenant is not None else loaded:
            runtime = platform.tenant(tenant_id)
            if not runtime.has_component("payments"):
                if tenant is not None:
                    typer.echo(f"tenant {tenant_id!r} has no payments component", err=True)
                    raise typer.Exit(code=1)
                continue
            report = runtime.payments.resolve_unknown(limit)
            stuck += len(report.still_unknown)
            table.add_row(
                tenant_id, str(len(report.resolved)), ", ".join(report.still_unknown) or "-"
            )
        _console().print(table)
    if stuck:
        raise typer.Exit(code=2)


def main() -> None:
    """Entry point of the ``finplug`` script."""
    app()
