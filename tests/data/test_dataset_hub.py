"""``prepare`` from the Hugging Face hub, through the real huggingface_hub against the loopback hub (hubserver.py).

Nothing is monkeypatched in huggingface_hub: ``use_endpoint`` points it at the emulator, and the emulator's request
log shows what was downloaded (whole files) and what was only range-read (parquet footers).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dataset_helpers import make_project, read_jsonl
from hubserver import HubServer, use_endpoint
from huggingface_hub import constants

from generator.config import Data
from generator.data import prepare
from generator.data.preparation import head_count
from generator.data.progress import Quiet
from generator.data.synthetic import generate
from generator.errors import DataError

DATASET = "HuggingFaceH4/ultrachat_200k"
SIZES = {"train_sft": 6000, "test_sft": 300}
SPLITS = dict(splits=list(SIZES), test_split="test_sft", request_split="test_sft")
Q = Quiet()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train_sft in 3 shards of ~450 KB (uncompressed, so a footer read is a small part of a shard), test_sft in 1."""
    out = tmp_path_factory.mktemp("hubsrc")
    generate(out, sizes=SIZES, shards={"train_sft": 3, "test_sft": 1}, row_group_size=200, profile="compact",
             compression="none", seed=11)
    return out


def repo_files(src: Path) -> dict[str, bytes]:
    files = {f"data/{p.name}": p.read_bytes() for p in sorted((src / "data").glob("*.parquet"))}
    files["README.md"] = b"---\nlicense: mit\n---\n# a synthetic ultrachat_200k\n"
    return files


def shards(src: Path, split: str) -> list[str]:
    return [f"data/{p.name}" for p in sorted((src / "data").glob(f"{split}-*.parquet"))]


@pytest.fixture
def hub(tmp_path: Path, source: Path) -> Iterator[HubServer]:
    server = HubServer()
    server.commit = server.add_dataset(DATASET, repo_files(source))  # type: ignore[attr-defined]
    with server.serving() as endpoint, use_endpoint(endpoint, tmp_path / "hf-home"):
        server.source = source  # type: ignore[attr-defined]
        yield server


def from_hub(root: Path, **data) -> object:
    data = {**SPLITS, "output_dir": "out", **data}
    return prepare(Data(**data), root, reporter=Q)


def from_local(root: Path, src: Path, **data) -> object:
    data = {**SPLITS, "output_dir": "out", **data}
    return prepare(Data(**data), root, source=str(src), reporter=Q)


def test_head_downloads_only_the_shards_that_hold_the_rows(hub: HubServer, source: Path, tmp_path: Path) -> None:
    res = from_hub(tmp_path / "hub", percent=5)
    first, *rest = shards(source, "train_sft")
    size = (source / first).stat().st_size
    assert hub.bytes_sent_for(first) == size  # 5 % of 6,000 rows = 300 rows: all in the first shard
    for name in rest:  # only their footers, for the split's row count
        assert 0 < hub.bytes_sent_for(name) < size // 4, name
    assert [r.method for r in hub.calls(path_contains=rest[0]) if r.range is None] == []
    # the same rows, bytes and manifest (but the source) as from a local copy of the same files
    local = from_local(tmp_path / "local", source, percent=5)
    assert {k: v for k, v in res.manifest.items() if k != "source"} == {k: v for k, v in local.manifest.items() if k != "source"}
    assert res.manifest["source"] == {"dataset": DATASET, "revision": hub.commit}
    assert res.manifest["splits"]["train_sft"]["source_rows"] == SIZES["train_sft"]
    assert res.manifest["splits"]["train_sft"]["rows"] == head_count(5, SIZES["train_sft"])
    for split in SIZES:
        assert (res.output_dir / f"{split}.jsonl").read_bytes() == (local.output_dir / f"{split}.jsonl").read_bytes()


