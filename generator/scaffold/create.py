"""Create a project whole or not at all.

Everything is made in a temporary folder first: the scaffold files (``scaffold.build``), then ``render --all``
in that folder (the same config, checks, SDK schema check and writer as ``amlgen render``), then the record
(``infra/scaffold.yml``). Only then is it moved into place, inside ``interrupts.critical()`` (Ctrl-C waits):

- a folder that does not exist yet: the temporary sibling ``.<name>.amlgen-init-*`` is renamed to it, one
  atomic rename;
- an existing empty folder (or, with ``existing``, one holding other files): the staged entries are renamed in,
  ``infra/`` last (it is what makes the folder a project); a failure removes what was moved in. The folder itself
  is kept, so a shell standing in it still sees the project.

Nothing is overwritten: every target is checked before anything is made, and each move refuses an existing
entry. A file the team already has where ``table.ROWS`` marks ``side`` (README.md, .gitignore, pre-commit) is
kept with ``existing``; any other existing file stops the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__, interrupts
from ..errors import AmlgenError
from ..paths import ENVIRONMENTS_DIR, INFRA_DIR, inside
from . import Answers, build, envfile, notes, rows_by_path
from .table import PLACEHOLDER_MARK, RECORD


class InitRefused(AmlgenError):
    """The target folder cannot take a new project."""


@dataclass
class InitReport:
    root: Path
    written: list[str] = field(default_factory=list)  # every file init created, relative to root
    kept: list[str] = field(default_factory=list)  # the team's own files init left as they were
    unignored: list[str] = field(default_factory=list)  # amlgen's .gitignore patterns a kept .gitignore lacks
    placeholders: list[str] = field(default_factory=list)  # "file:line" of each line to fill in
    notes: list[str] = field(default_factory=list)  # what init left out for these answers (scaffold.notes)


def fingerprint(path: str, text: str) -> str:
    """What the record keeps of a scaffold file: its sha256, the lines of the project's answers blanked."""
    return envfile.fingerprint(text, path, envfile.answer_paths(path))


def record_text(files: dict[str, str], models: dict[str, str]) -> str:
    from ..yamlutil import scalar

    lines = ["# Written by `amlgen init`: the amlgen that made this project's scaffold files and a fingerprint of each",
             "# as written. `amlgen init --diff` uses it to tell your edits from amlgen's changes; `amlgen init --update`",
             "# refreshes it. Commit it; do not edit it.",
             f"amlgen: {scalar(__version__)}",
             "environments:                    # the amlgen model each environment was made from",
             *(f"  {scalar(env)}: {scalar(model)}" for env, model in models.items()),
             "files:"]
    lines += [f"  {scalar(path)}: {fingerprint(path, files[path])}" for path in sorted(files)]
    return "\n".join(lines) + "\n"


def _state(target: Path) -> str:
    """absent | empty | full; one-line errors for what cannot be a project folder."""
    try:
        if not target.exists() and not target.is_symlink():
            return "absent"
        if not target.is_dir():
            raise InitRefused(f"{target} exists and is not a folder")
        return "full" if any(os.scandir(target)) else "empty"
    except PermissionError:
        raise InitRefused(f"{target}: cannot read it (permission denied)") from None


