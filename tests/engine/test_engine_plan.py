"""plan: create / update (field-level, semantic) / no change / job already ran, in text, json and markdown."""

from __future__ import annotations

import json

import pytest
from engine_support import DEP, EP, job_name


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_plan_create_in_every_format(run, emu, fmt):
    r = run("plan", "--env", "dev", "--format", fmt, "--detailed-exitcode")
    assert r.code == 2, r.text
    if fmt == "json":
        data = json.loads(r.out)
        assert data["changes"] is True and data["summary"]["create"] == 6
        assert {i["action"] for i in data["resources"]} == {"create"}
    elif fmt == "markdown":
        assert r.out.startswith("### amlgen plan: `dev`")
        assert "| + | compute | `gpu-a100-1x` | create |" in r.out
    else:
        assert "+ compute gpu-a100-1x" in r.out
    assert emu.write_calls() == 0


def test_plan_update_and_no_change_in_every_format(run, emu, project):
    assert run("apply", "--env", "dev").code == 0
    specs = project / "specs/dev"
    _edit(specs / "deployment.yml", "instance_count: 1", "instance_count: 2")
    _edit(specs / "compute.yml", "max_instances: 1", "max_instances: 3")
    # a purely textual change (key order, quoting, comments) is not a change
    _edit(specs / "endpoint.yml", "auth_mode: key", "auth_mode: 'key'  # quoted")
    emu.clear_requests()

    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 2, r.text
    assert "~ compute gpu-a100-1x" in r.out and "max_instances: 1 -> 3" in r.out
    assert f"~ deployment {EP}/{DEP}" in r.out and "instance_count: 1 -> 2" in r.out
    assert f"= endpoint {EP}" in r.out and f"= traffic {EP}" in r.out
    assert f"* job {job_name(project)}" in r.out and "already ran (Completed)" in r.out
    assert "0 to create, 2 to update" in r.out

    r = run("plan", "--env", "dev", "--format", "json", "--detailed-exitcode")
    assert r.code == 2
    data = json.loads(r.out)
    by_kind = {i["kind"]: i for i in data["resources"]}
    assert by_kind["deployment"]["action"] == "update"
    assert by_kind["deployment"]["changes"] == [{"field": "instance_count", "live": 1, "wanted": 2}]
    assert by_kind["compute"]["changes"] == [{"field": "max_instances", "live": 1, "wanted": 3}]
    assert by_kind["endpoint"]["action"] == "no change" and by_kind["model"]["action"] == "no change"
    assert by_kind["job"]["action"] == "already ran" and by_kind["job"]["status"] == "Completed"

    r = run("plan", "--env", "dev", "--format", "markdown")
    assert r.code == 0
    assert f"| ~ | deployment | `{EP}/{DEP}` | update | `instance_count`: `1` → `2` |" in r.out
    assert f"| = | endpoint | `{EP}` | no change |" in r.out
    assert emu.write_calls() == 0  # plan never writes

    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    assert "compute updated" in r.out and "deployment updated" in r.out
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 0, r.text
    assert "No changes" in r.out


def test_detailed_exitcode_error_is_1_and_usage_is_64(run, project):
    (project / ".amlgen/emulator.json").unlink()
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 1 and "amlgen emulator" in r.err
    r = run("plan", "--env", "dev", "--format", "yaml")
    assert r.code == 64