def test_a_head_past_the_first_shard_downloads_the_shards_up_to_it(hub: HubServer, source: Path, tmp_path: Path) -> None:
    from_hub(tmp_path, percent=50)  # 3,000 rows: shards 0 and 1 (2,000 rows each)
    s0, s1, s2 = shards(source, "train_sft")
    assert downloads(hub, s0) == downloads(hub, s1) == 1  # shard 1's footer was read first, to count the rows
    assert downloads(hub, s2) == 0 and hub.bytes_sent_for(s2) < (source / s2).stat().st_size // 4


def downloads(hub: HubServer, name: str) -> int:
    """Whole-file GETs of ``name`` (a footer read is a ranged GET)."""
    return len([r for r in hub.calls(method="GET", path_contains=name) if r.range is None])


@pytest.mark.parametrize("data", [dict(percent=100), dict(percent=5, sampling="random", seed=3)], ids=["all", "random"])
def test_every_shard_is_downloaded_when_every_row_counts(hub: HubServer, source: Path, tmp_path: Path, data: dict) -> None:
    res = from_hub(tmp_path / "hub", **data)
    for name in shards(source, "train_sft") + shards(source, "test_sft"):
        assert hub.bytes_sent_for(name) == (source / name).stat().st_size, name
    assert not [r for r in hub.requests if r.range], "no footer reads when every shard is downloaded"
    local = from_local(tmp_path / "local", source, **data)
    assert res.manifest["splits"] == local.manifest["splits"]


def test_shards_download_concurrently(hub: HubServer, source: Path, tmp_path: Path) -> None:
    hub.download_delay = 0.2  # each whole-file answer waits, so overlapping downloads show in the counter
    from_hub(tmp_path, percent=100)
    assert hub.max_downloads_in_flight >= 2


def test_rerun_is_up_to_date_and_downloads_nothing_again(hub: HubServer, source: Path, tmp_path: Path) -> None:
    first = from_hub(tmp_path, percent=5)
    hub.clear_log()
    again = from_hub(tmp_path, percent=5)
    assert again.up_to_date and again.manifest == first.manifest
    assert hub.bytes_sent_for(shards(source, "train_sft")[0]) == 0  # cached
    assert not [r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path and not r.range]


def test_the_revision_is_pinned_and_a_moved_branch_is_noticed(hub: HubServer, source: Path, tmp_path: Path) -> None:
    old = hub.commit
    first = from_hub(tmp_path, percent=100)
    newer = tmp_path / "newer"
    generate(newer, sizes={"train_sft": 500, "test_sft": 20}, shards=1, row_group_size=100, profile="compact", seed=99)
    new = hub.add_dataset(DATASET, repo_files(newer))
    assert new != old
    pinned = from_hub(tmp_path, percent=100, revision=old)  # the same commit: up to date, same rows
    assert pinned.manifest["source"]["revision"] == old and pinned.manifest["splits"] == first.manifest["splits"]
    moved = from_hub(tmp_path, percent=100)  # main moved: the new commit is recorded and its rows written
    assert not moved.up_to_date
    assert moved.manifest["source"]["revision"] == new
    assert len(read_jsonl(moved.output_dir / "train_sft.jsonl")) == 500


def test_hub_errors_are_data_errors_and_lose_nothing(hub: HubServer, tmp_path: Path) -> None:
    before = from_hub(tmp_path, percent=5)
    snap = {p.name: p.read_bytes() for p in before.output_dir.iterdir()}
    with pytest.raises(DataError, match=r"^dataset org/missing not found on the hub \(or it is private: set HF_TOKEN\)$"):
        from_hub(tmp_path, percent=5, dataset="org/missing")
    with pytest.raises(DataError, match=r"^revision 'nope' not found in HuggingFaceH4/ultrachat_200k$"):
        from_hub(tmp_path, percent=5, revision="nope")
    hub.fail_next(1, status=503, path_contains="/api/datasets/")
    with pytest.raises(DataError, match=r"^cannot download HuggingFaceH4/ultrachat_200k: .*503"):
        from_hub(tmp_path, percent=7)
    shard = shards(hub_source(hub), "train_sft")[-1]  # not cached by the 5 % run above
    hub.fail_next(1, status=500, method="GET", path_contains=shard)  # one of the concurrent downloads fails
    with pytest.raises(DataError, match=r"^cannot download HuggingFaceH4/ultrachat_200k: .*500"):
        from_hub(tmp_path, percent=100)
    assert {p.name: p.read_bytes() for p in before.output_dir.iterdir()} == snap


