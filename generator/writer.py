"""The only module that writes generated files into the project (specs/<env>/, infra/params/<env>/).

Each generated directory is owned whole by amlgen: it is written into a temporary sibling directory first and
then swapped in with renames, so a failure leaves either the old or the new tree, never a mix. Directories
whose content is already identical are not touched at all (timestamps stay, `git status` stays clean).
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AmlgenError, CheckFailed


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)  # created or changed files
    removed: list[str] = field(default_factory=list)  # stale files in an owned dir
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def _group(files: dict[str, str], owned_dirs: list[str]) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {d.rstrip("/"): {} for d in owned_dirs}
    for rel, text in files.items():
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if parent not in groups:
            raise AmlgenError(f"internal: {rel} is outside the owned directories {owned_dirs}")
        groups[parent][rel.rsplit("/", 1)[-1]] = text
    return groups


def read_dir(root: Path, rel_dir: str) -> dict[str, str]:
    """Current content of an owned directory (files only, sorted)."""
    path = root / rel_dir
    if not path.is_dir():
        return {}
    out: dict[str, str] = {}
    for child in sorted(path.iterdir()):
        if child.is_file() and not child.name.startswith("."):
            out[child.name] = child.read_bytes().decode("utf-8", errors="replace")
    return out


def write_files(root: Path, files: dict[str, str], owned_dirs: list[str]) -> WriteReport:
    """Make each owned directory hold exactly the given files. Atomic per directory."""
    report = WriteReport()
    for rel_dir, wanted in _group(files, owned_dirs).items():
        current = read_dir(root, rel_dir)
        if current == wanted:
            report.unchanged.extend(f"{rel_dir}/{n}" for n in sorted(wanted))
            continue
        for name in sorted(wanted):
            (report.written if current.get(name) != wanted[name] else report.unchanged).append(f"{rel_dir}/{name}")
        report.removed.extend(f"{rel_dir}/{n}" for n in sorted(set(current) - set(wanted)))
        _swap_in(root / rel_dir, wanted)
    return report


def _swap_in(target: Path, wanted: dict[str, str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    old: Path | None = None
    try:
        for name, text in sorted(wanted.items()):
            with open(tmp / name, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        if target.exists():
            old = target.parent / f".{target.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:
                os.rename(old, target)  # put the previous tree back
                old = None
            raise
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def diff_files(root: Path, files: dict[str, str], owned_dirs: list[str]) -> str:
    """Unified diff from the committed tree to a fresh render ('' when identical)."""
    chunks: list[str] = []
    for rel_dir, wanted in _group(files, owned_dirs).items():
        current = read_dir(root, rel_dir)
        for name in sorted(set(current) | set(wanted)):
            a, b = current.get(name), wanted.get(name)
            if a == b:
                continue
            rel = f"{rel_dir}/{name}"
            chunks.extend(
                difflib.unified_diff(
                    (a or "").splitlines(keepends=True),
                    (b or "").splitlines(keepends=True),
                    fromfile=f"a/{rel}" if a is not None else "/dev/null",
                    tofile=f"b/{rel}" if b is not None else "/dev/null",
                )
            )
            if chunks and not chunks[-1].endswith("\n"):
                chunks[-1] += "\n"
    return "".join(chunks)


def check_files(root: Path, files: dict[str, str], owned_dirs: list[str]) -> None:
    diff = diff_files(root, files, owned_dirs)
    if diff:
        stale = sorted({line[6:].rstrip() for line in diff.splitlines() if line.startswith(("--- a/", "+++ b/"))})
        err = CheckFailed(
            f"{len(stale)} generated file(s) differ from a fresh render ({', '.join(stale)}); "
            "run `amlgen render` and commit the result"
        )
        err.diff = diff  # type: ignore[attr-defined]
        raise err
