"""A pipeline job's child runs through the run history, as azure-ai-ml reads them (jobs.list(parent_job_name=...),
jobs.get of a child, jobs.stream), their statuses following the job's life, and their logs."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout

import pytest

STEPS = ["ft_nlp_common_validation", "chat_completion_model_import", "chat_completion_datapreprocess",
         "chat_completion_finetune", "ft_nlp_model_converter"]


def tree(ml, job_name: str) -> tuple[list, list]:
    """(the root's children, the steps under the pipeline node) through jobs.list(parent_job_name=...)."""
    nodes = list(ml.jobs.list(parent_job_name=job_name))
    steps = list(ml.jobs.list(parent_job_name=nodes[0].name)) if nodes else []
    return nodes, steps


def test_children_follow_the_published_component_steps(ml, emu, compute, job_spec, submit, wait_job):
    emu.job_duration = 1.5
    job = submit(job_spec("runs-job-1"))
    nodes, steps = tree(ml, job.name)
    assert [n.display_name for n in nodes] == ["chat_completion_pipeline"]
    assert [s.display_name for s in steps] == STEPS
    assert steps[-1].status == "NotStarted"
    assert all(s.compute == "gpu-a100-1x" for s in steps)  # compute_* inputs, through ${{parent.inputs...}}
    seen: set[tuple] = {tuple(s.status for s in steps)}
    while ml.jobs.get(job.name).status not in ("Completed", "Failed"):
        seen.add(tuple(s.status for s in tree(ml, job.name)[1]))
        time.sleep(0.05)
    assert any("Running" in statuses for statuses in seen)  # the steps ran while the job ran
    for statuses in seen:  # one after another: Completed..., at most one Running, NotStarted...
        done = statuses.count("Completed")
        assert set(statuses[:done]) <= {"Completed"} and set(statuses[done + 1:]) <= {"NotStarted"}
    nodes, steps = tree(ml, job.name)
    assert nodes[0].status == "Completed" and {s.status for s in steps} == {"Completed"}
    child = ml.jobs.get(steps[3].name)  # a child job: MFE answers no properties, the SDK reads the run history
    assert child.display_name == "chat_completion_finetune" and child.status == "Completed"
    assert any(r.path.endswith(f"/runs/{nodes[0].name}/children") for r in emu.requests)


def test_injected_failure_fails_the_finetune_step(ml, emu, compute, job_spec, submit, wait_job):
    emu.faults.add("/jobs/runs-fail-job$", "PUT", action="fail", message="CUDA out of memory")
    job = submit(job_spec("runs-fail-job"))
    assert wait_job(job.name) == "Failed"
    nodes, steps = tree(ml, job.name)
    assert nodes[0].status == "Failed"
    assert [s.status for s in steps] == ["Completed", "Completed", "Completed", "Failed", "Canceled"]


def test_missing_input_path_fails_the_first_step(ml, emu, compute, job_spec, submit, wait_job):
    from azure.ai.ml import load_job

    spec = job_spec("runs-missing-input")
    job = load_job(spec)
    job.inputs.train_file_path.path = (
        "azureml://datastores/workspaceblobstore/paths/LocalUpload/0000/missing.jsonl")
    job = ml.jobs.create_or_update(job)
    assert wait_job(job.name) == "Failed"
    _, steps = tree(ml, job.name)
    assert [s.status for s in steps] == ["Failed", "Canceled", "Canceled", "Canceled", "Canceled"]


def test_cancel_cancels_the_running_and_pending_steps(ml, emu, compute, job_spec, submit):
    emu.job_duration = 2.0
    job = submit(job_spec("runs-cancel-job"))
    while "Completed" not in [s.status for s in tree(ml, job.name)[1]]:
        time.sleep(0.05)
    ml.jobs.begin_cancel(job.name).result()
    while ml.jobs.get(job.name).status != "Canceled":
        time.sleep(0.02)
    statuses = [s.status for s in tree(ml, job.name)[1]]
    assert statuses[0] == "Completed" and statuses[-1] == "Canceled" and "Running" not in statuses


def test_stream_prints_the_execution_log(ml, emu, compute, job_spec, submit):
    job = submit(job_spec("runs-stream-job"))
    out = io.StringIO()
    with redirect_stdout(out):
        ml.jobs.stream(job.name)
    text = out.getvalue()
    assert "Streaming logs/azureml/executionlogs.txt" in text
    assert "Submitting 1 runs, first five are:" in text and ":chat_completion_pipeline" in text
    assert f"Execution of experiment run {job.name} finished with status Completed" in text


def _details(ml, emu, run_id: str) -> dict:
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.rest import HttpRequest

    from generator.emulator.local import EmulatorCredential

    client = PipelineClient(emu.base_url, policies=[BearerTokenCredentialPolicy(EmulatorCredential(), "x/.default")])
    url = f"{emu.base_url}history/v1.0{emu.workspace_id}/runs/{run_id}/details"
    return client.send_request(HttpRequest("GET", url)).json()


def test_step_logs_grow_and_are_signed(ml, emu, compute, job_spec, submit, wait_job):
    import requests

    job = submit(job_spec("runs-log-job"))
    assert wait_job(job.name) == "Completed"
    _, steps = tree(ml, job.name)
    details = _details(ml, emu, steps[3].name)
    assert details["displayName"] == "chat_completion_finetune" and details["parentRunId"] == tree(ml, job.name)[0][0].name
    url = details["logFiles"]["user_logs/std_log.txt"]
    text = requests.get(url, verify=emu.ca_path, timeout=10).text
    assert "'loss':" in text and "'eval_loss':" in text and "'train_loss':" in text
    assert text.rstrip().endswith("chat_completion_finetune completed")
    assert requests.get(url.replace("sig=", "sig=x"), verify=emu.ca_path, timeout=10).status_code == 403
    root_log = _details(ml, emu, job.name)["logFiles"]["logs/azureml/executionlogs.txt"]
    assert "Execution of experiment run" in requests.get(root_log, verify=emu.ca_path, timeout=10).text


@pytest.mark.parametrize("bad_id", ["00000000-0000-0000-0000-000000000000"])
def test_unknown_child_run_is_404(ml, bad_id):
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get(bad_id)
