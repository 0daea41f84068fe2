"""Taking a newer amlgen's scaffold: `amlgen init --diff` tells the team's edits from amlgen's changes, and
`--update` takes only amlgen's changes to files nobody edited.

A newer amlgen is simulated faithfully through the record (infra/scaffold.yml): "amlgen wrote X" is a record
entry with X's fingerprint, so a project file equal to X whose amlgen version is now Y reads as "amlgen changed".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from scaffold_support import MARK, files_of, one_line_error


def set_record(root: Path, path: str, text: str | None) -> None:
    """Pretend amlgen last wrote ``text`` at ``path`` (None: amlgen never wrote it)."""
    from generator.scaffold.create import fingerprint

    record = root / "infra/scaffold.yml"
    lines = record.read_text().splitlines(keepends=True)
    lines = [line for line in lines if not line.startswith(f"  {path}: ")]
    if text is not None:
        lines.append(f"  {path}: {fingerprint(path, text)}\n")
    record.write_text("".join(lines))


def statuses(out: str) -> dict[str, str]:
    known = ("same", "amlgen changed", "new", "edited here", "both changed", "differs", "deleted here", "dropped")
    result = {}
    for line in out.splitlines():
        for status in known:
            if line.startswith(status + " ") and not line.startswith(("--- ", "+++ ")):
                result[line[len(status):].strip()] = status
    return result


@pytest.fixture
def proj(amlgen, tmp_path) -> Path:
    assert amlgen("init", "proj", "--no-input").code == 0
    return tmp_path / "proj"


def test_every_status_and_an_update_that_never_touches_an_edit(amlgen, proj):
    t = proj / "templates"
    old_model = (t / "model.yml.j2").read_text().replace("description", "summary")  # what an older amlgen wrote
    (t / "model.yml.j2").write_text(old_model)
    set_record(proj, "templates/model.yml.j2", old_model)                          # -> amlgen changed
    (t / "compute.yml.j2").write_text((t / "compute.yml.j2").read_text() + "# our tweak\n")  # -> edited here
    both = (t / "endpoint.yml.j2").read_text() + "# ours\n"
    (t / "endpoint.yml.j2").write_text(both)
    set_record(proj, "templates/endpoint.yml.j2", "an older amlgen's endpoint\n")  # -> both changed
    (t / "data.yml.j2").unlink()
    set_record(proj, "templates/data.yml.j2", None)                                # -> new
    (proj / "infra/bicep/modules/network.bicep").unlink()                         # -> deleted here
    (t / "legacy.yml.j2").write_text("gone from amlgen\n")
    set_record(proj, "templates/legacy.yml.j2", "gone from amlgen\n")              # -> dropped
    edited = {p: (proj / p).read_bytes() for p in ("templates/compute.yml.j2", "templates/endpoint.yml.j2",
                                                   "templates/legacy.yml.j2")}

    d = amlgen("init", "--diff", str(proj))
    assert d.code == 0, d.text
    got = statuses(d.out)
    assert {p: s for p, s in got.items() if s != "same"} == {
        "templates/model.yml.j2": "amlgen changed", "templates/compute.yml.j2": "edited here",
        "templates/endpoint.yml.j2": "both changed", "templates/data.yml.j2": "new",
        "infra/bicep/modules/network.bicep": "deleted here", "templates/legacy.yml.j2": "dropped"}
    assert "+++ b/templates/model.yml.j2" in d.out and "+++ b/templates/endpoint.yml.j2" in d.out
    assert "b/templates/compute.yml.j2" not in d.out  # nothing of amlgen's to take there

    u = amlgen("init", "--update", str(proj))
    assert u.code == 0, u.text
    assert "updated 2 file(s): templates/data.yml.j2, templates/model.yml.j2" in u.out
    assert "templates/endpoint.yml.j2" in u.out.split("left as they are", 1)[1]
    assert all((proj / p).read_bytes() == b for p, b in edited.items()), "update touched an edited file"
    assert not (proj / "infra/bicep/modules/network.bicep").exists()
    after = statuses(amlgen("init", "--diff", str(proj)).out)
    assert after["templates/model.yml.j2"] == "same" and after["templates/data.yml.j2"] == "same"
    assert after["templates/compute.yml.j2"] == "edited here" and after["templates/endpoint.yml.j2"] == "both changed"
    assert after["infra/bicep/modules/network.bicep"] == "deleted here"
    # the update is a reviewed change: render the new templates, and the specs follow
    assert amlgen("render", "--all", "--check", "-C", str(proj)).code != 0  # the new template changes specs
    assert amlgen("render", "--all", "-C", str(proj)).code == 0


def test_filling_in_the_placeholders_is_not_an_edit(amlgen, proj):
    dev = proj / "infra/environments/dev.yml"
    text = dev.read_text().replace("rg-amlgen-dev", "rg-team-dev").replace("mlw-amlgen-dev", "mlw-team-dev")
    filled = "".join((line.split("  # " + MARK)[0] + ("  # ours" if "subscription_id" in line else "") + "\n")
                     if MARK in line else line for line in text.splitlines(keepends=True))
    dev.write_text(filled)
    defaults = proj / "infra/defaults.yml"
    defaults.write_text(defaults.read_text().replace("locations: [eastus2, swedencentral]",
                                                     "locations: [eastus2, swedencentral, westeurope]"))
    got = statuses(amlgen("init", "--diff", str(proj)).out)
    assert got["infra/environments/dev.yml"] == "same" and got["infra/defaults.yml"] == "same"

    # an older amlgen's dev model lacked the infrastructure: section (the record says so, and the team never edited
    # the file beyond its answers): --update takes the new model and keeps the team's workspace lines exactly
    block = "infrastructure:\n  deploy_registry: true"
    assert block in filled
    older = filled[:filled.index(block)].rstrip("\n") + "\n"
    dev.write_text(older)
    set_record(proj, "infra/environments/dev.yml", older)
    assert statuses(amlgen("init", "--diff", str(proj)).out)["infra/environments/dev.yml"] == "amlgen changed"
    assert amlgen("init", "--update", str(proj)).code == 0
    assert dev.read_text() == filled
    assert "  subscription_id: 00000000-0000-0000-0000-000000000000  # ours\n" in filled
    assert "  name: mlw-team-dev\n" in filled


def test_the_diff_is_a_patch_git_can_apply(amlgen, proj, tmp_path):
    """`amlgen init --diff` output carries unified diffs (a/ = the project, b/ = amlgen) that `git apply` takes, so a
    team can pick files or hunks (`git apply --include=...`) for its reviewed change."""
    t = proj / "templates"
    older = (t / "model.yml.j2").read_text().replace("description", "summary")
    (t / "model.yml.j2").write_text(older)
    set_record(proj, "templates/model.yml.j2", older)
    d = amlgen("init", "--diff", str(proj))
    patch = "".join(line for line in d.out.splitlines(keepends=True)
                    if line.startswith(("--- ", "+++ ", "@@", " ", "-", "+", "\\")))
    (tmp_path / "scaffold.patch").write_text(patch)
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    subprocess.run(["git", "apply", "--include=templates/model.yml.j2", str(tmp_path / "scaffold.patch")], cwd=proj,
                   check=True)
    assert statuses(amlgen("init", "--diff", str(proj)).out)["templates/model.yml.j2"] == "same"


def test_a_project_without_a_record_is_compared_file_by_file(amlgen, proj):
    (proj / "infra/scaffold.yml").unlink()
    (proj / "templates/model.yml.j2").write_text("ours\n")
    got = statuses(amlgen("init", "--diff", str(proj)).out)
    assert got["templates/model.yml.j2"] == "differs" and got["infra/environments/prod.yml"] == "same"
    before = files_of(proj)
    u = amlgen("init", "--update", str(proj))
    assert u.code == 0 and (proj / "templates/model.yml.j2").read_text() == "ours\n"
    assert set(files_of(proj)) == set(before) | {"infra/scaffold.yml"}


def test_a_broken_record_or_environment_is_a_one_line_error(amlgen, proj):
    record = proj / "infra/scaffold.yml"
    record.write_text("files: [not, a, mapping]\n")
    one_line_error(amlgen("init", "--diff", str(proj)), 1, r"infra/scaffold\.yml: not a record written by amlgen init")
    record.write_text(yaml.safe_dump({"files": {}, "environments": {"dev": "staging"}}))
    one_line_error(amlgen("init", "--diff", str(proj)), 1, r"model 'staging', which this amlgen does not have")
    record.unlink()
    (proj / "infra/environments/dev.yml").write_text("workspace: [unclosed\n")
    one_line_error(amlgen("init", "--diff", str(proj)), 1, r"infra/environments/dev\.yml:\d+: malformed YAML")


def test_a_promotion_is_the_projects_not_an_edit(amlgen, proj):
    """`amlgen promote` appends a promoted: block to a deploying environment's file: `--diff` calls the file the
    same, and `--update` takes amlgen's newer version of it with the promotion kept."""
    from generator.flows.promote import record

    prod = proj / "infra/environments/prod.yml"
    scaffolded = prod.read_text()
    record(proj, "prod", {"registry": "amlgen-models", "name": "phi3-chat-ft", "version": "3", "source_env": "dev",
                          "source_job": "amlgen-dev-ft-0a1b2c", "metrics": {"train_loss": 0.41}, "date": "2025-05-01"})
    promoted = prod.read_text()
    block = promoted[len(scaffolded):]
    assert promoted.startswith(scaffolded) and "promoted:" in block
    assert amlgen("render", "--all", "-C", str(proj)).code == 0
    assert (proj / "specs/prod/deployment.yml").is_file()  # prod now deploys the promoted model
    assert statuses(amlgen("init", "--diff", str(proj)).out)["infra/environments/prod.yml"] == "same"

    older = scaffolded.replace("  instance_count: 2\n", "  instance_count: 1\n")  # what an older amlgen wrote
    assert older != scaffolded
    prod.write_text(older + block)
    set_record(proj, "infra/environments/prod.yml", older)
    assert statuses(amlgen("init", "--diff", str(proj)).out)["infra/environments/prod.yml"] == "amlgen changed"
    assert amlgen("init", "--update", str(proj)).code == 0
    assert prod.read_text() == promoted

    # a block the team moved is part of its edits (nothing of amlgen's to take, nothing lost)
    moved = block.lstrip("\n") + "\n" + scaffolded
    prod.write_text(moved)
    assert statuses(amlgen("init", "--diff", str(proj)).out)["infra/environments/prod.yml"] == "edited here"
    assert amlgen("init", "--update", str(proj)).code == 0 and prod.read_text() == moved


