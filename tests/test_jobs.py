"""Jobs and commands that plugins register: collected per tenant, run in isolation, mounted once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from finplug import Platform, Plugin, PluginMeta, hookimpl
from finplug._jobs import JobState, run_jobs, tenant_jobs
from finplug._registry import check_plugin
from finplug.cli import build_app, mount_plugin_commands
from finplug.hookspecs import CommandRegistrar, JobFunction, JobRegistrar
from finplug.testing import MakePlatform, MakeTenant
from sample_plugins import CounterPlugin

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_hook_finplug_register_jobs(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([CounterPlugin])
    seen: dict[str, timedelta | None] = {}

    def register(name: str, function: JobFunction, *, every: timedelta | None = None) -> None:
        seen[name] = every

    tenant.hooks.finplug_register_jobs(register=register)
    assert seen == {
        "counter.tick": timedelta(hours=1),
        "events.dispatch": None,
        "idempotency.purge": timedelta(hours=1),
        "ledger.expire_holds": None,
    }
    jobs, failures = tenant_jobs(tenant)
    assert failures == []
    assert {(j.name, j.plugin) for j in jobs} == {
        ("counter.tick", "counter"),
        ("events.dispatch", "events"),
        ("idempotency.purge", "idempotency"),
        ("ledger.expire_holds", "ledger"),
    }


def test_hook_finplug_register_commands() -> None:
    app = build_app([check_plugin(CounterPlugin)])
    result = CliRunner().invoke(app, ["counter", "hello", "--name", "ann"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello ann from counter\n"
    # The kernel's commands are all still there.
    assert CliRunner().invoke(app, ["check", "--help"]).exit_code == 0


@pytest.fixture
def platform(
    make_platform: MakePlatform, database_url: str, unique_id: str
) -> Iterator[tuple[Platform, list[str]]]:
    ids = [f"ok_{unique_id}", f"bad_{unique_id}"]
    made = make_platform(
        [CounterPlugin],
        [
            {"tenant": ids[0], "plugins": {"counter": {}}},
            {"tenant": ids[1], "plugins": {"counter": {"fail": True}}},
        ],
        database_url=database_url,
    )
    made.upgrade()
    yield made, ids
    for tenant_id in ids:
        made.tenant(tenant_id).storage.drop()


def test_jobs_run_due_ones_each_isolated(
    platform: tuple[Platform, list[str]], tmp_path: Path
) -> None:
    made, (ok, bad) = platform
    clock = Clock()
    state = tmp_path / "jobs.json"
    first = run_jobs(made, [ok, bad], state=JobState(state), clock=clock)
    by_key = {(r.tenant, r.job): r for r in first}
    assert by_key[ok, "counter.tick"].ok
    assert by_key[ok, "counter.tick"].summary == "tick 1"
    failed = by_key[bad, "counter.tick"]
    assert not failed.ok
    assert str(failed) == f"{bad} counter.tick: FAILED RuntimeError: counter is broken"
    # The failing tenant's other jobs ran.
    assert by_key[bad, "events.dispatch"].ok
    assert by_key[bad, "ledger.expire_holds"].ok
    assert json.loads(state.read_text())[ok]["counter.tick"] == T0.isoformat()

    clock.now = T0 + timedelta(minutes=30)  # tick is hourly: not due; the others are
    second = run_jobs(made, [ok, bad], state=JobState(state), clock=clock)
    assert {(r.tenant, r.job) for r in second} == {
        (ok, "events.dispatch"),
        (ok, "ledger.expire_holds"),
        (bad, "counter.tick"),  # never succeeded, so still due
        (bad, "events.dispatch"),
        (bad, "ledger.expire_holds"),
    }
    named = run_jobs(made, [ok], "counter.tick", state=JobState(state), clock=clock)
    assert [(r.job, r.summary) for r in named] == [("counter.tick", "tick 2")]
    clock.now = T0 + timedelta(minutes=90)  # an hour after the named run succeeded
    assert ("counter.tick", "tick 3") in [
        (r.job, r.summary) for r in run_jobs(made, [ok], state=JobState(state), clock=clock)
    ]


class BrokenJobs(Plugin):  # type: ignore[type-arg]
    meta = PluginMeta(name="broken", version="0")

    @hookimpl
    def finplug_register_jobs(self, register: JobRegistrar) -> None:
        register("wrongprefix.job", lambda: None)


class RaisingCommands(Plugin):  # type: ignore[type-arg]
    meta = PluginMeta(name="raiser", version="0")

    @staticmethod
    @hookimpl
    def finplug_register_commands(register: CommandRegistrar) -> None:
        raise RuntimeError("no\ncommands")


class ClashingCommands(Plugin):  # type: ignore[type-arg]
    meta = PluginMeta(name="clasher", version="0")

    @staticmethod
    @hookimpl
    def finplug_register_commands(register: CommandRegistrar) -> None:
        register("check", lambda: None)


class InstanceCommands(Plugin):  # type: ignore[type-arg]
    meta = PluginMeta(name="instance", version="0")

    @hookimpl
    def finplug_register_commands(self, register: CommandRegistrar) -> None:
        register("never", lambda: None)


def test_a_broken_job_registration_is_reported_and_others_run(make_tenant: MakeTenant) -> None:
    tenant = make_tenant([CounterPlugin, BrokenJobs])
    jobs, failures = tenant_jobs(tenant)
    assert "counter.tick" in {j.name for j in jobs}
    [failure] = failures
    assert failure.job == "broken.*"
    assert "must be named 'broken'" in failure.summary


def test_command_failures_are_reported_and_others_mounted() -> None:
    root = typer.Typer()
    root.command("check")(lambda: None)
    records = [
        check_plugin(cls)
        for cls in (RaisingCommands, ClashingCommands, InstanceCommands, CounterPlugin)
    ]
    assert all(r.status == "loaded" for r in records), [r.error for r in records]
    warnings = mount_plugin_commands(root, records)
    assert len(warnings) == 3
    assert all("\n" not in w for w in warnings)
    assert "'raiser'" in warnings[0]
    assert "RuntimeError: no commands" in warnings[0]
    assert "'check' is already taken" in warnings[1]
    assert "@staticmethod" in warnings[2]
    assert CliRunner().invoke(root, ["counter", "hello"]).output == "hello world from counter\n"
