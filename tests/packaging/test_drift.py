"""The repository's own infra/, templates/, specs/ and workflows are what `amlgen init` makes, plus the repository's
choices.

The scaffold is read from the repository itself (an editable install; the wheel carries a build-time copy, held
against the repository in test_wheel.py), so a copied file cannot drift. What can: a new file in the repository
that the scaffold's table (generator/scaffold/table.py) does not carry, an environment file init cannot model,
rendered output that differs. Each shows here, with what to do.

The repository's choices, and nothing else, are allowed to differ:
- its environments and their workspace coordinates (given to init as options);
- what its workflows install (`AMLGEN_INSTALL: "."`, the repository itself; init writes `amlgen==<version>`);
- the model its deploying environments were promoted (a `promoted:` block ending the file, as `amlgen promote`
  appends it; a new project has promoted nothing, so it is recorded in what init made the same way and rendered).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from scaffold_support import REPO, files_of

COMPARED = ("infra", "templates", "specs", ".github")  # the repository's project folders (and its workflows)
INIT_ONLY = {"infra/scaffold.yml"}  # init's record of what it wrote; the repository was not made by init
# Files of the repository's own (not the scaffold's): name -> what `init --diff` reports for them.
REPOSITORY_OWN = {"README.md": "differs", ".gitignore": "differs", ".pre-commit-config.yaml": "new"}


def repository_answers(repo: Path = REPO) -> list[str]:
    """The repository's choices as `amlgen init` options: its environments and their workspace coordinates."""
    from generator.scaffold import MODELS, OPTIONS
    from generator.scaffold.envfile import current_values

    envs = sorted((p.stem for p in (repo / "infra/environments").glob("*.yml")),
                  key=lambda e: (MODELS.index(e) if e in MODELS else len(MODELS), e))
    argv = [a for e in envs for a in ("--env", e)]
    for env in envs:
        rel = f"infra/environments/{env}.yml"
        for key, value in current_values((repo / rel).read_text(), rel).items():
            assert value is not None, f"{rel}: workspace.{key} is missing or marked as a placeholder"
            argv += [OPTIONS[key], f"{env}={value}"]
    return argv


def install_line(text: str, rel: str) -> str:
    """The workflow's `AMLGEN_INSTALL:` line (what its `pip install` installs)."""
    from generator.scaffold.envfile import INSTALL_PATH, scalar_spans

    span = scalar_spans(text, rel).get(INSTALL_PATH)
    assert span is not None, f"{rel}: no env.AMLGEN_INSTALL (the scaffold pins amlgen there)"
    return text.splitlines(keepends=True)[span.line]


def with_repository_choices(amlgen, repo: Path, made: Path) -> None:
    """Give the project init made the repository's choices init has no option for: its workflows' install
    line, and its promoted models (then rendered, as `amlgen promote` does)."""
    from generator import __version__
    from generator.scaffold.envfile import WORKFLOWS, promoted_tail

    for path in sorted((made / WORKFLOWS).glob("amlgen-*.yml")):
        rel = path.relative_to(made).as_posix()
        text, ours = path.read_text(), install_line(path.read_text(), rel)
        assert ours.strip().startswith(f'AMLGEN_INSTALL: "amlgen=={__version__}"'), (rel, ours)
        theirs = install_line((repo / rel).read_text(), rel) if (repo / rel).is_file() else ours
        path.write_text(text.replace(ours, theirs, 1))
    promoted = False
    for path in sorted((repo / "infra/environments").glob("*.yml")):
        rel = path.relative_to(repo).as_posix()
        block = promoted_tail(path.read_text(), rel)[1]
        if block:
            mine = made / rel
            assert not promoted_tail(mine.read_text(), rel)[1], f"init carried the repository's promotion into {rel}"
            mine.write_text(mine.read_text() + block)
            promoted = True
    if promoted:
        r = amlgen("render", "--all", "-C", str(made))
        assert r.code == 0, r.text


def drift(amlgen, repo: Path, made: Path) -> tuple[list[str], list[str], list[str]]:
    """(only in the repository, only in what init made, different in both), after `amlgen init` with the
    repository's choices."""
    r = amlgen("init", str(made), "--no-input", *repository_answers(repo))
    assert r.code == 0, r.text
    with_repository_choices(amlgen, repo, made)
    got = {p: b for p, b in files_of(made).items() if p.split("/")[0] in COMPARED and p not in INIT_ONLY}
    have = {f"{top}/{p}": b for top in COMPARED for p, b in files_of(repo / top).items()}
    return (sorted(set(have) - set(got)), sorted(set(got) - set(have)),
            sorted(p for p in set(have) & set(got) if have[p] != got[p]))


def test_the_repository_is_what_init_makes_with_its_own_choices(amlgen, tmp_path):
    only_repo, only_init, differ = drift(amlgen, REPO, tmp_path / "made")
    assert not only_repo, (f"in the repository but not in what `amlgen init` makes: {only_repo}; add a row to "
                           "generator/scaffold/table.py ROWS (a new project needs it too), or, if it is this "
                           "repository's own, name it in this test")
    assert not only_init, f"`amlgen init` makes files the repository lacks: {only_init}"
    assert not differ, (f"`amlgen init` with the repository's choices makes these differently: {differ}; an "
                        "environment file init cannot model (generator/scaffold/envfile.py), or stale specs")


def diff_others(amlgen, repo: Path) -> dict[str, str]:
    d = amlgen("init", "--diff", str(repo))
    assert d.code == 0, d.text
    rows = [line.split(None, 1) for line in d.out.splitlines() if line.startswith(("same ", "differs ", "new "))]
    return {path.strip(): status for status, path in rows if status != "same"}


def test_the_repository_against_the_scaffold_file_by_file(amlgen):
    """`amlgen init --diff` on the repository: every scaffold file is the same, but the repository's own."""
    assert diff_others(amlgen, REPO) == REPOSITORY_OWN


def test_a_promotion_in_the_repository_is_its_own_choice(amlgen, tmp_path):
    """Once the repository's prod has promoted a model (the promote workflow's merged pull request), both
    comparisons above still hold; and a new project never inherits the promotion (with_repository_choices)."""
    from generator.flows.promote import record

    repo = tmp_path / "repo"
    for name in (*COMPARED, "docs", "README.md", ".gitignore"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, repo / name)
    deploying = [p.stem for p in (repo / "infra/environments").glob("*.yml") if "role: deploy" in p.read_text()]
    assert deploying, "the repository has no deploying environment"
    for env in deploying:
        record(repo, env, {"registry": "amlgen-models", "name": "phi3-chat-ft", "version": "3", "source_env": "dev",
                           "source_job": "amlgen-dev-ft-0a1b2c", "metrics": {"train_loss": 0.41}, "date": "2025-05-01"})
    assert amlgen("render", "--all", "-C", str(repo)).code == 0
    assert files_of(repo / "specs").keys() > files_of(REPO / "specs").keys()  # the promoted model is deployed
    assert drift(amlgen, repo, tmp_path / "made") == ([], [], [])
    assert diff_others(amlgen, repo) == REPOSITORY_OWN


def test_the_repository_ignores_everything_a_project_ignores():
    from generator.scaffold import FILES_DIR

    ours = {line.strip() for line in (REPO / ".gitignore").read_text().splitlines()}
    project = [line for line in (FILES_DIR / "gitignore").read_text().splitlines() if line and not line.startswith("#")]
    assert [line for line in project if line not in ours] == []
