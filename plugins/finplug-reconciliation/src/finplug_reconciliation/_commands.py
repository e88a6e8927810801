"""``finplug recon``: import statements, run a reconciliation, list breaks, print a report.

Mounted by ``finplug`` from the plugin's ``finplug_register_commands``.
Every command works on one tenant (``--tenant``) with the reconciliation
component. Exit codes: 0 done, 1 a configuration or input error (said on
stderr, located where it can be), 2 ``run`` found open breaks.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from finplug import FinplugError, Platform, Tenant
from finplug.cli import DatabaseUrlOption, TenantsOption, platform_with_tenants
from finplug.sockets.reconciliation import RECONCILIATION, Break, BreakClass, BreakStatus

__all__ = ["breaks_table", "recon_app"]

_DEFAULT_URL = "sqlite:///finplug-data/{tenant}.db"  # the kernel CLI's default
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant to work on.")]


def recon_app() -> typer.Typer:
    """The ``finplug recon`` group (built on demand: nothing at import time)."""
    group = typer.Typer(
        name="recon",
        help="Reconciliation: import statements, match them against the ledger, work breaks.",
        no_args_is_help=True,
    )
    group.command("import")(import_command)
    group.command("run")(run_command)
    group.command("breaks")(breaks_command)
    group.command("report")(report_command)
    return group


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        typer.echo(f"{option}: expected a date such as 2026-12-01, got {text!r}", err=True)
        raise typer.Exit(code=1) from None


def _with_tenant(database_url: str, tenants: Path, tenant: str) -> tuple[Platform, Tenant]:
    platform, loaded = platform_with_tenants(database_url, tenants)
    if tenant not in loaded:
        platform.close()
        typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
        raise typer.Exit(code=1)
    runtime = platform.tenant(tenant)
    if not runtime.has_component("reconciliation"):
        platform.close()
        typer.echo(f"tenant {tenant!r} does not enable the reconciliation plugin", err=True)
        raise typer.Exit(code=1)
    return platform, runtime


def import_command(
    files: Annotated[list[Path], typer.Argument(help="Statement files to import.")],
    tenant: TenantOption,
    format: Annotated[
        str | None, typer.Option("--format", help="A parser's name (default: sniffed).")
    ] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Import statement files (camt.053/054, MT940/MT942, the tenant's CSV formats).

    Each file is imported whole or not at all; a statement imported before
    is reported as a duplicate. A broken file stops the command with its
    located error (exit 1); the files before it stay imported.
    """
    platform, runtime = _with_tenant(database_url, tenants, tenant)
    with platform:
        recon = runtime.component(RECONCILIATION)
        table = Table(title=f"finplug recon import ({tenant})")
        for column in ("file", "format", "statements", "duplicates", "lines", "problems"):
            table.add_column(column)
        for path in files:
            try:
                report = recon.import_statement(path.read_bytes(), path.name, format=format)
            except (FinplugError, OSError) as exc:
                Console(highlight=False, soft_wrap=True).print(table)
                typer.echo(f"{path}: {exc}", err=True)
                raise typer.Exit(code=1) from None
            table.add_row(
                path.name,
                report.format,
                str(len(report.statements)),
                str(len(report.duplicates)),
                str(report.lines),
                "\n".join(report.problems) or "-",
            )
        Console(highlight=False, soft_wrap=True).print(table)


