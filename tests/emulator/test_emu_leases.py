"""Blob leases through the real azure-storage-blob SDK (``BlobClient``, ``BlobLeaseClient``) against the emulator.

The semantics held here are Azure Blob Storage's (REST "Lease Blob": the outcomes of each lease action in each
lease state, and of writes to a leased blob); the request headers are what azure-storage-blob sends
(``_generated/operations/_blob_operations.py``: ``x-ms-lease-action``, ``x-ms-lease-duration``,
``x-ms-proposed-lease-id``, ``x-ms-lease-id``, ``x-ms-lease-break-period``).
"""

from __future__ import annotations

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError


@pytest.fixture
def blob(emu, ml):
    """``blob(name, credential=None)``: a BlobClient on the workspace's blob container (SharedKey by default)."""
    from azure.storage.blob import BlobClient

    ml.datastores.get_default()  # creates the lazily served workspace
    ws = next(iter(emu._app.state["workspaces"].values()))
    container = f"azureml-blobstore-{ws['workspace_id']}"
    account_url = emu.base_url + "amlgenemulatorstore"

    def make(name: str = "locks/a.lease", credential=None) -> BlobClient:
        return BlobClient(account_url, container, name, credential=credential or emu._app.account_key)

    return make


def code(info) -> str:
    value = info.value.error_code  # a StorageErrorCode (a str enum) or the plain string
    return str(getattr(value, "value", value))


def lease_of(client) -> tuple[str, str, str | None]:
    props = client.get_blob_properties().lease
    return props.status, props.state, props.duration


def test_acquire_renew_release(blob):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"", metadata={"who": "nobody"})
    assert lease_of(client) == ("unlocked", "available", None)
    lease = BlobLeaseClient(client)
    proposed = lease.id
    lease.acquire(lease_duration=15)
    assert lease.id == proposed  # the proposed id is the lease's
    assert lease_of(client) == ("locked", "leased", "fixed")
    lease.renew()
    assert lease.id == proposed
    lease.release()
    assert lease_of(client) == ("unlocked", "available", None)
    BlobLeaseClient(client).acquire(lease_duration=-1)
    assert lease_of(client) == ("locked", "leased", "infinite")


def test_a_held_lease_refuses_others(blob):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"")
    mine = BlobLeaseClient(client)
    mine.acquire(lease_duration=60)
    theirs = BlobLeaseClient(client)
    with pytest.raises(ResourceExistsError) as info:
        theirs.acquire(lease_duration=60)
    assert info.value.status_code == 409 and code(info) == "LeaseAlreadyPresent"
    assert "There is already a lease present." in str(info.value)
    for action in (theirs.renew, theirs.release):
        with pytest.raises(HttpResponseError) as info:
            action()
        assert info.value.status_code == 409 and code(info) == "LeaseIdMismatchWithLeaseOperation"
    BlobLeaseClient(client, lease_id=mine.id).acquire(lease_duration=30)  # the holder may acquire again


def test_operations_without_a_lease(blob):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"")
    lease = BlobLeaseClient(client)
    for action in (lease.renew, lease.release, lease.break_lease, lambda: lease.change(str(uuid.uuid4()))):
        with pytest.raises(HttpResponseError) as info:
            action()
        assert info.value.status_code == 409 and code(info) == "LeaseNotPresentWithLeaseOperation"
    with pytest.raises(HttpResponseError) as info:
        BlobLeaseClient(blob("no/such.blob")).acquire(lease_duration=15)
    assert info.value.status_code == 404 and code(info) == "BlobNotFound"


@pytest.mark.parametrize("duration", [0, 14, 61, -2])
def test_durations_outside_15_to_60_are_refused(blob, duration):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"")
    with pytest.raises(HttpResponseError) as info:
        BlobLeaseClient(client).acquire(lease_duration=duration)
    assert info.value.status_code == 400 and code(info) == "InvalidHeaderValue"
    assert "x-ms-lease-duration" in str(info.value)


