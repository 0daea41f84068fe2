"""The loopback Hub emulator (hubserver.py), exercised through the real huggingface_hub: no function is monkeypatched.

tests/data/conftest.py sets HF_HUB_OFFLINE=1 at import time; the ``hub`` fixture turns offline mode off (and points
huggingface_hub at the emulator) only for the duration of each test, via ``use_endpoint``.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub as hh
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hubserver import HubServer, use_endpoint
from huggingface_hub import constants
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

REPO = "HuggingFaceH4/ultrachat_200k"
SHARD0 = "data/train_sft-00000-of-00002-abcd.parquet"
SHARD1 = "data/train_sft-00001-of-00002-ef01.parquet"
TEST = "data/test_sft-00000-of-00001-2345.parquet"
ROWS = 40_000


def _parquet(rows: int, seed: int) -> bytes:
    """~1 MB of incompressible rows in 4 row groups, so a footer-only read is far smaller than the file."""
    rng = random.Random(seed)
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "blob": [rng.randbytes(24) for _ in range(rows)]})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=rows // 4, compression="none")
    return buf.getvalue()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        SHARD0: _parquet(ROWS, 0),
        SHARD1: _parquet(ROWS, 1),
        TEST: _parquet(1000, 2),
        "README.md": b"---\nlicense: mit\n---\n# ultrachat\n",
    }


@pytest.fixture
def hub(tmp_path: Path, files: dict[str, bytes]) -> Iterator[HubServer]:
    server = HubServer()
    server.add_dataset(REPO, files)
    with server.serving() as endpoint, use_endpoint(endpoint, tmp_path / "hf-home"):
        yield server


def test_dataset_info_resolves_revisions_and_lists_files(hub: HubServer, files: dict[str, bytes]) -> None:
    api = hh.HfApi()
    main = api.dataset_info(REPO)
    assert main.sha is not None and len(main.sha) == 40
    assert sorted(s.rfilename for s in main.siblings or []) == sorted(files)
    detailed = api.dataset_info(REPO, revision=main.sha, files_metadata=True)
    assert detailed.sha == main.sha
    by_name = {s.rfilename: s for s in detailed.siblings or []}
    assert by_name[SHARD0].size == len(files[SHARD0]) and by_name[SHARD0].lfs is not None
    assert by_name["README.md"].lfs is None and by_name["README.md"].blob_id
    # a new commit moves main; the old commit stays addressable; a branch name with a slash works
    new = hub.add_dataset(REPO, {**files, "extra.txt": b"x"})
    assert api.dataset_info(REPO, revision="main").sha == new != main.sha
    assert "extra.txt" not in api.list_repo_files(REPO, repo_type="dataset", revision=main.sha)
    convert = hub.add_dataset(REPO, {"default/train/0000.parquet": files[TEST]}, branch="refs/convert/parquet")
    assert api.dataset_info(REPO, revision="refs/convert/parquet").sha == convert
    tree = list(api.list_repo_tree(REPO, path_in_repo="data", repo_type="dataset", revision=main.sha))
    assert sorted(f.path for f in tree) == sorted(p for p in files if p.startswith("data/"))
    assert hh.dataset_info(REPO).sha == new  # the module-level HfApi instance follows the endpoint too


def test_unknown_repo_revision_or_file_raise_hub_errors(hub: HubServer) -> None:
    api = hh.HfApi()
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("nobody/nothing")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(REPO, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(REPO, revision="0" * 40)
    with pytest.raises(RepositoryNotFoundError):
        hh.hf_hub_download("nobody/nothing", "README.md", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        hh.hf_hub_download(REPO, "README.md", repo_type="dataset", revision="no-such-branch")
    with pytest.raises(RemoteEntryNotFoundError):
        hh.hf_hub_download(REPO, "missing.parquet", repo_type="dataset")
    assert {r.status for r in hub.requests} == {404}


def test_private_repo_needs_the_token(hub: HubServer) -> None:
    sha = hub.add_dataset("org/secret", {"a.parquet": b"PAR1"}, private=True)
    with pytest.raises(RepositoryNotFoundError):
        hh.HfApi().dataset_info("org/secret")
    assert hub.requests[-1].status == 401
    assert hh.HfApi(token=hub.token).dataset_info("org/secret").sha == sha


def test_footer_read_through_hffilesystem_uses_ranges_only(hub: HubServer, files: dict[str, bytes]) -> None:
    sha = hh.HfApi().dataset_info(REPO).sha
    hub.clear_log()
    fs = hh.HfFileSystem()
    with fs.open(f"datasets/{REPO}@{sha}/{SHARD0}", "rb") as fh:
        meta = pq.read_metadata(fh)
    assert (meta.num_rows, meta.num_row_groups) == (ROWS, 4)
    size = len(files[SHARD0])
    assert size > 900_000
    assert 0 < hub.bytes_sent_for(SHARD0) < size // 8
    resolves = hub.calls(path_contains="/resolve/")
    assert resolves and all(r.method == "GET" and r.range and r.status == 206 for r in resolves)
    assert hub.bytes_sent_for(SHARD1) == 0


def test_hf_hub_download_fills_the_cache_once(hub: HubServer, files: dict[str, bytes], tmp_path: Path) -> None:
    sha = hh.HfApi().dataset_info(REPO).sha
    assert sha is not None
    path = hh.hf_hub_download(REPO, SHARD1, repo_type="dataset", revision=sha)
    assert Path(path).read_bytes() == files[SHARD1]
    assert Path(path).is_relative_to(tmp_path / "hf-home" / "hub")
    assert [r.method for r in hub.calls(path_contains="/resolve/")] == ["HEAD", "GET"]
    assert hub.bytes_sent_for(SHARD1) == len(files[SHARD1])
    assert not any("xet" in r.path for r in hub.requests) and not (tmp_path / "hf-home" / "xet").exists()
    hub.clear_log()
    assert hh.hf_hub_download(REPO, SHARD1, repo_type="dataset", revision=sha) == path
    assert hub.requests == []  # pinned commit already cached: no request at all
    assert hh.hf_hub_download(REPO, SHARD1, repo_type="dataset") == path  # branch: one HEAD, no body
    assert [r.method for r in hub.requests] == ["HEAD"] and hub.bytes_sent_for(SHARD1) == 0


def test_snapshot_download_fetches_only_allowed_files(hub: HubServer, files: dict[str, bytes]) -> None:
    folder = Path(hh.snapshot_download(REPO, repo_type="dataset", allow_patterns=["data/test_sft-*", "*.md"]))
    got = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert got == sorted([TEST, "README.md"])
    assert (folder / TEST).read_bytes() == files[TEST]
    assert hub.bytes_sent_for(SHARD0) == hub.bytes_sent_for(SHARD1) == 0
    assert not hub.calls(path_contains=SHARD0)


def test_injected_503s(hub: HubServer, tmp_path: Path) -> None:
    hub.fail_next(1, status=503)
    with pytest.raises(HfHubHTTPError) as err:
        hh.HfApi().dataset_info(REPO)  # no retry in dataset_info
    assert err.value.response.status_code == 503
    sha = hh.HfApi().dataset_info(REPO).sha
    assert sha is not None
    # the body GET is not retried on 503 (only 408/429) and leaves nothing in the cache
    hub.fail_next(1, status=503, method="GET", path_contains="/resolve/")
    with pytest.raises(HfHubHTTPError) as err:
        hh.hf_hub_download(REPO, TEST, repo_type="dataset", revision=sha)
    assert err.value.response.status_code == 503
    assert not list((tmp_path / "hf-home" / "hub").rglob("*.parquet"))
    # one failed HEAD: hf_hub_download HEADs again (with backoff, but the retry succeeds at once)
    hub.clear_log()
    hub.fail_next(1, status=503, method="HEAD")
    hh.hf_hub_download(REPO, TEST, repo_type="dataset", revision=sha)
    assert [(r.method, r.status) for r in hub.requests] == [("HEAD", 503), ("HEAD", 200), ("GET", 200)]


def test_ranges_and_routes_at_the_handler_level(files: dict[str, bytes]) -> None:
    hub = HubServer()
    sha = hub.add_dataset(REPO, files)
    data, url = files[TEST], f"/datasets/{REPO}/resolve/{sha}/{TEST}"
    suffix = hub.handle("GET", url, "", {"range": "bytes=-10"}, b"")
    assert (suffix.status, suffix.body) == (206, data[-10:])
    assert suffix.headers["Content-Range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    assert hub.handle("GET", url, "", {"range": "bytes=5-"}, b"").body == data[5:]
    assert hub.handle("GET", url, "", {"range": f"bytes={len(data)}-"}, b"").status == 416
    head = hub.handle("HEAD", url, "", {}, b"")
    assert head.headers["X-Repo-Commit"] == sha and "X-Xet-Hash" not in head.headers
    missing = hub.handle("GET", f"/api/datasets/{REPO}/tree/main/nope", "", {}, b"")
    assert missing.headers["X-Error-Code"] == "EntryNotFound"
    info = hub.handle("POST", f"/api/datasets/{REPO}/paths-info/main", "", {}, b"paths=data&paths=README.md&paths=x")
    assert [e["type"] for e in json.loads(info.body)] == ["directory", "file"]


def test_use_endpoint_turns_offline_off_guards_other_hosts_and_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what tests/data/conftest.py gives when it runs before the first import of huggingface_hub
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = (constants.ENDPOINT, constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE, os.environ.get("HF_HUB_OFFLINE"))
    assert constants.is_offline_mode()
    hub = HubServer()
    with hub.serving() as endpoint, use_endpoint(endpoint, tmp_path):
        assert not constants.is_offline_mode() and constants.ENDPOINT == endpoint
        assert hh.hf_hub_url(REPO, "x", repo_type="dataset").startswith(endpoint + "/datasets/")
        with pytest.raises(RuntimeError, match="hubserver guard"):
            hh.get_session().get("http://127.0.0.2:9/api/whoami-v2")  # other host: refused before any I/O
        with pytest.raises(RepositoryNotFoundError):
            hh.HfApi().dataset_info(REPO)
        assert [r.path for r in hub.requests] == [f"/api/datasets/{REPO}"]
    after = (constants.ENDPOINT, constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE, os.environ.get("HF_HUB_OFFLINE"))
    assert after == before
