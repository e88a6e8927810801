"""A plugin made by ``new_plugin`` outside the repository installs, loads and passes its tests.

The plugin is built and installed with pip into a throwaway virtual
environment layered over the running one (which provides finplug, pytest and
the rest), so the running environment never sees it and nothing needs
uninstalling: removing the folder removes everything. Its tests then run from
the plugin's own folder, on SQLite and, when ``FINPLUG_TEST_DATABASE_URL`` is
set, on PostgreSQL.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from finplug._scaffold import new_plugin
from finplug.testing import DATABASE_URL_ENV

ROOT = Path(__file__).parents[1]
NAME = "out-of-tree"
PACKAGE = "finplug_out_of_tree"
#: PEP 639 license strings (`license = "Apache-2.0"`), which the template uses.
SETUPTOOLS = Version("77")


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd)
    assert out.returncode == 0, f"{args}:\n{out.stdout}{out.stderr}"
    return out


@pytest.fixture
def layered_python(tmp_path: Path) -> Iterator[Path]:
    """The interpreter of a new virtual environment that also sees the running one's packages."""
    installed = Version(importlib.metadata.version("setuptools"))
    if installed < SETUPTOOLS:
        pytest.fail(f"needs setuptools>={SETUPTOOLS} (pip install -r requirements-test.txt)")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    )
    # addsitedir (unlike a plain path line) also runs the running environment's .pth files,
    # which is where editable installs such as finplug's own put their source folders.
    parents = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    lines = [f"import site; site.addsitedir({p!r})\n" for p in parents]
    Path(site.stdout.strip(), "_finplug_layer.pth").write_text("".join(lines), encoding="utf-8")
    try:
        yield python
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def test_a_plugin_made_outside_the_repository(tmp_path: Path, layered_python: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    plugin = new_plugin(NAME, work)
    assert ROOT not in plugin.resolve().parents

    run(
        layered_python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--no-input",
        plugin,
        cwd=work,
    )
    where = run(layered_python, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)", cwd=work)
    assert layered_python.parents[1] in Path(where.stdout.strip()).parents  # installed, not src/

    listed = run(layered_python, "-m", "finplug", "plugins", "--json", cwd=work)
    [record] = [r for r in json.loads(listed.stdout) if r["name"] == NAME]
    assert record["status"] == "loaded", record["error"]
    assert record["distribution"] == "finplug-out-of-tree"
    assert record["hooks"] == ["finplug_assess_risk"]

    # Its own tests, from its own folder (its pyproject is the pytest config), with the kit.
    tests = subprocess.run(
        [str(layered_python), "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=plugin,
    )
    report = tests.stdout + tests.stderr
    assert tests.returncode == 0, report
    assert f"rootdir: {plugin}" in report
    assert "SKIPPED" not in report
    backends = ["sqlite", "postgresql"] if os.environ.get(DATABASE_URL_ENV) else ["sqlite"]
    for backend in backends:
        assert f"test_the_tenant_comes_migrated[{backend}] PASSED" in report
        assert f"test_each_tenant_keeps_its_own_rows[{backend}] PASSED" in report
    assert f"{2 + 2 * len(backends)} passed" in report
