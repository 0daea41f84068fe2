"""Throttling, exhausted retries, failed deployments, interruptions, unreachable workspaces."""

from __future__ import annotations

import time

import pytest
from engine_support import DEP, EP, apply_waiting_for_its_job, job_name, lease_client, writes


@pytest.mark.parametrize("status, retry_after", [(429, 0), (503, 0), (429, None), (503, None)])
def test_throttling_is_retried_to_success(run, emu, status, retry_after):
    emu.faults.add(r"/computes/gpu-a100-1x$", "PUT", status=status, retry_after=retry_after, count=2)
    emu.faults.add(rf"/onlineEndpoints/{EP}$", "GET", status=status, retry_after=retry_after, count=2)
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    throttled = [x for x in emu.requests if x.status == status]
    assert len(throttled) == 4
    assert len(writes(emu, "PUT", "/computes/gpu-a100-1x")) == 3  # two throttled, one accepted


def test_retries_exhausted_names_the_resource_then_rerun_converges(run, emu, ml):
    emu.faults.add(r"/computes/gpu-a100-1x$", "PUT", status=503)
    r = run("apply", "--env", "dev")
    assert r.code == 1
    assert "compute 'gpu-a100-1x'" in r.err and "503" in r.err
    assert "not applied" in r.out  # the job and what depends on it were not attempted
    assert not writes(emu, "PUT", "/jobs/")
    # independent steps went on: the endpoint exists, without traffic
    assert not any(ml.online_endpoints.get(EP).traffic.values())
    emu.faults.clear()
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    assert f"= endpoint {EP}: no change" in r.out
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}


def test_failed_deployment_gets_no_traffic(run, emu, ml):
    emu.faults.add(rf"/deployments/{DEP}$", "PUT", action="fail", message="Out of quota for Standard_NC24ads_A100_v4.", count=1)
    r = run("apply", "--env", "dev")
    assert r.code == 1
    assert f"deployment '{EP}/{DEP}'" in r.err and "Out of quota for Standard_NC24ads_A100_v4" in r.err
    assert not any(ml.online_endpoints.get(EP).traffic.values())
    endpoint_puts = [x for x in writes(emu, "PUT", "/onlineEndpoints/") if x.path.endswith(f"/{EP}")]
    assert len(endpoint_puts) == 1  # created; the traffic update was never sent
    r = run("plan", "--env", "dev")
    assert f"~ deployment {EP}/{DEP}" in r.out and "provisioning_state" in r.out
    r = run("apply", "--env", "dev")  # the fault was one-shot: the re-run repairs the deployment, then routes
    assert r.code == 0, r.text
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}


def test_failed_job_reports_error_and_studio_link(run, emu, project):
    emu.faults.add(r"/jobs/", "PUT", action="fail", message="CUDA out of memory in finetune.")
    r = run("apply", "--env", "dev")
    assert r.code == 1
    assert f"job '{job_name(project)}'" in r.err and "Failed" in r.err
    assert "CUDA out of memory" in r.err and "https://ml.azure.com/runs/" in r.err
    emu.faults.clear()
    emu.clear_requests()
    r = run("apply", "--env", "dev")  # a failed job is never resubmitted under the same name
    assert r.code == 1 and not writes(emu, "PUT", "/jobs/")


def test_interrupted_apply_resumes_without_duplicate_job(run, emu, project, ml):
    emu.job_duration = 6
    proc = apply_waiting_for_its_job(emu, project, timeout=40)
    try:
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting for the job
    finally:
        proc.kill()
        proc.wait()
    assert ml.jobs.get(job_name(project)).status in ("NotStarted", "Queued", "Running")
    # the killed run's workspace lease would end within 60 s; an operator breaks it (az storage blob lease break)
    from azure.storage.blob import BlobLeaseClient

    BlobLeaseClient(lease_client(ml)).break_lease(lease_break_period=0)
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    assert "already submitted" in r.out
    assert len(writes(emu, "PUT", "/jobs/")) == 1  # no duplicate submission
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}


def test_unreachable_workspace_is_a_clear_error(run, project):
    from generator.emulator.target import running_target, write_state

    target = running_target(project)
    write_state(project, "https://127.0.0.1:9/", target.ca_path)
    r = run("plan", "--env", "dev", "--retry-total", "0")
    assert r.code == 1
    assert "cannot reach the workspace" in r.err and "mlw-amlgen-dev" in r.err
    assert "Traceback" not in r.err
