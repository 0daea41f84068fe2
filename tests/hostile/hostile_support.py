"""Helpers of the hostile-input suite (a unique module name: conftest modules are ambiguous to import)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path


def snapshot(path: Path, skip: tuple[str, ...] = (".amlgen",)) -> str:
    """Names, kinds, modes and bytes of everything under ``path`` (links not followed)."""
    h = hashlib.sha256()
    if not path.exists():
        return "absent"
    for entry in sorted(path.rglob("*")):
        rel = entry.relative_to(path)
        if rel.parts and rel.parts[0] in skip:
            continue
        st = os.lstat(entry)
        h.update(f"{rel}|{stat.S_IFMT(st.st_mode)}|{stat.S_IMODE(st.st_mode):o}".encode())
        if stat.S_ISREG(st.st_mode):
            h.update(entry.read_bytes())
        elif stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(entry).encode())
    return h.hexdigest()


def refused(result, code: int, pattern: str) -> None:
    """One line on stderr naming the problem (regex), the expected exit code, no traceback."""
    lines = [line for line in result.err.strip().splitlines() if line]
    assert result.code == code, (result.code, result.text)
    assert "Traceback" not in result.text and "Fatal Python error" not in result.text, result.text
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert re.search(pattern, lines[0]), lines[0]
