"""The packaging test: amlgen as a team installs it.

Builds the sdist and, from it, the wheel (``python -m build``), installs the wheel into a fresh virtual environment
and, in an empty folder outside the repository, runs what the README promises: ``amlgen init proj`` and
``amlgen up --env dev --target local`` in it, then ``render --all --check`` and ``validate --all``; and
``amlgen init --diff`` against the repository shows the wheel's scaffold is the repository's own files.

Cost (CI has 2 cores): the build runs ``--no-isolation`` with the setuptools of the test extra (no isolated
environment to populate; the build backend is the same). The fresh environment gets the wheel with
``pip install --no-deps`` and sees the dependencies through a ``.pth`` naming the test environment's
site-packages (the same dependency set CI installed from pyproject.toml one step earlier; ``pip check`` proves it
satisfies the wheel's requirements). A ``.pth`` line adds a path but runs none of the ``.pth`` files there, so
the editable install of amlgen in the test environment stays out of sight: the test asserts amlgen is imported
from the fresh environment. ``AMLGEN_PACKAGING_FULL_INSTALL=1`` installs the wheel with its dependencies from
the package index instead (about a minute more).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from scaffold_support import REPO

pytestmark = pytest.mark.slow
LEFT_OUT = {".git", ".venv", ".venv-iac", "build", "dist", ".amlgen", "data", "tests", "benchmarks", ".ci"}


def run(argv: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
                          timeout=600, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel built from it, from a copy of the repository (the build writes into its source)."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        return skip | (LEFT_OUT & set(names) if Path(folder) == REPO else set())

    shutil.copytree(REPO, src, ignore=ignore)
    out = base / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)], cwd=base)
    (sdist,) = out.glob("amlgen-*.tar.gz")
    (wheel,) = out.glob("amlgen-*.whl")
    return {"sdist": sdist, "wheel": wheel, "base": base}


def test_the_sdist_and_the_wheel_carry_the_scaffold(dist):
    from generator.scaffold.table import BUNDLE_DIR, repo_files

    sources = repo_files(REPO)
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"setup.py", "MANIFEST.in", "generator/scaffold/table.py", *sources} <= names
    with zipfile.ZipFile(dist["wheel"]) as whl:
        for rel in sources:  # the wheel (built from the sdist) holds the repository's bytes, not a stale copy
            assert whl.read(f"{BUNDLE_DIR}/{rel}") == (REPO / rel).read_bytes(), rel
        names = set(whl.namelist())
    assert {"generator/scaffold/files/README.md", "generator/scaffold/files/gitignore",
            "generator/catalog/skus.yaml", "generator/catalog/components/chat_completion_pipeline/0.0.82.yaml"} <= names
    assert any(n.startswith("generator/data/sample/data/train_sft-") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "infra/", "templates/", "specs/"))]


def fresh_environment(wheel: Path, where: Path) -> Path:
    venv = where / "venv"
    if os.environ.get("AMLGEN_PACKAGING_FULL_INSTALL") == "1":
        run([sys.executable, "-m", "venv", str(venv)], cwd=where)
        run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel)], cwd=where)
        return venv
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=where)
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q", "--no-deps",
         "--no-index", str(wheel)], cwd=where)
    site = Path(run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=where).stdout.strip())
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_amlgen_test_dependencies.pth").write_text("".join(f"{p}\n" for p in deps))
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "check"], cwd=where)
    return venv


def test_a_wheel_and_an_empty_folder_give_a_working_project(dist, tmp_path):
    venv = fresh_environment(dist["wheel"], tmp_path)
    where = run([str(venv / "bin/python"), "-c", "import generator, generator.scaffold as s; "
                 "print(generator.__file__); print(s.source_root())"], cwd=tmp_path).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # amlgen from the wheel, scaffold bundled
    amlgen = str(venv / "bin/amlgen")
    empty = tmp_path / "work"
    empty.mkdir()

    r = run([amlgen, "init", "proj"], cwd=empty)
    assert "Next: cd proj && amlgen up --env dev --target local" in r.stdout
    proj = empty / "proj"
    r = run([amlgen, "up", "--env", "dev", "--target", "local"], cwd=proj)
    assert "Summary (dev, local emulator): 6 resources applied" in r.stdout, r.stdout
    # dev trains (6 specs, 3 parameter files); prod deploys and has promoted nothing yet (its endpoint, 3 parameter files)
    assert "ok: 13 generated files are current (dev, prod)" in run([amlgen, "render", "--all", "--check"], cwd=proj).stdout
    assert "ok: 7 specs valid" in run([amlgen, "validate", "--all"], cwd=proj).stdout
    workflows = sorted((proj / ".github/workflows").glob("amlgen-*.yml"))
    version = run([amlgen, "--version"], cwd=proj).stdout.split()[-1]
    assert len(workflows) == 4 and all(f'AMLGEN_INSTALL: "amlgen=={version}"' in w.read_text() for w in workflows)

    # the wheel's scaffold is the repository's own files: every one the same, but the repository's own
    copy = tmp_path / "repository"
    for name in ("infra", "templates", "specs", ".github"):
        shutil.copytree(REPO / name, copy / name)
    for name in ("README.md", ".gitignore", "docs/provisioning.md", "docs/gitops.md"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, copy / name)
    out = run([amlgen, "init", "--diff", str(copy)], cwd=tmp_path).stdout
    rows = [line.split(None, 1) for line in out.splitlines() if line.startswith(("same ", "differs ", "new "))]
    assert {p.strip(): s for s, p in rows if s != "same"} == {"README.md": "differs", ".gitignore": "differs",
                                                             ".pre-commit-config.yaml": "new"}, out
    assert sum(1 for s, _ in rows if s == "same") >= 20
