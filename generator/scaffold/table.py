"""What ``amlgen init`` writes: the one table of a new project's files (standard library only).

Each ``Row`` is one file, or one folder of files, of a new project and says where it comes from:

- ``repo:<glob>``: files of amlgen's own repository, the scaffold's single source. The wheel carries them under
  ``generator/scaffold/repo/`` (copied there at build time by the build hook in ``setup.py``, which loads this
  file by path); an editable install or a source checkout reads them from the repository itself. There is no
  second copy in git.
- ``own:<name>``: a file only projects have, kept in ``generator/scaffold/files/<name>``.

``how`` says what init does with the source:

- ``copy``: verbatim (``path`` ending in ``/``: the folder receives every file the glob matches, same relative
  layout).
- ``environment``: one file per new environment, modelled on the repository's environments (``MODELS``): the
  first new environment on the first model (it trains), every further one on the last (it deploys what the
  first one trained: its ``promotion.source`` names the first; the model's ``promoted:`` block is dropped); init
  substitutes the workspace coordinates and the environment's name (``generator/scaffold/envfile.py``). The
  lines holding the user's answers, and a ``promoted:`` block ``amlgen promote`` appended, belong to the
  project: ``init --diff`` never proposes to change them.
- ``defaults``: verbatim but for the promotion registry's ``locations``, set to the environments' regions.
- ``pre-commit``: ``.pre-commit-config.yaml`` made from amlgen's own ``.pre-commit-hooks.yaml`` (``repo: local``:
  the hooks run the ``amlgen`` on the PATH).
- ``readme`` / ``text``: an ``own:`` file, ``readme`` with the project's name and environments filled in.
- ``workflow``: the GitOps workflows, installing the running amlgen's version (``amlgen==X.Y.Z``) instead of the
  repository itself; only for a project whose environments are dev and prod, the ones they name (init says so
  otherwise). The ``AMLGEN_INSTALL`` line is the project's (``init --diff`` keeps the team's value) unless it is
  init's own ``amlgen==X`` pin, which ``init --update`` moves with the files.

``side`` marks files a team's existing repository usually has already (README, .gitignore, pre-commit, CI):
``amlgen init --existing`` keeps the team's own there instead of refusing.

Rendered files (``specs/<env>/``, ``infra/params/<env>/``) are not rows: init runs ``render --all`` in the new
project, so they are exactly what ``amlgen render`` makes. ``RECORD`` is written last: the sha256 of every
scaffold file as init wrote it, so ``amlgen init --diff`` can tell a team's edits from amlgen's changes.

To make a new file part of every new project, add one row here (and, if the row reads ``repo:`` files outside
``infra/``, ``templates/`` and the listed dot-files, a line in ``MANIFEST.in`` so the sdist carries them; the
packaging test fails otherwise).
"""

from __future__ import annotations

import glob
import os
from typing import NamedTuple

BUNDLE_DIR = "generator/scaffold/repo"  # where the wheel carries the repo: sources (relative to the wheel's root)
RECORD = "infra/scaffold.yml"  # what init wrote (amlgen version, sha256 per scaffold file)
MODELS = ("dev", "prod")  # the repository's environments that new environments are modelled on
DEFAULT_ENVS = ("dev", "prod")
PLACEHOLDER_MARK = "TODO(amlgen init)"  # on every line whose value the user must fill


class Row(NamedTuple):
    path: str  # in the new project; "{env}" = one per environment; a trailing "/" = a folder
    source: str  # "repo:<glob relative to the repository>" or "own:<file in generator/scaffold/files/>"
    how: str  # copy | defaults | environment | pre-commit | readme | text | workflow
    side: bool = False  # kept as the team's own by `init --existing` when it exists already


ROWS: tuple[Row, ...] = (
    Row("infra/defaults.yml", "repo:infra/defaults.yml", "defaults"),
    Row("infra/environments/{env}.yml", "repo:infra/environments/{model}.yml", "environment"),
    Row("infra/bicep/", "repo:infra/bicep/**/*.bicep", "copy"),
    Row("templates/", "repo:templates/*.j2", "copy"),
    Row(".pre-commit-config.yaml", "repo:.pre-commit-hooks.yaml", "pre-commit", side=True),
    Row(".gitignore", "own:gitignore", "text", side=True),
    Row("README.md", "own:README.md", "readme", side=True),
    Row("docs/provisioning.md", "repo:docs/provisioning.md", "copy", side=True),  # infra/params/<env>/README.md links it
    Row("infra/lock.yml", "repo:infra/lock.yml", "copy"),  # the registry's facts about the default model
    # GitOps workflows: they name the dev and prod environments, so they come with a project that has exactly those
    Row(".github/workflows/", "repo:.github/workflows/amlgen-*.yml", "workflow", side=True),
    Row("docs/gitops.md", "repo:docs/gitops.md", "copy", side=True),
)


def source_globs() -> list[str]:
    """The ``repo:`` globs of every row (environment rows expanded over ``MODELS``)."""
    out: list[str] = []
    for row in ROWS:
        kind, _, pattern = row.source.partition(":")
        if kind != "repo":
            continue
        if "{model}" in pattern:
            out.extend(pattern.format(model=m) for m in MODELS)
        else:
            out.append(pattern)
    return out


def matches(root: str | os.PathLike[str], pattern: str) -> list[str]:
    """The files one glob names under ``root`` (posix paths relative to it), sorted. Matching nothing is an
    error: a build must never ship a wheel without part of its scaffold."""
    root = os.fspath(root)
    found = [m for m in glob.glob(os.path.join(root, pattern), recursive=True) if os.path.isfile(m)]
    if not found:
        raise FileNotFoundError(f"amlgen scaffold: no file matches {pattern!r} in {root}")
    return sorted(os.path.relpath(m, root).replace(os.sep, "/") for m in found)


def repo_files(root: str | os.PathLike[str]) -> list[str]:
    """Every ``repo:`` source file under ``root``, sorted."""
    return sorted({rel for pattern in source_globs() for rel in matches(root, pattern)})
