"""GitOps tests: engine fixtures (the emulator, a project copy) plus a git history and a loopback GitHub API."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import emu, emulator_session, ml, project, run, template_project  # noqa: F401
from gitops_support import git


@pytest.fixture
def repo(project: Path) -> Path:
    """The project (every environment rendered) committed on main, with origin/main pointing at it."""
    from generator import api

    api.render(project, None)
    (project / ".gitignore").write_text(".amlgen/\n/data/**/*.jsonl\n", encoding="utf-8")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "base")
    git(project, "update-ref", "refs/remotes/origin/main", "HEAD")
    return project


@pytest.fixture
def github_api():
    from github_api import FakeGitHub

    with FakeGitHub() as fake:
        yield fake
