"""GitOps tests: engine fixtures (the emulator, a project copy) plus a git history and a loopback GitHub API."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine_support import emu, emulator_session, ml, project, run, template_project  # noqa: F401

VARS = {"AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001",
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_PLAN_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222"}


def git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(root)}
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


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
