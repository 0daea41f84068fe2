"""Managed online endpoints and deployments as recorded (online-deployment-create-2025.json,
online-endpoint-amltoken-2022.json; facts 7-19, 21, 22, 24, 41)."""

from __future__ import annotations

import json

from conformance_support import conf_emu, conformance_emulator, load, replayer, sdk, wait_until  # noqa: F401 (fixtures)

EX = load("endpoint")
AML = load("endpoint-amltoken")
EP = "online-ept-a2eef48db44f4a9"
DEP = "online-dpm-b0249d5411f7413"
CODE = "/codes/1451f8f8-6790-4c6e-af11-94f58e744f69/versions/1"


def _done(r, op_url: str) -> None:
    wait_until(lambda: r.call("GET", op_url).json()["status"] not in ("Updating", "InProgress"))


def _seed_code(r) -> None:
    """The code version the recorded deployment uses (its upload is not in the recording): a code asset
    whose hash is the one the recorded lookup asks for."""
    lookup = EX["code-by-hash"]["request"]["query"]
    body = {"properties": {"codeUri": f"{r.base}amlgenemulatorstore/container/onlinescoring",
                           "properties": {"hash_sha256": lookup["hash"], "hash_version": lookup["hashVersion"]},
                           "isAnonymous": False, "isArchived": False, "tags": {}}}
    assert r.call("PUT", r.arm(CODE), query={"api-version": "2023-04-01"}, body=body).status_code == 201


def test_endpoint_deployment_traffic_keys_scoring_delete_replayed(replayer):
    r = replayer("conf-endpoint", "eastus")
    r.check(EX["workspace-get"], r.send(EX["workspace-get"]))  # fact 41

    resp = r.send(EX["endpoint-create"])  # fact 7
    created = r.check(EX["endpoint-create"], resp)
    assert (created["properties"]["provisioningState"], created["properties"]["scoringUri"]) == ("Creating", None)
    assert created["properties"]["properties"]["azureml.onlineendpointid"] == r.arm(f"/onlineEndpoints/{EP}").lower()
    op = resp.headers["Azure-AsyncOperation"]
    assert r.check(EX["endpoint-create-poll-running"], r.send(EX["endpoint-create-poll-running"], url=op))[
        "status"] == "Updating"  # fact 8
    _done(r, op)
    done = r.check(EX["endpoint-create-poll-done"], r.send(EX["endpoint-create-poll-done"], url=op))
    assert done["status"] == "Succeeded" and done["percentComplete"] == 0.0
    got = r.check(EX["endpoint-get-after-create"], r.send(EX["endpoint-get-after-create"]))
    assert got["properties"]["scoringUri"].endswith(f"/eastus/{EP}/score")  # fact 9 (<name>.<region>. host)
    got = r.check(EX["endpoint-get-2023"], r.send(EX["endpoint-get-2023"]))
    assert got["properties"]["properties"]["AzureAsyncOperationUri"].endswith("api-version=2023-04-01-preview")

    _seed_code(r)  # fact 21: the code is found by hash, then read
    r.check(EX["code-by-hash"], r.send(EX["code-by-hash"]))
    r.check(EX["code-get"], r.send(EX["code-get"]))
    env = r.check(EX["environment-anonymous-put"], r.send(EX["environment-anonymous-put"]))  # fact 22
    assert env["properties"]["environmentType"] == "UserCreated" and json.loads(env["properties"]["condaFile"])
    assert r.send(EX["model-anonymous-put-again"]).status_code == 201  # new here; recorded as a re-put:
    model = r.check(EX["model-anonymous-put-again"], r.send(EX["model-anonymous-put-again"]))  # fact 24: 200
    assert model["properties"]["stage"] == "Logged" and "/resourceGroups/" in model["properties"]["modelUri"]

    resp = r.send(EX["deployment-create"])  # facts 15, 16
    dep = r.check(EX["deployment-create"], resp)
    assert dep["properties"]["requestSettings"]["requestTimeout"] == "PT5S" and dep["sku"]["tier"] == "Standard"
    assert dep["properties"]["instanceType"] == "STANDARD_F2S_V2"  # echoed as sent
    op = resp.headers["Azure-AsyncOperation"]
    running = r.check(EX["deployment-poll-running"], r.send(EX["deployment-poll-running"], url=op))
    assert list(running)[0] == "status"  # fact 8: status first in a deployment operation
    _done(r, op)
    r.check(EX["deployment-poll-done"], r.send(EX["deployment-poll-done"], url=op))
    dep = r.check(EX["deployment-get-after-create"], r.send(EX["deployment-get-after-create"]))  # fact 18
    assert dep["properties"]["environmentVariables"] == {
        "AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/1498425f064ef007b4f000a85a5f4645/1",
        "AZUREML_ENTRY_SCRIPT": "score.py", "AML_APP_ROOT": "/var/azureml-app/onlinescoring"}
    r.check(EX["deployment-get"], r.send(EX["deployment-get"]))
    r.check(EX["deployment-list-2023"], r.send(EX["deployment-list-2023"]))  # fact 19

    resp = r.send(EX["traffic-update"])  # fact 11
    answer = r.check(EX["traffic-update"], resp)
    assert answer["properties"]["provisioningState"] == "Creating" and "identity" not in answer
    _done(r, resp.headers["Azure-AsyncOperation"])
    r.check(EX["traffic-update-poll-done"], r.send(EX["traffic-update-poll-done"], url=resp.headers[
        "Azure-AsyncOperation"]))
    got = r.check(EX["endpoint-get-after-traffic"], r.send(EX["endpoint-get-after-traffic"]))
    assert got["properties"]["traffic"] == {DEP: 100}
    assert got["properties"]["properties"]["AzureAsyncOperationUri"].split("?")[0] == resp.headers[
        "Azure-AsyncOperation"].split("?")[0]  # fact 10: the latest operation
    r.check(EX["deployment-list-2022"], r.send(EX["deployment-list-2022"]))  # fact 19: the 2022 shape
    keys = r.check(EX["list-keys"], r.send(EX["list-keys"]))  # fact 12

    # fact 13: the recorded deployment ran a custom score.py (sklearn, {"data": ...} -> a JSON string); the
    # emulator's deployments answer amlgen's chat-completion contract instead, so the request body and the
    # body of the answer differ from the recording - status and headers are the recorded ones
    scoring = r.call("POST", got["properties"]["scoringUri"], headers={"Authorization": f"Bearer {keys['primaryKey']}"},
                     body={"input_data": {"input_string": [{"role": "user", "content": "hi"}], "parameters": {}}})
    r.check(EX["scoring"], scoring)
    assert scoring.headers["azureml-model-deployment"] == DEP and "output" in scoring.json()

    resp = r.send(EX["endpoint-delete"])  # fact 14
    assert r.check(EX["endpoint-delete"], resp) == "null"
    polled = r.check(EX["endpoint-delete-poll-running"], r.send(EX["endpoint-delete-poll-running"],
                                                                url=resp.headers["Azure-AsyncOperation"]))
    assert polled["status"] == "Updating"


