"""Fault injection: throttling/unavailability retried by the SDK's RetryPolicy, exhausted retries, LROs that
end Failed, added latency, and the control API used from outside the process."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError

from generator.emulator import EmulatorControl, FaultRuleError

COMPUTE_GET = r"/computes/gpu-a100-1x$"


def _statuses(emu, pattern):
    import re

    return [r.status for r in emu.requests if re.search(pattern, r.path)]


@pytest.mark.parametrize("status, retry_after", [(503, None), (503, 0), (429, None), (429, 0)])
def test_get_is_retried_to_success(ml, emu, compute, status, retry_after):
    emu.clear_requests()
    emu.faults.add(COMPUTE_GET, "GET", status=status, retry_after=retry_after, count=2)
    assert ml.compute.get("gpu-a100-1x").name == "gpu-a100-1x"
    assert _statuses(emu, COMPUTE_GET) == [status, status, 200]


def test_put_with_retry_after_is_retried(ml, emu):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    emu.faults.add(r"/onlineEndpoints/ep-throttled$", "PUT", status=429, retry_after=0, count=1)
    ep = ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-throttled")).result()
    assert ep.provisioning_state == "Succeeded"
    puts = [r.status for r in emu.requests if r.method == "PUT"]
    assert puts == [429, 201]


def test_post_429_without_retry_after_fails_at_once_and_with_it_is_retried(ml, emu):
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    ml.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="ep-keys")).result()
    emu.clear_requests()
    emu.faults.add(r"/listKeys$", "POST", status=429, count=1)
    with pytest.raises(HttpResponseError) as info:
        ml.online_endpoints.get_keys("ep-keys")
    assert info.value.status_code == 429
    assert _statuses(emu, r"/listKeys$") == [429]

    emu.faults.add(r"/listKeys$", "POST", status=429, retry_after=0, count=1)
    assert ml.online_endpoints.get_keys("ep-keys").primary_key
    assert _statuses(emu, r"/listKeys$") == [429, 429, 200]


def test_exhausted_retries_raise(ml, emu, compute):
    emu.clear_requests()
    emu.faults.add(COMPUTE_GET, "GET", status=503)
    with pytest.raises(HttpResponseError) as info:
        ml.compute.get("gpu-a100-1x")
    assert info.value.status_code == 503
    assert _statuses(emu, COMPUTE_GET) == [503] * 4  # 1 attempt + retry_status 3


def test_lro_poll_faults_are_retried(ml, emu):
    from azure.ai.ml.entities import AmlCompute

    # compute operations are polled at .../computeOperationsStatus/<id> (fact 1)
    emu.faults.add(r"/computeOperationsStatus/", "GET", status=503, count=1)
    result = ml.compute.begin_create_or_update(
        AmlCompute(name="polled", size="Standard_DS3_v2", max_instances=1)).result()
    assert result.provisioning_state == "Succeeded"
    assert 503 in _statuses(emu, r"/computeOperationsStatus/")


def test_lro_ending_failed_raises_with_message(ml, emu):
    from azure.ai.ml.entities import AmlCompute

    emu.faults.add(r"/computes/doomed$", "PUT", action="fail", message="Quota exceeded for family NCADSA100v4")
    with pytest.raises(HttpResponseError, match="Quota exceeded for family NCADSA100v4"):
        ml.compute.begin_create_or_update(AmlCompute(name="doomed", size="Standard_NC24ads_A100_v4",
                                                     max_instances=1)).result()
    assert ml.compute.get("doomed").provisioning_state == "Failed"


def test_delay_rule_and_latencies(ml, emu):
    from azure.ai.ml.entities import AmlCompute

    emu.latencies["compute"] = 0.4
    start = time.time()
    ml.compute.begin_create_or_update(AmlCompute(name="slow", size="Standard_DS3_v2", max_instances=1)).result()
    assert time.time() - start >= 0.4
    emu.faults.add(r"/computes/slow$", "GET", action="delay", delay=0.3, count=1)
    start = time.time()
    ml.compute.get("slow")
    assert time.time() - start >= 0.3


def test_probability_zero_never_fires_and_rules_validate(emu):
    rule = emu.faults.add(r".*", probability=0.0)
    assert emu.faults.pick("GET", "/anything") == (0.0, None)
    assert rule.hits == 0
    with pytest.raises(FaultRuleError):
        emu.faults.add("(", status=503)
    with pytest.raises(FaultRuleError):
        emu.faults.add("x", action="explode")
    with pytest.raises(FaultRuleError):
        emu.faults.add("x", status=200)


def test_control_api(ml, emu, compute):
    control = EmulatorControl(emu.base_url, emu.ca_path)
    assert control.health()["ok"] is True
    rule = control.add_fault(path=COMPUTE_GET, method="GET", status=503, retry_after=0, count=1)
    assert rule["id"] and emu.faults.list()[0].path == COMPUTE_GET
    ml.compute.get("gpu-a100-1x")
    records = control.requests()
    assert [r.status for r in records if r.path.endswith("/computes/gpu-a100-1x")][-2:] == [503, 200]
    assert not any(r.path.startswith("/_emulator") for r in records)
    assert control.write_calls() == emu.write_calls() == 1  # the compute PUT of the fixture
    config = control.configure(latencies={"compute": 0.01}, job_duration=0.2)
    assert config["latencies"]["compute"] == 0.01 and emu.job_duration == 0.2
    with pytest.raises(Exception, match="400"):
        control.add_fault(path="x", action="explode")
    control.reset()
    assert emu.requests == [] and emu.faults.list() == []
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        ml.compute.get("gpu-a100-1x")


def test_delete_lro_ending_failed_keeps_the_resource(ml, emu, compute):
    emu.faults.add(r"/computes/gpu-a100-1x$", "DELETE", action="fail", message="Compute is in use by a job")
    with pytest.raises(HttpResponseError, match="in use"):
        ml.compute.begin_delete("gpu-a100-1x").result()
    assert ml.compute.get("gpu-a100-1x").provisioning_state == "Succeeded"
