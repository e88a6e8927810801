"""``finplug payments janitor``: the payments plugin's command, mounted by ``finplug``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from finplug.cli import DatabaseUrlOption, TenantsOption, platform_with_tenants
from finplug.sockets.payments import PAYMENTS

__all__ = ["payments_app"]

_DEFAULT_URL = "sqlite:///finplug-data/{tenant}.db"  # the kernel CLI's default


def payments_app() -> typer.Typer:
    """The ``finplug payments`` group (built on demand: nothing at import time)."""
    group = typer.Typer(
        name="payments",
        help="Payments: settle channel calls whose outcome is unknown.",
        no_args_is_help=True,
    )
    group.command("janitor")(janitor_command)
    return group


def janitor_command(
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Only this tenant (default: every tenant with payments)."),
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Payments per tenant.")] = 100,
) -> None:
    """Ask the channels about calls that timed out or were cut off, and settle them.

    Exit 0 when nothing is left unknown, 2 when some channel still did not
    answer or some payment could not be settled (each is listed with its
    reason; the others were settled), 1 on a configuration error. The same
    work runs per tenant as the job ``payments.janitor`` (``finplug jobs run``).
    """
    platform, loaded = platform_with_tenants(database_url, tenants)
    with platform:
        if tenant is not None and tenant not in loaded:
            typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
            raise typer.Exit(code=1)
        table = Table(title="finplug payments janitor")
        for column in ("tenant", "settled", "still unknown", "could not settle"):
            table.add_column(column)
        stuck = 0
        for tenant_id in [tenant] if tenant is not None else loaded:
            runtime = platform.tenant(tenant_id)
            if not runtime.has_component("payments"):
                if tenant is not None:
                    typer.echo(f"tenant {tenant_id!r} has no payments component", err=True)
                    raise typer.Exit(code=1)
                continue
            report = runtime.component(PAYMENTS).resolve_unknown(limit)
            stuck += len(report.still_unknown) + len(report.failed)
            table.add_row(
                tenant_id,
                str(len(report.resolved)),
                ", ".join(report.still_unknown) or "-",
                "\n".join(f"{f.payment_id}: {f.reason}" for f in report.failed) or "-",
            )
        Console(highlight=False, soft_wrap=True).print(table)
    if stuck:
        raise typer.Exit(code=2)