def test_amltoken_endpoint_replayed(replayer):
    r = replayer("conf-amltoken", "eastus2")
    resp = r.send(AML["endpoint-create-amltoken"])
    # 2022 operation ids were "oe:<workspace>:<guid>"; the emulator issues today's "oeidp:" (fact 7)
    body = r.check(AML["endpoint-create-amltoken"], resp, known_headers=("Azure-AsyncOperation",))
    assert body["properties"]["authMode"] == "AMLToken"
    assert "/mfeOperationsStatus/oeidp:" in resp.headers["Azure-AsyncOperation"]
    _done(r, resp.headers["Azure-AsyncOperation"])
    resp = r.send(AML["endpoint-delete-2022"])
    assert r.check(AML["endpoint-delete-2022"], resp, known_headers=("Azure-AsyncOperation", "Location")) == "null"
    assert "/mfeOperationResults/oeidp:" in resp.headers["Location"]


def test_endpoint_and_deployment_through_the_sdk_make_the_recorded_calls(sdk, conf_emu, tmp_path):
    from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, Model

    ml = sdk("conf-endpoint-sdk", "eastus")
    ml.models.create_or_update(Model(name="m", version="1", path="azureml://datastores/workspaceblobstore/paths/m"))
    conf_emu.clear_requests()
    ep = ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="conf-sdk-ep")).result()
    assert ep.scoring_uri.endswith("/inference/eastus/conf-sdk-ep/score")
    dep = ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="blue", endpoint_name="conf-sdk-ep", model="azureml:m:1", instance_type="Standard_F2s_v2",
        instance_count=2)).result()
    assert dep.request_settings.request_timeout_ms == 5000 and dep.liveness_probe.failure_threshold == 30
    assert dep.environment_variables["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/m/1"
    ep.traffic = {"blue": 100}
    assert ml.online_endpoints.begin_create_or_update(ep).result().traffic == {"blue": 100}
    keys = ml.online_endpoints.get_keys("conf-sdk-ep")
    assert keys.primary_key
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"input_data": {"input_string": [{"role": "user", "content": "hi"}]}}))
    assert "output" in json.loads(ml.online_endpoints.invoke("conf-sdk-ep", request_file=str(request)))
    ml.online_endpoints.begin_delete("conf-sdk-ep").result()
    calls = [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in conf_emu.requests if r.method != "GET"]
    # the recorded order: endpoint PUT 201, deployment PUT 201, traffic PUT 201, listKeys 200, score 200,
    # DELETE 202 (entries 2, 17, 23, 29, 30, 31; get_keys adds one listKeys of its own)
    assert calls == [("PUT", "conf-sdk-ep", 201), ("PUT", "blue", 201), ("PUT", "conf-sdk-ep", 201),
                     ("POST", "listKeys", 200), ("POST", "listKeys", 200), ("POST", "score", 200),
                     ("DELETE", "conf-sdk-ep", 202)]
