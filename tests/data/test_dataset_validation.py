"""Malformed rows (exclude / reject) and atomic output (exceptions, a killed process; Ctrl-C: test_dataset_interrupt)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dataset_helpers import REPO, read_jsonl

from generator.config import Data
from generator.data import prepare
from generator.data.progress import Quiet
from generator.data.synthetic import MALFORMED_KINDS, conversations, generate
from generator.errors import DataError

Q = Quiet()
ONE = dict(splits=["train_sft", "test_sft"], test_split="test_sft", request_split="test_sft")
BAD = {3: "empty_messages", 10: "null_messages", 11: "bad_role", 50: "null_role", 51: "null_content",
       52: "null_message", 120: "null_prompt", 130: "null_prompt_id"}
REASONS = {
    3: "messages is empty", 10: "messages is null", 11: "role is 'robot', expected one of user/assistant/system",
    50: "role is None", 51: "content is not a string", 52: "is null", 120: "prompt is null", 130: "prompt_id is null",
}


@pytest.fixture(scope="module")
def bad_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad")
    generate(out, sizes={"train_sft": 200, "test_sft": 40}, shards={"train_sft": 2, "test_sft": 1}, row_group_size=32,
             profile="compact", malformed={"train_sft": BAD})
    return out


def run(root: Path, source: Path, **data):
    data.setdefault("output_dir", "out")
    return prepare(Data(**{**ONE, **data}), root, source=str(source), reporter=Q)


def snapshot(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_every_malformed_kind_is_injectable() -> None:
    assert set(BAD.values()) == set(MALFORMED_KINDS)


def test_exclude_drops_and_counts_malformed_rows(bad_source: Path, tmp_path: Path) -> None:
    res = run(tmp_path, bad_source, percent=100, on_invalid="exclude")
    e = res.manifest["splits"]["train_sft"]
    assert (e["selected"], e["malformed"], e["rows"]) == (200, 8, 192)
    assert [x["index"] for x in e["malformed_examples"]] == [3, 10, 11, 50, 51]
    for x in e["malformed_examples"]:
        assert REASONS[x["index"]] in x["reason"]
    good = [r for i, r in enumerate(conversations(200, split="train_sft", profile="compact")) if i not in BAD]
    assert read_jsonl(res.output_dir / "train_sft.jsonl") == good
    assert res.manifest["splits"]["test_sft"]["malformed"] == 0 and "malformed_examples" not in res.manifest["splits"]["test_sft"]


def test_head_counts_only_selected_rows(bad_source: Path, tmp_path: Path) -> None:
    # (the request split must have rows: at 1 % and 2 %, test_sft's 40 have none)
    res = run(tmp_path, bad_source, percent=1, on_invalid="reject", request_split="train_sft")  # rows 0..1 are fine
    assert res.manifest["splits"]["train_sft"]["rows"] == 2
    res = run(tmp_path, bad_source, percent=2, on_invalid="exclude", output_dir="o2", request_split="train_sft")  # rows 0..3: row 3 bad
    assert res.manifest["splits"]["train_sft"]["malformed"] == 1


def test_reject_fails_names_split_count_first_row_and_replaces_nothing(bad_source: Path, tmp_path: Path) -> None:
    good = tmp_path / "good"
    generate(good, sizes={"train_sft": 200, "test_sft": 40}, shards=1, profile="compact", seed=1)
    before = run(tmp_path, good, percent=100, on_invalid="reject")
    snap = snapshot(before.output_dir)
    with pytest.raises(DataError) as err:
        run(tmp_path, bad_source, percent=100, on_invalid="reject")
    msg = str(err.value)
    assert "split train_sft: 8 malformed rows (first: row 3: messages is empty)" in msg and "\n" not in msg
    assert snapshot(before.output_dir) == snap  # nothing replaced, no temp file left


def test_random_sampling_validates_the_selected_rows(bad_source: Path, tmp_path: Path) -> None:
    res = run(tmp_path, bad_source, percent=100, sampling="random", on_invalid="exclude")
    assert res.manifest["splits"]["train_sft"]["malformed"] == 8


# --------------------------------------------------------------------------- atomicity
def test_exception_mid_write_leaves_previous_files_and_no_temp(tmp_path: Path) -> None:
    src = tmp_path / "src"
    generate(src, sizes={"train_sft": 400, "test_sft": 400}, shards={"train_sft": 1, "test_sft": 2}, row_group_size=25, profile="compact")
    before = run(tmp_path, src, percent=100)
    snap = snapshot(before.output_dir)
    # corrupt the data pages of the second test_sft shard: the footer is fine, decoding fails half-way
    shard = sorted((src / "data").glob("test_sft-*"))[-1]
    blob = bytearray(shard.read_bytes())
    for i in range(len(blob) // 3, len(blob) // 2):
        blob[i] ^= 0x5A
    shard.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="test_sft"):
        prepare(Data(**ONE, percent=100, output_dir="out"), tmp_path, source=str(src), force=True, reporter=Q)
    assert snapshot(before.output_dir) == snap


def test_leftover_temp_with_our_own_pid_is_replaced_not_appended_to(tmp_path: Path) -> None:
    # A killed process's temp file whose pid this process now has (pid reuse): it is ours to replace, and temp files
    # are created exclusively (never truncated), so the leftover must go first rather than fail the run.
    src = tmp_path / "src"
    generate(src, sizes={"train_sft": 300}, shards=1, row_group_size=50, profile="compact")
    first = run(tmp_path, src, splits=["train_sft"], test_split=None, request_split="train_sft", percent=100)
    snap = snapshot(first.output_dir)
    (first.output_dir / f".tmp-train_sft.jsonl.{os.getpid()}").write_bytes(b"garbage from a dead process\n" * 100)
    again = prepare(Data(splits=["train_sft"], test_split=None, request_split="train_sft", percent=100, output_dir="out"),
                    tmp_path, source=str(src), force=True, reporter=Q)
    assert snapshot(again.output_dir) == snap
    assert not any(p.name.startswith(".tmp") for p in again.output_dir.iterdir())


CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    import polars as pl
    from pathlib import Path
    from generator.config import Data
    from generator.data import prepare

    real = pl.LazyFrame.sink_ndjson
    def slow(self, path, **kw):  # keep polars writing the temp file until the parent interrupts
        print("writing", flush=True)
        for _ in range(3000):
            real(self, path, **kw)
    pl.LazyFrame.sink_ndjson = slow
    prepare(Data(splits=["train_sft"], test_split=None, request_split="train_sft", percent=100, output_dir="out"),
            Path({root!r}), source={src!r}, force=True)
    """
)


