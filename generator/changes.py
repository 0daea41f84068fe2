"""Which environments a change touches (``amlgen changed --base REF``): what a workflow plans or applies.

The files that changed since the merge base of ``REF`` and ``HEAD`` (``git diff --name-only --no-renames
REF...HEAD``: a rename counts as both paths) are mapped to environments:

* ``infra/environments/<env>.yml``, ``specs/<env>/...``, ``infra/params/<env>/...``: that environment;
* what every environment is rendered or priced from: ``infra/defaults.yml``, ``infra/prices.yaml``,
  ``infra/catalog/...``, ``templates/...``, ``data/...`` (manifests name the job), amlgen's own code and
  packaging (``generator/...``, ``pyproject.toml``): every environment;
* anything else (docs, tests, workflows, ``infra/bicep/`` which plan does not cover): no environment.

A base of forty zeros (what GitHub sends for the first push of a branch) or ``--all`` means every environment.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .config import environment_names
from .errors import AmlgenError, UsageProblem

ZERO_SHA = "0" * 40
EVERY_ENV = ("infra/defaults.yml", "infra/prices.yaml", "infra/catalog/", "templates/", "data/", "generator/",
             "pyproject.toml")
PER_ENV = ("infra/environments/{env}.yml", "specs/{env}/", "infra/params/{env}/")


@dataclass
class Touched:
    envs: list[str]
    files: list[str] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)  # env -> the files that touch it


def envs_for(files: list[str], known: list[str]) -> Touched:
    """The environments ``files`` (paths relative to the project, ``/``-separated) touch, in ``known``'s order."""
    reasons: dict[str, list[str]] = {env: [] for env in known}
    for path in files:
        if any(path == p or (p.endswith("/") and path.startswith(p)) for p in EVERY_ENV):
            for env in known:
                reasons[env].append(path)
            continue
        for env in known:
            if any(path == p.format(env=env) or (p.endswith("/") and path.startswith(p.format(env=env)))
                   for p in PER_ENV):
                reasons[env].append(path)
    touched = [env for env in known if reasons[env]]
    return Touched(touched, list(files), {env: reasons[env] for env in touched})


def changed_files(root: Path, base: str) -> list[str]:
    """Files changed between the merge base of ``base`` and HEAD, relative to the project root."""
    if not base or base.startswith("-"):
        raise UsageProblem(f"--base must name a git revision, got {base!r}")
    top = _git(root, "rev-parse", "--show-toplevel").strip()
    prefix = Path(root).resolve().relative_to(Path(top).resolve()).as_posix()
    _git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}",
         problem=f"--base {base}: no such revision in this clone (fetch it first, e.g. `git fetch origin "
                 f"{base.removeprefix('origin/')}`, or check out with fetch-depth: 0)")
    out = _git(root, "diff", "--name-only", "--no-renames", f"{base}...HEAD", "--", ".")
    files = []
    for line in out.splitlines():
        if not line.strip():
            continue
        path = line.strip()
        if prefix not in ("", "."):
            path = path.removeprefix(prefix + "/")
        files.append(path)
    return sorted(set(files))


def touched(root: Path, base: str | None, *, every: bool = False) -> Touched:
    known = environment_names(root)
    if every or base == ZERO_SHA:
        return Touched(known, [], {env: ["(every environment)"] for env in known})
    if base is None:
        raise UsageProblem("give --base REF or --all")
    return envs_for(changed_files(root, base), known)


def _git(root: Path, *args: str, problem: str | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise AmlgenError("git is not installed: `amlgen changed` reads the change from git") from None
    if done.returncode != 0:
        if problem:
            raise AmlgenError(problem)
        detail = " ".join((done.stderr or done.stdout).split())[:300]
        raise AmlgenError(f"git {args[0]} failed in {root}: {detail}")
    return done.stdout
