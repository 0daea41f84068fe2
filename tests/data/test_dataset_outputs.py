"""sample_request, data_assets, preview/stats, the CLI and the bundled sample."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import env_of, make_project, read_jsonl

from generator.cli import main
from generator.data import (
    SAMPLE_DIR,
    build_sample_request,
    data_assets,
    load_manifest,
    prepare,
    preview,
    sample_request,
    sample_request_path,
    stats,
)
from generator.data.progress import Quiet
from generator.data.synthetic import SCHEMA, SPLITS, write_sample
from generator.errors import DataError

Q = Quiet()


@pytest.fixture
def prepared(project: Path, small_source: Path) -> Path:
    prepare(env_of(project).config.data, project, source=str(small_source), reporter=Q)
    return project


# --------------------------------------------------------------------------- sample request
def test_sample_request_shape_seeded_row_and_bytes(prepared: Path) -> None:
    env = env_of(prepared)
    path = sample_request(env, prepared)
    assert path == sample_request_path(env, prepared) == prepared / env.config.data.resolved_output_dir / "sample_request.dev.json"
    req = json.loads(path.read_text(encoding="utf-8"))
    assert list(req) == ["input_data", "params"] and req["params"] == {}
    assert list(req["input_data"]) == ["input_string", "parameters"]
    assert req["input_data"]["parameters"] == {"temperature": 0.6, "top_p": 0.9, "do_sample": True, "max_new_tokens": 200}
    assert list(req["input_data"]["parameters"]) == ["temperature", "top_p", "do_sample", "max_new_tokens"]
    rows = read_jsonl(path.parent / "test_gen.jsonl")
    assert req["input_data"]["input_string"] == [rows[random.Random(42).randrange(len(rows))]["messages"]]
    first = path.read_bytes()
    assert sample_request(env, prepared).read_bytes() == first and first.endswith(b"\n")
    assert not list(path.parent.glob(".tmp*"))


def test_sample_request_parameters_from_the_environment(tmp_path: Path, small_source: Path) -> None:
    root = make_project(tmp_path / "p", data={"seed": 7}, inference={"temperature": 0.2, "max_new_tokens": 50, "do_sample": False})
    env = env_of(root)
    prepare(env.config.data, root, source=str(small_source), reporter=Q)
    req = build_sample_request(env, root)
    assert req["input_data"]["parameters"] == {"temperature": 0.2, "top_p": 0.9, "do_sample": False, "max_new_tokens": 50}
    rows = read_jsonl(root / env.config.data.resolved_output_dir / "test_gen.jsonl")
    assert req["input_data"]["input_string"] == [rows[random.Random(7).randrange(len(rows))]["messages"]]


def test_sample_request_before_prepare_is_a_data_error(project: Path) -> None:
    with pytest.raises(DataError, match="run 'amlgen data prepare -e dev' first"):
        sample_request(env_of(project), project)


# --------------------------------------------------------------------------- data assets
def test_data_assets_from_the_manifest(prepared: Path) -> None:
    env = env_of(prepared)
    manifest = load_manifest(env, prepared)
    assert manifest is not None
    assets = data_assets(env, manifest)
    assert [(a.role, a.split, a.name) for a in assets] == [
        ("train", "train_sft", "ultrachat-200k-train-sft"), ("test", "test_sft", "ultrachat-200k-test-sft")]
    for a in assets:
        e = manifest["splits"][a.split]
        assert a.version == e["sha256"][:16] and a.rows == e["rows"]
        assert a.path == f"data/ultrachat-200k-head5pc/{a.split}.jsonl" and (prepared / a.path).is_file()
        mode = env.config.data.assets.mode
        assert a.mode == mode and a.uri == (f"azureml:{a.name}:{a.version}" if mode == "asset" else a.path)
        assert "\n" not in a.description and a.split in a.description
    assert data_assets(env, manifest) == assets  # pure and deterministic


def test_data_assets_without_manifest_and_with_validation_split(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", data={"validation_split": "test_gen", "assets": {"name_prefix": "uc", "mode": "local"}})
    env = env_of(root)
    assert load_manifest(env, root) is None
    assets = data_assets(env, None)
    assert [(a.role, a.name, a.version) for a in assets] == [
        ("train", "uc-train-sft", None), ("validation", "uc-test-gen", None), ("test", "uc-test-sft", None)]
    assert all(a.uri == a.path for a in assets)


# --------------------------------------------------------------------------- preview and stats
def test_preview_is_the_notebook_head(prepared: Path) -> None:
    out = preview(env_of(prepared), prepared)
    lines = out.splitlines()
    assert lines[0].split() == ["prompt", "prompt_id", "messages"] and len(lines) == 6
    first = read_jsonl(prepared / "data/ultrachat-200k-head5pc/train_sft.jsonl")[0]
    assert first["prompt"] in out and first["prompt_id"] in out  # full width: nothing cut with "..."
    assert len(preview(env_of(prepared), prepared, split="train_gen", rows=2).splitlines()) == 3


def test_stats_counts_and_role_order_problems(tmp_path: Path) -> None:
    m = lambda role, content: {"role": role, "content": content}  # noqa: E731
    rows = [
        [m("user", "ab"), m("assistant", "cdef")],
        [m("assistant", "x"), m("user", "yy")],  # does not start with user
        [m("user", "a"), m("user", "b"), m("assistant", "")],  # same role twice, empty content
        [m("user", "é東")],
    ]
    table = [{"prompt": r[0]["content"], "prompt_id": str(i), "messages": r} for i, r in enumerate(rows)]
    (tmp_path / "src" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(table, schema=SCHEMA), tmp_path / "src" / "data" / "train_sft-00000-of-00001.parquet")
    root = make_project(tmp_path / "p", data={"splits": ["train_sft"], "percent": 100, "test_split": None, "request_split": "train_sft"})
    env = env_of(root)
    prepare(env.config.data, root, source=str(tmp_path / "src"), reporter=Q)
    st = stats(env, root)["train_sft"]
    assert st["rows"] == 4 and st["messages"] == 8
    assert st["turns"] == {"p50": 2, "p90": 3, "p99": 3, "max": 3, "mean": 2}
    assert st["chars_per_message"]["max"] == 4 and st["chars_per_message"]["mean"] == 1.6
    assert st["problems"] == {"not_starting_with_user": 1, "repeated_role": 1, "empty_content": 1}


# --------------------------------------------------------------------------- CLI
class Result:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output


class Cli:
    """``amlgen data ...`` through the real entry point (its error mapping included); stdout + stderr as output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def invoke(self, args: list[str]) -> Result:
        self.capsys.readouterr()
        code = main(["data", *args])
        out, err = self.capsys.readouterr()
        return Result(code, out + err)


