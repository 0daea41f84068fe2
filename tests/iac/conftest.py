"""Fixtures and tool lookup of the infrastructure-as-code tests (offline: no Azure, no bicep CLI).

checkov pins old versions of packages azure-ai-ml needs (packaging, python-dateutil), so it lives in its own
venv: ``$AMLGEN_CHECKOV`` (path to the checkov executable), else ``<repo>/.venv-iac/bin/checkov``, else
``checkov`` on PATH. Missing checkov or pycep-parser skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_tool(what: str) -> None:
    """Skip locally; fail in CI, where a missing scanner must never pass silently."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: this check must run)", pytrace=False)
    pytest.skip(what)


def find_checkov() -> str | None:
    env = os.environ.get("AMLGEN_CHECKOV")
    if env:
        return env if Path(env).is_file() else None
    local = REPO / ".venv-iac" / "bin" / "checkov"
    if local.is_file():
        return str(local)
    return shutil.which("checkov")


@pytest.fixture(scope="session")
def checkov() -> str:
    exe = find_checkov()
    if exe is None:
        missing_tool(
            "checkov not found: set AMLGEN_CHECKOV or run "
            "`python -m venv .venv-iac && .venv-iac/bin/pip install checkov==3.3.30`"
        )
    return exe  # type: ignore[return-value]


@pytest.fixture(scope="session")
def bicep_parser():
    try:
        from pycep import BicepParser
    except ImportError:
        missing_tool("pycep-parser not installed: pip install pycep-parser")
    return BicepParser()


@pytest.fixture
def infra_project(tmp_path: Path) -> Path:
    """A private copy of the project's infra/ (environment definitions, Bicep, committed parameters)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    return root
