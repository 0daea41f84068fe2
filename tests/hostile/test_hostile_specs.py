"""Hand-edited or tampered specs folders (found by the adversarial audit, h/audit-hostile): every gate --
validate, plan, apply -- refuses them by name, writes nothing and uploads nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hostile_support import refused

from generator.errors import EXIT_INVALID


def _step_input(spec: dict, outside: Path) -> None:
    step = next(iter(spec["jobs"].values()))
    step["inputs"]["train_file_path"] = {"type": "uri_file", "path": str(outside / "keep.yml")}


def _step_code(spec: dict, outside: Path) -> None:
    spec["jobs"]["evil"] = {"type": "command", "code": str(outside), "command": "cat keep.yml",
                            "environment": "azureml://registries/azureml/environments/sklearn-1.5/versions/1",
                            "compute": "azureml:gpu-a100-1x"}


def _step_component_file(spec: dict, outside: Path) -> None:
    (outside / "comp.yml").write_text(yaml.safe_dump({
        "$schema": "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json", "name": "evil",
        "version": "1", "type": "command", "code": ".", "command": "cat keep.yml",
        "environment": "azureml://registries/azureml/environments/sklearn-1.5/versions/1"}))
    spec["jobs"]["evil"] = {"type": "command", "component": f"file:{outside / 'comp.yml'}",
                            "compute": "azureml:gpu-a100-1x"}


def _deployment_code(spec: dict, outside: Path) -> None:
    spec["code_configuration"] = {"code": str(outside), "scoring_script": "keep.yml"}


def _model_path(spec: dict, outside: Path) -> None:
    spec["path"] = str(outside / "keep.yml")


EDITS = [("pipeline-job.yml", _step_input), ("pipeline-job.yml", _step_code),
         ("pipeline-job.yml", _step_component_file), ("deployment.yml", _deployment_code),
         ("model.yml", _model_path)]


def _edit(project: Path, spec_file: str, edit, outside: Path) -> None:
    path = project / "specs/dev" / spec_file
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    spec = yaml.safe_load(text)
    edit(spec, outside)
    if spec_file == "pipeline-job.yml":
        spec["name"] = "hostile-upload"  # a new job, so apply submits it
    path.write_text(header + yaml.safe_dump(spec, sort_keys=False))


@pytest.mark.parametrize("spec_file, edit", EDITS)
def test_apply_uploads_nothing_from_outside_the_project(run, emu, project, outside, spec_file, edit):
    _edit(project, spec_file, edit, outside)
    for argv in (["plan", "--env", "dev"], ["apply", "--env", "dev", "-y"]):
        r = run(*argv)
        refused(r, EXIT_INVALID, rf"specs/dev/{spec_file}: .*leads out of the project")
    assert emu.write_calls() == 0


@pytest.mark.parametrize("spec_file, edit", EDITS)
def test_validate_refuses_what_apply_refuses(run, project, outside, spec_file, edit):
    _edit(project, spec_file, edit, outside)
    r = run("validate", "--env", "dev", target=None)
    assert r.code == EXIT_INVALID, r.text
    assert f"specs/dev/{spec_file}" in r.text and "leads out of the project" in r.text, r.text


def test_a_link_inside_the_project_that_leads_out_is_refused(run, emu, project, outside):
    os.symlink(outside, project / "escape")
    _edit(project, "deployment.yml", lambda s, o: s.update(code_configuration={"code": "../../escape",
                                                                             "scoring_script": "keep.yml"}), outside)
    refused(run("plan", "--env", "dev"), EXIT_INVALID, r"code_configuration\.code: local path '\.\./\.\./escape'")
    assert emu.write_calls() == 0
