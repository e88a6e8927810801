"""Discovery over real entry points: broken plugins are reported and skipped, alone."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from finplug import ConfigError, Platform, check_plugin
from finplug._registry import discover_plugins

_GROUPS = itertools.count()

GOOD = """
from finplug import Plugin, PluginMeta, hookimpl
from finplug.sockets.fees import FeeContext, Fee

class GoodPlugin(Plugin):
    meta = PluginMeta(sockets={"fees": ">=1.0,<2"}, name="good", version="1.0")

    @hookimpl
    def finplug_calculate_fees(self, context):
        return [Fee("good", context.amount * 0)]

class Misnamed(Plugin):
    meta = PluginMeta(name="something-else", version="1.0")

def helper():
    return 1
"""

MODULES = {
    "fake_good": GOOD,
    "fake_broken": "raise ImportError('vendor SDK missing')\n",
    "fake_nospec": """
from finplug import Plugin, PluginMeta, hookimpl
import pluggy
other = pluggy.HookimplMarker("finplug")

class NoSpec(Plugin):
    meta = PluginMeta(name="no-spec", version="1")

    @hookimpl
    def finplug_does_not_exist(self, context):
        return None
""",
    "fake_badsig": """
from finplug import Plugin, PluginMeta, hookimpl

class BadSig(Plugin):
    meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="bad-sig", version="1")

    @hookimpl
    def finplug_assess_risk(self, context, extra):
        return None
""",
    "fake_oldapi": """
from finplug import Plugin, PluginMeta, hookimpl

class OldApi(Plugin):
    meta = PluginMeta(name="old-api", version="1", api="<1.0")
""",
    "fake_unmarked": """
from finplug import Plugin, PluginMeta

class Unmarked(Plugin):
    meta = PluginMeta(sockets={"risk": ">=1.0,<2"}, name="unmarked", version="1")

    def finplug_assess_risk(self, context):
        return None
""",
    "fake_sideeffect": """
import os
os.environ["FINPLUG_FAKE_SIDEEFFECT_IMPORTED"] = "1"
from finplug import Plugin, PluginMeta

class SideEffect(Plugin):
    meta = PluginMeta(name="side-effect", version="1")
""",
}

ENTRY_POINTS = {
    "good": "fake_good:GoodPlugin",
    "broken-import": "fake_broken:Anything",
    "no-spec": "fake_nospec:NoSpec",
    "bad-sig": "fake_badsig:BadSig",
    "old-api": "fake_oldapi:OldApi",
    "unmarked": "fake_unmarked:Unmarked",
    "not-a-plugin": "fake_good:helper",
    "misnamed": "fake_good:Misnamed",
    "side-effect": "fake_sideeffect:SideEffect",
}

EXPECTED_ERRORS = {
    "broken-import": "failed to import: ImportError: vendor SDK missing",
    "no-spec": "implements unknown hook 'finplug_does_not_exist'",
    "bad-sig": "hook validation failed",
    "old-api": "supports finplug API '<1.0'",
    "unmarked": "looks like a hook but is not marked @hookimpl",
    "not-a-plugin": "must name a finplug.Plugin subclass",
    "misnamed": "meta.name is 'something-else'",
}


def make_site(root: Path, group: str) -> Path:
    """A folder that looks like site-packages holding one distribution of fake plugins."""
    site = root / "site"
    dist = site / "fake_plugins-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 0.1\n")
    lines = [f"[{group}]"] + [f"{name} = {target}" for name, target in ENTRY_POINTS.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in MODULES.items():
        (site / f"{module}.py").write_text(dedent(source))
    return site


@pytest.fixture
def fake_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    group = f"finplug.test_plugins_{os.getpid()}_{next(_GROUPS)}"
    site = make_site(tmp_path, group)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # stevedore's cache
    monkeypatch.delenv("FINPLUG_FAKE_SIDEEFFECT_IMPORTED", raising=False)
    for module in MODULES:
        monkeypatch.delitem(sys.modules, module, raising=False)
    return group


def test_broken_plugins_are_reported_and_the_rest_load(
    fake_group: str, caplog: pytest.LogCaptureFixture
) -> None:
    records = {r.name: r for r in discover_plugins(group=fake_group)}
    assert set(records) == set(ENTRY_POINTS)
    assert records["good"].status == "loaded"
    assert records["good"].hooks == ("finplug_calculate_fees",)
    assert records["good"].distribution == "fake-plugins"
    assert records["side-effect"].status == "loaded"
    for name, fragment in EXPECTED_ERRORS.items():
        assert records[name].status == "failed", name
        assert fragment in (records[name].error or ""), (name, records[name].error)
        assert name in caplog.text
    platform = Platform(records.values(), environ={})
    platform.add_tenant({"tenant": "ok", "plugins": {"good": {}}})
    assert platform.tenant("ok").plugin_names == ("events", "good", "idempotency", "ledger")
    with pytest.raises(ConfigError, match="plugin 'bad-sig' is not available: hook validation"):
        platform.add_tenant({"tenant": "nok", "plugins": {"bad-sig": {}}})


def test_allow_list_keeps_other_plugins_unimported(fake_group: str) -> None:
    records = {r.name: r for r in discover_plugins(group=fake_group, allow=["good"])}
    assert records["good"].status == "loaded"
    assert records["side-effect"].status == "failed"
    assert "allow list" in (records["side-effect"].error or "")
    assert "FINPLUG_FAKE_SIDEEFFECT_IMPORTED" not in os.environ
    assert "fake_sideeffect" not in sys.modules


def test_an_allowed_name_nothing_registers_is_reported(fake_group: str) -> None:
    records = {r.name: r for r in discover_plugins(group=fake_group, allow=["good", "godo"])}
    assert records["good"].status == "loaded"
    assert records["godo"].status == "failed"
    assert "no installed distribution registers it" in (records["godo"].error or "")


def test_discover_is_cached_per_process() -> None:
    first, second = Platform.discover(), Platform.discover()
    assert first is not second  # platforms share nothing mutable...
    assert first.plugins == second.plugins  # ...but entry points are loaded once
    assert all(a is b for a, b in zip(first.plugins, second.plugins, strict=True))


def test_bundled_plugins_are_discovered() -> None:
    records = {r.name: r for r in Platform.discover().plugins}
    assert records["risk-rules"].status == "loaded"
    assert records["risk-rules"].distribution == "finplug-risk-rules"
    assert records["fee-schedule"].status == "loaded"


def test_check_plugin_never_raises_for_garbage() -> None:
    for junk in (None, 42, object(), type("X", (), {}), check_plugin):
        record = check_plugin(junk)
        assert record.status == "failed"
        assert record.error


def test_cli_lists_failed_plugins_as_json(tmp_path: Path) -> None:
    site = make_site(tmp_path, "finplug.plugins")
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "finplug", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    listed = {item["name"]: item for item in json.loads(out.stdout)}
    assert listed["good"]["status"] == "loaded"
    assert listed["risk-rules"]["status"] == "loaded"
    assert listed["broken-import"]["status"] == "failed"
    assert "vendor SDK missing" in listed["broken-import"]["error"]
    for item in listed.values():
        assert set(item) >= {"name", "version", "components", "hooks", "status", "error"}
