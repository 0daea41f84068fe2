"""Taking template changes from a newer amlgen without losing a team's edits: ``amlgen init --diff`` / ``--update``.

A project's scaffold files (``table.ROWS``: templates, defaults, environments, Bicep, side files) belong to the
team. ``diff`` rebuilds what the installed amlgen's scaffold would give this project (its environments, with
their own workspace values and the models ``amlgen promote`` recorded in them; its workflows with what they
install, unless that is init's own ``amlgen==X`` pin: ``envfile.carry_answer_lines``) and compares it, file by
file, with the project's files and with the record ``infra/scaffold.yml`` (a fingerprint of each file as amlgen
last wrote it):

=================  ======================================================================================
``same``           the project's file is amlgen's
``amlgen changed`` the team never edited it; amlgen's version changed: ``--update`` takes it
``new``            amlgen has a file the project lacks (a new template): ``--update`` adds it
``edited here``    the team edited it; amlgen's version did not change: nothing to take
``both changed``   edited here and changed in amlgen: merge by hand from the diff
``differs``        no record of what amlgen wrote (a project from before the record): review the diff
``deleted here``   the team deleted a file amlgen still ships: left deleted
``dropped``        amlgen no longer ships a file the project has: the team decides
=================  ======================================================================================

``update`` writes only ``amlgen changed`` and ``new`` files (each atomically, the record last) and never a file
the team edited; re-render (``amlgen render --all``) and review the result as one change.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import interrupts
from ..errors import AmlgenError, ConfigError
from ..paths import ENVIRONMENTS_DIR, INFRA_DIR, inside
from ..yamlutil import read_text, safe_load
from . import Answers, build, envfile
from .create import fingerprint, record_text
from .table import MODELS, RECORD

SAME, TAKE, NEW, EDITED, BOTH, DIFFERS, DELETED, DROPPED = (
    "same", "amlgen changed", "new", "edited here", "both changed", "differs", "deleted here", "dropped")
SHOWN = (TAKE, NEW, BOTH, DIFFERS)  # statuses whose diff is worth reading


@dataclass
class FileStatus:
    path: str
    status: str
    diff: str = ""  # unified diff from the project's file (a/) to amlgen's (b/)
    theirs: str | None = None  # amlgen's text


@dataclass
class ScaffoldDiff:
    root: Path
    files: list[FileStatus] = field(default_factory=list)
    record: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    updated: list[str] = field(default_factory=list)  # what update wrote

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    @property
    def differs(self) -> bool:
        return any(f.status != SAME for f in self.files)


def read_record(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(files, environments) of ``infra/scaffold.yml``; empty when the project has none."""
    path = root / RECORD
    if not path.is_file():
        return {}, {}
    data = safe_load(read_text(path, RECORD, root=root), RECORD)
    files = data.get("files") if isinstance(data, dict) else None
    envs = data.get("environments") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not isinstance(envs, dict) or \
            not all(isinstance(k, str) and isinstance(v, str) for k, v in [*files.items(), *envs.items()]):
        raise ConfigError("not a record written by amlgen init (files: and environments: mappings of strings)",
                          where=RECORD)
    return files, envs


def _read(root: Path, rel: str) -> str | None:
    path = root / rel
    if not path.is_file():
        return None
    return read_text(path, rel, root=root)


def _answers(root: Path, models: dict[str, str]) -> Answers:
    """The project's environments as answers: each one's workspace values as they are now (placeholders kept)."""
    envs = [env for env in models if (root / INFRA_DIR / ENVIRONMENTS_DIR / f"{env}.yml").is_file()]
    answers = Answers(envs=envs, models=dict(models))
    for env in envs:
        rel = f"{INFRA_DIR}/{ENVIRONMENTS_DIR}/{env}.yml"
        answers.values[env] = envfile.current_values(read_text(root / rel, rel, root=root), rel)
    return answers


def _unified(path: str, mine: str | None, theirs: str | None) -> str:
    lines = difflib.unified_diff((mine or "").splitlines(keepends=True), (theirs or "").splitlines(keepends=True),
                                 fromfile=f"a/{path}" if mine is not None else "/dev/null",
                                 tofile=f"b/{path}" if theirs is not None else "/dev/null")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return text


def diff(root: Path) -> ScaffoldDiff:
    """Compare the project at ``root`` with the installed amlgen's scaffold (see the module doc). Writes nothing."""
    record, models = read_record(root)
    if not models:  # no record: the environments named like amlgen's models are compared with them
        models = {m: m for m in MODELS if (root / INFRA_DIR / ENVIRONMENTS_DIR / f"{m}.yml").is_file()}
    unknown = sorted(set(models.values()) - set(MODELS))
    if unknown:
        raise ConfigError(f"environments made from model {unknown[0]!r}, which this amlgen does not have "
                          f"(models: {', '.join(MODELS)})", where=RECORD)
    answers = _answers(root, models)
    theirs = build(answers, project=root.name)
    for rel, text in theirs.items():  # the answer lines are the team's: amlgen's version carries them over
        mine = _read(root, rel) if envfile.answer_paths(rel) else None
        if mine is not None:
            theirs[rel] = envfile.carry_answer_lines(text, mine, rel, envfile.answer_paths(rel))
    out = ScaffoldDiff(root, record=record, models=models)
    for path in sorted(set(theirs) | set(record)):
        mine, new = _read(root, path), theirs.get(path)
        base = record.get(path)
        if new is None:
            if mine is not None:
                out.files.append(FileStatus(path, DROPPED))
            continue
        if mine is None:
            status = DELETED if base is not None else NEW
        elif mine == new:
            status = SAME
        elif base is None:
            status = DIFFERS
        elif fingerprint(path, mine) == base:
            status = TAKE
        elif fingerprint(path, new) == base:
            status = EDITED
        else:
            status = BOTH
        out.files.append(FileStatus(path, status, _unified(path, mine, new) if status in SHOWN else "", new))
    return out


def update(root: Path) -> ScaffoldDiff:
    """Write amlgen's version of every ``amlgen changed`` and ``new`` file, then the refreshed record."""
    result = diff(root)
    take = {f.path: f.theirs for f in result.files if f.status in (TAKE, NEW) and f.theirs is not None}
    for path in take:
        if not inside(root, root / path):
            raise AmlgenError(f"{path} leads out of the project through a symbolic link; nothing was written")
    record: dict[str, str] = {}
    for f in result.files:
        if f.status in (SAME, TAKE, NEW) and f.theirs is not None:
            record[f.path] = f.theirs
    kept = {f.path: result.record[f.path] for f in result.files
            if f.status in (EDITED, BOTH, DELETED, DROPPED) and f.path in result.record}
    text = record_text(record, result.models)
    if kept:  # the fingerprints of files amlgen did not write this time stay as they were
        text += "".join(f"  {path}: {value}\n" for path, value in sorted(kept.items()))
    try:
        with interrupts.critical():
            for path, content in sorted(take.items()):
                _replace(root / path, content)
            _replace(root / RECORD, _sorted_record(text))
    except OSError as exc:
        raise AmlgenError(f"cannot write {exc.filename or root}: {exc.strerror}") from None
    result.updated = sorted(take)
    return result


def _sorted_record(text: str) -> str:
    """The record with its ``files:`` entries in path order (so an update's diff of it stays small)."""
    head, _, body = text.partition("files:\n")
    return head + "files:\n" + "".join(sorted(body.splitlines(keepends=True)))


def _replace(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.new-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8"))
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    from .create import _umask as umask

    return umask()
