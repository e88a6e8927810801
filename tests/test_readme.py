"""The README's two commands are the project's contract; CI runs the second verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_readme_has_exactly_two_commands() -> None:
    setup_and_demo, setup_and_test = readme_commands()
    assert "\n" not in setup_and_demo
    assert "\n" not in setup_and_test
    assert setup_and_demo.startswith("python3 -m venv .venv && ")
    assert setup_and_demo.endswith("finplug demo")
    assert setup_and_test.endswith("-m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, setup_and_test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert setup_and_test in ci.splitlines()
    assert "FINPLUG_TEST_DATABASE_URL" in ci


def test_requirements_install_every_bundled_plugin() -> None:
    plugins = sorted(p.name for p in (ROOT / "plugins").iterdir() if not p.name.startswith("_"))
    for req in ("requirements.txt", "requirements-test.txt"):
        lines = (ROOT / req).read_text(encoding="utf-8").splitlines()
        # The tests' file may ask for a plugin's extras (its oracle): compare the paths.
        listed = sorted(line.split("[")[0] for line in lines if line.startswith("-e ./plugins/"))
        assert [f"-e ./plugins/{name}" for name in plugins] == listed, req


def test_every_plugin_is_a_complete_distribution() -> None:
    for plugin in (ROOT / "plugins").iterdir():
        for part in ("pyproject.toml", "README.md", "src", "tests"):
            assert (plugin / part).exists(), f"{plugin.name} lacks {part}"
        pyproject = (plugin / "pyproject.toml").read_text(encoding="utf-8")
        assert '[project.entry-points."finplug.plugins"]' in pyproject, plugin.name
