"""Rehearsal of .github/workflows/amlgen-pr.yml: its own steps, run as a runner would, against the emulator
(``--target local`` in place of the Azure sign-in) and a loopback GitHub API."""

from __future__ import annotations

from gitops_support import VARS, commit_change, edit, git
from workflow_runner import load, run_job

WF = load("amlgen-pr.yml")
MARKER = "<!-- amlgen:plan -->"


def pr_context(repo, number: int = 7) -> dict:
    return {"event_name": "pull_request", "base_ref": "main", "repository": "example/amlgen-project",
            "event": {"pull_request": {"number": number, "head": {"sha": git(repo, "rev-parse", "HEAD"),
                                                                   "repo": {"full_name": "example/amlgen-project"}}}}}


def test_check_job_passes_on_current_specs(repo):
    job = run_job(WF, "check", repo)
    assert job.result == "success", job.log
    assert [s.outcome for s in job.steps] == ["success", "success", "skipped", "success", "success"]
    assert "generated files are current" in job.step("Specs are current (render --check)").out
    assert "specs valid" in job.step("Specs are valid").out


def test_check_job_fails_on_stale_specs(repo):
    edit(repo / "infra/environments/dev.yml", "tags:\n", "deployment:\n  instance_count: 2\n\ntags:\n")
    job = run_job(WF, "check", repo)
    assert job.result == "failure"
    step = job.step("Specs are current (render --check)")
    assert step.outcome == "failure" and "instance_count: 2" in step.out  # the diff is shown
    assert job.step("Specs are valid").outcome == "skipped"


def test_check_job_fails_on_an_invalid_spec(repo):
    edit(repo / "specs/dev/deployment.yml", "instance_count: 1", "instance_countt: 1")
    job = run_job(WF, "check", repo, skip=("install", "Specs are current (render --check)"))
    step = job.step("Specs are valid")
    assert job.result == "failure" and step.outcome == "failure", job.log
    assert "instance_countt" in step.err and "specs/dev/deployment.yml" in step.err


def test_plan_is_one_comment_updated_on_every_push(repo, emu, github_api):
    for n in range(3):  # people talked first: the amlgen comment lands on a later page of the comments
        github_api.add_comment(7, f"looks good {n}")
    edit(repo / "infra/environments/dev.yml", "tags:\n", "deployment:\n  instance_count: 2\n\ntags:\n")
    git(repo, "switch", "-qc", "feature")
    commit_change(repo, "dev: two instances")
    env = {"GITHUB_API_URL": github_api.url}
    emu.clear_requests()

    job = run_job(WF, "plan", repo, github=pr_context(repo), vars=VARS, env=env)
    assert job.result == "success", job.log
    assert job.step("changed").outputs == {"envs": "dev"}
    assert job.signed_in == [{"client-id": VARS["AZURE_PLAN_CLIENT_ID"], "tenant-id": VARS["AZURE_TENANT_ID"],
                              "subscription-id": VARS["AZURE_SUBSCRIPTION_ID"]}]
    ours = [c for c in github_api.comments[7] if MARKER in c["body"]]
    assert len(ours) == 1 and len(github_api.comments[7]) == 4
    body = ours[0]["body"]
    assert "## amlgen plan" in body and "Environments touched: dev." in body
    assert "### amlgen plan: `dev`" in body and "amlgen plan: `prod`" not in body
    assert "| + | deployment |" in body and "Cost (eastus2" in body
    assert job.summary.strip() == body.replace(MARKER, "").strip()  # the same text in the job summary
    assert emu.write_calls() == 0  # plan is read-only

    edit(repo / "infra/environments/dev.yml", "instance_count: 2", "instance_count: 3")
    head = commit_change(repo, "dev: three instances")
    job = run_job(WF, "plan", repo, github=pr_context(repo), vars=VARS, env=env)
    assert job.result == "success", job.log
    ours = [c for c in github_api.comments[7] if MARKER in c["body"]]
    assert len(ours) == 1 and len(github_api.comments[7]) == 4, "edited in place, not a new comment"
    assert head[:12] in ours[0]["body"]
    assert [m for m, p in github_api.writes()] == ["POST", "PATCH"]


def test_a_change_touching_no_environment_says_so(repo, emu, github_api):
    git(repo, "switch", "-qc", "docs")
    (repo / "NOTES.md").write_text("notes\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs only")
    job = run_job(WF, "plan", repo, github=pr_context(repo, 8), vars=VARS, env={"GITHUB_API_URL": github_api.url})
    assert job.result == "success", job.log
    assert job.signed_in == []  # nothing to plan: no sign-in
    assert "nothing to plan" in github_api.comments[8][0]["body"]


def test_a_failing_plan_is_reported_and_fails_the_check(repo, github_api):
    (repo / ".amlgen/emulator.json").unlink()  # the workspace cannot be reached
    git(repo, "switch", "-qc", "feature")
    edit(repo / "infra/environments/dev.yml", "tags:\n", "deployment:\n  instance_count: 2\n\ntags:\n")
    commit_change(repo, "dev: two instances")
    job = run_job(WF, "plan", repo, github=pr_context(repo), vars=VARS, env={"GITHUB_API_URL": github_api.url})
    assert job.result == "failure"
    assert job.step("comment").outcome == "success"  # the failure is posted before the check fails
    assert "FAILED (exit 1)" in github_api.comments[7][0]["body"] and "amlgen emulator" in github_api.comments[7][0]["body"]
    assert job.steps[-1].outcome == "failure"


def test_missing_settings_fail_the_first_step_naming_them(repo, github_api):
    vars_ = {k: v for k, v in VARS.items() if k != "AZURE_PLAN_CLIENT_ID"}
    job = run_job(WF, "plan", repo, github=pr_context(repo), vars=vars_, env={"GITHUB_API_URL": github_api.url})
    assert job.result == "failure"
    first = job.steps[0]
    assert first.id == "settings" and first.outcome == "failure"
    assert "::error" in first.out and "AZURE_PLAN_CLIENT_ID" in first.out and "AZURE_TENANT_ID" not in first.out
    assert {s.outcome for s in job.steps[1:]} == {"skipped"} and not github_api.requests


def test_pull_requests_from_forks_are_not_planned(repo):
    ctx = pr_context(repo)
    ctx["event"]["pull_request"]["head"]["repo"]["full_name"] = "someone/fork"
    assert run_job(WF, "plan", repo, github=ctx, vars=VARS).result == "skipped"
