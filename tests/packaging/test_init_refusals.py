"""`amlgen init` on bad input: one-line errors, and nothing written, half-written or lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from scaffold_support import cli, files_of, one_line_error, snapshot

GUID = "11111111-2222-3333-4444-555555555555"


def nothing_new(folder: Path, before: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == before, "init left something behind"


@pytest.mark.parametrize("argv, pattern", [
    (["--env", "Prod"], r"--env 'Prod': environment name 'Prod' must be 1-20 lowercase letters"),
    (["--env", "e" * 21], r"--env 'e{21}': environment name .* must be 1-20"),
    (["--env", "dev", "--env", "dev"], r"--env: an environment is named twice"),
    (["--workspace", "my ws"], r"--workspace 'my ws': breaks the Azure ML workspace rule"),
    (["--workspace", "mlw-{env}-" + "x" * 30], r"--workspace 'mlw-dev-x+': is 38 characters; Azure allows 3-33"),
    (["--resource-group", "rg-team."], r"--resource-group 'rg-team\.': breaks the resource group rule"),
    (["--subscription", "1234"], r"--subscription '1234': .*GUID"),
    (["--location", "East US"], r"--location 'East US': breaks the Azure region rule"),
    (["--workspace", "staging=mlw-x"], r"--workspace 'staging=mlw-x': no environment 'staging' \(environments: dev, prod\)"),
    (["--subscription", GUID, "--resource-group", "rg-x", "--workspace", "mlw-x"],
     r"environments 'dev' and 'prod' would manage the same workspace"),
])
def test_a_name_azure_would_reject_is_a_usage_error(amlgen, tmp_path, argv, pattern):
    r = amlgen("init", "proj", "--no-input", *argv)
    one_line_error(r, 64, pattern)
    nothing_new(tmp_path, set())


def test_an_environment_name_too_long_for_the_derived_azure_names(amlgen, tmp_path):
    """Valid for amlgen, but the storage account derived from it would break Azure's 24-character limit."""
    r = amlgen("init", "proj", "--no-input", "--env", "integration-tests")
    one_line_error(r, 1, r"the new project would not pass amlgen's checks: .*storage account name .* is 30 "
                         r"characters; Azure allows 3-24")
    nothing_new(tmp_path, set())


def test_a_folder_that_is_not_empty_is_refused(amlgen, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n")
    before = snapshot(root)
    one_line_error(amlgen("init", str(root), "--no-input"), 1, r"proj is not empty; amlgen init writes into a new or "
                                                                 r"empty folder \(--existing")
    assert snapshot(root) == before


def test_existing_never_overwrites_a_file_it_did_not_create(amlgen, tmp_path):
    root = tmp_path / "proj"
    (root / "templates").mkdir(parents=True)
    (root / "templates/model.yml.j2").write_text("ours\n")
    (root / "README.md").write_text("ours\n")
    before = snapshot(root)
    r = amlgen("init", str(root), "--existing", "--no-input")
    one_line_error(r, 1, r"templates/model\.yml\.j2 exists; amlgen init never overwrites a file it did not create")
    assert snapshot(root) == before


def test_existing_refuses_a_folder_in_the_way(amlgen, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "specs").write_text("a file where a folder goes\n")
    before = snapshot(root)
    one_line_error(amlgen("init", str(root), "--existing", "--no-input"), 1, r"proj/specs is in the way of specs/dev")
    assert snapshot(root) == before


def test_a_link_out_of_the_folder_is_refused(amlgen, tmp_path):
    root, outside = tmp_path / "proj", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "templates").symlink_to(outside)
    before = snapshot(root), snapshot(outside)
    one_line_error(amlgen("init", str(root), "--existing", "--no-input"), 1, r"is in the way of templates/.* a link out")
    assert (snapshot(root), snapshot(outside)) == before


def test_an_existing_project_is_refused_and_pointed_at_diff(amlgen, tmp_path):
    assert amlgen("init", "proj", "--no-input").code == 0
    before = snapshot(tmp_path / "proj")
    one_line_error(amlgen("init", "proj", "--existing", "--no-input"), 1,
                   r"is already an amlgen project .*`amlgen init --diff`")
    assert snapshot(tmp_path / "proj") == before


def test_a_file_or_a_missing_parent_is_refused(amlgen, tmp_path):
    (tmp_path / "file").write_text("x\n")
    one_line_error(amlgen("init", "file", "--no-input"), 1, r"file exists and is not a folder")
    one_line_error(amlgen("init", "no/such/proj", "--no-input"), 1, r"cannot create .*no/such/proj: no folder .*no/such")
    nothing_new(tmp_path, {"file"})


def test_diff_options_are_not_mixed_with_answers(amlgen):
    one_line_error(amlgen("init", "--diff", "--env", "dev"), 64, r"--diff and --update take only the project folder")
    one_line_error(amlgen("init", "--diff", "--update"), 64, r"give --diff or --update, not both")
    one_line_error(amlgen("init", "--diff"), 1, r"no amlgen project here")


def test_a_place_the_user_cannot_write_to(tmp_path):
    """As a real other user (nobody) in a folder owned by root: one line, nothing created."""
    shared = Path(tempfile.mkdtemp(prefix="amlgen-ro-"))  # reachable by another user (pytest's tmp is 0700)
    try:
        shared.chmod(0o755)
        before = snapshot(shared)
        for target in (shared / "proj", shared):  # a new folder in it, and the (empty) folder itself
            proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                   *cli("init", str(target), "--no-input")], cwd="/", capture_output=True,
                                  text=True, env={**os.environ, "HOME": str(tmp_path)}, timeout=120)
            assert proc.returncode == 1, proc.stderr
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert lines[0].startswith(f"error: cannot write in {shared}: Permission denied; nothing was written")
            assert snapshot(shared) == before
    finally:
        shutil.rmtree(shared)


def test_interrupted_at_any_moment_the_project_is_whole_or_absent(tmp_path):
    """Ctrl-C during init: exit 130 and no project (and no temporary folder), or exit 0 and the whole project."""
    reference = tmp_path / "ref"
    reference.mkdir()
    subprocess.run(cli("init", "proj", "--no-input"), cwd=reference, check=True, capture_output=True, timeout=120)
    whole = files_of(reference / "proj")
    outcomes = []
    for delay in (0.4, 0.8, 1.2, 1.6, 2.0, 2.5, 3.5):
        work = tmp_path / f"run-{delay}"
        work.mkdir()
        proc = subprocess.Popen(cli("init", "proj", "--no-input"), cwd=work, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        if proc.returncode == 130:
            assert err.strip() == "interrupted", err
            assert list(work.iterdir()) == [], [p.name for p in work.iterdir()]
        else:
            assert proc.returncode == 0, err
            assert files_of(work / "proj") == whole
            assert [p.name for p in work.iterdir()] == ["proj"]
        outcomes.append(proc.returncode)
        if proc.returncode == 0:
            break
    assert 130 in outcomes, outcomes
