"""Rules the adversarial audit (h/audit-hostile) found missing: each test failed before its fix."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hostile_support import refused, snapshot

from generator.errors import EXIT_INVALID


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


# `data prepare` followed a symlink inside data.output_dir out of the project and overwrote files there.
@pytest.mark.parametrize("link, output_dir", [("data/out", "data/out"), ("data", None)])
def test_data_prepare_does_not_follow_a_link_out_of_the_project(run, project, outside, link, output_dir):
    target = project / link
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, target)
    if output_dir:
        _append(project / "infra/environments/dev.yml", f"data:\n  output_dir: {output_dir}\n")
    before = snapshot(outside)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    refused(r, EXIT_INVALID, r"data\.output_dir|out of the project")
    assert snapshot(outside) == before


# data.output_dir could name the project itself or a folder amlgen or git owns.
@pytest.mark.parametrize("output_dir", [".", "specs/dev", "infra", ".git", "templates", ".amlgen/x", "./infra/sub"])
def test_data_output_dir_is_not_a_folder_amlgen_or_git_owns(run, project, output_dir):
    _append(project / "infra/environments/dev.yml", f"data:\n  output_dir: {output_dir}\n")
    before = snapshot(project)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    refused(r, EXIT_INVALID, r"infra/environments/dev\.yml:\d+: data\.output_dir")
    assert snapshot(project) == before


def test_data_output_dir_may_not_lead_by_a_link_into_a_folder_amlgen_owns(run, project):
    (project / "data").mkdir(exist_ok=True)
    os.symlink("../specs", project / "data/specs-link")
    _append(project / "infra/environments/dev.yml", "data:\n  output_dir: data/specs-link/dev\n")
    before = snapshot(project)
    r = run("data", "prepare", "--env", "dev", "--source", "sample", "-q", target=None)
    refused(r, EXIT_INVALID, r"infra/environments/dev\.yml:\d+: data\.output_dir: .*symbolic link to .*specs/")
    assert snapshot(project) == before
