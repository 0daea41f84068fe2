"""Models, datastores, listSecrets and the blob upload sequence as recorded (model-create-upload-latest-label-
2026.json, model-mlflow-create-get-2024.json; facts 23-29, 40)."""

from __future__ import annotations

import copy

import pytest
from conformance_support import conf_emu, conformance_emulator, load, replayer, sdk  # noqa: F401 (fixtures)

EX = load("model")
MLF = load("model-mlflow")


def test_model_upload_create_latest_replayed(replayer):
    r = replayer("conf-model", "eastus2")
    err = r.check(EX["model-latest-unknown"], r.send(EX["model-latest-unknown"]))  # facts 23, 40
    assert err["error"]["code"] == "UserError" and err["error"]["details"][0]["code"] == "ModelNotFound"
    assert [i["type"] for i in err["error"]["additionalInfo"]] == [
        "ComponentName", "Correlation", "Environment", "Location", "Time"]
    assert err["error"]["additionalInfo"][3]["info"]["value"] == "eastus2"
    store = r.check(EX["datastore-get"], r.send(EX["datastore-get"]))  # fact 26
    assert store["properties"]["credentials"]["credentialsType"] == "AccountKey"
    assert store["properties"]["containerName"] == f"azureml-blobstore-{r.workspace_id}"
    secret = r.check(EX["list-secrets-sas"], r.send(EX["list-secrets-sas"]))  # fact 27, the >= 1.26 form
    assert secret["secretsType"] == "Sas" and "sig=" in secret["sasToken"] and "key" not in secret
    r.sas = secret["sasToken"]

    r.check(EX["blob-head-missing"], r.send(EX["blob-head-missing"]))  # fact 28: 404 BlobNotFound, no body
    put = r.send(EX["blob-put"], headers={"If-None-Match": "*", "x-ms-blob-type": "BlockBlob",
                                          "Content-Type": "application/octet-stream"})
    r.check(EX["blob-put"], put)  # 201, the service's Content-MD5 and x-ms-content-crc64 of "hello world"
    meta = {"x-ms-meta-name": "model_test_123661324327", "x-ms-meta-version": "1",
            "x-ms-meta-upload_status": "completed"}
    r.check(EX["blob-metadata"], r.send(EX["blob-metadata"], headers=meta))
    r.check(EX["blob-head-uploaded"], r.send(EX["blob-head-uploaded"]))  # the SDK then skips the upload
    r.check(EX["blob-head-legacy"], r.send(EX["blob-head-legacy"]))
    bad_sig = r.sas.replace("sig=", "sig=x")
    r.sas, good = bad_sig, r.sas
    assert r.send(EX["blob-head-uploaded"]).status_code == 403  # the SAS is checked
    r.sas = good

    for version in ("1", "2", "3"):  # the versions the recording made before its version 4 (not transcribed)
        earlier = copy.deepcopy(EX["model-put"])
        earlier["request"]["path"] = earlier["request"]["path"].replace("/versions/4", f"/versions/{version}")
        assert r.send(earlier).status_code == 201
    model = r.check(EX["model-put"], r.send(EX["model-put"]))  # fact 24: 201 + Location
    assert (model["name"], model["properties"]["stage"], model["properties"]["flavors"]) == ("4", "Development", {})
    latest = r.check(EX["model-latest-label"], r.send(EX["model-latest-label"]))  # fact 25
    assert latest["value"][0]["name"] == "4" and "$skipToken=" in latest["nextLink"]
    page2 = r.call("GET", latest["nextLink"]).json()
    assert [v["name"] for v in page2["value"]] == ["3"]


