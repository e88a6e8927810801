"""``finplug risk …``: publish, go live, backtest, lists and JDM tests, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from finplug.cli import build_app
from shared_data import ZEN_DATA

RULES = {
    "rules": [{"code": "big", "action": "review", "when": "amount > 1000", "message": "over 1000"}]
}


def _folder(tmp_path: Path) -> tuple[Path, str]:
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "shop.yaml").write_text("tenant: shop\nplugins:\n  risk-engine: {}\n")
    return tenants, f"sqlite:///{tmp_path}/db/{{tenant}}.db"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.output


def test_publish_live_lists_and_backtest(tmp_path: Path) -> None:
    tenants, url = _folder(tmp_path)
    where = ["--tenant", "shop", "--tenants", str(tenants), "--database-url", url]
    code, out = _run("db", "upgrade", "--tenants", str(tenants), "--database-url", url)
    assert code == 0, out
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES))
    code, out = _run("risk", "publish", str(rules), *where, "--actor", "ann", "--live")
    assert (code, out.strip()) == (0, "version 1; live 1, shadow None")
    code, out = _run("risk", "lists", "add", "block", "country", "kp", *where, "--actor", "ann")
    assert (code, out.strip()) == (0, "block country KP")
    code, out = _run("risk", "lists", "show", *where)
    assert code == 0
    assert "KP" in out
    assert "ann" in out
    code, out = _run("risk", "lists", "remove", "block", "country", "KP", *where, "--actor", "bob")
    assert (code, out.strip()) == (0, "removed")
    code, out = _run("risk", "lists", "remove", "block", "country", "KP", *where, "--actor", "bob")
    assert code == 2
    code, out = _run("risk", "lists", "add", "block", "country", "KPX", *where, "--actor", "a")
    assert code == 1
    assert "alpha-2" in out
    code, out = _run("risk", "backtest", "1", *where)
    assert code == 0, out
    assert "0 of 0 change" in out


def test_publish_refuses_a_bad_rule_set_with_its_location(tmp_path: Path) -> None:
    tenants, url = _folder(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"code": "x", "action": "block", "when": "ammount > 1"}]}))
    code, out = _run(
        "risk",
        "publish",
        str(bad),
        "--tenant",
        "shop",
        "--tenants",
        str(tenants),
        "--database-url",
        url,
        "--actor",
        "ann",
    )
    assert code == 1
    assert "rules[0].when: unknown name 'ammount'" in out


def test_risk_test_runs_a_jdm_files_tests(tmp_path: Path) -> None:
    graphs = sorted(p for p in ZEN_DATA.glob("*.json") if json.loads(p.read_text()).get("tests"))
    assert graphs, f"no JDM graphs with tests in {ZEN_DATA}"
    for graph in graphs:
        code, out = _run("risk", "test", str(graph))
        assert code == 0, out
        assert "tests passed" in out
    broken = json.loads(graphs[0].read_text())
    broken["tests"][0]["output"] = {"surely": "not this"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    code, out = _run("risk", "test", str(path))
    assert code == 2
    assert "tests[0]: expected" in out