def hub_source(hub: HubServer) -> Path:
    return hub.source  # type: ignore[attr-defined]


def test_an_unreachable_hub_is_a_one_line_data_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with use_endpoint(f"http://127.0.0.1:{port}", tmp_path / "hf-home"), pytest.raises(DataError) as err:
        from_hub(tmp_path, percent=5)
    assert str(err.value).startswith("cannot reach the Hugging Face hub for HuggingFaceH4/ultrachat_200k: ")
    assert "\n" not in str(err.value)


def test_a_private_dataset_needs_hf_token(tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = HubServer(token="hf_secret_test_token")
    server.add_dataset(DATASET, repo_files(source), private=True)
    with server.serving() as endpoint, use_endpoint(endpoint, tmp_path / "hf-home"):
        with pytest.raises(DataError, match="set HF_TOKEN") as err:
            from_hub(tmp_path, percent=5)
        monkeypatch.setenv("HF_TOKEN", "hf_secret_test_token")
        res = from_hub(tmp_path, percent=5)
    assert res.manifest["splits"]["train_sft"]["rows"] == 300
    assert "hf_secret_test_token" not in str(err.value) + (res.output_dir / "manifest.json").read_text()


def test_offline_uses_the_cache_and_needs_every_shard(hub: HubServer, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_hub(tmp_path / "a", percent=5)  # caches train_sft shard 0 only
    hub.clear_log()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"^offline: split train_sft of HuggingFaceH4/ultrachat_200k@[0-9a-f]{40} has 1 of 3 shards"):
        from_hub(tmp_path / "b", percent=5)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    online = from_hub(tmp_path / "c", percent=100)  # now every shard is cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub.clear_log()
    offline = from_hub(tmp_path / "d", percent=100)
    assert hub.requests == []
    assert offline.manifest == online.manifest


def test_cli_prepares_from_the_hub_in_a_fresh_process(hub: HubServer, source: Path, tmp_path: Path) -> None:
    # The environment variables alone (as a user sets them) point a new process at the hub and its cache.
    project = make_project(tmp_path / "proj", data={**SPLITS, "percent": 5})
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "cli-hf-home"), "HF_HUB_OFFLINE": "0",
           "HF_HUB_DISABLE_TELEMETRY": "1", "CI": "true", "NO_PROXY": "127.0.0.1"}
    amlgen = shutil.which("amlgen", path=str(Path(sys.executable).parent))
    assert amlgen
    out = subprocess.run([amlgen, "data", "prepare", "--env", "dev", "--project", str(project)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"source {DATASET}@{hub.commit}" in out.stdout
    first = shards(source, "train_sft")[0]
    assert hub.bytes_sent_for(first) == (source / first).stat().st_size
    assert all(hub.bytes_sent_for(s) < (source / s).stat().st_size // 4 for s in shards(source, "train_sft")[1:])


def test_download_bars_follow_the_reporter(hub: HubServer, tmp_path: Path) -> None:
    # huggingface_hub's bars show only where ours do (a terminal); --quiet and plain-line output hide them, and the
    # global setting is restored afterwards.
    from huggingface_hub import utils

    from generator.data import source as src

    run, seen = [""], []
    real = src._download

    def spy(*args):
        seen.append((run[0], utils.are_progress_bars_disabled()))
        return real(*args)

    utils.enable_progress_bars()
    src._download = spy
    try:
        run[0] = "quiet"
        from_hub(tmp_path / "quiet", percent=5)
        run[0] = "terminal"
        prepare(Data(**SPLITS, percent=5, output_dir="loud"), tmp_path, reporter=type("Tty", (Quiet,), {"interactive": True})())
    finally:
        src._download = real
    assert sorted(set(seen)) == [("quiet", True), ("terminal", False)], seen
    assert not utils.are_progress_bars_disabled()
