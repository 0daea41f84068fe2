"""Shared fixtures for the whole suite.

``--update-golden`` rewrites tests/render/golden/ from a fresh render; it is the only way golden files change, and
the result must be reviewed like any other diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/render/golden/ from a fresh render")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the project's inputs and committed specs."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("infra", "templates", "specs"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root

