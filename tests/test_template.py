"""plugins/_template works as shipped, and ``new_plugin`` makes a plugin of it under a new name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from finplug._scaffold import PluginNames, ScaffoldError, new_plugin, template_dir
from finplug.testing import DATABASE_URL_ENV

TEMPLATE = Path(__file__).parents[1] / "plugins" / "_template"


def test_template_plugin_passes_its_own_tests(tmp_path: Path) -> None:
    path = os.pathsep.join(filter(None, [str(TEMPLATE / "src"), os.environ.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", str(TEMPLATE / "tests")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        cwd=tmp_path,
    )
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert "SKIPPED" not in report
    backends = ["sqlite", "postgresql"] if os.environ.get(DATABASE_URL_ENV) else ["sqlite"]
    for backend in backends:  # its storage tests use the kit, on every backend configured
        assert f"test_the_tenant_comes_migrated[{backend}] PASSED" in report
    assert f"{2 + 2 * len(backends)} passed" in report


def test_template_is_found() -> None:
    assert template_dir() == TEMPLATE.resolve()


@pytest.mark.parametrize(
    ("name", "names"),
    [
        ("fx-rates", ("finplug-fx-rates", "finplug_fx_rates", "FxRates", "fx_rates")),
        ("fx_rates", ("finplug-fx-rates", "finplug_fx_rates", "FxRates", "fx_rates")),
        ("velocity", ("finplug-velocity", "finplug_velocity", "Velocity", "velocity")),
        ("a2b-c3", ("finplug-a2b-c3", "finplug_a2b_c3", "A2bC3", "a2b_c3")),
    ],
)
def test_names_derived_from_a_plugin_name(name: str, names: tuple[str, ...]) -> None:
    derived = PluginNames.of(name)
    assert derived.plugin == name
    assert (derived.distribution, derived.package, derived.classes, derived.identifier) == names


def test_new_plugin_replaces_every_template_name(tmp_path: Path) -> None:
    made = new_plugin("fx-rates", tmp_path)
    assert made == tmp_path / "finplug-fx-rates"
    assert [p.name for p in tmp_path.iterdir()] == ["finplug-fx-rates"]  # no staging left
    files = sorted(p.relative_to(made).as_posix() for p in made.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "src/finplug_fx_rates/__init__.py",
        "src/finplug_fx_rates/migrations/__init__.py",
        "src/finplug_fx_rates/migrations/r0001_reviews.py",
        "src/finplug_fx_rates/py.typed",
        "tests/test_fx_rates.py",
        "tests/test_storage.py",
    ]
    for path in made.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not re.search("example", text, flags=re.I), path
            assert "template-only" not in text, path
    for source in TEMPLATE.rglob("*.py"):  # code keeps its shape (blank lines included)
        if "__pycache__" not in source.parts:
            copy = made / PluginNames.of("fx-rates").replace(str(source.relative_to(TEMPLATE)))
            lines = source.read_text(encoding="utf-8").count("\n")
            assert copy.read_text(encoding="utf-8").count("\n") == lines, copy
    pyproject = (made / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "finplug-fx-rates"' in pyproject
    assert 'fx-rates = "finplug_fx_rates:FxRatesPlugin"' in pyproject
    assert 'finplug_fx_rates = ["py.typed"]' in pyproject
    plugin = (made / "src" / "finplug_fx_rates" / "__init__.py").read_text(encoding="utf-8")
    assert "class FxRatesPlugin(Plugin[FxRatesSettings]):" in plugin
    assert 'name="fx-rates",' in plugin
    assert 'migrations="finplug_fx_rates.migrations",' in plugin
    assert 'RiskReason("fx_rates_review",' in plugin
    storage_tests = (made / "tests" / "test_storage.py").read_text(encoding="utf-8")
    assert "alembic_version_fx_rates" in storage_tests
    assert "INSERT INTO fx_rates_reviews" in storage_tests
    readme = (made / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# finplug-fx-rates\n\nA finplug plugin")
    assert "  fx-rates:\n" in readme  # the tenant config key is the plugin name


def test_the_template_names_nothing_the_scaffold_would_miss() -> None:
    # Any "example" the scaffold replaces must be one of its names, not prose.
    for path in TEMPLATE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            text = path.read_text(encoding="utf-8")
            for match in re.finditer(r"\w*example\w*", text, flags=re.I):
                word = match.group()
                assert word in {
                    "example",
                    "finplug_example",
                    "ExamplePlugin",
                    "ExampleSettings",
                    "example_reviews",
                    "example_review",
                    "alembic_version_example",
                    "test_example",
                } or word.startswith("finplug"), f"{path}: {word}"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "lower-case letters and digits"),
        ("Fx", "lower-case letters and digits"),
        ("1fx", "lower-case letters and digits"),
        ("fx rates", "lower-case letters and digits"),
        ("fx--rates", "lower-case letters and digits"),
        ("fx-", "lower-case letters and digits"),
        ("../fx", "lower-case letters and digits"),
        ("finplug-fx", "leave out the finplug- prefix"),
        ("finplug", "leave out the finplug- prefix"),
        ("ledger", "built into finplug"),
        ("risk-rules", "finplug-risk-rules installed here already provides a plugin"),
    ],
)
def test_new_plugin_refuses_a_bad_or_taken_name(tmp_path: Path, name: str, words: str) -> None:
    with pytest.raises(ScaffoldError, match=re.escape(words)) as info:
        new_plugin(name, tmp_path)
    assert repr(name) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "finplug-fx").mkdir()
    (tmp_path / "finplug-fx" / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="finplug-fx exists already"):
        new_plugin("fx", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["finplug-fx"]
    assert (tmp_path / "finplug-fx" / "mine.txt").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(ScaffoldError, match="is not a folder"):
        new_plugin("fx", tmp_path / "missing")
