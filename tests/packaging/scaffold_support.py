"""Packaging and `amlgen init`: helpers shared by the tests of this folder (`conftest.py` takes its fixtures from here)."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MARK = "TODO(amlgen init)"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def amlgen(capsys, monkeypatch, tmp_path):
    """Run the real CLI entry point in-process, in ``tmp_path`` (never the repository): amlgen("init", "x")."""
    from generator.cli import main

    monkeypatch.chdir(tmp_path)

    def call(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


def cli(*args: str) -> list[str]:
    """The amlgen command line as a user runs it: the console script beside this interpreter (``python -m
    generator.cli`` where there is none). Through ``python -m``, CPython 3.11 sometimes ends a run whose Ctrl-C
    amlgen handled (it printed "interrupted") by killing itself with SIGINT (exit -2) instead of exit 130."""
    script = Path(sys.executable).with_name("amlgen")
    return [str(script), *args] if script.is_file() else [sys.executable, "-m", "generator.cli", *args]


def snapshot(path: Path) -> str:
    """Names, kinds, modes and bytes of everything at and under ``path`` ("absent" if nothing is there)."""
    if not path.exists() and not path.is_symlink():
        return "absent"
    h = hashlib.sha256()
    for entry in sorted([path, *path.rglob("*")]) if path.is_dir() else [path]:
        st = os.lstat(entry)
        h.update(f"{entry.relative_to(path.parent)}|{stat.S_IFMT(st.st_mode)}|{stat.S_IMODE(st.st_mode):o}".encode())
        if stat.S_ISREG(st.st_mode):
            h.update(entry.read_bytes())
    return h.hexdigest()


def one_line_error(result: Result, code: int, pattern: str) -> None:
    """Exit ``code``, one ``error:`` line on stderr matching ``pattern``, no traceback."""
    import re

    lines = [line for line in result.err.strip().splitlines() if line]
    assert result.code == code, (result.code, result.text)
    assert "Traceback" not in result.text, result.text
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert re.search(pattern, lines[0]), lines[0]


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (posix relative path -> bytes), .amlgen/ left out."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != ".amlgen"}
