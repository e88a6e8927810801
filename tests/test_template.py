"""plugins/_template is a working starting point: its own tests pass as shipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parents[1] / "plugins" / "_template"


def test_template_plugin_passes_its_own_tests(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(TEMPLATE / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TEMPLATE / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout
