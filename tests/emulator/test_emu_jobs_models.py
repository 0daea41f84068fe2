"""Pipeline jobs and models through the real SDK: submission from a YAML like amlgen's (local uri_file inputs,
registry component), streaming to completion, model registration from the job output, strict rejections."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError


def test_submit_stream_register(ml, emu, compute, job_spec, submit, capsys):
    from azure.ai.ml.entities import Model

    job = submit(job_spec("ft-job-1"))
    assert job.name == "ft-job-1"
    assert job.status in ("NotStarted", "Queued")
    assert job.studio_url and "ft-job-1" in job.studio_url
    # the local inputs were uploaded to the emulated workspaceblobstore
    assert len([r for r in emu.requests if r.method == "PUT" and "/LocalUpload/" in r.path]) >= 2

    start = time.time()
    ml.jobs.stream("ft-job-1")
    assert time.time() - start < 5
    assert "Execution Summary" in capsys.readouterr().out
    got = ml.jobs.get("ft-job-1")
    assert got.status == "Completed"
    assert "trained_model" in got.outputs

    model = ml.models.create_or_update(
        Model(name="phi3-ft", version="1", type="mlflow_model",
              path="azureml://jobs/ft-job-1/outputs/trained_model", description="fine-tuned")
    )
    assert model.version == "1" and model.type == "mlflow_model"
    assert model.flavors  # the service fills flavors for mlflow models
    assert ml.models.get("phi3-ft", version="1").description == "fine-tuned"
    assert [m.version for m in ml.models.list(name="phi3-ft")] == ["1"]

    # the same version again is an update (200); another modelUri under it is a conflict
    ml.models.create_or_update(Model(name="phi3-ft", version="1", type="mlflow_model",
                                     path="azureml://jobs/ft-job-1/outputs/trained_model", description="again"))
    with pytest.raises((ResourceExistsError, HttpResponseError), match="immutable"):
        ml.models.create_or_update(Model(name="phi3-ft", version="1", type="mlflow_model",
                                         path="azureml://datastores/workspaceblobstore/paths/other"))
    # with no version: auto-increment after GET ...versions?$orderBy=createdtime desc&$top=1
    assert [j.name for j in ml.jobs.list()] == ["ft-job-1"]


def test_duplicate_job_name_is_rejected(ml, compute, job_spec, submit):
    submit(job_spec("dup-job"))
    with pytest.raises((ResourceExistsError, HttpResponseError), match="already exists"):
        submit(job_spec("dup-job"))


def test_model_from_unfinished_or_unknown_job_is_400(ml, emu, compute, job_spec, submit, wait_job):
    from azure.ai.ml.entities import Model

    emu.job_duration = 30
    submit(job_spec("slow-job"))
    with pytest.raises(HttpResponseError, match="Completed") as info:
        ml.models.create_or_update(Model(name="m", version="1", type="mlflow_model",
                                         path="azureml://jobs/slow-job/outputs/trained_model"))
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError, match="not found") as info:
        ml.models.create_or_update(Model(name="m", version="1", type="mlflow_model",
                                         path="azureml://jobs/no-such-job/outputs/trained_model"))
    assert info.value.status_code == 400
    # cancel ends the job Canceled, and a canceled job's output cannot be registered either
    ml.jobs.begin_cancel("slow-job").result()
    assert wait_job("slow-job") == "Canceled"
    with pytest.raises(HttpResponseError, match="Canceled"):
        ml.models.create_or_update(Model(name="m", version="1", type="mlflow_model",
                                         path="azureml://jobs/slow-job/outputs/trained_model"))


def test_job_with_missing_compute_is_rejected(ml, job_spec, submit):
    with pytest.raises(HttpResponseError, match="compute 'gpu-a100-1x' was not found") as info:
        submit(job_spec("no-compute"))
    assert info.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("no-compute")


def test_job_with_serverless_compute_needs_no_cluster(ml, job_spec, submit, wait_job):
    job = submit(job_spec("serverless-job", compute="serverless"))
    assert wait_job(job.name) == "Completed"


def test_job_with_unknown_registry_component_is_rejected(ml, compute, job_spec, submit):
    with pytest.raises(HttpResponseError, match="was not found in registry") as info:
        submit(job_spec("bad-component", component="chat_completion_pipeline/versions/9.9.9"))
    assert info.value.status_code == 400


def test_failing_job_ends_failed_with_message(ml, emu, compute, job_spec, submit, capsys):
    from azure.ai.ml.exceptions import JobException

    emu.faults.add(r"/jobs/failing-job$", "PUT", action="fail", message="CUDA out of memory (injected)")
    submit(job_spec("failing-job"))
    with pytest.raises(JobException, match="CUDA out of memory"):
        ml.jobs.stream("failing-job")
    assert ml.jobs.get("failing-job").status == "Failed"


def test_unknown_job_is_404(ml):
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("does-not-exist")


def test_model_auto_increment_version(ml):
    from azure.ai.ml.entities import Model

    base = "azureml://datastores/workspaceblobstore/paths/models/m"
    first = ml.models.create_or_update(Model(name="auto", type="custom_model", path=base))
    second = ml.models.create_or_update(Model(name="auto", type="custom_model", path=base + "2"))
    assert (first.version, second.version) == ("1", "2")
    latest = sorted(ml.models.list(name="auto"), key=lambda m: int(m.version))[-1]
    assert latest.version == "2"
