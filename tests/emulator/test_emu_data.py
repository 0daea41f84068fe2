"""Data assets through the real SDK: local uri_file upload to the emulated blob store, datastore paths,
immutability of versions."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError


def test_uri_file_from_local_path_uploads_the_blob(ml, emu, tmp_path):
    from azure.ai.ml.entities import Data

    src = tmp_path / "train.jsonl"
    src.write_text('{"messages": []}\n')
    data = ml.data.create_or_update(Data(name="train", version="1", type="uri_file", path=str(src)))
    assert data.path.startswith("azureml://") and data.path.endswith("/train.jsonl")
    methods = [(r.method, r.status) for r in emu.requests if "/amlgenemulatorstore/" in r.path]
    assert ("PUT", 201) in methods  # the blob upload (SharedKey-signed with the listSecrets key)
    assert any(r.path.endswith("/datastores/workspaceblobstore/listSecrets") for r in emu.requests)

    got = ml.data.get("train", version="1")
    assert got.type == "uri_file" and got.path == data.path
    assert [d.version for d in ml.data.list(name="train")] == ["1"]

    # the same content again: the SDK finds the blob (HEAD with confirmation metadata) and does not re-upload
    emu.clear_requests()
    ml.data.create_or_update(Data(name="train", version="1", type="uri_file", path=str(src)))
    assert not [r for r in emu.requests if r.method == "PUT" and "/amlgenemulatorstore/" in r.path]

    # other content under the same version: asset versions are immutable
    src.write_text('{"messages": [1]}\n')
    with pytest.raises((ResourceExistsError, HttpResponseError), match="immutable"):
        ml.data.create_or_update(Data(name="train", version="1", type="uri_file", path=str(src)))


def test_uri_file_from_datastore_path(ml):
    from azure.ai.ml.entities import Data

    data = ml.data.create_or_update(
        Data(name="remote", version="2", type="uri_file",
             path="azureml://datastores/workspaceblobstore/paths/datasets/train.jsonl")
    )
    assert data.version == "2"
    with pytest.raises(HttpResponseError, match="datastore"):
        ml.data.create_or_update(
            Data(name="remote", version="3", type="uri_file",
                 path="azureml://datastores/nosuchstore/paths/datasets/train.jsonl")
        )


def test_unknown_data_version_is_404(ml):
    with pytest.raises(ResourceNotFoundError):
        ml.data.get("nope", version="1")


def test_block_uploads_and_signature_check(emu, ml):
    """Large files go up in blocks (Put Block + Put Block List); a wrong account key is refused."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.storage.blob import BlobClient

    ml.datastores.get_default()  # creates the lazily served workspace
    store = emu._app.state["workspaces"]
    container = f"azureml-blobstore-{next(iter(store.values()))['workspace_id']}"
    account_url = emu.base_url + "amlgenemulatorstore"
    data = bytes(range(256)) * 40
    blob = BlobClient(account_url, container, "big/file.bin", credential=emu._app.account_key,
                      max_single_put_size=1024, max_block_size=1000)
    blob.upload_blob(data, overwrite=True)
    assert any("comp" not in r.path and r.method == "PUT" for r in emu.requests)
    assert blob.download_blob().readall() == data
    assert blob.get_blob_properties().size == len(data)
    empty = BlobClient(account_url, container, "empty.txt", credential=emu._app.account_key)
    empty.upload_blob(b"")
    assert empty.download_blob().readall() == b""

    import base64
    import secrets

    wrong = BlobClient(account_url, container, "big/file.bin",
                       credential=base64.b64encode(secrets.token_bytes(64)).decode())
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as info:
        wrong.get_blob_properties()
    assert info.value.status_code == 403
