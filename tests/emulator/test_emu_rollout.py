"""Online endpoints with several deployments through the real SDK: traffic splits, mirror traffic, routing by
traffic or by the ``azureml-model-deployment`` header, deletion rules, and the faults that make every rollout
path testable (a deployment whose provisioning fails, whose scoring fails or answers a wrong body)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests
from azure.core.exceptions import HttpResponseError

EP = "rollout-ep"
CHAT = {"input_data": {"input_string": [{"role": "user", "content": "hi"}], "parameters": {}}}


@pytest.fixture
def blue_green(ml):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model

    ml.models.create_or_update(Model(name="chat", version="1", type="mlflow_model",
                                     path="azureml://datastores/workspaceblobstore/paths/models/chat"))
    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name=EP)).result()
    for name in ("blue", "green"):
        ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name=name, endpoint_name=EP, model="azureml:chat:1", instance_type="Standard_DS3_v2",
            instance_count=1)).result()
    return ml


def _route(ml, traffic=None, mirror=None):
    ep = ml.online_endpoints.get(EP)
    if traffic is not None:
        ep.traffic = traffic
    if mirror is not None:
        ep.mirror_traffic = mirror
    return ml.online_endpoints.begin_create_or_update(ep).result()


def _score(ml, emu, n: int, deployment: str = "") -> list[requests.Response]:
    ep = ml.online_endpoints.get(EP)
    key = ml.online_endpoints.get_keys(EP).primary_key
    headers = {"Authorization": f"Bearer {key}", **({"azureml-model-deployment": deployment} if deployment else {})}
    return [requests.post(ep.scoring_uri, json=CHAT, headers=headers, verify=emu.ca_path, timeout=10)
            for _ in range(n)]


def _served(responses) -> Counter:
    return Counter(r.headers.get("azureml-model-deployment") for r in responses)


def _mirrored(ml, deployment: str) -> int:
    return ml.online_deployments.get_logs(deployment, EP, lines=500).count("[mirror]")


def test_traffic_split_routes_by_weight_and_header(blue_green, emu, tmp_path):
    ml = blue_green
    assert _route(ml, {"blue": 90, "green": 10}).traffic == {"blue": 90, "green": 10}
    responses = _score(ml, emu, 20)
    assert [r.status_code for r in responses] == [200] * 20
    assert _served(responses) == Counter({"blue": 18, "green": 2})  # exactly the shares over 20 requests
    assert all(r.json()["output"].startswith(f"[{r.headers['azureml-model-deployment']}:") for r in responses)
    # the header picks a deployment, even one without traffic, through the SDK too
    request = tmp_path / "request.json"
    request.write_text(json.dumps(CHAT))
    assert json.loads(ml.online_endpoints.invoke(EP, request_file=str(request), deployment_name="green")
                      )["output"].startswith("[green:")
    _route(ml, {"blue": 0, "green": 100})
    assert _served(_score(ml, emu, 5)) == Counter({"green": 5})
    for traffic, fragment in (({"blue": 60, "green": 30}, "add up to 0 or 100"),
                              ({"blue": 50, "ghost": 50}, "does not exist")):
        with pytest.raises(HttpResponseError, match=fragment) as info:
            _route(ml, traffic)
        assert info.value.status_code == 400
    # a deployment that receives traffic cannot be deleted; once it has none, it can
    with pytest.raises(HttpResponseError, match="still receives traffic") as info:
        ml.online_deployments.begin_delete("green", endpoint_name=EP).result()
    assert info.value.status_code == 400
    _route(ml, {"blue": 100, "green": 0})
    ml.online_deployments.begin_delete("green", endpoint_name=EP).result()


def test_mirror_traffic_copies_without_answering(blue_green, emu):
    ml = blue_green
    ep = _route(ml, {"blue": 100}, {"green": 20})
    assert ep.mirror_traffic == {"green": 20}
    responses = _score(ml, emu, 10)
    assert _served(responses) == Counter({"blue": 10})  # clients only ever see the live deployment
    assert _mirrored(ml, "green") == 2 and _mirrored(ml, "blue") == 0
    _score(ml, emu, 3, deployment="green")  # a request for one deployment is not mirrored
    assert _mirrored(ml, "green") == 2
    with pytest.raises(HttpResponseError, match="mirror traffic, not both"):
        _route(ml, {"blue": 100}, {"blue": 10})
    with pytest.raises(HttpResponseError, match="cannot exceed 50"):
        _route(ml, {"blue": 100}, {"green": 60})
    with pytest.raises(HttpResponseError, match="still receives mirror traffic"):
        ml.online_deployments.begin_delete("green", endpoint_name=EP).result()
    _route(ml, {"blue": 100}, {"green": 0})
    ml.online_deployments.begin_delete("green", endpoint_name=EP).result()
    assert [d.name for d in ml.online_deployments.list(EP)] == ["blue"]


def test_mirror_to_two_deployments_is_refused(blue_green):
    from azure.ai.ml.entities import ManagedOnlineDeployment

    ml = blue_green
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="red", endpoint_name=EP, model="azureml:chat:1", instance_type="Standard_DS3_v2",
        instance_count=1)).result()
    with pytest.raises(HttpResponseError, match="only one deployment"):
        _route(ml, {"blue": 100}, {"green": 10, "red": 10})


def test_rollout_faults_provisioning_and_scoring(blue_green, emu):
    from azure.ai.ml.entities import ManagedOnlineDeployment

    ml = blue_green
    # a deployment whose provisioning fails gets no traffic
    emu.faults.add(r"/deployments/canary$", "PUT", action="fail", message="Not enough quota for Standard_DS3_v2")
    with pytest.raises(HttpResponseError, match="Not enough quota"):
        ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="canary", endpoint_name=EP, model="azureml:chat:1", instance_type="Standard_DS3_v2",
            instance_count=1)).result()
    with pytest.raises(HttpResponseError, match="Succeeded"):
        _route(ml, {"blue": 90, "canary": 10})
    # a deployment whose scoring fails, answers a wrong body, or whose scoring function raises
    _route(ml, {"blue": 50, "green": 50})
    emu.faults.add(r"/deployments/green/score$", "POST", status=500, message="green is down")
    served = {r.headers.get("azureml-model-deployment"): r.status_code for r in _score(ml, emu, 4)}
    assert served == {"blue": 200, "green": 500}  # only green's requests fail
    emu.faults.clear()
    emu.faults.add(r"/deployments/green/score$", "POST", action="body", body={"result": "no output key"})
    by_dep = {r.headers["azureml-model-deployment"]: r for r in _score(ml, emu, 4)}
    assert by_dep["green"].status_code == 200 and "output" not in by_dep["green"].json()
    assert "output" in by_dep["blue"].json()
    emu.faults.clear()
    emu.faults.add(r"/deployments/green/score$", "POST", action="fail", count=1)
    failed = _score(ml, emu, 1, deployment="green")[0]
    assert failed.status_code == 500 and failed.headers["x-ms-run-function-failed"] == "True"
    assert "injected fail" in ml.online_deployments.get_logs("green", EP, lines=5)
    emu.faults.add(r"/score$", "POST", status=424, count=1)  # a rule on the endpoint's own path still works
    assert _score(ml, emu, 1)[0].status_code == 424