def test_killed_process_leaves_previous_file_intact(tmp_path: Path) -> None:
    # SIGKILL gives no chance to clean up; Ctrl-C (SIGINT) is tested through the CLI in test_dataset_interrupt.py.
    src = tmp_path / "src"
    generate(src, sizes={"train_sft": 3000}, shards=1, row_group_size=20, profile="compact")
    before = run(tmp_path, src, splits=["train_sft"], test_split=None, request_split="train_sft", percent=50)
    snap = snapshot(before.output_dir)
    script = CHILD.format(repo=str(REPO), root=str(tmp_path), src=str(src))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "writing" in line:
            break
    deadline = time.time() + 20
    while not list(before.output_dir.glob(".tmp-train_sft*")) and time.time() < deadline:
        time.sleep(0.01)
    assert list(before.output_dir.glob(".tmp-train_sft*")), "the child never started writing"
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    # no chance to clean up: the next run removes the dead process's temp file
    assert snapshot(before.output_dir).keys() - snap.keys()
    run(tmp_path, src, splits=["train_sft"], test_split=None, request_split="train_sft", percent=50)
    assert snapshot(before.output_dir) == snap
    assert not any(p.name.startswith(".tmp") for p in before.output_dir.iterdir())


@pytest.mark.parametrize("statistics", [True, False])
@pytest.mark.parametrize("kinds", [{5: "bad_role"}, {5: "bad_role", 40: "null_role", 41: "empty_messages"}, BAD, {}])
def test_metadata_validation_agrees_with_a_full_check(tmp_path: Path, statistics: bool, kinds: dict) -> None:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from generator.data.schema import valid_row
    from generator.data.synthetic import SCHEMA, corrupt
    from generator.data.validate import parquet_problems, problems

    rows = [corrupt(r, kinds[i]) if i in kinds else r for i, r in enumerate(conversations(200, profile="compact"))]
    path = tmp_path / "train_sft-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, row_group_size=32, write_statistics=statistics)
    full = problems(pl.read_parquet(path))
    expected = [(i, r) for i, r in enumerate(full.to_list()) if r is not None]
    assert [i for i, _ in parquet_problems([path])] == sorted(kinds) == [i for i, _ in expected]
    # the polars expression prepare filters with marks exactly the same rows
    valid = pl.scan_parquet(path).with_row_index("i").filter(~valid_row()).select("i").collect()["i"].to_list()
    assert valid == sorted(kinds)
    for (_, got), (_, want) in zip(parquet_problems([path]), expected):
        assert got == want or (got.startswith("messages[") and want.startswith("messages["))
    assert [i for i, _ in parquet_problems([path], limit=41)] == [i for i in sorted(kinds) if i < 41]
    keep = __import__("numpy").array(sorted(set(range(0, 200, 5)) | {41}))
    assert [i for i, _ in parquet_problems([path], keep=keep)] == [i for i in sorted(kinds) if i in set(keep.tolist())]
