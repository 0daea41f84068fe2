"""The full flow through the CLI: plan (creates) -> apply -> plan (no change) -> invoke -> destroy."""

from __future__ import annotations

import json

from engine_support import DEP, EP, LEASES, model_ref, writes


def test_full_flow(run, emu, ml, project):
    before = (project / "specs/dev/deployment.yml").read_text()
    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 2, r.text
    for kind in ("compute", "job", "model", "endpoint", "deployment", "traffic"):
        assert f"+ {kind} " in r.out
    assert "6 to create" in r.out
    assert emu.write_calls() == 0  # plan is read-only

    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    assert "Apply complete" in r.out
    # the pipeline's child steps, as jobs.stream shows them (the published component's steps)
    assert "step chat_completion_finetune: Completed" in r.out and "step chat_completion_model_import:" in r.out
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}
    assert ml.models.get(*model_ref(project)) is not None

    r = run("plan", "--env", "dev", "--detailed-exitcode")
    assert r.code == 0, r.text
    assert "No changes" in r.out and "already ran (Completed)" in r.out

    r = run("invoke", "--env", "dev")
    assert r.code == 0, r.text
    assert f"[{DEP}:" in json.loads(r.out)["output"]

    r = run("destroy", "--env", "dev", "--yes")
    assert r.code == 0, r.text
    assert f"endpoint {EP}" in r.out
    assert [e.name for e in ml.online_endpoints.list()] == []
    assert [c.name for c in ml.compute.list()] == ["gpu-a100-1x"]  # compute kept without --include-compute
    r = run("plan", "--env", "dev", "--format", "json")
    data = json.loads(r.out)
    actions = {i["kind"]: i["action"] for i in data["resources"]}
    assert actions["endpoint"] == "create" and actions["compute"] == "no change" and actions["job"] == "already ran"

    r = run("destroy", "--env", "dev", "--only", "compute", "--yes")
    assert r.code == 0 and [c.name for c in ml.compute.list()] == []
    assert (project / "specs/dev/deployment.yml").read_text() == before


def test_reapply_makes_no_write_calls(run, emu):
    assert run("apply", "--env", "dev").code == 0
    emu.clear_requests()
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    lease = writes(emu, "PUT", LEASES + "dev.lease")  # the workspace lease: acquire, holder metadata, release
    assert [x.status for x in lease] == [201, 200, 200], lease
    assert emu.write_calls() == len(lease), [x for x in emu.requests]
    assert "no changes" in r.out
    assert "not resubmitted" in r.out


def test_invoke_with_request_file(run, emu, tmp_path):
    assert run("apply", "--env", "dev").code == 0
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"input_data": {"input_string": [{"role": "user", "content": "ping"}], "parameters": {}}}))
    r = run("invoke", "--env", "dev", "--request", str(req))
    assert r.code == 0, r.text
    assert "You said: ping" in r.out


def test_up_in_a_scratch_root(tmp_path, template_project, capsys):
    import shutil

    from generator.cli import main
    root = tmp_path / "fresh"
    shutil.copytree(template_project / "infra", root / "infra")
    shutil.copytree(template_project / "templates", root / "templates")
    shutil.copytree(template_project / "specs", root / "specs")
    committed = {p.name: p.read_text() for p in (root / "specs/dev").glob("*.yml")}
    code = main(["up", "--env", "dev", "-C", str(root), "--job-duration", "0.3"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "Response:" in out.out and "Summary (dev" in out.out
    scratch = {p.name: p.read_text() for p in (root / ".amlgen/local/specs/dev").glob("*.yml")}
    assert scratch == committed  # byte-identical to the committed specs
    assert not (root / "data").exists()  # the project's data/ is never touched
    assert {p.name: p.read_text() for p in (root / "specs/dev").glob("*.yml")} == committed
