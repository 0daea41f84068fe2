"""`amlgen init`: a new project from the scaffold, with answers from options, a terminal, or marked placeholders."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import yaml
from scaffold_support import MARK, cli, files_of

KEYS = ("subscription_id", "resource_group", "name", "location")
GUID = "11111111-2222-3333-4444-555555555555"


TRAINS = {"compute.yml", "pipeline-job.yml", "model.yml", "endpoint.yml", "deployment.yml", "endpoint-traffic.yml"}
DEPLOYS = {"endpoint.yml"}  # a deploying environment before its first promotion: the endpoint only


def expected_paths(envs: list[str]) -> set[str]:
    """What init writes, from the scaffold's own table (rows) plus the rendered folders and the record: the first
    environment trains (modelled on dev), the others deploy (modelled on prod) and have promoted nothing yet."""
    from generator.scaffold import Answers, build

    params = {"main.parameters.json", "deploy.sh", "README.md"}
    out = set(build(Answers(envs=envs), "proj")) | {"infra/scaffold.yml"}
    out |= {f"specs/{e}/{n}" for i, e in enumerate(envs) for n in (DEPLOYS if i else TRAINS)}
    out |= {f"infra/params/{e}/{n}" for e in envs for n in params}
    return out


def build_files() -> dict[str, str]:
    from generator.scaffold import Answers, build

    return build(Answers(), "proj")


def workspace_lines(root: Path, env: str) -> dict[str, str]:
    lines = (root / f"infra/environments/{env}.yml").read_text().splitlines()
    return {key: next(line for line in lines if line.startswith(f"  {key}: ")) for key in KEYS}


def test_without_answers_every_placeholder_is_marked_and_the_project_works(amlgen, tmp_path):
    r = amlgen("init", "proj", "--no-input")
    assert r.code == 0, r.text
    root = tmp_path / "proj"
    assert set(files_of(root)) == expected_paths(["dev", "prod"])
    for env in ("dev", "prod"):
        lines = workspace_lines(root, env)
        assert all(MARK in line for line in lines.values()), lines
        assert lines["subscription_id"].startswith("  subscription_id: 00000000-0000-0000-0000-000000000000")
        assert f"rg-amlgen-{env}" in lines["resource_group"] and f"mlw-amlgen-{env}" in lines["name"]
    assert "8 placeholders to fill in" in r.out and "Next: cd proj && amlgen up --env dev --target local" in r.out
    assert "GitOps" not in r.out and {f".github/workflows/amlgen-{n}.yml" for n in ("pr", "apply", "drift", "promote")} \
        <= set(files_of(root))
    assert amlgen("render", "--all", "--check", "-C", str(root)).code == 0
    v = amlgen("validate", "--all", "-C", str(root))
    assert v.code == 0 and "ok: 7 specs valid" in v.out, v.text
    d = amlgen("init", "--diff", str(root))
    assert d.code == 0 and d.out.splitlines()[-1] == f"scaffold: {len(build_files())} same", d.out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary folder was left behind"


def test_answers_from_options_fill_the_environments(amlgen, tmp_path):
    r = amlgen("init", "proj", "--no-input", "--env", "stage", "--env", "live", "--env", "qa", "--subscription", GUID,
               "--resource-group", "rg-ml-{env}", "--workspace", "mlw-ml-{env}", "--location", "westeurope",
               "--location", "live=swedencentral")
    assert r.code == 0, r.text
    root = tmp_path / "proj"
    assert set(files_of(root)) == expected_paths(["stage", "live", "qa"])
    assert MARK not in "".join((root / "infra/environments").joinpath(f"{e}.yml").read_text()
                               for e in ("stage", "live", "qa"))
    from generator.config import load_all

    loaded = {e.name: e for e in load_all(root)}
    envs = {name: e.config for name, e in loaded.items()}
    assert envs["live"].workspace.model_dump() == {"subscription_id": GUID, "resource_group": "rg-ml-live",
                                                   "name": "mlw-ml-live", "location": "swedencentral"}
    assert envs["qa"].workspace.location == "westeurope" and envs["qa"].workspace.name == "mlw-ml-qa"
    # the first environment is modelled on dev (it trains), the others on prod: they deploy what the first one
    # trained, once promoted; each names itself in its tags
    assert not envs["stage"].environment.protected and envs["live"].environment.protected
    assert loaded["stage"].trains and envs["stage"].promotion is None
    for name in ("live", "qa"):
        cfg = envs[name]
        assert cfg.environment.protected and not loaded[name].trains, name
        assert cfg.promotion.source == "stage" and cfg.promoted is None, name
    assert {n: c.tags["environment"] for n, c in envs.items()} == {"stage": "stage", "live": "live", "qa": "qa"}
    assert amlgen("render", "--all", "--check", "-C", str(root)).code == 0
    assert "placeholders" not in r.out
    # the GitOps workflows name dev and prod: not written here, and init says so in one line
    notes = [line for line in r.out.splitlines() if "GitOps" in line]
    assert len(notes) == 1 and ".github/workflows/" in notes[0] and "docs/gitops.md" in notes[0], r.out
    assert not (root / ".github").exists() and (root / "docs/gitops.md").is_file()


def test_the_scaffolded_lock_is_what_amlgen_lock_resolves(amlgen, tmp_path):
    """infra/lock.yml comes with the scaffold; `amlgen lock` in the new project (the registry facts of the local
    target) resolves exactly it."""
    assert amlgen("init", "proj", "--no-input").code == 0
    lock = tmp_path / "proj/infra/lock.yml"
    before = lock.read_bytes()
    r = amlgen("lock", "--target", "local", "-C", str(tmp_path / "proj"))
    assert r.code == 0 and "unchanged: infra/lock.yml" in r.out, r.text
    assert lock.read_bytes() == before
    assert amlgen("lock", "--check", "--target", "local", "-C", str(tmp_path / "proj")).code == 0


def test_an_existing_empty_folder_is_filled_in_place(amlgen, tmp_path, monkeypatch):
    """`mkdir p && cd p && amlgen init .`: the folder itself stays (a shell standing in it sees the project)."""
    root = tmp_path / "here"
    root.mkdir()
    inode = root.stat().st_ino
    monkeypatch.chdir(root)
    r = amlgen("init", ".", "--no-input")
    assert r.code == 0, r.text
    assert root.stat().st_ino == inode
    assert (Path.cwd() / "infra/environments/dev.yml").is_file()
    assert "Next: amlgen up --env dev --target local" in r.out
    assert not [p for p in root.iterdir() if p.name.startswith(".amlgen-init")]


def test_existing_adds_a_project_beside_a_repository_and_keeps_its_own_files(amlgen, tmp_path):
    root = tmp_path / "repo"
    (root / "infra/terraform").mkdir(parents=True)
    (root / "infra/terraform/main.tf").write_text("# theirs\n")
    (root / "README.md").write_text("# our repository\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "src").mkdir()
    (root / "src/app.py").write_text("print('hi')\n")
    r = amlgen("init", str(root), "--existing", "--no-input")
    assert r.code == 0, r.text
    assert (root / "README.md").read_text() == "# our repository\n"
    assert (root / ".gitignore").read_text() == "*.log\n"
    assert (root / "infra/terraform/main.tf").read_text() == "# theirs\n"
    assert (root / "src/app.py").is_file()
    assert "kept your README.md" in r.out and "kept your .gitignore" in r.out
    warning = next(line for line in r.out.splitlines() if "your .gitignore lacks" in line)
    assert "/.amlgen/" in warning and "*.log" not in warning  # amlgen's patterns that are missing, not theirs
    assert set(expected_paths(["dev", "prod"])) - {"README.md", ".gitignore"} <= set(files_of(root))
    record = yaml.safe_load((root / "infra/scaffold.yml").read_text())
    assert "README.md" not in record["files"] and "templates/model.yml.j2" in record["files"]
    d = amlgen("init", "--diff", str(root))
    assert "differs  README.md" in d.out and "differs  .gitignore" in d.out, d.out


def test_existing_with_a_gitignore_that_has_amlgens_patterns_says_nothing_more(amlgen, tmp_path):
    from generator.scaffold import answers, build

    root = tmp_path / "repo"
    root.mkdir()
    ours = build(answers([]), project="repo")[".gitignore"]
    (root / ".gitignore").write_text("*.log\n" + ours)
    r = amlgen("init", str(root), "--existing", "--no-input")
    assert r.code == 0, r.text
    assert "kept your .gitignore" in r.out and "lacks" not in r.out


# --------------------------------------------------------------------------- a real terminal
def _read_until(fd: int, text: str, seen: list[str], timeout: float = 60.0) -> str:
    end = time.monotonic() + timeout
    buf = ""
    while text not in buf:
        left = end - time.monotonic()
        assert left > 0, f"no {text!r} on the terminal; it showed: {''.join(seen) + buf!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:
                chunk = ""
            assert chunk, f"the terminal closed before {text!r}: {''.join(seen) + buf!r}"
            buf += chunk
    seen.append(buf)
    return buf


def test_on_a_terminal_it_asks_for_what_the_options_did_not_give(tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen(cli("init", "proj", "--location", "prod=swedencentral"), cwd=tmp_path, stdin=slave,
                            stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen: list[str] = []
    dialogue = [
        ("Environments, comma-separated [dev, prod]", ""),
        ("Azure subscription id (every environment)", "not-a-guid"),
        ("try again", GUID),
        ("dev: resource group [rg-amlgen-dev, a placeholder]", "rg-team-dev"),
        ("dev: workspace name [mlw-amlgen-dev, a placeholder]", ""),
        ("dev: Azure region [eastus2, a placeholder]", "westeurope"),
        ("prod: resource group", ""),
        ("prod: workspace name", "mlw team"),
        ("try again", "mlw-team-prod"),
    ]
    try:
        for prompt, answer in dialogue:
            _read_until(master, prompt, seen)
            os.write(master, f"{answer}\n".encode())
        _read_until(master, "Created an amlgen project", seen)
        assert proc.wait(timeout=120) == 0, "".join(seen)
    finally:
        proc.kill()
        os.close(master)
    transcript = "".join(seen)
    assert "prod: Azure region" not in transcript  # given by --location
    root = tmp_path / "proj"
    dev, prod = workspace_lines(root, "dev"), workspace_lines(root, "prod")
    assert dev["subscription_id"] == f"  subscription_id: {GUID}" and prod["subscription_id"] == f"  subscription_id: {GUID}"
    assert dev["resource_group"] == "  resource_group: rg-team-dev" and dev["location"] == "  location: westeurope"
    assert dev["name"].startswith("  name: mlw-amlgen-dev") and MARK in dev["name"]
    assert prod["resource_group"].startswith("  resource_group: rg-amlgen-prod") and MARK in prod["resource_group"]
    assert prod["name"] == "  name: mlw-team-prod" and prod["location"] == "  location: swedencentral"


def test_without_a_terminal_and_without_options_it_asks_nothing(tmp_path):
    proc = subprocess.run(cli("init", "proj"), cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[" not in proc.stdout.split("Created", 1)[0]  # no prompt was printed before the result
    assert all(MARK in line for line in workspace_lines(tmp_path / "proj", "dev").values())
