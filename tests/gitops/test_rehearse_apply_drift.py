"""Rehearsal of amlgen-apply.yml, amlgen-drift.yml and amlgen-promote.yml: their own steps against the emulator
(``--target local`` in place of the sign-in) and a loopback GitHub API."""

from __future__ import annotations

import subprocess
import sys

import pytest
from engine_support import DEP, EP, _endpoint_name
from gitops_support import VARS, append, commit_change, edit, git
from workflow_runner import load, run_job

EP_PROD = _endpoint_name("prod")

APPLY = load("amlgen-apply.yml")
DRIFT = load("amlgen-drift.yml")
PROMOTE = load("amlgen-promote.yml")
ISSUE_MARKER = "<!-- amlgen:drift -->"


def push_context(repo, before: str) -> dict:
    return {"event_name": "push", "ref": "refs/heads/main", "event": {"before": before},
            "sha": git(repo, "rev-parse", "HEAD")}


def ok(job):
    assert job.result == "success", job.log
    return job


@pytest.mark.slow
def test_merge_applies_dev_then_prod_behind_its_environment(repo, emu):
    base = git(repo, "rev-parse", "HEAD")
    edit(repo / "infra/defaults.yml", "  workflow: phi3-ultrachat-finetune\n",
         "  workflow: phi3-ultrachat-finetune\n  owner: ml-platform\n")
    commit_change(repo, "tag every resource with its owner")
    ctx = push_context(repo, base)

    changed = ok(run_job(APPLY, "changed", repo, github=ctx))
    assert changed.outputs == {"dev": "true", "prod": "true"}
    needs = {"changed": {"result": "success", "outputs": changed.outputs}}
    dev = ok(run_job(APPLY, "apply-dev", repo, github=ctx, vars=VARS, needs=needs))
    assert "Apply complete" in dev.step("apply").out and "### amlgen plan: `dev`" in dev.summary
    assert "No changes" in dev.summary
    needs["apply-dev"] = {"result": "success"}
    plan = ok(run_job(APPLY, "plan-prod", repo, github=ctx, vars=VARS, needs=needs))
    # prod deploys promoted models and nothing is promoted yet: its plan creates the endpoint only
    assert "### amlgen plan: `prod`" in plan.summary and f"| + | endpoint | `{EP_PROD}` |" in plan.summary
    assert "Cost (swedencentral" in plan.summary
    needs["plan-prod"] = {"result": "success"}
    prod = ok(run_job(APPLY, "apply-prod", repo, github=ctx, vars=VARS, needs=needs))
    assert "Apply complete" in prod.step("apply").out and "No changes" in prod.summary
    assert APPLY["jobs"]["apply-prod"]["environment"] == "prod"  # what makes GitHub wait for the reviewers


def test_prod_waits_for_dev_and_is_skipped_when_untouched(repo):
    needs = {"changed": {"result": "success", "outputs": {"dev": "true", "prod": "true"}},
             "apply-dev": {"result": "failure"}}
    assert run_job(APPLY, "plan-prod", repo, vars=VARS, needs=needs).result == "skipped"
    assert run_job(APPLY, "apply-prod", repo, vars=VARS, needs={**needs, "plan-prod": {"result": "skipped"}}
                   ).result == "skipped"
    only_dev = {"changed": {"result": "success", "outputs": {"dev": "true"}}, "apply-dev": {"result": "success"}}
    assert run_job(APPLY, "plan-prod", repo, vars=VARS, needs=only_dev).result == "skipped"
    docs = {"changed": {"result": "success", "outputs": {}}}
    assert run_job(APPLY, "apply-dev", repo, vars=VARS, needs=docs).result == "skipped"


def test_a_push_touching_only_prod_applies_only_prod(repo):
    base = git(repo, "rev-parse", "HEAD")
    edit(repo / "infra/environments/prod.yml", "  instance_count: 2", "  instance_count: 3")
    commit_change(repo, "prod: three instances")
    changed = ok(run_job(APPLY, "changed", repo, github=push_context(repo, base)))
    assert changed.outputs == {"dev": "", "prod": "true"}
    started_by_hand = ok(run_job(APPLY, "changed", repo, github={"event_name": "workflow_dispatch", "event": {}}))
    assert started_by_hand.outputs == {"dev": "true", "prod": "true"}


def test_apply_needs_its_environment_settings(repo):
    needs = {"changed": {"result": "success", "outputs": {"dev": "true"}}}
    job = run_job(APPLY, "apply-dev", repo, vars={k: v for k, v in VARS.items() if k != "AZURE_CLIENT_ID"},
                  needs=needs)
    assert job.result == "failure" and "AZURE_CLIENT_ID" in job.steps[0].out and "'dev' environment" in job.steps[0].out
    assert job.step("apply").outcome == "skipped"


def _drift(repo, github_api, reap="success"):
    return run_job(DRIFT, "drift", repo, vars=VARS, needs={"reap-dev": {"result": reap}},
                   env={"GITHUB_API_URL": github_api.url})


def _open_issues(github_api):
    return [i for i in github_api.issues if i["state"] == "open" and ISSUE_MARKER in i["body"]]


