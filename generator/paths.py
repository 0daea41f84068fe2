"""The project and the paths inside it: the one home of "nothing leaves the project".

Every path that comes from ``infra/`` is relative to the project root and may not climb out of it, and no
command writes or deletes outside the root unless the user named that path on the command line. Symlinks are
resolved before the check, so ``specs/`` (or a folder below it) that is a link to somewhere else is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from .errors import ConfigError, UsageProblem

INFRA_DIR = "infra"
ENVIRONMENTS_DIR = "environments"
DEFAULTS_FILE = "defaults.yml"
SPECS_DIR = "specs"
TEMPLATE_DIR = "templates"
SCRATCH_DIR = ".amlgen"


def find_project_root(start: Path | None = None, *, explicit: bool = False) -> Path:
    """The nearest directory at or above ``start`` that holds ``infra/environments``.

    With ``explicit`` (the user passed ``--project``), ``start`` itself must be the project (no search upwards),
    and a path that does not exist says so.
    """
    here = Path(start) if start is not None else Path.cwd()
    if explicit:
        try:
            mode = os.stat(here).st_mode
            os.listdir(here)
        except FileNotFoundError:
            raise UsageProblem(f"--project {here}: no such directory") from None
        except NotADirectoryError:
            raise UsageProblem(f"--project {here}: not a directory") from None
        except OSError as exc:
            raise UsageProblem(f"--project {here}: cannot open it ({exc.strerror})") from None
        if not stat.S_ISDIR(mode):
            raise UsageProblem(f"--project {here}: not a directory")
        if not (here / INFRA_DIR / ENVIRONMENTS_DIR).is_dir():
            raise ConfigError(f"no amlgen project in {here}: no {INFRA_DIR}/{ENVIRONMENTS_DIR}/ (run `amlgen init {here}`)")
        return here.resolve()
    here = here.resolve()
    for candidate in (here, *here.parents):
        if (candidate / INFRA_DIR / ENVIRONMENTS_DIR).is_dir():
            return candidate
    raise ConfigError(
        f"no amlgen project here: no {INFRA_DIR}/{ENVIRONMENTS_DIR}/ in {here} or above "
        "(use --project, or start one with `amlgen init`)"
    )


def relative_problem(rel: str) -> str | None:
    """Why a path from ``infra/`` is not an acceptable project-relative path, or None."""
    if not isinstance(rel, str) or not rel.strip():
        return "must be a non-empty path relative to the project"
    if "\0" in rel:
        return "must not contain a NUL character"
    if rel.startswith(("/", "\\", "~")) or (len(rel) > 1 and rel[1] == ":"):
        return f"{rel!r} is absolute; paths in infra/ are relative to the project"
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if ".." in parts:
        return f"{rel!r} climbs out of the project ('..'); paths in infra/ stay inside it"
    return None


# Folders of the project that amlgen or git owns: a data folder (or any folder amlgen writes data into) may not be
# one of them, nor below one of them, nor the project root itself.
OWNED_DIRS = (INFRA_DIR, SPECS_DIR, TEMPLATE_DIR, SCRATCH_DIR, ".git", ".github")


def owned_problem(rel: str) -> str | None:
    """Why a project-relative folder may not hold amlgen's data files (the root, or a folder amlgen or git owns)."""
    parts = [p for p in PurePosixPath(rel.replace("\\", "/")).parts if p not in (".", "")]
    if not parts:
        return f"{rel!r} is the project root; name a folder of its own (such as data/<name>)"
    first = parts[0].casefold()
    owner = next((d for d in OWNED_DIRS if d.casefold() == first), None)
    if owner is not None:
        return f"{rel!r} is {'inside ' if len(parts) > 1 else ''}{owner}/, which amlgen or git owns; name a folder of its own (such as data/<name>)"
    return None


def resolved_problem(root: Path, rel: str) -> str | None:
    """Why ``root / rel`` (symlinks followed) is not a folder amlgen may write data into: outside the project, the
    root, or a folder amlgen or git owns."""
    path = root / rel
    if not inside(root, path):
        return f"{rel!r} leads out of the project through a symbolic link"
    real = Path(os.path.realpath(path)).relative_to(Path(os.path.realpath(root))).as_posix()
    problem = owned_problem(real)
    if problem and owned_problem(rel) is None:
        return f"{rel!r} leads through a symbolic link to {problem}"
    return problem


def inside(root: Path, target: Path) -> bool:
    """True when ``target`` (after resolving symlinks) is ``root`` or below it."""
    try:
        return Path(os.path.realpath(target)).is_relative_to(Path(os.path.realpath(root)))
    except (OSError, ValueError):
        return False


def project_path(root: Path, rel: str, *, what: str) -> Path:
    """``root / rel`` after checking it is a relative path that stays in the project (symlinks resolved)."""
    problem = relative_problem(rel)
    if problem:
        raise ConfigError(f"{what}: {problem}")
    path = root / rel
    if not inside(root, path):
        raise ConfigError(f"{what}: {rel!r} leads out of the project through a symbolic link")
    return path


def ensure_inside(root: Path, path: Path, *, what: str) -> Path:
    """Refuse to write ``path`` (or anything below it) when it resolves outside the project root."""
    if not inside(root, path):
        raise ConfigError(f"{what}: {path} leads out of the project ({root}); amlgen writes only inside it")
    return path


def shown(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` when inside it, else as given."""
    if root is not None:
        try:
            return str(Path(path).resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)
