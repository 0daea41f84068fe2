"""prepare: exact head slices (checked against datasets), random sampling, manifest, idempotence, sources."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import SIZES, read_jsonl

from generator import __version__
from generator.config import Data
from generator.data import head_count, prepare
from generator.data.progress import Quiet
from generator.data.synthetic import SCHEMA, conversations, generate
from generator.errors import DataError

Q = Quiet()


def run(root: Path, source, **data) -> object:
    data.setdefault("output_dir", "out")
    return prepare(Data(**data), root, source=str(source), reporter=Q)


def notebook_rows(source: Path, split: str, pc, cache: Path) -> list[dict]:
    """The notebook's way: a datasets percent slice written with to_json, then parsed."""
    files = sorted(str(p) for p in (source / "data").glob(f"{split}-*.parquet"))
    ds = datasets.load_dataset("parquet", data_files={split: files}, split=f"{split}[0%:{pc}%]", cache_dir=str(cache))
    out = cache / f"{split}-{pc}.jsonl"
    ds.to_json(str(out))
    return read_jsonl(out)


# --------------------------------------------------------------------------- head counts
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 10, 11, 19, 20, 21, 37, 99, 101, 250, 1003, 207_865, 23_110, 256_032, 28_304])
@pytest.mark.parametrize("pc", [1, 2, 5, 10, 25, 33, 50, 99, 100])
def test_head_count_matches_datasets_percent_slice(n: int, pc: int) -> None:
    (instr,) = datasets.ReadInstruction.from_spec(f"s[0%:{pc}%]").to_absolute({"s": n})
    assert head_count(pc, n) == instr.to - instr.from_


@pytest.mark.parametrize(("pc", "n"), [(2.5, 1003), (0.5, 100), (12.5, 4), (37.5, 4), (0.1, 5)])
def test_head_count_fractional_percent_and_half_rounding(pc: float, n: int) -> None:
    (instr,) = datasets.ReadInstruction("s", from_=0, to=pc, unit="%").to_absolute({"s": n})
    assert head_count(pc, n) == instr.to


def test_the_real_split_sizes_at_5_percent() -> None:
    assert [head_count(5, n) for n in (207_865, 23_110, 256_032, 28_304)] == [10_393, 1_156, 12_802, 1_415]


# --------------------------------------------------------------------------- head rows
@pytest.mark.parametrize("pc", [5, 33, 100])
def test_head_rows_identical_to_the_notebook(small_source: Path, tmp_path: Path, pc: int) -> None:
    res = run(tmp_path, small_source, percent=pc)
    for split, n in SIZES.items():
        ours = read_jsonl(res.output_dir / f"{split}.jsonl")
        assert len(ours) == head_count(pc, n) == res.manifest["splits"][split]["rows"]
        assert ours == notebook_rows(small_source, split, pc, tmp_path / "hf")


def test_output_format_raw_utf8_three_columns_in_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = [{"prompt": "Zürich 東京 😀 a/b \"q\" \\ \n x", "prompt_id": "1", "messages": [
        {"content": "Zürich 東京 😀 a/b \"q\" \\ \n x", "role": "user"}, {"content": "", "role": "assistant"}]}]
    (src / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), src / "data" / "train_sft-00000-of-00001-x.parquet")
    res = run(tmp_path, src, splits=["train_sft"], percent=100, test_split=None, request_split="train_sft")
    raw = (res.output_dir / "train_sft.jsonl").read_bytes()
    assert "Zürich 東京 😀".encode() in raw and b"\\u" not in raw and b"a/b" in raw
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert list(json.loads(raw)) == ["prompt", "prompt_id", "messages"]
    assert json.loads(raw) == rows[0]


