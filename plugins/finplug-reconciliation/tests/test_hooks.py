"""The plugin's own hooks: another plugin adds a statement format and a statement source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from finplug import HookCallError, Money, NoSettings, Plugin, PluginMeta, hookimpl
from finplug.sockets.reconciliation import RECONCILIATION, Statement, StatementLine
from finplug.testing import FinplugTenant
from finplug_channels_sim import ChannelsSimPlugin
from finplug_payments import PaymentsPlugin
from finplug_reconciliation import ReconciliationPlugin
from finplug_reconciliation.formats import StatementParser
from finplug_reconciliation.hookspecs import StatementSource
from recon_helpers import SETTINGS, Clock, capture, day_at

DAY = date(2026, 11, 2)


class PipeParser:
    """A made-up format: ``PIPE|account|day|amount|reference`` lines."""

    name = "pipe"

    def sniff(self, data: bytes, filename: str) -> bool:
        return data.startswith(b"PIPE|")

    def parse(self, data: bytes, filename: str) -> list[Statement]:
        lines = []
        account = ""
        for n, raw in enumerate(data.decode().splitlines()):
            _tag, account, day, amount, reference = raw.split("|")
            lines.append(
                StatementLine(
                    index=n,
                    booked_on=date.fromisoformat(day),
                    amount=Money(amount, "EUR"),
                    reference=reference,
                    source_line=n + 1,
                )
            )
        return [Statement("pipe", filename, account, "EUR", "", tuple(lines))]


@dataclass(frozen=True)
class File:
    name: str
    data: bytes


class Folder:
    """A statement source holding files in memory, by day."""

    name = "folder"

    def __init__(self, files: dict[date, list[File]], broken: bool = False) -> None:
        self.files = files
        self.broken = broken

    def fetch(self, day: date) -> Sequence[File]:
        if self.broken:
            raise ConnectionError("the bank's server is down")
        return self.files.get(day, [])


FOLDER = Folder({})


class PipePlugin(Plugin[NoSettings]):
    """Adds the pipe format and the in-memory folder."""

    meta = PluginMeta(
        name="pipe",
        version="1.0.0",
        summary="pipe statements",
        hookspecs=("finplug_reconciliation.hookspecs",),
    )

    @hookimpl
    def finplug_recon_statement_parsers(self) -> list[StatementParser] | None:
        return [PipeParser()]

    @hookimpl
    def finplug_recon_statement_sources(self) -> list[StatementSource] | None:
        return [FOLDER]


def _tenant(finplug_tenant: FinplugTenant) -> Any:
    plugins = [PaymentsPlugin, ChannelsSimPlugin, ReconciliationPlugin, PipePlugin]
    return finplug_tenant(plugins, dict(SETTINGS), clock=Clock(day_at(DAY)))


def test_hook_finplug_recon_statement_parsers(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    paid = capture(tenant, "k1", "12.00")
    recon = tenant.component(RECONCILIATION)
    report = recon.import_statement(f"PIPE|card|{DAY}|12.00|{paid.id}".encode(), "day.pipe")
    assert (report.format, report.lines) == ("pipe", 1)
    assert recon.run("card", DAY, DAY).matches == 1
    named = recon.import_statement(f"PIPE|card|{DAY}|1.00|x".encode(), "other.txt", format="pipe")
    assert named.format == "pipe"


def test_hook_finplug_recon_statement_sources(finplug_tenant: FinplugTenant) -> None:
    tenant = _tenant(finplug_tenant)
    paid = capture(tenant, "k1", "12.00")
    FOLDER.broken = False
    FOLDER.files = {DAY: [File("a.pipe", f"PIPE|card|{DAY}|12.00|{paid.id}".encode())]}
    recon = tenant.component(RECONCILIATION)
    (report,) = recon.fetch("folder", DAY)
    assert (report.source, report.lines) == ("a.pipe", 1)
    assert recon.fetch("folder", DAY)[0].duplicates == report.statements  # fetched again
    assert recon.fetch("folder", date(2026, 11, 3)) == []
    # Failure policy: propagate; what was imported before stays imported.
    FOLDER.broken = True
    with pytest.raises((HookCallError, ConnectionError)):
        recon.fetch("folder", DAY)
    assert len(recon.statements()) == 1
    # The built-in ``channels`` source is there too: the simulated card channel's report.
    (channel,) = recon.fetch("channels", DAY)
    assert channel.source == f"card-{DAY}.csv"