def run_command(
    tenant: TenantOption,
    account: Annotated[str, typer.Option("--account", help="The reconciled account.")],
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str | None, typer.Option("--to", help="Last day (default: --from).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute, write nothing.")] = False,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Match an account's statement lines and ledger postings of a period.

    Exit 0 when nothing is left open, 2 when open breaks remain.
    """
    first = _day(start, "--from")
    last = first if end is None else _day(end, "--to")
    platform, runtime = _with_tenant(database_url, tenants, tenant)
    with platform:
        try:
            run = runtime.component(RECONCILIATION).run(account, first, last, dry_run=dry_run)
        except FinplugError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
    table = Table(title=f"finplug recon run {run.id}{' (dry run)' if dry_run else ''}")
    for column in ("account", "period", "lines", "postings", "matches", "rate", "open breaks"):
        table.add_column(column)
    rate = run.match_rate_permille
    table.add_row(
        account,
        f"{first}..{last}",
        f"{run.matched_statement_items}/{run.statement_items}",
        f"{run.matched_ledger_items}/{run.ledger_items}",
        str(run.matches),
        f"{rate // 10}.{rate % 10} %",
        ", ".join(f"{kind} {count}" for kind, count in run.breaks) or "-",
    )
    Console(highlight=False, soft_wrap=True).print(table)
    if run.breaks:
        left = ", ".join(f"{kind} {count}" for kind, count in run.breaks)
        typer.echo(f"open breaks: {left} (finplug recon breaks --tenant {tenant})")
        raise typer.Exit(code=2)


def breaks_table(found: list[Break], today: date) -> Table:
    """Breaks as a rich table."""
    table = Table(title="open breaks")
    for column in (
        "break",
        "account",
        "class",
        "statement",
        "ledger",
        "difference",
        "age",
        "owner",
    ):
        table.add_column(column)
    for b in found:
        table.add_row(
            b.id,
            b.account,
            b.kind.value,
            str(b.statement_total),
            str(b.ledger_total),
            str(b.difference),
            f"{b.age(today)} d",
            b.owner,
        )
    return table


def _break_row(b: Break, today: date) -> dict[str, str]:
    return {
        "id": b.id,
        "account": b.account,
        "class": b.kind.value,
        "status": b.status.value,
        "statement_total": str(b.statement_total.amount),
        "ledger_total": str(b.ledger_total.amount),
        "difference": str(b.difference.amount),
        "currency": b.difference.currency.code,
        "found_on": b.found_on.isoformat(),
        "age_days": str(b.age(today)),
        "owner": b.owner,
        "statement_items": " ".join(b.statement_items),
        "ledger_items": " ".join(b.ledger_items),
        "note": b.note,
    }


def breaks_command(
    tenant: TenantOption,
    account: Annotated[
        str | None, typer.Option("--account", help="Only this reconciled account.")
    ] = None,
    kind: Annotated[BreakClass | None, typer.Option("--class", help="Only this class.")] = None,
    status: Annotated[BreakStatus, typer.Option("--status", help="Breaks in this status.")] = (
        BreakStatus.OPEN
    ),
    output: Annotated[str, typer.Option("--output", help="table, json or csv.")] = "table",
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """List breaks (open ones by default), oldest first."""
    if output not in ("table", "json", "csv"):
        typer.echo(f"--output: expected table, json or csv, got {output!r}", err=True)
        raise typer.Exit(code=1)
    platform, runtime = _with_tenant(database_url, tenants, tenant)
    with platform:
        found = runtime.component(RECONCILIATION).breaks(account, status=status, kind=kind)
    today = datetime.now().date()
    if output == "table":
        Console(highlight=False, soft_wrap=True).print(breaks_table(found, today))
        return
    rows = [_break_row(b, today) for b in found]
    if output == "json":
        typer.echo(json.dumps(rows, indent=2))
        return
    out = io.StringIO()
    fields = list(rows[0]) if rows else ["id"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    typer.echo(out.getvalue(), nl=False)


def report_command(
    tenant: TenantOption,
    account: Annotated[str, typer.Option("--account", help="The reconciled account.")],
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str | None, typer.Option("--to", help="Last day (default: --from).")] = None,
    output: Annotated[str, typer.Option("--output", help="json or csv.")] = "json",
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Print the match rate, breaks by class and age, and the reconciled balance per day."""
    first = _day(start, "--from")
    last = first if end is None else _day(end, "--to")
    platform, runtime = _with_tenant(database_url, tenants, tenant)
    with platform:
        try:
            text = runtime.component(RECONCILIATION).report(account, first, last, output)
        except FinplugError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
    typer.echo(text, nl=False)
