"""The project lints clean with the configuration in pyproject.toml (``[tool.ruff]``): unused or shadowed imports,
undefined names, import order, bug-prone patterns. ruff is pinned in the test extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_would_catch_an_unused_import(tmp_path: Path) -> None:
    """The check can fail: the same configuration reports a planted unused import."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(REPO / "pyproject.toml"),
                          str(bad)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "F401" in run.stdout