@pytest.mark.slow
def test_drift_opens_one_issue_updates_it_then_closes_it(repo, emu, run, ml, github_api):
    assert run("apply", "--env", "dev").code == 0
    assert run("apply", "--env", "prod", "--yes").code == 0
    github_api.add_issue("unrelated", "something else")
    github_api.add_issue("a pull request", ISSUE_MARKER, pull_request=True)  # listed by the API; never ours

    clean = ok(_drift(repo, github_api))
    assert clean.step("drift").outputs["drift"] == "false" and "No drift" in clean.summary
    assert clean.step("Open or update the drift issue").outcome == "skipped"
    assert not _open_issues(github_api) or all("pull_request" in i for i in _open_issues(github_api))

    dep = ml.online_deployments.get(DEP, endpoint_name=EP)  # someone scales dev by hand
    dep.instance_count = 2
    ml.online_deployments.begin_create_or_update(dep).result()
    emu.clear_requests()
    drifted = _drift(repo, github_api)
    assert drifted.result == "failure" and drifted.steps[-1].outcome == "failure"
    assert emu.write_calls() == 0  # reports, changes nothing
    ours = [i for i in _open_issues(github_api) if "pull_request" not in i]
    assert len(ours) == 1 and "Drift in: dev." in ours[0]["body"] and "`instance_count`: `2` → `1`" in ours[0]["body"]

    again = _drift(repo, github_api)
    assert again.result == "failure"
    assert len([i for i in _open_issues(github_api) if "pull_request" not in i]) == 1, "updated, not a second issue"

    assert run("apply", "--env", "dev").code == 0  # fixed
    fixed = ok(_drift(repo, github_api))
    assert fixed.step("Close the drift issue (no drift)").outcome == "success"
    closed = [i for i in github_api.issues if i["number"] == ours[0]["number"]][0]
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"


def test_drift_reports_a_plan_that_fails(repo, github_api):
    (repo / ".amlgen/emulator.json").unlink()
    job = _drift(repo, github_api, reap="failure")
    assert job.result == "failure"
    body = [i for i in github_api.issues if ISSUE_MARKER in i["body"]][0]["body"]
    assert "Plan failed for: dev prod." in body and "reap dev: failure" in body


@pytest.mark.slow
def test_reap_then_drift_with_an_endpoint_ttl(repo, emu, run, ml, github_api):
    append(repo / "infra/environments/dev.yml", "\nendpoint:\n  ttl_hours: 8\n")
    assert run("render", "--all", "--check", target="").code == 0  # the ttl never reaches a spec: render is pure
    assert run("apply", "--env", "dev").code == 0
    assert run("apply", "--env", "prod", "--yes").code == 0
    reap = ok(run_job(DRIFT, "reap-dev", repo, vars=VARS))
    assert "nothing has expired" in reap.step("reap").out and ml.online_endpoints.get(EP)
    ok(_drift(repo, github_api))  # the expiry tag is not drift

    endpoint = ml.online_endpoints.get(EP)  # eight hours later
    endpoint.tags = {**endpoint.tags, "amlgen-expires-at": "2020-01-01T00:00:00Z"}
    ml.online_endpoints.begin_create_or_update(endpoint).result()
    reap = ok(run_job(DRIFT, "reap-dev", repo, vars=VARS))
    assert f"deleted {EP}" in reap.step("reap").out and f"deleted {EP}" in reap.summary
    assert EP not in [e.name for e in ml.online_endpoints.list()]
    after = ok(_drift(repo, github_api))  # an expired endpoint is not drift
    assert "No drift" in after.summary and not [i for i in github_api.issues if ISSUE_MARKER in i["body"]]


def _has_promote() -> bool:
    done = subprocess.run([sys.executable, "-m", "generator.cli", "promote", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode == 0


def test_promote_opens_a_pull_request_with_the_promoted_model(repo, run):
    """Contract: `amlgen promote --from dev --to prod` writes the promoted model into
    infra/environments/prod.yml and re-renders specs/prod; the workflow verifies it and opens a pull request."""
    if not _has_promote():
        pytest.skip("amlgen promote is not built yet: the promotion workflow's rehearsal runs once it exists")
    assert run("apply", "--env", "dev").code == 0
    job = run_job(PROMOTE, "promote", repo, vars=VARS, inputs={"from": "dev", "to": "prod"},
                  skip=("install", "Open the pull request"))
    assert job.result == "success", job.log
    assert job.step("verify").outputs["changed"] == "true"
    changed = git(repo, "status", "--porcelain", "--", "infra", "specs")
    assert "infra/environments/prod.yml" in changed and "specs/prod/" in changed
    assert "Promotion of the model trained in `dev` to `prod`" in (repo / "amlgen-promote.md").read_text()


def test_promote_needs_its_settings(repo):
    job = run_job(PROMOTE, "promote", repo, vars={}, inputs={"from": "dev", "to": "prod"})
    assert job.result == "failure" and "AZURE_TENANT_ID AZURE_SUBSCRIPTION_ID AZURE_CLIENT_ID" in job.steps[0].out
    assert job.step("promote").outcome == "skipped"
