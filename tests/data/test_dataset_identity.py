"""The prepared data's identity (``data_identity``) and the check that the files on disk match the manifest
(``check_prepared``)."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import SIZES, env_of

from generator.config import Data
from generator.data import check_prepared, data_identity, prepare, sample_request
from generator.data.progress import Quiet
from generator.errors import DataError

Q = Quiet()
FIX = "run 'amlgen data prepare --env dev'"


def run(root: Path, source: Path | str, output_dir: str = "out", **data) -> object:
    data.setdefault("percent", 33)
    return prepare(Data(output_dir=output_dir, **data), root, source=str(source), reporter=Q, force=True)


def reordered(value):
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


# --------------------------------------------------------------------------- data_identity
def test_identity_is_stable_across_reruns_formatting_and_volatile_fields(small_source: Path, tmp_path: Path) -> None:
    first = run(tmp_path, small_source)
    ident = data_identity(first.manifest)
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", ident)
    assert data_identity(run(tmp_path, small_source, output_dir="again").manifest) == ident  # a rerun
    text = (first.output_dir / "manifest.json").read_text()
    for reformatted in (json.dumps(reordered(json.loads(text))), json.dumps(json.loads(text), separators=(",", ":"))):
        assert data_identity(json.loads(reformatted)) == ident
    m = copy.deepcopy(first.manifest)
    m["tool"]["version"] = "9.9.9"
    m.update(created="2024-06-01T12:00:00Z", seconds=12.5, warnings=["something"], sampling={"mode": "random", "percent": 1})
    for entry in m["splits"].values():
        entry.update(seconds=0.3, source_rows=1, selected=2, malformed=3, bytes=entry["bytes"])
    assert data_identity(m) == ident
    # a local copy's path is where it was on one machine: the same data copied elsewhere is the same data
    shutil.copytree(small_source, tmp_path / "elsewhere")
    moved = run(tmp_path, tmp_path / "elsewhere", output_dir="moved")
    assert moved.manifest["source"] != first.manifest["source"] and data_identity(moved.manifest) == ident


def test_identity_changes_when_any_file_changes(small_source: Path, tmp_path: Path) -> None:
    seen = {data_identity(run(tmp_path, small_source).manifest)}
    for split in SIZES:  # one changed character in the first row of one split's source
        src = tmp_path / f"src-{split}"
        shutil.copytree(small_source, src)
        shard = sorted((src / "data").glob(f"{split}-*.parquet"))[0]
        table = pq.read_table(shard).to_pylist()
        table[0]["prompt"] = table[0]["prompt"][:-1] + ("x" if table[0]["prompt"][-1:] != "x" else "y")
        pq.write_table(pa.Table.from_pylist(table, schema=pq.read_schema(shard)), shard)
        res = run(tmp_path, src, output_dir=f"out-{split}")
        ident = data_identity(res.manifest)
        assert ident not in seen, split
        seen.add(ident)


def test_identity_counts_names_rows_hashes_and_the_hub_revision(small_source: Path, tmp_path: Path) -> None:
    base = run(tmp_path, small_source).manifest
    ident = data_identity(base)

    def changed(edit) -> str:
        m = copy.deepcopy(base)
        edit(m)
        return data_identity(m)

    entry = "train_sft"
    assert changed(lambda m: m["splits"][entry].update(file="other.jsonl")) != ident
    assert changed(lambda m: m["splits"][entry].update(rows=m["splits"][entry]["rows"] + 1)) != ident
    assert changed(lambda m: m["splits"][entry].update(sha256="0" * 64)) != ident
    assert changed(lambda m: m["splits"].pop("test_gen")) != ident
    hub = {"dataset": "HuggingFaceH4/ultrachat_200k", "revision": "a" * 40}
    at_a = changed(lambda m: m.update(source=hub))
    assert at_a != ident and at_a != changed(lambda m: m.update(source={**hub, "revision": "b" * 40}))
    assert changed(lambda m: m.update(source={"path": "sample"})) != ident


@pytest.mark.parametrize("broken", [
    {}, {"splits": {}}, {"splits": {"train_sft": {"file": "x.jsonl", "rows": 1}}},
    {"splits": {"train_sft": {"file": "../x.jsonl", "rows": 1, "sha256": "0" * 64}}},
    {"splits": {"train_sft": {"file": "x.jsonl", "rows": -1, "sha256": "0" * 64}}},
])
def test_identity_of_a_malformed_manifest_is_a_data_error(broken: dict) -> None:
    with pytest.raises(DataError) as err:
        data_identity(broken)
    assert "\n" not in str(err.value) and "manifest.json" in str(err.value)


# --------------------------------------------------------------------------- check_prepared
def test_check_prepared_accepts_matching_files_and_selects_by_split_or_file(small_source: Path, tmp_path: Path) -> None:
    res = run(tmp_path, small_source)
    check_prepared(res.output_dir, res.manifest, env="dev")
    (res.output_dir / "train_gen.jsonl").write_bytes(b"stale\n")
    check_prepared(res.output_dir, res.manifest, ["train_sft", "test_sft.jsonl"], env="dev")  # only those
    with pytest.raises(DataError, match=rf"train_gen\.jsonl is stale: 6 bytes, manifest\.json says [\d,]+; {FIX}"):
        check_prepared(res.output_dir, res.manifest, env="dev")
    with pytest.raises(DataError, match=rf"nope is not in .*manifest\.json; {FIX}"):
        check_prepared(res.output_dir, res.manifest, ["nope"], env="dev")


def test_check_prepared_finds_changed_content_of_the_same_size(small_source: Path, tmp_path: Path) -> None:
    res = run(tmp_path, small_source)
    path = res.output_dir / "test_sft.jsonl"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        check_prepared(res.output_dir, res.manifest, env="dev")
    assert str(err.value) == f"{path} is stale: its content differs from manifest.json (sha256); {FIX}"


def test_check_prepared_finds_a_stale_manifest_and_a_missing_file(small_source: Path, tmp_path: Path) -> None:
    old = run(tmp_path, small_source).manifest  # the manifest of an earlier preparation ...
    new = run(tmp_path, small_source, percent=50)  # ... next to files prepared with other settings
    with pytest.raises(DataError, match=rf"train_sft\.jsonl is stale: .*{FIX}"):
        check_prepared(new.output_dir, old, env="dev")
    (new.output_dir / "test_gen.jsonl").unlink()
    with pytest.raises(DataError, match=rf"test_gen\.jsonl is missing \(listed in manifest\.json\); {FIX}"):
        check_prepared(new.output_dir, new.manifest, env="dev")
    with pytest.raises(DataError, match=r"run 'amlgen data prepare --env <env>'"):
        check_prepared(new.output_dir, new.manifest)


def test_sample_request_refuses_a_stale_request_split(project: Path) -> None:
    env = env_of(project)
    res = prepare(env.config.data, project, source="sample", reporter=Q)
    path = res.output_dir / "test_gen.jsonl"
    path.write_bytes(path.read_bytes().replace(b"user", b"usex", 1))
    with pytest.raises(DataError, match=rf"test_gen\.jsonl is stale: .*{FIX}"):
        sample_request(env, project)
    assert not (res.output_dir / "sample_request.dev.json").exists()
