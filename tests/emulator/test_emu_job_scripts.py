"""Scripted job lives (hold in Queued, NotResponding/Paused and back, end Completed/Failed/Canceled) and the
cluster nodes that follow running jobs, through the real SDK; scripts through the Python and the control API."""

from __future__ import annotations

import time

import pytest
import requests

from generator.emulator import EmulatorControl, EmulatorError
from generator.emulator.local import EmulatorCredential


def _statuses(ml, name: str, timeout: float = 10.0) -> list[str]:
    """Every status ``jobs.get`` shows until the job is final, in order, without repeats."""
    seen: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = ml.jobs.get(name).status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("Completed", "Failed", "Canceled"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {name} did not finish: {seen}")


def _nodes(ml, compute: str) -> list[tuple]:
    # azure-ai-ml 1.35.2 copies the REST names onto the entity (nodeState, runId): node_state stays None
    return [(vars(n).get("nodeState"), vars(n).get("runId")) for n in ml.compute.list_nodes(compute)]


def _counts(emu, compute: str) -> dict:
    token = EmulatorCredential().get_token(emu.base_url + ".default").token
    url = f"{emu.base_url.rstrip('/')}{emu.workspace_id}/computes/{compute}"
    body = requests.get(url, params={"api-version": "2023-08-01-preview"}, headers={"Authorization": f"Bearer {token}"},
                        verify=emu.ca_path, timeout=10).json()["properties"]["properties"]
    return {k: body[k] for k in ("currentNodeCount", "targetNodeCount", "allocationState")} | {
        "running": body["nodeStateCounts"]["runningNodeCount"]}


def test_held_in_queued_then_not_responding_and_back_then_completed(ml, emu, compute, job_spec, submit):
    emu.script_job(r"^quota-", [("Queued", 0.5), ("Running", 0.3), ("NotResponding", 0.3), ("Running", 0.3)])
    job = submit(job_spec("quota-job"))
    assert job.status == "NotStarted"  # the submission answer always says NotStarted (recordings, fact 31)
    assert _statuses(ml, "quota-job") == ["Queued", "Running", "NotResponding", "Running", "Completed"]


def test_paused_then_failed_with_the_scripted_message(ml, emu, compute, job_spec, submit):
    from azure.ai.ml.exceptions import JobException

    emu.script_job("paused-job", [("Running", 0.3), ("Paused", 0.3), ("Running", 0.3)], "Failed",
                   message="NCCL timeout (scripted)")
    submit(job_spec("paused-job"))
    assert _statuses(ml, "paused-job")[-3:] == ["Paused", "Running", "Failed"]
    with pytest.raises(JobException, match="NCCL timeout"):
        ml.jobs.stream("paused-job")


def test_scripted_cancel_and_count_and_control_api(ml, emu, compute, job_spec, submit):
    control = EmulatorControl(emu.base_url, emu.ca_path)
    script = control.script_job("^once-", [("Queued", 0.1)], "Canceled", count=1)
    assert script["id"] and [s["name"] for s in control._call("GET", "job-scripts")["job_scripts"]] == ["^once-"]
    submit(job_spec("once-1"))
    submit(job_spec("once-2"))  # the script's budget is spent: the default life (NotStarted, Queued, Running)
    assert _statuses(ml, "once-1")[-1] == "Canceled"
    assert _statuses(ml, "once-2")[-1] == "Completed"
    with pytest.raises(EmulatorError, match="400"):
        control.script_job("x", [("Sleeping", 1)])
    with pytest.raises(EmulatorError, match="end"):
        emu.script_job("x", [], "Done")
    control.clear_job_scripts()
    assert emu.job_scripts() == []


def test_nodes_follow_the_running_job(ml, emu, compute, job_spec, submit):
    assert _nodes(ml, "gpu-a100-1x") == [] and _counts(emu, "gpu-a100-1x")["currentNodeCount"] == 0
    emu.script_job("busy-job", [("Queued", 0.2), ("Running", 0.6)])
    submit(job_spec("busy-job"))
    assert _nodes(ml, "gpu-a100-1x") == []  # queued: no node yet
    deadline = time.time() + 5
    while ml.jobs.get("busy-job").status != "Running" and time.time() < deadline:
        time.sleep(0.02)
    assert _nodes(ml, "gpu-a100-1x") == [("running", "busy-job")]
    assert _counts(emu, "gpu-a100-1x") == {"currentNodeCount": 1, "targetNodeCount": 1, "allocationState": "Steady",
                                           "running": 1}
    assert _statuses(ml, "busy-job")[-1] == "Completed"
    assert _nodes(ml, "gpu-a100-1x") == [] and _counts(emu, "gpu-a100-1x")["running"] == 0


def test_min_nodes_stay_idle_and_size_changes_stay_refused(ml, emu):
    from azure.ai.ml.entities import AmlCompute
    from azure.core.exceptions import HttpResponseError

    ml.compute.begin_create_or_update(AmlCompute(name="warm", size="Standard_DS3_v2", min_instances=1,
                                                 max_instances=2)).result()
    assert _nodes(ml, "warm") == [("idle", None)]
    with pytest.raises(HttpResponseError, match="vmSize") as info:
        ml.compute.begin_create_or_update(AmlCompute(name="warm", size="Standard_DS4_v2", min_instances=1,
                                                     max_instances=2)).result()
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError, match="vmPriority"):
        ml.compute.begin_create_or_update(AmlCompute(name="warm", size="Standard_DS3_v2", tier="low_priority",
                                                     min_instances=1, max_instances=2)).result()
