"""The repository's own infra/, templates/ and specs/ are what `amlgen init` makes, plus the repository's choices.

The scaffold is read from the repository itself (an editable install; the wheel carries a build-time copy, held
against the repository in test_wheel.py), so a copied file cannot drift. What can: a new file in the repository
that the scaffold's table (generator/scaffold/table.py) does not carry, an environment file init cannot model,
rendered output that differs. Each shows here, with what to do.
"""

from __future__ import annotations

from conftest import REPO, files_of

COMPARED = ("infra", "templates", "specs", ".github")  # the repository's project folders (and its workflows)
INIT_ONLY = {"infra/scaffold.yml"}  # init's record of what it wrote; the repository was not made by init
# Files of the repository's own (not the scaffold's): name -> what `init --diff` reports for them.
REPOSITORY_OWN = {"README.md": "differs", ".gitignore": "differs", ".pre-commit-config.yaml": "new"}


def repository_answers() -> list[str]:
    """The repository's choices as `amlgen init` options: its environments and their workspace coordinates."""
    from generator.scaffold import MODELS, OPTIONS
    from generator.scaffold.envfile import current_values

    envs = sorted((p.stem for p in (REPO / "infra/environments").glob("*.yml")),
                  key=lambda e: (MODELS.index(e) if e in MODELS else len(MODELS), e))
    argv = [a for e in envs for a in ("--env", e)]
    for env in envs:
        rel = f"infra/environments/{env}.yml"
        for key, value in current_values((REPO / rel).read_text(), rel).items():
            assert value is not None, f"{rel}: workspace.{key} is missing or marked as a placeholder"
            argv += [OPTIONS[key], f"{env}={value}"]
    return argv


def test_the_repository_is_what_init_makes_with_its_own_choices(amlgen, tmp_path):
    r = amlgen("init", "made", "--no-input", *repository_answers())
    assert r.code == 0, r.text
    made = {p: b for p, b in files_of(tmp_path / "made").items() if p.split("/")[0] in COMPARED and p not in INIT_ONLY}
    repo = {f"{top}/{p}": b for top in COMPARED for p, b in files_of(REPO / top).items()}
    only_repo = sorted(set(repo) - set(made))
    only_init = sorted(set(made) - set(repo))
    differ = sorted(p for p in set(repo) & set(made) if repo[p] != made[p])
    assert not only_repo, (f"in the repository but not in what `amlgen init` makes: {only_repo}; add a row to "
                           "generator/scaffold/table.py ROWS (a new project needs it too), or, if it is this "
                           "repository's own, name it in this test")
    assert not only_init, f"`amlgen init` makes files the repository lacks: {only_init}"
    assert not differ, (f"`amlgen init` with the repository's choices makes these differently: {differ}; an "
                        "environment file init cannot model (generator/scaffold/envfile.py), or stale specs")


def test_the_repository_against_the_scaffold_file_by_file(amlgen):
    """`amlgen init --diff` on the repository: every scaffold file is the same, but the repository's own."""
    d = amlgen("init", "--diff", str(REPO))
    assert d.code == 0, d.text
    rows = [line.split(None, 1) for line in d.out.splitlines() if line.startswith(("same ", "differs ", "new "))]
    others = {path.strip(): status for status, path in rows if status != "same"}
    assert others == REPOSITORY_OWN, others


def test_the_repository_ignores_everything_a_project_ignores():
    from generator.scaffold import FILES_DIR

    ours = {line.strip() for line in (REPO / ".gitignore").read_text().splitlines()}
    project = [line for line in (FILES_DIR / "gitignore").read_text().splitlines() if line and not line.startswith("#")]
    assert [line for line in project if line not in ours] == []
