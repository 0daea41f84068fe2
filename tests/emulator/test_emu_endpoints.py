"""Managed online endpoints and deployments through the real SDK: LROs, traffic, keys, scoring, deletion and
the strict rejections Azure makes."""

from __future__ import annotations

import json

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

MODEL_URI = "azureml://datastores/workspaceblobstore/paths/models/phi3-ft"


@pytest.fixture
def model(ml):
    from azure.ai.ml.entities import Model

    return ml.models.create_or_update(Model(name="phi3-ft", version="1", type="mlflow_model", path=MODEL_URI))


@pytest.fixture
def endpoint(ml):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    return ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="ultrachat-dev", auth_mode="key", tags={"project": "amlgen"})
    ).result()


def _deployment(**kwargs):
    from azure.ai.ml.entities import ManagedOnlineDeployment, OnlineRequestSettings, ProbeSettings

    values = dict(name="demo", endpoint_name="ultrachat-dev", model="azureml:phi3-ft:1",
                  instance_type="Standard_NC4as_T4_v3", instance_count=1,
                  liveness_probe=ProbeSettings(initial_delay=600),
                  request_settings=OnlineRequestSettings(request_timeout_ms=90000))
    values.update(kwargs)
    return ManagedOnlineDeployment(**values)


def test_endpoint_deployment_traffic_invoke_delete(ml, emu, model, endpoint, tmp_path):
    assert endpoint.provisioning_state == "Succeeded"
    assert endpoint.scoring_uri.startswith(emu.base_url)
    dep = ml.online_deployments.begin_create_or_update(_deployment()).result()
    assert dep.provisioning_state == "Succeeded"
    assert dep.instance_type == "Standard_NC4as_T4_v3"
    assert dep.model.endswith("/models/phi3-ft/versions/1")
    assert [d.name for d in ml.online_deployments.list("ultrachat-dev")] == ["demo"]

    ep = ml.online_endpoints.get("ultrachat-dev")
    ep.traffic = {"demo": 100}
    assert ml.online_endpoints.begin_create_or_update(ep).result().traffic == {"demo": 100}
    assert ml.online_endpoints.get("ultrachat-dev").traffic == {"demo": 100}

    request = tmp_path / "request.json"
    request.write_text(json.dumps({"input_data": {"input_string": [{"role": "user", "content": "What is 2+2?"}],
                                                  "parameters": {"max_new_tokens": 32}}}))
    first = json.loads(ml.online_endpoints.invoke("ultrachat-dev", request_file=str(request),
                                                  deployment_name="demo"))
    again = json.loads(ml.online_endpoints.invoke("ultrachat-dev", request_file=str(request)))
    assert first == again and "What is 2+2?" in first["output"]
    # the notebook's shape wraps one conversation in a list: {"input_string": [messages]}
    conversation = [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "7"},
                    {"role": "user", "content": "Another one?"}]
    request.write_text(json.dumps({"input_data": {"input_string": [conversation], "parameters": {}}, "params": {}}))
    nested = json.loads(ml.online_endpoints.invoke("ultrachat-dev", request_file=str(request)))
    assert nested["output"].endswith("You said: Another one?")
    scoring = [r for r in emu.requests if r.path.endswith("/score")]
    assert [r.status for r in scoring] == [200, 200, 200]

    # a deployment that receives traffic cannot be deleted; the endpoint can (with its deployments)
    with pytest.raises(HttpResponseError, match="traffic"):
        ml.online_deployments.begin_delete("demo", endpoint_name="ultrachat-dev").result()
    ml.online_endpoints.begin_delete("ultrachat-dev").result()
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("ultrachat-dev")
    assert [r for r in emu.requests if r.method == "DELETE"][-1].status == 202


def test_keys_are_random_checked_and_never_logged(ml, emu, model, endpoint):
    keys = ml.online_endpoints.get_keys("ultrachat-dev")
    assert keys.primary_key and keys.secondary_key and keys.primary_key != keys.secondary_key
    ml.online_deployments.begin_create_or_update(_deployment()).result()
    body = {"input_data": {"input_string": [{"role": "user", "content": "hi"}]}}
    headers = {"azureml-model-deployment": "demo", "Content-Type": "application/json"}
    ok = requests.post(endpoint.scoring_uri, json=body, verify=emu.ca_path, timeout=10,
                       headers={**headers, "Authorization": f"Bearer {keys.secondary_key}"})
    assert ok.status_code == 200 and "hi" in ok.json()["output"]
    bad = requests.post(endpoint.scoring_uri, json=body, verify=emu.ca_path, timeout=10,
                        headers={**headers, "Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    none = requests.post(endpoint.scoring_uri, json=body, verify=emu.ca_path, timeout=10, headers=headers)
    assert none.status_code == 401
    # no traffic and no deployment header: nothing to route to
    unrouted = requests.post(endpoint.scoring_uri, json=body, verify=emu.ca_path, timeout=10,
                             headers={"Authorization": f"Bearer {keys.primary_key}"})
    assert unrouted.status_code == 424

    from generator.emulator import EmulatorControl

    secrets_ = [keys.primary_key, keys.secondary_key, emu._app.account_key]
    log_text = repr(emu.requests) + json.dumps(EmulatorControl(emu.base_url, emu.ca_path)._call("GET", "requests"))
    assert all(s not in log_text for s in secrets_)


def test_deployment_to_missing_endpoint_is_rejected(ml, model):
    with pytest.raises((ResourceNotFoundError, HttpResponseError)):
        ml.online_deployments.begin_create_or_update(_deployment(endpoint_name="no-such-endpoint")).result()


def test_deployment_with_missing_model_is_rejected(ml, endpoint):
    with pytest.raises(HttpResponseError, match="phi3-ft' version '1' was not found") as info:
        ml.online_deployments.begin_create_or_update(_deployment()).result()
    assert info.value.status_code == 400


def test_traffic_to_unknown_deployment_is_rejected(ml, endpoint):
    ep = ml.online_endpoints.get("ultrachat-dev")
    ep.traffic = {"ghost": 100}
    with pytest.raises(HttpResponseError, match="ghost") as info:
        ml.online_endpoints.begin_create_or_update(ep).result()
    assert info.value.status_code == 400


def test_traffic_to_failed_deployment_is_rejected(ml, emu, model, endpoint):
    emu.faults.add(r"/deployments/demo$", "PUT", action="fail", message="Out of quota for Standard_NC4as_T4_v3")
    with pytest.raises(HttpResponseError, match="Out of quota"):
        ml.online_deployments.begin_create_or_update(_deployment()).result()
    assert ml.online_deployments.get("demo", endpoint_name="ultrachat-dev").provisioning_state == "Failed"
    ep = ml.online_endpoints.get("ultrachat-dev")
    ep.traffic = {"demo": 100}
    with pytest.raises(HttpResponseError, match="Succeeded"):
        ml.online_endpoints.begin_create_or_update(ep).result()


def test_registry_model_deployment(ml, endpoint):
    dep = ml.online_deployments.begin_create_or_update(
        _deployment(model="azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/14")
    ).result()
    assert dep.provisioning_state == "Succeeded"


def test_unknown_endpoint_is_404(ml):
    with pytest.raises(ResourceNotFoundError):
        ml.online_endpoints.get("nope-endpoint")
