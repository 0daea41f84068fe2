"""Pipeline jobs, discovery, the job-download datastore calls and anonymous components as recorded
(pipeline-job-create-status-download-2026.json, pipeline-job-registry-*.json; facts 2, 26, 27, 31, 32, 34, 35, 41)."""

from __future__ import annotations

from conformance_support import conf_emu, conformance_emulator, load, replayer, sdk, wait_until  # noqa: F401 (fixtures)

EX = load("job")
COMP = load("component")
JOB = "test_94962644313"
CHILD_COMPONENTS = ("3c50b616-4123-4df9-b4b0-86b56bc64321", "dabe3060-3253-43ce-83f9-f2ed0ee635b3")


def _cluster(r, name: str = "cpu-cluster") -> None:
    body = {"location": "westus", "properties": {"computeType": "AmlCompute", "disableLocalAuth": False, "properties": {
        "vmSize": "Standard_DS2_v2", "vmPriority": "Dedicated", "osType": "Linux",
        "remoteLoginPortPublicAccess": "Enabled",
        "scaleSettings": {"maxNodeCount": 4, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT2M"}}}}
    resp = r.call("PUT", r.arm(f"/computes/{name}"), query={"api-version": "2023-08-01-preview"}, body=body)
    wait_until(lambda: r.call("GET", resp.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded")


def test_pipeline_job_status_sequence_and_download_calls_replayed(replayer, conf_emu):
    r = replayer("conf-job", "westus")
    _cluster(r)
    compute = r.check(EX["job-compute-get"], r.send(EX["job-compute-get"]))  # fact 2
    assert compute["properties"]["properties"]["vmSize"] == "STANDARD_DS2_V2"
    # the recorded workspace body was trimmed to the fields the SDK uses: those must be there
    ws = r.check(EX["job-workspace-get"], r.send(EX["job-workspace-get"]), subset=True)  # fact 41
    assert ws["location"] == "westus" and ws["properties"]["discoveryUrl"]
    for version in CHILD_COMPONENTS:  # the anonymous components the recorded job runs (not in the recording)
        body = {"properties": {"componentSpec": {"name": "azureml_anonymous", "type": "command", "command": "echo"}}}
        assert r.call("PUT", r.arm(f"/components/azureml_anonymous/versions/{version}"),
                      query={"api-version": "2023-04-01"}, body=body).status_code == 201
    # the recorded job ran ~1 minute and failed; the script compresses that life
    conf_emu.script_job(JOB, [("NotStarted", 0.1), ("Running", 0.6)], "Failed",
                        message="Pipeline has failed child jobs.")

    job = r.check(EX["job-create"], r.send(EX["job-create"]))  # fact 31: 201 + Location, NotStarted
    props = job["properties"]
    assert (props["status"], props["inputs"], props["properties"]) == ("NotStarted", None, {})
    assert props["services"]["Studio"]["endpoint"] == (
        f"https://ml.azure.com/runs/{JOB}?wsid=/subscriptions/{conf_emu.subscription_id}/resourcegroups/"
        f"{conf_emu.resource_group}/workspaces/conf-job")
    assert props["services"]["Tracking"]["endpoint"].startswith("azureml://westus.api.azureml.ms/mlflow/v1.0/")
    wait_until(lambda: r.send(EX["job-get-running"]).json()["properties"]["status"] == "Running")
    running = r.check(EX["job-get-running"], r.send(EX["job-get-running"]))  # fact 32
    assert running["properties"]["properties"]["azureml.defaultComputeName"] == "cpu-cluster"
    wait_until(lambda: r.send(EX["job-get-failed"]).json()["properties"]["status"] == "Failed")
    failed = r.check(EX["job-get-failed"], r.send(EX["job-get-failed"]))
    assert '"Status":"Failed"' in failed["properties"]["properties"]["azureml.pipelines.stages"]

    discovery = r.check(EX["discovery"], r.call("GET", ws["properties"]["discoveryUrl"]))  # fact 35
    assert discovery["api"] == conf_emu.base_url.rstrip("/")
    r.check(EX["default-datastore"], r.send(EX["default-datastore"]))  # fact 26
    artifacts = r.check(EX["artifactstore-get"], r.send(EX["artifactstore-get"]))
    assert artifacts["properties"]["containerName"] == "azureml"
    sas = r.check(EX["artifactstore-list-secrets"], r.send(EX["artifactstore-list-secrets"]))  # fact 27
    assert sas["secretsType"] == "Sas"


def test_anonymous_components_replayed(replayer):
    r = replayer("conf-component", "eastus2")
    first = r.check(COMP["component-anonymous-put"], r.send(COMP["component-anonymous-put"]))  # fact 34
    spec = first["properties"]["componentSpec"]
    assert spec["is_deterministic"] == "True" and spec["inputs"]["world_input"]["optional"] == "False"
    assert spec["environment"].startswith("azureml://registries/azureml/environments/AzureML-sklearn-1.0-")
    assert first["name"] != "000000000000000000000" and len(first["name"]) == 36  # a service-assigned GUID
    again = r.send(COMP["component-anonymous-put"])  # the same component again: 201, the same GUID
    assert again.status_code == 201 and again.json()["name"] == first["name"]
    r.check(COMP["component-anonymous-put-2"], r.send(COMP["component-anonymous-put-2"]))
    # the 2023-02 service added "$schema" to the spec; the 2023-10 answers (above) have none, as here
    with_code = r.check(COMP["component-anonymous-put-code"], r.send(COMP["component-anonymous-put-code"]),
                        known=("$.properties.componentSpec.$schema",))
    assert with_code["properties"]["componentSpec"]["environment"].endswith(
        "/environments/AzureML-sklearn-0.24-ubuntu18.04-py37-cpu/versions/5")
    got = r.call("GET", r.arm(f"/components/azureml_anonymous/versions/{first['name']}"),
                 query={"api-version": "2023-04-01"})
    assert got.status_code == 200


def test_command_job_through_the_sdk_goes_not_started_then_as_scripted(sdk, conf_emu):
    from azure.ai.ml import command
    from azure.ai.ml.entities import AmlCompute, Environment

    ml = sdk("conf-job-sdk", "westus")
    ml.compute.begin_create_or_update(AmlCompute(name="cpu-cluster", size="Standard_DS2_v2", max_instances=2)).result()
    conf_emu.script_job("^sdk-job$", [("Queued", 0.2), ("Running", 0.2)], "Completed")
    conf_emu.clear_requests()
    job = ml.jobs.create_or_update(command(
        name="sdk-job", command="echo hi", compute="cpu-cluster",
        environment=Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest")))
    assert job.status == "NotStarted"  # fact 31
    env_put = [r for r in conf_emu.requests if r.method == "PUT" and "/environments/" in r.path]
    assert [r.status for r in env_put] == [201]  # the anonymous environment (fact 22)
    seen = []
    wait_until(lambda: seen.append(ml.jobs.get("sdk-job").status) or seen[-1] == "Completed")
    assert "Queued" in seen and "Running" in seen and seen.index("Queued") < seen.index("Running")
