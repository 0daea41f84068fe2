"""Shared fixtures of the emulator tests: one emulator per test session (reset before each test) and an MLClient
configured for it through ``generator.emulator.local`` only (no patching of SDK methods, no mocks)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from generator.emulator import Emulator
from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

FAST_LATENCIES = {"compute": 0.05, "endpoint": 0.05, "deployment": 0.08, "model": 0.0, "data": 0.0,
                  "delete": 0.03, "cancel": 0.02}
FAST_JOB = 0.4


@pytest.fixture(scope="session")
def emulator_session():
    with Emulator(latencies=FAST_LATENCIES, job_duration=FAST_JOB) as emu:
        yield emu


@pytest.fixture
def emu(emulator_session):
    """The session emulator, emptied (resources, faults, log) and with fast latencies; the process is configured
    for it (CA bundle, blob URLs, polling) for the duration of the test only."""
    emulator_session.reset()
    emulator_session.latencies.update(FAST_LATENCIES)
    emulator_session.job_duration = FAST_JOB
    emulator_session.lease_time_scale = 1.0
    with prepare_process_for_emulator(emulator_session.base_url, emulator_session.ca_path):
        yield emulator_session
    emulator_session.faults.clear()


def make_client(emu, **kwargs):
    from azure.ai.ml import MLClient

    kwargs.setdefault("retry_backoff_factor", 0.01)
    return MLClient(EmulatorCredential(), emu.subscription_id, emu.resource_group, emu.workspace_name,
                    **local_cloud_kwargs(emu.base_url), **kwargs)


@pytest.fixture
def ml(emu):
    return make_client(emu)


@pytest.fixture
def registry_client(emu):
    from azure.ai.ml import MLClient

    return MLClient(EmulatorCredential(), registry_name="azureml", **local_cloud_kwargs(emu.base_url),
                    retry_backoff_factor=0.01)


COMPUTE_NAME = "gpu-a100-1x"


@pytest.fixture
def compute(ml):
    from azure.ai.ml.entities import AmlCompute

    return ml.compute.begin_create_or_update(
        AmlCompute(name=COMPUTE_NAME, size="Standard_NC24ads_A100_v4", min_instances=0, max_instances=1,
                   idle_time_before_scale_down=120)
    ).result()


PIPELINE_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
name: {name}
display_name: phi3-ultrachat
experiment_name: chat_completion_Phi-3-mini-4k-instruct
tags:
  project: amlgen
settings:
  force_rerun: true
  continue_on_step_failure: false
inputs:
  mlflow_model_path:
    type: mlflow_model
    path: azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14
  compute_model_import: {compute}
  compute_preprocess: {compute}
  compute_finetune: {compute}
  compute_model_evaluation: {compute}
  train_file_path:
    type: uri_file
    path: ./data/train_sft.jsonl
  test_file_path:
    type: uri_file
    path: ./data/test_sft.jsonl
  num_train_epochs: 1
  learning_rate: 5.0e-06
outputs:
  trained_model:
    type: mlflow_model
jobs:
  chat_completion_pipeline:
    type: pipeline
    component: azureml://registries/azureml/components/{component}
    inputs:
      mlflow_model_path: ${{{{parent.inputs.mlflow_model_path}}}}
      compute_model_import: ${{{{parent.inputs.compute_model_import}}}}
      compute_preprocess: ${{{{parent.inputs.compute_preprocess}}}}
      compute_finetune: ${{{{parent.inputs.compute_finetune}}}}
      compute_model_evaluation: ${{{{parent.inputs.compute_model_evaluation}}}}
      train_file_path: ${{{{parent.inputs.train_file_path}}}}
      test_file_path: ${{{{parent.inputs.test_file_path}}}}
      num_train_epochs: ${{{{parent.inputs.num_train_epochs}}}}
      learning_rate: ${{{{parent.inputs.learning_rate}}}}
    outputs:
      mlflow_model_folder: ${{{{parent.outputs.trained_model}}}}
"""


@pytest.fixture
def job_spec(tmp_path: Path):
    """Factory writing a pipeline-job YAML like the ones amlgen renders (with local uri_file inputs)."""

    def write(name: str = "ft-job-1", compute: str = COMPUTE_NAME,
              component: str = "chat_completion_pipeline/versions/0.0.82") -> Path:
        data = tmp_path / "data"
        data.mkdir(exist_ok=True)
        (data / "train_sft.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
        (data / "test_sft.jsonl").write_text('{"messages": [{"role": "user", "content": "bye"}]}\n')
        path = tmp_path / f"{name}.yml"
        path.write_text(textwrap.dedent(PIPELINE_YAML.format(name=name, compute=compute, component=component)))
        return path

    return write


@pytest.fixture
def submit(ml):
    """Submit a pipeline-job YAML through ``load_job`` + ``jobs.create_or_update``."""
    from azure.ai.ml import load_job

    def run(spec: Path, client=None):
        return (client or ml).jobs.create_or_update(load_job(spec))

    return run


@pytest.fixture
def wait_job(ml):
    def wait(name: str, timeout: float = 10.0) -> str:
        import time

        deadline = time.time() + timeout
        while time.time() < deadline:
            status = ml.jobs.get(name).status
            if status in ("Completed", "Failed", "Canceled"):
                return status
            time.sleep(0.05)
        raise AssertionError(f"job {name} did not finish")

    return wait


@pytest.fixture
def client_factory(emu):
    return lambda **kwargs: make_client(emu, **kwargs)
