"""Helpers shared by the GitOps tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

# The variables a team sets (docs/gitops.md); values are placeholders, the rehearsal signs in to the emulator.
VARS = {"AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000001",
        "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
        "AZURE_PLAN_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222"}


def git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(root)}
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def commit_change(root: Path, message: str, envs: list[str] | None = None) -> str:
    """Re-render (all environments, or ``envs``) and commit everything; return the new HEAD."""
    from generator import api

    api.render(root, envs)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")
