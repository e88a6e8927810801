"""ruff and strict mypy are part of the test suite, so CI enforces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
TARGETS = ["src", "tests", "benchmarks", "examples", "plugins", "e2e"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT)


def test_ruff_check() -> None:
    out = run("ruff", "check", *TARGETS)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format() -> None:
    out = run("ruff", "format", "--check", *TARGETS)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict() -> None:
    plugin_sources = [str(p) for p in sorted((ROOT / "plugins").glob("*/src"))]
    plugin_tests = [str(p) for p in sorted((ROOT / "plugins").glob("finplug-*/tests"))]
    out = run(
        "mypy", "src", *plugin_sources, "tests", *plugin_tests, "benchmarks", "examples", "e2e"
    )
    assert out.returncode == 0, out.stdout + out.stderr
