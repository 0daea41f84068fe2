"""Real operating-system conditions for the hostile-input tests of the dataset step (no mocks).

- Another user: tests and CI run as root, which ignores permission bits, so a command that must meet "permission
  denied" runs in a child process as ``nobody`` (``setpriv``); as a normal user, ``chmod`` alone is enough.
- A full disk: a small tmpfs mounted in a private mount namespace (``unshare --mount``) that only the child sees.
- A file-size limit (``RLIMIT_FSIZE``): the kernel fails writes beyond it with EFBIG, for any user.

Children run the real entry point (``python -m generator.cli``) with the worktree first on ``sys.path``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset_helpers import REPO

NOBODY = 65534


CONSOLE = "import sys; from generator.cli import run; sys.argv[0] = 'amlgen'; run()"


def cli(*args: str | bytes) -> list[str | bytes]:
    """``amlgen ARGS`` as the console script runs it. Not ``python -m generator.cli``: under ``-m`` CPython exits by
    SIGINT, whatever ``main`` returned, when a KeyboardInterrupt ever ended a string ``exec`` (dataclasses and
    pydantic build code that way while modules load), even one that was caught and handled."""
    return [sys.executable, "-c", CONSOLE, *args]


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **extra}


def run(argv: list, *, prefix: list[str] | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), *argv], capture_output=True, text=True, env=child_env(), timeout=timeout, **kw)


BATCH = """
import contextlib, io, json, sys
from generator.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def batch(commands: list[list[str]], *, prefix: list[str] | None = None) -> list[subprocess.CompletedProcess]:
    """Several ``amlgen`` commands through the real entry point (``main``) in ONE child process (one interpreter
    start for all), e.g. as another user; each result has the command's exit code, stdout and stderr."""
    proc = run([sys.executable, "-c", BATCH, json.dumps(commands)], prefix=prefix, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return [subprocess.CompletedProcess(argv, code, out, err) for argv, (code, out, err) in zip(commands, json.loads(proc.stdout))]


@functools.cache
def _unprivileged() -> tuple[list[str], str]:
    if os.geteuid() != 0:
        return [], ""
    if not shutil.which("setpriv"):
        return [], "running as root without setpriv: root ignores permission bits, so access cannot be denied"
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import generator.cli"], capture_output=True, text=True,
                           env=child_env(), cwd="/")
    if probe.returncode:
        return [], f"an unprivileged user cannot run amlgen from this checkout: {probe.stderr.strip()[-200:]}"
    return prefix, ""


def unprivileged() -> list[str]:
    """Command prefix that runs a child as a user whom permission bits apply to (``[]`` when not root)."""
    prefix, skip = _unprivileged()
    if skip:
        pytest.skip(skip)
    return prefix


def private_tmpfs_prefix(mountpoint: Path, size_kb: int) -> list[str]:
    """A command prefix that runs a shell command with a ``size_kb`` tmpfs mounted at ``mountpoint``, visible to it
    alone (a private mount namespace: nothing is mounted for anyone else, and it vanishes with the child)."""
    if not shutil.which("unshare"):
        pytest.skip("unshare is not available: cannot make a small disk")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            f"mount -t tmpfs -o size={size_kb}k amlgen-test '{mountpoint}'"], capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {probe.stderr.strip()}")
    return ["unshare", "--mount", "--propagation", "private"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A work folder that other users can enter (pytest's tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="amlgen-test-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        for p in [d, *d.rglob("*")]:  # give back the access a test took away, so the folder can be removed
            if not p.is_symlink():
                try:
                    p.chmod(p.stat().st_mode | stat.S_IRWXU)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)


def open_up(root: Path) -> None:
    """Readable (not writable) by everyone: folders a+rx, files a+r."""
    for p in [root, *root.rglob("*")]:
        p.chmod((p.stat().st_mode | 0o555 if p.is_dir() else p.stat().st_mode | 0o444) & ~0o022)


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry under ``root``: mode and content hash (folders: their mode only). Take it while the test's own
    user can read everything (before access is taken away, after it is given back)."""
    out: dict[str, tuple[int, str]] = {}
    for p in sorted([root, *root.rglob("*")]):
        mode = stat.S_IMODE(p.lstat().st_mode)
        out[str(p.relative_to(root))] = (mode, "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert the command failed like a known error (exit 1, one ``error:`` line, no traceback); returns the line."""
    err = proc.stderr.strip()
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Fatal Python error" not in proc.stderr, proc.stderr
    assert err.startswith("error: ") and "\n" not in err, proc.stderr
    return err