def test_what_the_workflows_install_is_the_projects_but_amlgens_own_pin(amlgen, proj):
    """init pins the workflows to the amlgen that made them (`amlgen==X`): `--update` moves that pin with the
    files; any other install (the team's fork, a private index) is the team's answer, like a workspace name."""
    from generator import __version__

    pin = f'AMLGEN_INSTALL: "amlgen=={__version__}"'
    flows = sorted((proj / ".github/workflows").glob("amlgen-*.yml"))
    assert len(flows) == 4 and all(f.read_text().count(pin) == 1 for f in flows)
    pr, apply_, drift = (proj / f".github/workflows/amlgen-{n}.yml" for n in ("pr", "apply", "drift"))
    pr.write_text(pr.read_text().replace(pin, 'AMLGEN_INSTALL: "git+https://github.com/our-org/amlgen@4f2a9c1"'))
    older = apply_.read_text().replace(pin, 'AMLGEN_INSTALL: "amlgen==0.0.1"')  # init of an older amlgen wrote it
    apply_.write_text(older)
    drift.write_text(drift.read_text() + "jobs: [not, closed\n")  # no longer YAML: compared as text
    got = statuses(amlgen("init", "--diff", str(proj)).out)
    assert got[".github/workflows/amlgen-pr.yml"] == "same", got
    assert got[".github/workflows/amlgen-apply.yml"] == "amlgen changed", got
    assert got[".github/workflows/amlgen-drift.yml"] == "edited here", got
    u = amlgen("init", "--update", str(proj))
    assert u.code == 0 and "updated 1 file(s): .github/workflows/amlgen-apply.yml" in u.out, u.text
    assert apply_.read_text().count(pin) == 1 and "our-org/amlgen@4f2a9c1" in pr.read_text()