def plan_targets(target: Path, files: dict[str, str], rendered_dirs: list[str], side: set[str],
                 existing: bool) -> tuple[dict[str, str], list[str]]:
    """The files to write (the side files the team already has left out) and the ones kept."""
    if (target / INFRA_DIR / ENVIRONMENTS_DIR).exists():
        raise InitRefused(f"{target} is already an amlgen project ({INFRA_DIR}/{ENVIRONMENTS_DIR}/ exists); "
                          "`amlgen init --diff` compares it with this amlgen's scaffold")
    write, kept = {}, []
    for rel in sorted(files):
        path = target / rel
        if path.exists() or path.is_symlink():
            if rel in side and existing:
                kept.append(rel)
                continue
            raise InitRefused(f"{path} exists; amlgen init never overwrites a file it did not create")
        write[rel] = files[rel]
    for rel in [*write, *rendered_dirs]:
        parent = (target / rel).parent if rel in write else target / rel
        probe = parent
        while not probe.exists() and probe != target:
            probe = probe.parent
        if probe.exists() and (not probe.is_dir() or not inside(target, probe)):
            raise InitRefused(f"{probe} is in the way of {rel} (a file, or a link out of {target})")
        if rel in rendered_dirs and (target / rel).exists():
            raise InitRefused(f"{target / rel} exists; amlgen init never overwrites a file it did not create")
    return write, kept


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in sorted(files.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fh:
            fh.write(text.encode("utf-8"))


def _render(root: Path) -> list[str]:
    """``amlgen render --all`` in the staged project (checked, SDK schema checked); the files it wrote."""
    from .. import project as api
    from ..writer import write_files

    try:
        outcome = api.render_files(root, None)
        from ..validate import verify_rendered

        verify_rendered(root, outcome.files)
        report = write_files(root, outcome.files, outcome.owned_dirs)
    except AmlgenError as exc:
        raise type(exc)(f"the new project would not pass amlgen's checks: {exc.one_line()}") from None
    return report.written


def _move_in(staged: Path, target: Path) -> list[Path]:
    """Rename the staged entries into ``target`` (merging into folders it has), ``infra/`` last; undo on failure."""
    moved: list[Path] = []

    def entries(folder: Path) -> list[Path]:
        return sorted(folder.iterdir(), key=lambda p: (p.name == INFRA_DIR, p.name == ENVIRONMENTS_DIR, p.name))

    def move(src: Path, dst: Path) -> None:
        for child in entries(src):
            dest = dst / child.name
            if dest.is_dir() and not dest.is_symlink() and child.is_dir():
                move(child, dest)
            elif dest.exists() or dest.is_symlink():
                raise InitRefused(f"{dest} appeared while amlgen init ran; nothing was written")
            else:
                os.rename(child, dest)
                moved.append(dest)

    try:
        move(staged, target)
    except BaseException:
        for path in reversed(moved):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
    return moved


def create(target: Path, answers: Answers, *, existing: bool = False) -> InitReport:
    """Make a new project at ``target`` (see the module doc). Raises before anything is visible at ``target``."""
    try:
        target = Path(os.path.abspath(target))
    except OSError as exc:  # the current folder was removed
        raise InitRefused(f"cannot find {target}: {exc.strerror}") from None
    state = _state(target)
    if state == "full" and not existing:
        raise InitRefused(f"{target} is not empty; amlgen init writes into a new or empty folder (--existing adds "
                          "a project beside the files there, never overwriting one)")
    parent = target.parent
    if state == "absent" and not parent.is_dir():
        raise InitRefused(f"cannot create {target}: no folder {parent}")
    files = build(answers, project=target.name)
    rows = rows_by_path(answers, target.name)
    side = {path for path, row in rows.items() if row.side}
    rendered = [f"specs/{env}" for env in answers.envs] + [f"{INFRA_DIR}/params/{env}" for env in answers.envs]
    write, kept = plan_targets(target, files, rendered, side, existing) if state != "absent" else (files, [])
    models = {env: answers.model(env) for env in answers.envs}
    home = target if state != "absent" else parent
    staged: Path | None = None
    try:
        with interrupts.critical():  # the temporary folder exists only once the cleanup below is in force
            try:
                staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.amlgen-init-" if state == "absent"
                                               else ".amlgen-init-", dir=home))
            except OSError as exc:
                raise InitRefused(f"cannot write in {home}: {exc.strerror}; nothing was written") from None
        interrupts.check()
        _write(staged, write)
        written = sorted([*write, *_render(staged)])
        _write(staged, {RECORD: record_text(write, models)})
        written.append(RECORD)
        for folder in [staged, *(p for p in staged.rglob("*") if p.is_dir())]:
            os.chmod(folder, 0o777 & ~_umask())
        with interrupts.critical():
            if state == "absent":
                os.rename(staged, target)
            else:
                _move_in(staged, target)
    except OSError as exc:
        raise InitRefused(f"cannot write {exc.filename or target}: {exc.strerror}; nothing was written") from None
    finally:
        if staged is not None and staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    report = InitReport(target, sorted(set(written)), kept, notes=notes(answers))
    if ".gitignore" in kept:
        report.unignored = missing_patterns(files.get(".gitignore", ""), target / ".gitignore")
    for rel in sorted(r for r in write if r.startswith(f"{INFRA_DIR}/")):
        for number, line in enumerate(write[rel].splitlines(), 1):
            if PLACEHOLDER_MARK in line and not line.lstrip().startswith("#"):
                report.placeholders.append(f"{rel}:{number}")
    return report


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def missing_patterns(ours: str, theirs: Path) -> list[str]:
    """The patterns of amlgen's .gitignore (local state, prepared data, scratch) that the team's kept one lacks."""
    from ..errors import AmlgenError
    from ..yamlutil import read_bytes

    try:  # the safe reader: a FIFO or a device named .gitignore is not waited on nor read whole
        have = {line.strip() for line in read_bytes(theirs, str(theirs)).decode("utf-8", "replace").splitlines()}
    except AmlgenError:
        have = set()
    wanted = [line.strip() for line in ours.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [pattern for pattern in dict.fromkeys(wanted) if pattern not in have]