def test_head_reads_only_needed_row_groups(small_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Corrupt the last shard of train_sft: a 5 % head (first shard only) still works, 100 % does not.
    src = tmp_path / "src"
    generate(src, sizes={"train_sft": 600}, shards=3, row_group_size=50, profile="compact")
    last = sorted((src / "data").glob("train_sft-*"))[-1]
    blob = bytearray(last.read_bytes())
    for i in range(8, len(blob) // 2):
        blob[i] = 0xAB
    last.write_bytes(bytes(blob))
    kw = dict(splits=["train_sft"], test_split=None, request_split="train_sft")
    assert run(tmp_path, src, percent=5, **kw).manifest["splits"]["train_sft"]["rows"] == 30
    with pytest.raises(DataError, match="train_sft"):
        run(tmp_path, src, percent=100, output_dir="out100", **kw)


# --------------------------------------------------------------------------- random
def test_random_exact_count_reproducible_and_in_stored_order(small_source: Path, tmp_path: Path) -> None:
    a = run(tmp_path / "a", small_source, percent=10, sampling="random", seed=3)
    b = run(tmp_path / "b", small_source, percent=10, sampling="random", seed=3)
    c = run(tmp_path / "c", small_source, percent=10, sampling="random", seed=4)
    for split, n in SIZES.items():
        rows = read_jsonl(a.output_dir / f"{split}.jsonl")
        assert len(rows) == head_count(10, n)
        assert (a.output_dir / f"{split}.jsonl").read_bytes() == (b.output_dir / f"{split}.jsonl").read_bytes()
        source = iter(conversations(n, seed=7, split=split, profile="compact"))
        assert all(any(r == s for s in source) for r in rows)  # a subsequence: stored order kept
    assert a.manifest == b.manifest
    assert read_jsonl(a.output_dir / "train_sft.jsonl") != read_jsonl(c.output_dir / "train_sft.jsonl")
    assert a.manifest["sampling"] == {"mode": "random", "percent": 10, "seed": 3, "on_invalid": "reject"}


def test_random_is_shard_invariant(tmp_path: Path) -> None:
    sizes = {"train_sft": 500}
    kw = dict(splits=["train_sft"], test_split=None, request_split="train_sft", percent=7, sampling="random")
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    generate(s1, sizes=sizes, shards=1, row_group_size=500, profile="compact")
    generate(s2, sizes=sizes, shards=4, row_group_size=17, profile="compact")
    a, b = run(tmp_path / "a", s1, **kw), run(tmp_path / "b", s2, **kw)
    assert (a.output_dir / "train_sft.jsonl").read_bytes() == (b.output_dir / "train_sft.jsonl").read_bytes()


def test_random_100_percent_is_everything(small_source: Path, tmp_path: Path) -> None:
    a = run(tmp_path / "a", small_source, percent=100, sampling="random")
    b = run(tmp_path / "b", small_source, percent=100)
    assert a.manifest["splits"] == b.manifest["splits"]


# --------------------------------------------------------------------------- manifest and re-runs
def test_manifest_contents(small_source: Path, tmp_path: Path) -> None:
    res = run(tmp_path, small_source, percent=5)
    m = json.loads((res.output_dir / "manifest.json").read_text())
    assert m == res.manifest
    assert m["source"] == {"path": str(small_source)}
    assert m["sampling"] == {"mode": "head", "percent": 5, "on_invalid": "reject"}
    assert m["tool"] == {"name": "amlgen", "version": __version__}
    assert m["columns"] == ["prompt", "prompt_id", "messages"]
    for split, n in SIZES.items():
        e = m["splits"][split]
        data = (res.output_dir / e["file"]).read_bytes()
        assert e == {"file": f"{split}.jsonl", "source_rows": n, "selected": head_count(5, n), "rows": head_count(5, n),
                     "malformed": 0, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    text = (res.output_dir / "manifest.json").read_text()
    assert text == json.dumps(m, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    # deterministic: the same inputs give the same manifest bytes elsewhere
    other = run(tmp_path / "again", small_source, percent=5)
    assert (other.output_dir / "manifest.json").read_text() == text


def test_rerun_detects_up_to_date_and_does_not_rewrite(small_source: Path, tmp_path: Path) -> None:
    first = run(tmp_path, small_source, percent=5)
    stamp = {p.name: p.stat().st_mtime_ns for p in first.output_dir.iterdir()}
    again = run(tmp_path, small_source, percent=5)
    assert again.up_to_date and again.manifest == first.manifest
    assert {p.name: p.stat().st_mtime_ns for p in again.output_dir.iterdir()} == stamp
    # a changed file is noticed and rewritten
    target = first.output_dir / "test_gen.jsonl"
    target.write_bytes(target.read_bytes().replace(b"user", b"usex", 1))
    fixed = run(tmp_path, small_source, percent=5)
    assert not fixed.up_to_date
    assert hashlib.sha256(target.read_bytes()).hexdigest() == first.manifest["splits"]["test_gen"]["sha256"]
    # changed settings are noticed too
    assert not run(tmp_path, small_source, percent=5, on_invalid="exclude").up_to_date
    # and --force rewrites
    assert not prepare(Data(percent=5, output_dir="out", on_invalid="exclude"), tmp_path, source=str(small_source), force=True, reporter=Q).up_to_date


def test_default_output_dir_follows_settings(small_source: Path, tmp_path: Path) -> None:
    res = prepare(Data(percent=5), tmp_path, source=str(small_source), reporter=Q)
    assert res.output_dir == tmp_path / "data" / "ultrachat-200k-head5pc"


# --------------------------------------------------------------------------- sources
def test_missing_split_and_missing_source(small_source: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"split nope not in .*available: test_gen, test_sft, train_gen, train_sft"):
        run(tmp_path, small_source, splits=["train_sft", "test_sft", "test_gen", "nope"])
    with pytest.raises(DataError, match="does not exist"):
        run(tmp_path, tmp_path / "missing")
    with pytest.raises(DataError, match="no dataset files"):
        (tmp_path / "empty").mkdir()
        run(tmp_path, tmp_path / "empty")


def test_wrong_column_types_fail_as_a_whole(tmp_path: Path) -> None:
    src = tmp_path / "src" / "data"
    src.mkdir(parents=True)
    pq.write_table(pa.table({"prompt": ["a"], "prompt_id": ["b"], "messages": ["not a list"]}), src / "train_sft-00000-of-00001.parquet")
    with pytest.raises(DataError, match="column messages has type String, expected a list"):
        run(tmp_path, src.parent, splits=["train_sft"], test_split=None, request_split="train_sft")
    pq.write_table(pa.table({"prompt": ["a"], "messages": [[{"content": "x", "role": "user"}]]}), src / "train_sft-00000-of-00001.parquet")
    with pytest.raises(DataError, match="missing column prompt_id"):
        run(tmp_path, src.parent, splits=["train_sft"], test_split=None, request_split="train_sft")


def test_datasets_save_to_disk_folder_gives_the_same_files(small_source: Path, tmp_path: Path) -> None:
    dd = datasets.DatasetDict({
        s: datasets.Dataset.from_parquet(sorted(str(p) for p in (small_source / "data").glob(f"{s}-*.parquet")),
                                         cache_dir=str(tmp_path / "hf"))
        for s in SIZES
    })
    dd.save_to_disk(str(tmp_path / "saved"), max_shard_size="20KB")
    a = run(tmp_path / "a", tmp_path / "saved", percent=33)
    b = run(tmp_path / "b", small_source, percent=33)
    assert a.manifest["splits"] == b.manifest["splits"]
    r = run(tmp_path / "c", tmp_path / "saved", percent=33, sampling="random")
    s = run(tmp_path / "d", small_source, percent=33, sampling="random")
    assert r.manifest["splits"] == s.manifest["splits"]


def test_a_progress_bar_advances_by_the_rows_written_and_plain_output_skips_counting(small_source: Path, tmp_path: Path) -> None:
    class Bar(Quiet):
        interactive = True

        def __init__(self) -> None:
            super().__init__()
            self.advanced = 0

        def advance(self, n: int) -> None:
            self.advanced += n

    class Plain(Bar):
        interactive = False

    bar, plain = Bar(), Plain()
    res = prepare(Data(percent=50, output_dir="a"), tmp_path, source=str(small_source), reporter=bar)
    prepare(Data(percent=50, output_dir="b"), tmp_path, source=str(small_source), reporter=plain)
    assert bar.advanced == sum(e["rows"] for e in res.manifest["splits"].values()) > 0
    assert plain.advanced == 0  # no line counting without a bar: the rows come from polars
