"""Hand-edited or tampered specs folders (found by the adversarial audit, h/audit-hostile): every gate --
validate, plan, apply -- refuses them by name, writes nothing and uploads nothing."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from engine_support import REPO
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


# --------------------------------------------------------------------------- whose specs, and all of them
GATES = (["validate", "--env", "dev"], ["plan", "--env", "dev"], ["apply", "--env", "dev", "-y"],
         ["invoke", "--env", "dev"], ["destroy", "--env", "dev", "-y"])


def _gate(run, argv: list[str], *extra: str):
    return run(*argv, *extra, target=None if argv[0] == "validate" else "local")


def test_another_environments_specs_are_refused(run, emu, project, unchanged):
    """`--specs specs/prod` with `--env dev`: the same file names, prod's resources -- refused by the header."""
    shutil.copytree(REPO / "specs/prod", project / "specs/prod")  # the repository's prod specs (its endpoint)
    check = unchanged()
    for argv in GATES[1:]:
        refused(_gate(run, argv, "--specs", str(project / "specs/prod")), EXIT_INVALID,
                r"specs/prod/\S+\.yml: rendered for environment 'prod', not 'dev'")
    assert emu.write_calls() == 0
    check()


@pytest.mark.parametrize("how", ["other", "none"])
def test_a_spec_whose_header_names_another_environment_fails_every_gate(run, emu, project, how):
    path = project / "specs/dev/endpoint.yml"
    text = path.read_text()
    text = text.replace("--env dev`", "--env prod`") if how == "other" else \
        "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    path.write_text(text)
    pattern = r"rendered for environment 'prod', not 'dev'" if how == "other" else r"has no generated header"
    for argv in GATES:
        r = _gate(run, argv)
        assert r.code == EXIT_INVALID and "Traceback" not in r.text, (argv, r.text)
        assert re.search(r"specs/dev/endpoint\.yml: " + pattern, r.err), (argv, r.err)
    assert emu.write_calls() == 0


def test_a_missing_spec_fails_every_gate(run, emu, project, unchanged):
    (project / "specs/dev/endpoint.yml").unlink()
    check = unchanged()
    for argv in GATES:
        r = _gate(run, argv)
        assert r.code == EXIT_INVALID and "Traceback" not in r.text, (argv, r.text)
        assert re.search(r"endpoint\.yml.*missing.*run `amlgen render --env dev`", r.err), (argv, r.err)
    assert emu.write_calls() == 0
    check()


# --------------------------------------------------------------------------- the gates agree
def test_an_unknown_key_in_a_pipeline_job_fails_plan_and_apply_as_it_fails_validate(run, emu, project):
    path = project / "specs/dev/pipeline-job.yml"
    path.write_text(path.read_text().replace("\nsettings:\n", "\nsettings:\n  force_rerunn: true\n", 1))
    assert "force_rerunn" in path.read_text()
    for argv in GATES[:3]:
        r = _gate(run, argv)
        assert r.code == EXIT_INVALID, (argv, r.text)
        assert re.search(r"specs/dev/pipeline-job\.yml:\d+: settings\.force_rerunn: unknown key", r.err), (argv, r.err)
    assert emu.write_calls() == 0


def test_a_spec_saved_under_another_kinds_file_name_is_refused(run, emu, project):
    (project / "specs/dev/endpoint.yml").write_text((project / "specs/dev/model.yml").read_text())
    for argv in GATES[:3]:
        r = _gate(run, argv)
        assert r.code == EXIT_INVALID, (argv, r.text)
        assert re.search(r"specs/dev/endpoint\.yml:\d+: \$schema: .*model\.schema\.json.* is not "
                         r"managedOnlineEndpoint\.schema\.json", r.err), (argv, r.err)
    assert emu.write_calls() == 0


def test_a_schema_naming_the_wrong_kind_is_refused_even_when_the_content_loads(run, emu, project):
    """A compute spec's `$schema` naming a data asset: the SDK loads it as compute, the header is dev's."""
    path = project / "specs/dev/compute.yml"
    path.write_text(path.read_text().replace("amlCompute.schema.json", "data.schema.json"))
    for argv in GATES[:3]:
        r = _gate(run, argv)
        assert r.code == EXIT_INVALID and "specs/dev/compute.yml:3: $schema" in r.err, (argv, r.text)
    assert emu.write_calls() == 0
