"""The only module that writes generated files into the project (specs/<env>/, infra/params/<env>/).

Each generated folder is owned whole by amlgen: every entry in it (dot-files, sub-folders and links included)
must be one amlgen generates, or ``--check`` reports it and a write removes it. Writing is two-phase: every
changed folder is first written in full into a temporary sibling (every text encoded and every file flushed
before the first rename), then the folders are swapped in with renames; a failure puts back the folders already
swapped, so a run leaves either the old or the new trees, never a mix. Folders whose content is already
identical are not touched at all (timestamps stay, ``git status`` stays clean). A generated folder that
resolves outside the project (``specs/`` a symbolic link to elsewhere) is refused before anything is written.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import interrupts
from .errors import AmlgenError, CheckFailed
from .paths import ensure_inside

NOT_A_FILE = "\0not a regular file\0"  # marks a sub-folder or a link in an owned folder's listing


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)  # created or changed files
    removed: list[str] = field(default_factory=list)  # stale entries in an owned folder
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


def _group(files: dict[str, str], owned_dirs: list[str]) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {d.rstrip("/"): {} for d in owned_dirs}
    for rel, text in files.items():
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if parent not in groups:
            raise AmlgenError(f"internal: {rel} is outside the owned folders {owned_dirs}")
        groups[parent][rel.rsplit("/", 1)[-1]] = text
    return groups


def _check_owned(root: Path, owned_dirs: list[str]) -> None:
    for rel_dir in owned_dirs:
        ensure_inside(root, root / rel_dir, what=rel_dir)


def read_dir(root: Path, rel_dir: str) -> dict[str, str]:
    """Current content of an owned folder: every entry, sorted (non-files marked ``NOT_A_FILE``)."""
    path = root / rel_dir
    if not path.is_dir():
        return {}
    out: dict[str, str] = {}
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise AmlgenError(f"cannot read {rel_dir}: {exc.strerror}") from None
    for name in names:
        child = path / name
        if not stat.S_ISREG(os.lstat(child).st_mode):
            out[name] = NOT_A_FILE
            continue
        try:
            out[name] = child.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise AmlgenError(f"cannot read {rel_dir}/{name}: {exc.strerror}") from None
    return out


def changed_files(root: Path, files: dict[str, str], owned_dirs: list[str]) -> list[str]:
    """The generated files whose content differs from what is on disk."""
    _check_owned(root, owned_dirs)
    out = []
    for rel_dir, wanted in _group(files, owned_dirs).items():
        current = read_dir(root, rel_dir)
        out.extend(f"{rel_dir}/{n}" for n in sorted(wanted) if current.get(n) != wanted[n])
    return out


def _encode(files: dict[str, str]) -> dict[str, bytes]:
    out = {}
    for rel, text in files.items():
        try:
            out[rel] = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AmlgenError(f"cannot write {rel}: a value contains a character that is not valid UTF-8 "
                              f"({exc.reason} at position {exc.start})") from None
    return out


def write_files(root: Path, files: dict[str, str], owned_dirs: list[str]) -> WriteReport:
    """Make each owned folder hold exactly the given files. Atomic across all folders (two-phase swap)."""
    _check_owned(root, owned_dirs)
    data = _encode(files)
    report = WriteReport()
    staged: list[tuple[Path, Path]] = []  # (temporary folder, target)
    try:
        for rel_dir, wanted in _group(files, owned_dirs).items():
            current = read_dir(root, rel_dir)
            if current == wanted:
                report.unchanged.extend(f"{rel_dir}/{n}" for n in sorted(wanted))
                continue
            for name in sorted(wanted):
                (report.written if current.get(name) != wanted[name] else report.unchanged).append(f"{rel_dir}/{name}")
            report.removed.extend(f"{rel_dir}/{n}" for n in sorted(set(current) - set(wanted)))
            staged.append((_stage(root / rel_dir, {n: data[f"{rel_dir}/{n}"] for n in wanted}, rel_dir), root / rel_dir))
        with interrupts.critical():  # an interrupt before this point changes nothing; during it, waits for it
            _swap_all(staged)
    except OSError as exc:
        raise AmlgenError(f"cannot write {exc.filename or 'the generated files'}: {exc.strerror}; nothing was "
                          "changed") from None
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return report


def _stage(target: Path, wanted: dict[str, bytes], rel_dir: str) -> Path:
    """Write a folder's new content into a temporary sibling (flushed to disk)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        for name, content in sorted(wanted.items()):
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _swap_all(staged: list[tuple[Path, Path]]) -> None:
    """Rename every staged folder into place; on any failure put back the ones already swapped."""
    done: list[tuple[Path, Path | None]] = []  # (target, previous tree moved aside)
    try:
        for tmp, target in staged:
            old = None
            if target.exists() or target.is_symlink():
                old = target.parent / f".{target.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
                os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                if old is not None:
                    os.rename(old, target)
                raise
            done.append((target, old))
    except BaseException:
        for target, old in reversed(done):
            shutil.rmtree(target, ignore_errors=True)
            if old is not None:
                os.rename(old, target)
        raise
    for target, old in done:
        _fsync_dir(target.parent)
        if old is not None:
            if old.is_symlink() or not old.is_dir():
                old.unlink()
            else:
                shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def diff_files(root: Path, files: dict[str, str], owned_dirs: list[str]) -> str:
    """Unified diff from the committed tree to a fresh render ('' when identical)."""
    _check_owned(root, owned_dirs)
    chunks: list[str] = []
    for rel_dir, wanted in _group(files, owned_dirs).items():
        current = read_dir(root, rel_dir)
        for name in sorted(set(current) | set(wanted)):
            a, b = current.get(name), wanted.get(name)
            if a == b:
                continue
            rel = f"{rel_dir}/{name}"
            if a == NOT_A_FILE:
                chunks.append(f"--- a/{rel} (not a regular file: a folder or a link)\n+++ /dev/null\n")
                continue
            if not a and not b:  # an empty file and no file: difflib prints nothing, yet they differ
                chunks.append(f"--- {f'a/{rel}' if a is not None else '/dev/null'}\n"
                              f"+++ {f'b/{rel}' if b is not None else '/dev/null'}\n")
                continue
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
        stale = sorted({line[6:].split(" (not a regular")[0].rstrip() for line in diff.splitlines()
                        if line.startswith(("--- a/", "+++ b/"))})
        err = CheckFailed(
            f"{len(stale)} generated file(s) differ from a fresh render ({', '.join(stale)}); "
            "run `amlgen render` and commit the result"
        )
        err.diff = diff  # type: ignore[attr-defined]
        raise err
