"""AmlCompute as recorded (compute-amlcompute-create-update-delete-2024.json; facts 1-6)."""

from __future__ import annotations

from conformance_support import conf_emu, conformance_emulator, load, replayer, sdk, wait_until  # noqa: F401 (fixtures)

EX = load("compute")


def test_compute_create_poll_get_update_delete_replayed(replayer):
    # the recorded workspace polls in westus while the cluster itself was put in eastus
    r = replayer("conf-compute", "westus")
    resp = r.send(EX["compute-create"])
    created = r.check(EX["compute-create"], resp)
    assert created["properties"]["provisioningState"] == "Creating"  # fact 1
    assert created["properties"]["properties"]["vmSize"] == "STANDARD_DS2_V2"  # fact 2: upper-cased
    assert created["properties"]["properties"]["allocationState"] is None and created["tags"] is None  # fact 4
    op_url = resp.headers["Azure-AsyncOperation"]
    running = r.check(EX["compute-create-poll-running"], r.send(EX["compute-create-poll-running"], url=op_url))
    assert running == {"status": "InProgress"}  # fact 3: the minimal compute shape
    wait_until(lambda: r.call("GET", op_url).json()["status"] != "InProgress")
    done = r.check(EX["compute-create-poll-done"], r.send(EX["compute-create-poll-done"], url=op_url))
    assert done == {"status": "Succeeded", "percentComplete": 100.0}

    got = r.check(EX["compute-get-after-create"], r.send(EX["compute-get-after-create"]))
    inner = got["properties"]["properties"]
    assert (inner["allocationState"], inner["currentNodeCount"], got["tags"]) == ("Steady", 0, {})  # fact 4
    assert inner["userAccountCredentials"]["adminUserPassword"] is None  # never shown back
    assert got["properties"]["computeLocation"] == "eastus" and inner["vmSize"] == "STANDARD_DS2_V2"
    r.check(EX["compute-get"], r.send(EX["compute-get"]))

    resp = r.send(EX["compute-update"])
    updated = r.check(EX["compute-update"], resp)  # fact 5: 201 again, Creating, a BatchAI resource id
    assert updated["properties"]["provisioningState"] == "Creating"
    assert "/Microsoft.BatchAI/workspaces/conf-compute/clusters/test49208482942" in updated["properties"]["resourceId"]
    update_op = resp.headers["Azure-AsyncOperation"]
    wait_until(lambda: r.call("GET", update_op).json()["status"] == "Succeeded")
    r.check(EX["compute-update-poll-done"], r.send(EX["compute-update-poll-done"], url=update_op))

    gone = r.send(EX["compute-delete"])  # fact 6: 202, empty body, Azure-AsyncOperation only
    r.check(EX["compute-delete"], gone)
    assert gone.content == b"" and gone.headers["Content-Length"] == "0"
    wait_until(lambda: r.call("GET", gone.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded")
    assert r.send(EX["compute-get"]).status_code == 404


def test_compute_through_the_sdk_makes_the_recorded_calls(sdk, conf_emu):
    from azure.ai.ml.entities import AmlCompute

    ml = sdk("conf-compute-sdk", "westus")
    conf_emu.clear_requests()
    cluster = AmlCompute(name="test49208482942", size="Standard_DS2_v2", min_instances=0, max_instances=2,
                         idle_time_before_scale_down=100)
    assert ml.compute.begin_create_or_update(cluster).result().size == "STANDARD_DS2_V2"
    assert ml.compute.get("test49208482942").size.lower() == "standard_ds2_v2"
    cluster.idle_time_before_scale_down = 200
    assert ml.compute.begin_create_or_update(cluster).result().idle_time_before_scale_down == 200
    ml.compute.begin_delete("test49208482942").result()
    calls = [(r.method, r.path.rsplit("/", 2)[-2], r.status) for r in conf_emu.requests
             if "/computes/" in r.path or "computeOperationsStatus" in r.path]
    # the recorded sequence (entries 1-11): PUT 201, polls, GET; PUT 201 again, polls, GET; DELETE 202
    assert calls[0] == ("PUT", "computes", 201)
    assert ("GET", "computeOperationsStatus", 200) in calls
    assert [c for c in calls if c[0] == "PUT"] == [("PUT", "computes", 201)] * 2
    assert [c for c in calls if c[0] == "DELETE"] == [("DELETE", "computes", 202)]
