"""The workspace's MLflow tracking REST API: experiments, runs/search as the notebook filters it, metric history,
metric values derived from the job's inputs, and the per-job override control."""

from __future__ import annotations

import pytest


class Tracking:
    """MLflow REST calls at the path of the workspace's mlflow_tracking_uri on the discovery 'api' host."""

    def __init__(self, emu, ml):
        from urllib.parse import urlsplit

        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        from generator.emulator.local import EmulatorCredential

        ws = ml.workspaces.get(emu.workspace_name)
        self.client = PipelineClient(emu.base_url, policies=[
            BearerTokenCredentialPolicy(EmulatorCredential(), emu.base_url + ".default")])
        api = self.send("GET", ws.discovery_url).json()["api"]
        self.base = api + urlsplit(ws.mlflow_tracking_uri).path + "/api/2.0/mlflow/"

    def send(self, method, url, body=None):
        from azure.core.rest import HttpRequest

        return self.client.send_request(HttpRequest(method, url, json=body))

    def get(self, route, **query):
        from urllib.parse import urlencode

        return self.send("GET", self.base + route + "?" + urlencode(query))

    def post(self, route, body):
        return self.send("POST", self.base + route, body)


@pytest.fixture
def tracking(emu, ml):
    return Tracking(emu, ml)


def _search(tracking, job, extra=""):
    exp = tracking.get("experiments/get-by-name", experiment_name="chat_completion_Phi-3-mini-4k-instruct")
    assert exp.status_code == 200
    flt = f"tags.mlflow.rootRunId = '{job}'" + extra
    resp = tracking.post("runs/search", {"experiment_ids": [exp.json()["experiment"]["experiment_id"]], "filter": flt})
    assert resp.status_code == 200, resp.text()
    return resp.json().get("runs", [])


def _finetune(runs):
    (run,) = [r for r in runs if "train_loss" in {m["key"] for m in r["data"]["metrics"]}]
    return run, {m["key"]: m["value"] for m in run["data"]["metrics"]}


def test_search_runs_as_the_notebook_does(tracking, compute, job_spec, submit, wait_job):
    job = submit(job_spec("mlflow-job-1"))
    assert wait_job(job.name) == "Completed"
    runs = _search(tracking, job.name)
    names = {r["info"]["run_name"] for r in runs}
    assert {job.display_name, "chat_completion_pipeline", "chat_completion_finetune"} <= names and len(runs) == 7
    run, metrics = _finetune(runs)
    assert run["info"]["status"] == "FINISHED" and run["info"]["end_time"] >= run["info"]["start_time"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["mlflow.rootRunId"] == job.name and tags["mlflow.runName"] == "chat_completion_finetune"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["learning_rate"] == "5e-06" and params["num_train_epochs"] == "1"
    assert {"loss", "learning_rate", "grad_norm", "epoch", "eval_loss", "train_loss", "train_runtime"} <= set(metrics)
    got = tracking.get("runs/get", run_id=run["info"]["run_id"]).json()["run"]
    assert {m["key"]: m["value"] for m in got["data"]["metrics"]} == metrics
    history = tracking.get("metrics/get-history", run_id=run["info"]["run_id"], metric_key="loss").json()["metrics"]
    assert [p["step"] for p in history] == list(range(1, len(history) + 1)) and history[-1]["value"] == metrics["loss"]
    assert history[0]["value"] > history[-1]["value"]  # the loss falls
    only = _search(tracking, job.name, " and metrics.train_loss > 0 AND attributes.status = 'FINISHED'")
    assert [r["info"]["run_id"] for r in only] == [run["info"]["run_id"]]


def test_metrics_are_deterministic_and_follow_the_inputs(tracking, compute, job_spec, submit, wait_job):
    a = submit(job_spec("mlflow-same-a"))
    b = submit(job_spec("mlflow-same-b"))
    spec = job_spec("mlflow-lr")
    spec.write_text(spec.read_text().replace("learning_rate: 5.0e-06", "learning_rate: 2.0e-04"))
    c = submit(spec)
    for job in (a, b, c):
        assert wait_job(job.name) == "Completed"
    ma, mb, mc = (_finetune(_search(tracking, j.name))[1] for j in (a, b, c))
    assert ma == mb  # the job name is not an input
    assert mc["eval_loss"] != ma["eval_loss"] and mc["train_loss"] != ma["train_loss"]


def test_metrics_appear_while_the_step_runs(tracking, emu, compute, job_spec, submit, ml):
    import time

    emu.job_duration = 3.0
    job = submit(job_spec("mlflow-live"))
    counts = []
    while ml.jobs.get(job.name).status != "Completed":
        runs = [r for r in _search(tracking, job.name) if r["info"]["run_name"] == "chat_completion_finetune"]
        counts.append(len(runs[0]["data"]["metrics"]) if runs else 0)
        time.sleep(0.05)
    assert counts[0] == 0 and any(0 < c < 13 for c in counts)


def test_override_sets_final_values(tracking, emu, compute, job_spec, submit, wait_job):
    from generator.emulator import EmulatorControl, EmulatorError

    emu.set_metrics("mlflow-override", {"eval_loss": 0.123})
    EmulatorControl(emu.base_url, emu.ca_path).set_metrics("mlflow-override", {"rouge1": 0.5},
                                                          step="chat_completion_model_import")
    with pytest.raises(EmulatorError):
        emu.set_metrics("mlflow-override", {"eval_loss": "low"})
    job = submit(job_spec("mlflow-override"))
    assert wait_job(job.name) == "Completed"
    runs = _search(tracking, job.name)
    by_name = {r["info"]["run_name"]: {m["key"]: m["value"] for m in r["data"]["metrics"]} for r in runs}
    assert by_name["chat_completion_finetune"]["eval_loss"] == 0.123
    assert by_name["chat_completion_model_import"] == {"rouge1": 0.5}
    emu.set_metrics("mlflow-override", {"eval_loss": None, "rouge1": None})
    runs = _search(tracking, job.name)
    assert _finetune(runs)[1]["eval_loss"] != 0.123


def test_mlflow_errors(tracking, compute, job_spec, submit):
    job = submit(job_spec("mlflow-errors"))
    resp = tracking.get("runs/get", run_id="no-such-run")
    assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    resp = tracking.get("experiments/get-by-name", experiment_name="nope")
    assert resp.status_code == 404 and resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    resp = tracking.post("runs/search", {"filter": f"tags.mlflow.rootRunId == '{job.name}'"})
    assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    resp = tracking.get("artifacts/list", run_id=job.name)
    assert resp.status_code == 404 and resp.json()["error_code"] == "ENDPOINT_NOT_FOUND"