def test_cli_end_to_end_on_the_bundled_sample(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = Cli(capsys)
    base = ["--project", str(project), "--env", "dev"]
    res = r.invoke(["prepare", *base, "--source", "sample"])
    assert res.exit_code == 0, res.output
    assert "train_sft: 10 of 200 rows" in res.output and "wrote data/ultrachat-200k-head5pc/manifest.json" in res.output
    res = r.invoke(["prepare", *base, "--source", "sample"])
    assert res.exit_code == 0 and "up to date" in res.output and "nothing rewritten" in res.output
    assert load_manifest(env_of(project), project)["source"] == {"path": "sample"}
    res = r.invoke(["preview", *base, "-n", "3"])
    assert res.exit_code == 0 and res.output.splitlines()[0].split() == ["prompt", "prompt_id", "messages"]
    res = r.invoke(["stats", *base, "--json"])
    assert res.exit_code == 0 and set(json.loads(res.output)) == set(SPLITS)
    res = r.invoke(["stats", *base, "--split", "test_gen"])
    assert res.exit_code == 0 and res.output.startswith("test_gen: 10 rows")
    res = r.invoke(["sample-request", *base])
    assert res.exit_code == 0 and "wrote data/ultrachat-200k-head5pc/sample_request.dev.json" in res.output


def test_cli_errors_are_one_line_with_exit_code_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = Cli(capsys)
    res = r.invoke(["prepare", "--project", str(project), "-e", "dev", "--source", str(project / "nope")])
    assert res.exit_code == 1 and "error: source" in res.output and "does not exist" in res.output
    res = r.invoke(["preview", "--project", str(project), "-e", "nope"])
    assert res.exit_code == 1 and "unknown environment 'nope'" in res.output


def test_cli_progress_is_plain_lines_under_ci(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI", "true")
    res = Cli(capsys).invoke(["prepare", "--project", str(project), "-e", "dev", "--source", "sample"])
    assert res.exit_code == 0 and "\x1b[" not in res.output
    assert [ln.split(":")[0] for ln in res.output.splitlines()[1:9:2]] == list(SPLITS)


# --------------------------------------------------------------------------- bundled sample
def test_bundled_sample_is_small_complete_and_reproducible(tmp_path: Path) -> None:
    files = sorted((SAMPLE_DIR / "data").glob("*.parquet"))
    assert [f.name.split("-")[0] for f in files] == sorted(SPLITS)
    assert sum(f.stat().st_size for f in files) < 80_000
    for f in files:
        t = pq.read_table(f)
        assert t.num_rows == 200 and t.schema.equals(SCHEMA)
    write_sample(tmp_path)
    again = sorted((tmp_path / "data").glob("*.parquet"))
    assert [f.name for f in again] == [f.name for f in files]
    for a, b in zip(files, again):
        assert pq.read_table(a).equals(pq.read_table(b))
    rows = pq.read_table(files[0]).to_pylist()
    text = json.dumps(rows, ensure_ascii=False)
    assert any(ord(c) > 127 for c in text)
