"""``finplug risk …``: publish rule sets, go live, shadow, backtest, manage lists, test JDM files.

Mounted by ``finplug`` from the plugin's ``finplug_register_commands``.
Commands that act on a tenant load the tenant configs (``--tenants``) and
the database (``--database-url``) as every ``finplug`` command does; ``test``
needs neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from finplug.cli import DatabaseUrlOption, TenantsOption, platform_with_tenants
from finplug.sockets.risk import RISK

__all__ = ["risk_app"]

_DEFAULT_URL = "sqlite:///finplug-data/{tenant}.db"  # the kernel CLI's default

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant whose risk engine to use.")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who does it (kept in the audit).")]


def risk_app() -> typer.Typer:
    """The ``finplug risk`` group (built on demand: nothing at import time)."""
    group = typer.Typer(
        name="risk",
        help="Risk engine: rule sets, shadow runs, backtests, lists, JDM tests.",
        no_args_is_help=True,
    )
    group.command("test")(test_command)
    group.command("publish")(publish_command)
    group.command("backtest")(backtest_command)
    lists = typer.Typer(name="lists", help="Block and allow lists.", no_args_is_help=True)
    lists.command("add")(lists_add_command)
    lists.command("remove")(lists_remove_command)
    lists.command("show")(lists_show_command)
    group.add_typer(lists)
    return group


def _engine(tenant: str, tenants: Path, database_url: str) -> Any:
    platform, loaded = platform_with_tenants(database_url, tenants)
    if tenant not in loaded:
        platform.close()
        typer.echo(f"no tenant {tenant!r} in {tenants}", err=True)
        raise typer.Exit(code=1)
    runtime = platform.tenant(tenant)
    engine = runtime.component(RISK)
    if not hasattr(engine, "versions"):
        platform.close()
        typer.echo(f"tenant {tenant!r} does not use the risk engine", err=True)
        raise typer.Exit(code=1)
    return platform, engine


def test_command(
    file: Annotated[Path, typer.Argument(help="A JDM graph (.json) with a `tests` array.")],
) -> None:
    """Run a JDM file's ``tests`` array: each input's result must equal its expected output.

    Exit 0 when every test passes, 2 when one fails (each failure is listed),
    1 when the file cannot be loaded (the located error is printed).
    """
    from finplug_risk_engine.jdm import (
        JdmError,
        JdmEvaluationError,
        compile_graph,
        json_ready,
        parse_graph,
        same_json,
    )

    try:
        text = file.read_text(encoding="utf-8")
        graph = compile_graph(parse_graph(text, source=str(file)))
    except (OSError, JdmError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    tests = json.loads(text).get("tests") or []
    failed = 0
    for i, case in enumerate(tests):
        try:
            got = graph.evaluate(case.get("input", {}))
        except JdmEvaluationError as exc:
            failed += 1
            typer.echo(f"{file}: tests[{i}]: failed: {exc}")
            continue
        if not same_json(got, case.get("output")):
            failed += 1
            shown = json_ready(got)
            typer.echo(f"{file}: tests[{i}]: expected {case.get('output')!r}, got {shown!r}")
    typer.echo(f"{file}: {len(tests) - failed} of {len(tests)} tests passed")
    if failed:
        raise typer.Exit(code=2)


def publish_command(
    file: Annotated[Path, typer.Argument(help="A rule set (.json).")],
    tenant: TenantOption,
    actor: ActorOption,
    note: Annotated[str, typer.Option("--note", help="Why (kept with the version).")] = "",
    live: Annotated[bool, typer.Option("--live", help="Make it the live version.")] = False,
    shadow: Annotated[bool, typer.Option("--shadow", help="Run it in shadow mode.")] = False,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Publish a rule set as a new immutable version (checked first; nothing is stored if bad)."""
    from finplug_risk_engine.rules import RuleSetError, compile_rule_set

    content = json.loads(file.read_text(encoding="utf-8"))
    try:
        compile_rule_set(content)
    except RuleSetError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(code=1) from None
    platform, engine = _engine(tenant, tenants, database_url)
    with platform:
        version = engine.versions.publish(content, actor=actor, note=note).version
        if live:
            engine.versions.go_live(version, actor=actor, note=note)
        elif shadow:
            engine.versions.shadow(version, actor=actor, note=note)
        state = engine.versions.state()
    typer.echo(f"version {version}; live {state.live}, shadow {state.shadow}")


def backtest_command(
    version: Annotated[int, typer.Argument(help="The version to replay over the decision log.")],
    tenant: TenantOption,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Replay a version over every logged decision; how many verdicts change, and by which rules."""
    platform, engine = _engine(tenant, tenants, database_url)
    with platform:
        report = engine.backtest(version)
    table = Table(title=f"backtest of version {version}: {report.changed} of {report.total} change")
    for column in ("logged", "replayed", "decisions"):
        table.add_column(column)
    for (logged, replayed), count in sorted(report.verdicts.items()):
        table.add_row(logged, replayed, str(count))
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    for code, count in sorted(report.rules.items()):
        console.print(f"rule {code}: fired in {count}")
    for log_id, logged, replayed in report.examples:
        console.print(f"decision {log_id}: {logged} -> {replayed}")


def lists_add_command(
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="block or allow")],
    subject: Annotated[str, typer.Argument(help="customer, merchant, card_fingerprint, ip, …")],
    value: Annotated[str, typer.Argument(help="The value to list.")],
    tenant: TenantOption,
    actor: ActorOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit).")] = "",
    days: Annotated[int | None, typer.Option("--days", min=1, help="Expire after N days.")] = None,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Put a value on a block or allow list (audited)."""
    from datetime import timedelta

    from finplug_risk_engine.lists import ListError

    platform, engine = _engine(tenant, tenants, database_url)
    with platform:
        try:
            ttl = None if days is None else timedelta(days=days)
            entry = engine.lists.add(list_name, subject, value, actor=actor, reason=reason, ttl=ttl)
        except ListError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(code=1) from None
    typer.echo(f"{entry.list.value} {entry.subject.value} {entry.value}")


def lists_remove_command(
    list_name: Annotated[str, typer.Argument(metavar="LIST", help="block or allow")],
    subject: Annotated[str, typer.Argument(help="customer, merchant, card_fingerprint, ip, …")],
    value: Annotated[str, typer.Argument(help="The value to take off.")],
    tenant: TenantOption,
    actor: ActorOption,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit).")] = "",
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Take a value off a list (audited); exit 2 if it was not there."""
    platform, engine = _engine(tenant, tenants, database_url)
    with platform:
        removed = engine.lists.remove(list_name, subject, value, actor=actor, reason=reason)
    if not removed:
        typer.echo("not on the list", err=True)
        raise typer.Exit(code=2)
    typer.echo("removed")


def lists_show_command(
    tenant: TenantOption,
    tenants: TenantsOption = Path("examples/tenants"),
    database_url: DatabaseUrlOption = _DEFAULT_URL,
) -> None:
    """Show both lists' active entries."""
    platform, engine = _engine(tenant, tenants, database_url)
    with platform:
        entries = engine.lists.entries()
    table = Table(title=f"risk lists of {tenant}")
    for column in ("list", "subject", "value", "added by", "reason", "expires"):
        table.add_column(column)
    for e in entries:
        expires = "-" if e.expires_at is None else e.expires_at.isoformat()
        table.add_row(e.list.value, e.subject.value, e.value, e.added_by, e.reason, expires)
    Console(highlight=False, soft_wrap=True).print(table)