def test_mlflow_model_and_the_older_list_secrets_replayed(replayer):
    r = replayer("conf-model-mlflow", "eastus2")
    r.check(MLF["model-latest-unknown-2024"], r.send(MLF["model-latest-unknown-2024"]))
    key = r.check(MLF["list-secrets-account-key"], r.send(MLF["list-secrets-account-key"], body=None))
    assert key["secretsType"] == "AccountKey"  # fact 27: azure-ai-ml <= 1.15 posts an empty body
    model = r.check(MLF["model-mlflow-put"], r.send(MLF["model-mlflow-put"]))
    assert set(model["properties"]["flavors"]) == {"sklearn", "python_function"}  # echoed
    r.check(MLF["model-get"], r.send(MLF["model-get"]))


@pytest.mark.parametrize("version", ["0", "-1", "01", "1.0", "v2", "2147483648", "99999999999"])
def test_workspace_model_versions_are_positive_integers_below_2_31(sdk, version):
    from azure.ai.ml.entities import Model
    from azure.core.exceptions import HttpResponseError

    ml = sdk("conf-model-versions")
    with pytest.raises(HttpResponseError, match="positive integer") as info:
        ml.models.create_or_update(Model(name="m", version=version,
                                         path="azureml://datastores/workspaceblobstore/paths/m"))
    assert info.value.status_code == 400 and info.value.error.code == "UserError"
    assert ml.models.create_or_update(Model(name="m", version="2147483647",
                                            path="azureml://datastores/workspaceblobstore/paths/m")).version


def test_model_from_a_local_file_through_the_sdk_makes_the_recorded_calls(sdk, conf_emu, tmp_path):
    from azure.ai.ml.entities import Model

    ml = sdk("conf-model-sdk", "eastus2")
    (tmp_path / "model.pkl").write_text("hello world")
    conf_emu.clear_requests()
    first = ml.models.create_or_update(Model(name="model_test_1", path=str(tmp_path / "model.pkl")))
    assert first.version == "1"
    calls = [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in conf_emu.requests]
    # the recorded sequence (entries 1-6, 9): latest lookup 404, datastore, listSecrets (SAS), blob HEAD 404,
    # blob PUT 201, metadata PUT 200, ..., model version PUT 201
    wanted = [("GET", "versions", 404), ("GET", "workspaceblobstore", 200), ("POST", "listSecrets", 200),
              ("HEAD", "model.pkl", 404), ("PUT", "model.pkl", 201), ("PUT", "model.pkl", 200),
              ("PUT", "1", 201)]
    it = iter(calls)
    assert all(step in it for step in wanted), calls  # in this order (other calls may come between)
    again = ml.models.create_or_update(Model(name="model_test_1", version="1", path=str(tmp_path / "model.pkl")))
    assert again.version == "1" and conf_emu.requests[-1].status == 200  # a re-put answers 200 (fact 24)
    assert ml.models.get("model_test_1", label="latest").version == "1"  # fact 25


def test_identity_based_datastore_replayed_and_through_the_sdk(replayer, sdk, conf_emu, tmp_path):
    from azure.ai.ml.entities import Model

    endpoint = load("endpoint")
    r = replayer("conf-identity", "eastus", storage_auth="identity")
    store = r.check(endpoint["datastore-get-identity"], r.send(endpoint["datastore-get-identity"]))  # fact 26
    assert store["properties"]["credentials"] == {"credentialsType": "None"}
    err = r.check(endpoint["list-secrets-no-credentials"], r.send(endpoint["list-secrets-no-credentials"]))
    assert err["error"]["message"] == "No secrets for credentials of type None."  # fact 27

    # the SDK skips listSecrets for such a datastore and reaches the blobs with its own (storage) token
    ml = sdk("conf-identity", "eastus", storage_auth="identity")
    (tmp_path / "model.pkl").write_text("hello world")
    conf_emu.clear_requests()
    assert ml.models.create_or_update(Model(name="idm", version="1", path=str(tmp_path / "model.pkl"))).version == "1"
    assert ("PUT", 201) in [(q.method, q.status) for q in conf_emu.requests if q.path.endswith("/model.pkl")]