def test_writes_to_a_leased_blob_need_its_id(blob, emu):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"one", metadata={"n": "1"})
    lease = BlobLeaseClient(client)
    lease.acquire(lease_duration=-1)
    attempts = (lambda **kw: client.upload_blob(b"two", overwrite=True, **kw),
                lambda **kw: client.set_blob_metadata({"n": "2"}, **kw),
                lambda **kw: client.delete_blob(**kw))
    for attempt in attempts:
        with pytest.raises(HttpResponseError) as info:
            attempt()
        assert info.value.status_code == 412 and code(info) == "LeaseIdMissing", attempt
        with pytest.raises(HttpResponseError) as info:
            attempt(lease=str(uuid.uuid4()))
        assert info.value.status_code == 412 and code(info) == "LeaseIdMismatchWithBlobOperation"
    assert client.download_blob().readall() == b"one"  # reads need no lease id
    assert client.get_blob_properties().metadata == {"n": "1"}

    client.set_blob_metadata({"n": "2"}, lease=lease)
    client.upload_blob(b"two", overwrite=True, lease=lease, metadata={"n": "3"})
    assert client.download_blob().readall() == b"two"
    assert lease_of(client) == ("locked", "leased", "infinite")  # the holder's rewrite keeps the lease
    lease.release()
    with pytest.raises(HttpResponseError) as info:
        client.set_blob_metadata({"n": "4"}, lease=lease.id or str(uuid.uuid4()))
    assert info.value.status_code == 412 and code(info) == "LeaseNotPresentWithBlobOperation"
    client.set_blob_metadata({"n": "4"})


def test_a_lease_expires_after_its_duration(blob, emu):
    from azure.storage.blob import BlobLeaseClient

    emu.lease_time_scale = 0.01  # 15 s of lease time = 0.15 s
    client = blob()
    client.upload_blob(b"")
    crashed = BlobLeaseClient(client)
    crashed.acquire(lease_duration=15)
    assert lease_of(client)[1] == "leased"
    time.sleep(0.2)
    assert lease_of(client) == ("unlocked", "expired", None)
    crashed.renew()  # neither written nor leased again since it expired: its holder may renew it
    assert lease_of(client)[1] == "leased"
    time.sleep(0.2)
    client.set_blob_metadata({"x": "1"})  # a write ends the expired lease
    assert lease_of(client)[1] == "available"
    with pytest.raises(HttpResponseError) as info:
        crashed.renew()
    assert code(info) == "LeaseNotPresentWithLeaseOperation"
    other = BlobLeaseClient(client)
    other.acquire(lease_duration=15)
    time.sleep(0.2)
    BlobLeaseClient(client).acquire(lease_duration=60)  # an expired lease is free for anyone
    with pytest.raises(HttpResponseError) as info:
        other.renew()
    assert code(info) == "LeaseIdMismatchWithLeaseOperation"


def test_break_and_change(blob, emu):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"")
    lease = BlobLeaseClient(client)
    lease.acquire(lease_duration=-1)
    new_id = str(uuid.uuid4())
    lease.change(new_id)
    assert lease.id == new_id
    assert BlobLeaseClient(client).break_lease(lease_break_period=30) == 30
    assert lease_of(client) == ("locked", "breaking", None)
    with pytest.raises(HttpResponseError) as info:
        lease.renew()
    assert code(info) == "LeaseIsBrokenAndCannotBeRenewed"
    with pytest.raises(HttpResponseError) as info:
        BlobLeaseClient(client, lease_id=new_id).acquire(lease_duration=15)
    assert code(info) == "LeaseIsBreakingAndCannotBeAcquired"
    with pytest.raises(HttpResponseError) as info:
        BlobLeaseClient(client).acquire(lease_duration=15)
    assert code(info) == "LeaseAlreadyPresent"
    assert BlobLeaseClient(client).break_lease(lease_break_period=0) == 0
    assert lease_of(client) == ("unlocked", "broken", None)
    taker = BlobLeaseClient(client)
    taker.acquire(lease_duration=15)  # a broken lease is free for anyone
    assert BlobLeaseClient(client).break_lease() in (14, 15)  # a fixed lease breaks when it would have ended
    assert lease_of(client)[1] == "breaking"
    taker.release()  # the holder may still release a breaking lease
    assert lease_of(client)[1] == "available"


def test_a_sas_needs_write_permission_to_lease(blob, emu):
    from azure.storage.blob import BlobLeaseClient

    from generator.emulator.blob import make_sas

    client = blob()
    client.upload_blob(b"")
    sas = make_sas(emu._app)
    lease = BlobLeaseClient(blob(credential=sas))  # the SAS listSecrets gives newer SDKs
    lease.acquire(lease_duration=15)
    assert lease_of(client)[1] == "leased"
    lease.release()


def test_a_403_fault_on_the_blob_plane_is_a_storage_error(blob, emu):
    from azure.storage.blob import BlobLeaseClient

    client = blob()
    client.upload_blob(b"")
    emu.faults.add(r"/locks/a\.lease$", "PUT", status=403, message="This request is not authorized to perform "
                   "this operation using this permission.")
    with pytest.raises(HttpResponseError) as info:
        BlobLeaseClient(client).acquire(lease_duration=15)
    assert info.value.status_code == 403 and code(info) == "AuthorizationPermissionMismatch"
    assert "not authorized" in str(info.value)
