"""Emulator lifecycle: persistence across restarts, the foreground entry point in a subprocess, per-instance
secrets, write counting, workspace lists, and the client-side glue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError

from generator.emulator import Emulator, EmulatorControl, EmulatorError
from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

REPO = Path(__file__).resolve().parents[2]


def _client(emu, workspace=None):
    from azure.ai.ml import MLClient

    return MLClient(EmulatorCredential(), emu.subscription_id, emu.resource_group,
                    workspace or emu.workspace_name, **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)


def test_state_dir_survives_a_restart(tmp_path):
    from azure.ai.ml.entities import AmlCompute, Data

    state = tmp_path / "state"
    src = tmp_path / "train.jsonl"
    src.write_text('{"messages": []}\n')
    with Emulator(state_dir=state, latencies={"compute": 0.01}) as first:
        with prepare_process_for_emulator(first.base_url, first.ca_path):
            _client(first).compute.begin_create_or_update(
                AmlCompute(name="kept", size="Standard_DS3_v2", max_instances=1)).result()
            _client(first).data.create_or_update(Data(name="train", version="1", type="uri_file", path=str(src)))
        ca = Path(first.ca_path).read_bytes()
    assert (state / "state.json").stat().st_mode & 0o077 == 0
    assert first._app.account_key not in (state / "state.json").read_text()  # per instance, never stored
    with Emulator(state_dir=state) as second:
        assert Path(second.ca_path).read_bytes() == ca  # clients keep trusting the same CA
        with prepare_process_for_emulator(second.base_url, second.ca_path):
            client = _client(second)
            assert client.compute.get("kept").size == "STANDARD_DS3_V2"  # upper-cased by the service (fact 2)
            assert client.data.get("train", version="1").type == "uri_file"
            # the uploaded blob survived too: the SDK finds it and uploads nothing
            client.data.create_or_update(Data(name="train", version="1", type="uri_file", path=str(src)))
            assert not [r for r in second.requests if r.method == "PUT" and "/LocalUpload/" in r.path]
    # the process settings are back
    from azure.ai.ml.constants._common import STORAGE_ACCOUNT_URLS

    assert STORAGE_ACCOUNT_URLS["AzureBlob"] == "https://{}.blob.{}"


def test_bad_state_file_is_an_amlgen_error(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(EmulatorError, match="cannot read emulator state"):
        Emulator(state_dir=tmp_path)
    with pytest.raises(EmulatorError, match="latency"):
        Emulator(latencies={"gpu": 1})


def test_account_key_is_random_per_instance():
    a, b = Emulator(), Emulator()
    assert a._app.account_key != b._app.account_key


def test_run_emulator_in_a_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "generator.emulator", "--port", "0", "--state-dir", str(tmp_path),
         "--latency", "compute=0.01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO),
    )
    try:
        base = proc.stdout.readline().strip()
        ca = proc.stdout.readline().strip()
        assert base.startswith("base_url=https://127.0.0.1:") and ca.startswith("ca_path=")
        control = EmulatorControl(base.split("=", 1)[1], ca.split("=", 1)[1])
        assert control.health()["ok"]
        assert control.configure()["latencies"]["compute"] == 0.01
        control.add_fault(path="/computes/", status=503, count=1)
        assert control.write_calls() == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_workspace_list_restricts_served_workspaces():
    from azure.ai.ml.entities import AmlCompute

    with Emulator(workspaces=["ws-a"], workspace_name="ws-a", latencies={"compute": 0.01}) as emu:
        with prepare_process_for_emulator(emu.base_url, emu.ca_path):
            assert _client(emu).compute.begin_create_or_update(
                AmlCompute(name="c1", size="Standard_DS3_v2", max_instances=1)).result().name == "c1"
            with pytest.raises(ResourceNotFoundError):
                _client(emu, "ws-other").workspaces.get("ws-other")


def test_write_calls_counts_only_state_changes(ml, emu, compute):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-count")).result()
    assert emu.write_calls() == 2  # compute PUT + endpoint PUT (the LRO polls and GETs are reads)
    emu.clear_requests()
    ml.online_endpoints.get_keys("ep-count")
    ml.compute.get("gpu-a100-1x")
    list(ml.compute.list())
    assert emu.write_calls() == 0


def test_credential_tokens():
    import jwt

    cred = EmulatorCredential()
    token = cred.get_token("https://127.0.0.1:1/.default").token
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "https://127.0.0.1:1"
    info = cred.get_token_info("https://127.0.0.1:1/.default")
    assert info.expires_on > info.refresh_on > 0


def test_local_cloud_names_are_unique_per_url():
    a = local_cloud_kwargs("https://127.0.0.1:1111/")
    b = local_cloud_kwargs("https://127.0.0.1:2222")
    assert a["cloud"] != b["cloud"]
    assert a == local_cloud_kwargs("https://127.0.0.1:1111")
    assert b["cloud_metadata"]["resource_manager"] == "https://127.0.0.1:2222/"


def test_job_latency_alias_and_artifacts_output(ml, emu, compute, job_spec, submit, wait_job):
    from azure.ai.ml.entities import Model

    with Emulator(latencies={"job": 7, "compute": 3}) as other:
        assert other.job_duration == 7 and other.latencies["compute"] == 3
    submit(job_spec("artifacts-job"))
    assert wait_job("artifacts-job") == "Completed"
    model = ml.models.create_or_update(Model(name="from-artifacts", version="1", type="custom_model",
                                             path="azureml://jobs/artifacts-job/outputs/artifacts/paths/model"))
    assert model.version == "1"
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError, match="no output named"):
        ml.models.create_or_update(Model(name="bad-output", version="1", type="custom_model",
                                         path="azureml://jobs/artifacts-job/outputs/nope"))


def test_port_in_use_is_an_amlgen_error():
    from generator.emulator import EmulatorStartError
    from generator.errors import AmlgenError

    with Emulator() as running:
        with pytest.raises(EmulatorStartError) as info:
            Emulator(port=running.port).start()
        assert isinstance(info.value, AmlgenError)


def test_restore_forgets_the_sdk_invoke_headers(emu):
    """azure-ai-ml 1.35.2's invoke keeps its last key and deployment header in a class-level dict: the glue's
    restore drops them, so one test's (or run's) deployment header does not route the next one's requests."""
    from azure.ai.ml.constants._endpoint import EndpointInvokeFields

    with prepare_process_for_emulator(emu.base_url, emu.ca_path):
        EndpointInvokeFields.DEFAULT_HEADER.update({"azureml-model-deployment": "green", "Authorization": "Bearer k"})
    assert EndpointInvokeFields.DEFAULT_HEADER == {"Content-Type": "application/json"}
