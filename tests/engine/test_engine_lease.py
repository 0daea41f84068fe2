"""The workspace lease (generator.wslease): runs from different checkouts that write one environment's workspace never
run at once; a run that dies leaves a lease that ends by itself; storage that refuses the lease is one warning.

Everything goes through the real SDKs (azure-ai-ml for the datastore and its credentials, azure-storage-blob for the
lease) against the emulator's blob plane, which answers Lease Blob as Azure Storage does (tests/emulator/
test_emu_leases.py)."""

from __future__ import annotations

import os
import shutil
import signal
import time

from engine_support import DEP, EP, LEASES, apply_waiting_for_its_job, lease_client, writes


def arm_writes(emu) -> list:
    """The writes of a run to the workspace and its storage, but for the lease blob itself."""
    from generator.emulator.core import is_write

    return [r for r in emu.requests if is_write(r.method, r.path) and LEASES not in r.path]


def hold_from_elsewhere(ml, *, seconds: int = 60, pid: str = "4242", host: str = "ci-runner-7"):
    """Another checkout's run holding the dev lease: what its amlgen wrote (an empty blob, a lease, its metadata)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobLeaseClient

    blob = lease_client(ml)
    try:
        blob.upload_blob(b"", overwrite=False)
    except ResourceExistsError:
        pass
    lease = BlobLeaseClient(blob)
    lease.acquire(lease_duration=seconds)
    blob.set_blob_metadata({"pid": pid, "host": host, "since": "2026-12-01T05:00:00Z", "command": "apply"},
                           lease=lease)
    return lease


def lease_state(ml) -> str:
    return str(lease_client(ml).get_blob_properties().lease.state)


def test_apply_takes_and_gives_back_the_lease_and_plan_takes_none(run, emu, ml):
    r = run("plan", "--env", "dev")
    assert r.code == 0, r.text
    assert not writes(emu, None, LEASES), "plan is read-only: no lease"
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    assert "lease" not in r.err  # no warning: the emulator's storage grants it
    lease = [x.status for x in writes(emu, "PUT", LEASES + "dev.lease")]
    assert lease == [404, 201, 201, 200, 200], lease  # first use: 404 acquire, the empty blob, acquire, metadata, release
    assert lease_state(ml) == "available"
    meta = lease_client(ml).get_blob_properties().metadata
    assert meta["command"] == "apply" and meta["pid"] == str(os.getpid())


def test_another_checkouts_run_is_refused_then_goes_on_after_ctrl_c(run, emu, ml, project, tmp_path):
    """Two checkouts of one repository (a laptop and a CI runner): their project locks are different files, the
    lease in the workspace serialises them. Ctrl-C on the first gives the lease back at once."""
    emu.job_duration = 10  # long enough for the second checkout to try; its apply then waits for the rest
    other = tmp_path / "other-checkout"
    shutil.copytree(project, other)
    first = apply_waiting_for_its_job(emu, project)
    try:
        assert first.poll() is None  # waiting for its job, holding the lease

        before = len(arm_writes(emu))
        r = run("apply", "--env", "dev", root=other)
        assert r.code == 1
        line = r.err.strip()
        assert "\n" not in line and "Traceback" not in line
        assert "another apply is running on workspace mlw-amlgen-dev" in line
        assert f"pid {first.pid} on " in line and "default datastore" in line
        assert len(arm_writes(emu)) == before  # the first run only polls its job; the second wrote nothing
        r = run("plan", "--env", "dev", root=other)  # reading is never refused
        assert r.code == 0, r.text

        first.send_signal(signal.SIGINT)
        out, _ = first.communicate(timeout=60)
        assert first.returncode == 130, out
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert lease_state(ml) == "available"  # given back on Ctrl-C, not left to lapse
    emu.job_duration = 0.2
    r = run("apply", "--env", "dev", root=other)
    assert r.code == 0, r.text
    assert "already submitted" in r.out  # the other checkout's job, not a second one
    assert len([x for x in writes(emu, "PUT", "/jobs/") if x.status == 201]) == 1
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}


def test_the_lease_of_a_run_that_crashed_ends_by_itself(run, emu, ml):
    emu.lease_time_scale = 0.1  # the service's shortest lease, 15 s, lasts 1.5 s here
    hold_from_elsewhere(ml, seconds=15)
    r = run("apply", "--env", "dev")
    assert r.code == 1
    assert "pid 4242 on ci-runner-7 since 2026-12-01T05:00:00Z" in r.err
    assert not arm_writes(emu)
    time.sleep(1.7)
    assert lease_state(ml) == "expired"
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text


def test_destroy_and_rollback_wait_for_the_lease_too(run, emu, ml):
    assert run("apply", "--env", "dev").code == 0
    hold_from_elsewhere(ml)
    emu.clear_requests()
    r = run("destroy", "--env", "dev", "--yes")
    assert r.code == 1 and "another apply is running" in r.err, r.text
    assert not [x for x in arm_writes(emu) if x.method == "DELETE"]
    assert ml.online_endpoints.get(EP).name == EP


def test_a_lost_lease_stops_the_run_before_its_next_call(emu, project):
    """The lease is broken (an operator's ``az storage blob lease break``) while a run holds it: its renewal is
    refused and the run's next call to the workspace is a one-line error instead of a write."""
    import pytest
    from azure.storage.blob import BlobLeaseClient

    from generator.config import load_environment
    from generator.emulator.target import running_target
    from generator.errors import AzureError
    from generator.workspace import Ref, Workspace

    env = load_environment(project, "dev")
    with Workspace.connect(env, target=running_target(project), retry_total=0) as ws:
        with ws.lease("dev", "apply", renew_every=0.05) as held:
            assert held is not None
            assert ws.get(Ref("endpoint", EP)) is None  # calls go on while the lease is held
            BlobLeaseClient(_blob(ws)).break_lease(lease_break_period=0)
            deadline = time.time() + 10
            while time.time() < deadline and not held._lost:
                time.sleep(0.02)
            with pytest.raises(AzureError) as caught:
                ws.get(Ref("endpoint", EP))
            text = str(caught.value)
            assert "\n" not in text and "was lost" in text and "LeaseIsBrokenAndCannotBeRenewed" in text


def _blob(ws):
    from azure.ai.ml._artifacts._artifact_utilities import get_datastore_info
    from azure.storage.blob import BlobClient

    info = get_datastore_info(ws.client.datastores, ws.client.datastores.get_default().name)
    return BlobClient(info["account_url"], info["container_name"], "amlgen/locks/dev.lease",
                      credential=info["credential"])


def test_storage_refusing_the_lease_is_one_warning_and_the_run_goes_on(run, emu, ml):
    """An identity without data-plane rights on the storage account (403 AuthorizationPermissionMismatch): one
    warning line, then the run under the project lock only."""
    emu.faults.add(r"/amlgen/locks/", "PUT", status=403)
    r = run("apply", "--env", "dev")
    assert r.code == 0, r.text
    warnings = [x for x in r.err.splitlines() if "workspace lease" in x]
    assert len(warnings) == 1, r.err
    assert warnings[0].startswith("warning: the workspace lease is not available (HTTP 403")
    assert "not serialised" in warnings[0]
    assert ml.online_endpoints.get(EP).traffic == {DEP: 100}


def test_storage_failing_is_a_one_line_error_before_anything_is_written(run, emu):
    emu.faults.add(r"/amlgen/locks/", "PUT", status=500)
    r = run("apply", "--env", "dev", "--retry-total", "1")
    assert r.code == 1
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    assert "lease" in r.err
    assert not arm_writes(emu)
