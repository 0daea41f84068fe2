"""The hostile-input suite: engine fixtures (a project with the emulator) plus a tree snapshot helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import emu, emulator_session, ml, project, run, template_project  # noqa: F401
from hostile_support import snapshot


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the project that nothing may touch."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "manifest.json").write_text('{"precious": true}\n')
    (out / "keep.yml").write_text("precious: true\n")
    return out


@pytest.fixture
def unchanged(project, outside):
    """``check = unchanged()`` before an attempt, ``check()`` after it: the project (outside .amlgen/) and the
    outside folder are exactly as they were when ``unchanged()`` was called."""
    def take():
        before = (snapshot(project), snapshot(outside))

        def check() -> None:
            assert (snapshot(project), snapshot(outside)) == before, "the attempt changed files"

        return check

    return take
