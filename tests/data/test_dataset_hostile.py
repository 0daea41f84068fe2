"""Hostile and broken input in the dataset step: empty splits, unreadable sources, unwritable or full outputs,
non-UTF-8 text. Each gives one ``error:`` line (exit 1, no traceback) and leaves every file as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import REPO, env_of, make_project
from oshelpers import batch, cli, one_line_error, open_up, private_tmpfs_prefix, run, shared_dir, tree, unprivileged  # noqa: F401

from generator.cli import main
from generator.config import Data
from generator.data import SAMPLE_DIR, prepare, sample_request
from generator.data.progress import Quiet, Reporter
from generator.data.synthetic import SCHEMA, conversations, corrupt
from generator.errors import DataError

Q = Quiet()
TRAIN = next(p.name for p in (SAMPLE_DIR / "data").glob("train_sft-*.parquet"))


def rows(n: int, split: str = "train_sft") -> list[dict]:
    return list(conversations(n, split=split, profile="compact"))


def write_split(src: Path, split: str, table: list[dict] | pa.Table, **kw) -> Path:
    (src / "data").mkdir(parents=True, exist_ok=True)
    path = src / "data" / f"{split}-00000-of-00001.parquet"
    pq.write_table(table if isinstance(table, pa.Table) else pa.Table.from_pylist(table, schema=SCHEMA), path, **kw)
    return path


def prep(root: Path, src: Path, reporter: Reporter = Q, force: bool = False, **data) -> object:
    data.setdefault("output_dir", "out")
    return prepare(Data(**data), root, source=str(src), reporter=reporter, force=force)


def cli_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- empty splits
def test_empty_training_split_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_split(src, "train_sft", [])
    write_split(src, "test_sft", rows(5, "test_sft"))
    kw = dict(splits=["train_sft", "test_sft"], test_split="test_sft", request_split="test_sft", percent=100)
    with pytest.raises(DataError, match=r"split train_sft \(data\.train_split\) has no rows: the source has none; nothing was written"):
        prep(tmp_path, src, **kw)
    assert not (tmp_path / "out").exists()
    # a percentage that rounds to no rows is caught before anything is read or written
    write_split(src, "train_sft", rows(10))
    with pytest.raises(DataError, match=r"train_sft \(data\.train_split\) has no rows: 1% of 10 rows rounds to 0"):
        prep(tmp_path, src, **{**kw, "percent": 1})
    assert not (tmp_path / "out").exists()


def test_training_split_with_only_malformed_rows_is_an_error_and_keeps_the_previous_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_split(src, "train_sft", rows(20))
    kw = dict(splits=["train_sft"], test_split=None, request_split="train_sft", percent=100, on_invalid="exclude")
    before = prep(tmp_path, src, **kw)
    snap = tree(before.output_dir)
    write_split(src, "train_sft", [corrupt(r, "bad_role") for r in rows(20)])
    with pytest.raises(DataError, match=r"train_sft \(data\.train_split, data\.request_split\) has no rows: all 20 selected rows are malformed"):
        prep(tmp_path, src, force=True, **kw)
    assert tree(before.output_dir) == snap


def test_cli_empty_training_split_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    for split in ("train_sft", "test_sft", "train_gen", "test_gen"):
        write_split(src, split, [] if split == "train_sft" else rows(40, split))
    root = make_project(tmp_path / "p")
    snap = tree(tmp_path)
    code, _, err = cli_in_process(capsys, "data", "prepare", "-e", "dev", "--project", str(root), "--source", str(src))
    assert code == 1 and err.startswith("error: split train_sft (data.train_split) has no rows") and err.count("\n") == 1
    assert tree(tmp_path) == snap


def test_empty_test_split_is_a_warning_recorded_in_the_manifest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_split(src, "train_sft", rows(40))
    write_split(src, "test_sft", rows(7, "test_sft"))
    rep = Reporter(io.StringIO())
    kw = dict(splits=["train_sft", "test_sft"], test_split="test_sft", request_split="train_sft", percent=5)
    res = prep(tmp_path, src, reporter=rep, **kw)
    warning = "split test_sft (data.test_split) has no rows: 5% of 7 rows rounds to 0; the pipeline's test input is empty"
    assert res.manifest["warnings"] == [warning] and res.warnings == [warning]
    assert f"warning: {warning}" in rep.stream.getvalue()
    assert res.manifest["splits"]["test_sft"]["rows"] == 0 and (res.output_dir / "test_sft.jsonl").read_bytes() == b""
    assert json.loads((res.output_dir / "manifest.json").read_text())["warnings"] == [warning]
    again = Reporter(io.StringIO())
    assert prep(tmp_path, src, reporter=again, **kw).up_to_date
    assert f"warning: {warning}" in again.stream.getvalue()  # shown again on an up-to-date run


def test_empty_validation_split_and_split_without_a_role_are_warnings(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_split(src, "train_sft", rows(40))
    write_split(src, "test_gen", rows(40, "test_gen"))
    write_split(src, "test_sft", [])
    write_split(src, "train_gen", [])
    res = prep(tmp_path, src, splits=["train_sft", "test_sft", "train_gen", "test_gen"], validation_split="test_sft",
               test_split=None, percent=50)
    assert res.manifest["warnings"] == [
        "split test_sft (data.validation_split) has no rows: the source has none; the pipeline's validation input is empty",
        "split train_gen has no rows: the source has none",
    ]


def test_empty_request_split_is_an_error(tmp_path: Path) -> None:
    # The sample request is built from a row of the request split; without one, `amlgen up` would fail at its very end
    # (after fine-tuning and deploying), so the dataset step fails first.
    src = tmp_path / "src"
    write_split(src, "train_sft", rows(40))
    write_split(src, "test_gen", rows(3, "test_gen"))
    with pytest.raises(DataError, match=r"split test_gen \(data\.request_split\) has no rows: 10% of 3 rows rounds to 0; "
                                         r"nothing was written \(the sample request needs a row"):
        prep(tmp_path, src, splits=["train_sft", "test_gen"], test_split=None, request_split="test_gen", percent=10)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- unreadable sources
def datasets_folder(root: Path, splits: dict[str, list[dict]]) -> Path:
    """The ``save_to_disk`` layout: dataset_dict.json and <split>/{state.json, data-00000-of-00001.arrow}."""
    root.mkdir(parents=True)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    for split, table in splits.items():
        (root / split).mkdir()
        t = table if isinstance(table, pa.Table) else pa.Table.from_pylist(table, schema=SCHEMA)
        with pa.OSFile(str(root / split / "data-00000-of-00001.arrow"), "wb") as fh, pa.ipc.new_stream(fh, t.schema) as w:
            w.write_table(t)
        (root / split / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    return root


@pytest.fixture
def world(shared_dir: Path) -> Path:
    """In a folder other users can enter: a project, the bundled sample in the hub layout, a datasets folder."""
    shutil.copytree(SAMPLE_DIR, shared_dir / "src")
    datasets_folder(shared_dir / "saved", {s: rows(30, s) for s in ("train_sft", "test_sft", "train_gen", "test_gen")})
    make_project(shared_dir / "proj")
    open_up(shared_dir)
    return shared_dir


DENIED = [  # (source, the path in it made unreadable, mode)
    ("src", "", 0o000), ("src", "data", 0o000), ("src", "data", 0o311), ("src", f"data/{TRAIN}", 0o000),
    ("saved", "", 0o000), ("saved", "dataset_dict.json", 0o000), ("saved", "train_sft", 0o000),
    ("saved", "train_sft/state.json", 0o000), ("saved", "train_sft/data-00000-of-00001.arrow", 0o000),
]


def test_unreadable_source_is_a_one_line_error(world: Path) -> None:
    prefix = unprivileged()
    sources = []
    for i, (kind, _inner, _) in enumerate(DENIED):
        shutil.copytree(world / kind, world / f"{kind}-{i}")
        sources.append(world / f"{kind}-{i}")
    snap = tree(world)
    for source, (_, inner, mode) in zip(sources, DENIED):
        (source / inner).chmod(mode)
    try:
        results = batch([["data", "prepare", "-e", "dev", "--project", str(world / "proj"), "--source", str(s)] for s in sources], prefix=prefix)
    finally:
        for source, (_, inner, _) in zip(sources, DENIED):
            (source / inner).chmod(0o755 if (source / inner).is_dir() else 0o644)
    for case, proc in zip(DENIED, results):
        assert "Permission denied" in one_line_error(proc), case
    assert tree(world) == snap


# --------------------------------------------------------------------------- unwritable or full outputs
@pytest.fixture
def prepared_world(world: Path) -> Path:
    """``world`` with the sample prepared (by the test's user) and the sample request written."""
    env = env_of(world / "proj")
    prepare(env.config.data, world / "proj", source="sample", reporter=Q)
    sample_request(env, world / "proj")
    open_up(world)
    return world


def test_sample_request_out_that_is_a_folder_or_under_a_file(prepared_world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = prepared_world / "proj"
    snap = tree(prepared_world)
    for out, expected in ((prepared_world / "src", "it is a folder"), (proj / "infra" / "defaults.yml" / "req.json", "defaults.yml is not a folder")):
        code, _, err = cli_in_process(capsys, "data", "sample-request", "-e", "dev", "--project", str(proj), "--out", str(out))
        assert code == 1 and err.startswith("error: ") and expected in err and err.count("\n") == 1, err
        assert tree(prepared_world) == snap


def test_sample_request_out_unwritable_or_on_a_full_device(prepared_world: Path) -> None:
    prefix = unprivileged()
    proj = prepared_world / "proj"
    snap = tree(prepared_world)
    target = prepared_world / "src" / "req.json"  # a folder the unprivileged user cannot write to
    denied, full = batch([["data", "sample-request", "-e", "dev", "--project", str(proj), "--out", out] for out in (str(target), "/dev/full")],
                         prefix=prefix)
    err = one_line_error(denied)
    assert "Permission denied" in err and str(target) in err
    assert "No space left on device" in one_line_error(full)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # written to, never replaced
    assert tree(prepared_world) == snap


def dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_read_only_data_folder(prepared_world: Path) -> None:
    prefix = unprivileged()
    proj = prepared_world / "proj"
    out = proj / "data" / "ultrachat-200k-head5pc"
    (out / f".tmp-train_sft.jsonl.{dead_pid()}").write_bytes(b"left by a killed run\n")  # cannot be removed either
    open_up(prepared_world)
    snap = tree(prepared_world)
    forced, request, again = batch([
        ["data", "prepare", "-e", "dev", "--project", str(proj), "--source", "sample", "--force"],
        ["data", "sample-request", "-e", "dev", "--project", str(proj)],
        ["data", "prepare", "-e", "dev", "--project", str(proj), "--source", "sample"],
    ], prefix=prefix)
    err = one_line_error(forced)
    assert "Permission denied" in err and "data/ultrachat-200k-head5pc" in err
    assert "Permission denied" in one_line_error(request)
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr  # an up-to-date run writes nothing
    assert tree(prepared_world) == snap


FULL_DISK = textwrap.dedent(
    """
    import contextlib, io, json, sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from oshelpers import tree
    from generator.cli import main
    proj, data = Path({proj!r}), Path({proj!r}) / "data"
    def amlgen(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*args, "--project", str(proj)])
        return [code, out.getvalue(), err.getvalue()]
    out = {{"small": amlgen("data", "prepare", "-e", "small", "--source", "sample"),
            "request": amlgen("data", "sample-request", "-e", "small")}}
    out["before"] = tree(data)
    out["big"] = amlgen("data", "prepare", "-e", "big", "--source", "sample")
    out["after_big"] = tree(data)
    try:  # fill what is left of the disk
        with open(data / "filler", "wb", buffering=0) as fh:
            while True:
                fh.write(b"x" * 4096)
    except OSError:
        pass
    out["request_full"] = amlgen("data", "sample-request", "-e", "small")
    (data / "filler").unlink(missing_ok=True)
    out["after_request"] = tree(data)
    print(json.dumps(out))
    """
)


def test_full_disk_during_prepare_and_sample_request(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "proj", env="small", data={"percent": 5, "output_dir": "data/out"})
    make_project(proj, env="big", data={"percent": 100, "output_dir": "data/out"})
    (proj / "data").mkdir()
    prefix = private_tmpfs_prefix(proj / "data", 160)  # the 5 % files fit, the 100 % ones do not
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK.format(tests=str(REPO / "tests" / "data"), proj=str(proj)))
    mount = f"mount -t tmpfs -o size=160k amlgen-test '{proj / 'data'}'"
    proc = run([*prefix, "sh", "-c", f"{mount} && exec '{sys.executable}' '{script}'"])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["small"][0] == 0 and out["request"][0] == 0, out
    for key in ("big", "request_full"):
        code, _, err = out[key]
        assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and "No space left on device" in err, (key, err)
    assert out["after_big"] == out["before"] and out["after_request"] == out["before"]
    assert not list((proj / "data").iterdir())  # the tmpfs was private to the child: nothing left here


def test_file_size_limit_during_prepare(tmp_path: Path) -> None:
    # RLIMIT_FSIZE: the kernel fails a write past 64 KB with EFBIG, as it fails one on a full disk with ENOSPC.
    proj = make_project(tmp_path / "proj", env="small", data={"percent": 5, "output_dir": "data/out"})
    make_project(proj, env="big", data={"percent": 100, "output_dir": "data/out"})
    prepare(env_of(proj, "small").config.data, proj, source="sample", reporter=Q)
    snap = tree(proj)
    limit = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); os.execv(sys.executable, sys.argv[1:])")
    argv = [sys.executable, "-c", limit, *cli("data", "prepare", "-e", "big", "--project", str(proj), "--source", "sample")]
    err = one_line_error(run(argv))
    assert "File too large" in err and "data/out/" in err
    assert tree(proj) == snap


# --------------------------------------------------------------------------- text encoding
def invalid_utf8_prompts(n: int, bad: int, raw: bytes) -> pa.Table:
    table = pa.Table.from_pylist(rows(n), schema=SCHEMA)
    values = [r.encode() for r in table.column("prompt").to_pylist()]
    values[bad] = raw
    offsets = np.cumsum([0] + [len(v) for v in values]).astype(np.int32)
    prompt = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(values))])
    return table.set_column(0, "prompt", prompt)


@pytest.mark.parametrize("raw", [b"bad \xff\xfe bytes", b"a lone surrogate \xed\xa0\x80 in UTF-8"])
@pytest.mark.parametrize("layout", ["parquet", "parquet-no-statistics", "datasets"])
def test_non_utf8_text_in_a_local_source(tmp_path: Path, raw: bytes, layout: str) -> None:
    src = tmp_path / "src"
    table = invalid_utf8_prompts(12, 5, raw)
    if layout == "datasets":
        datasets_folder(src, {"train_sft": table})
    else:
        write_split(src, "train_sft", table, write_statistics=layout == "parquet")
    with pytest.raises(DataError, match=r"train_sft: .*(UTF-8|utf-8|UTF8)") as err:
        prep(tmp_path, src, splits=["train_sft"], test_split=None, request_split="train_sft", percent=100, on_invalid="exclude")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_non_utf8_source_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = os.fsencode(tmp_path) + b"/src-\xff"
    shutil.copytree(SAMPLE_DIR, os.fsdecode(src))
    root = make_project(tmp_path / "p")
    snap = tree(tmp_path)
    code, _, err = cli_in_process(capsys, "data", "prepare", "-e", "dev", "--project", str(root), "--source", os.fsdecode(src))
    assert code == 1 and err.startswith("error: source ") and "not valid UTF-8" in err and err.count("\n") == 1, err
    assert tree(tmp_path) == snap


@pytest.mark.parametrize(("name", "content"), [("dataset_dict.json", b"\xff\xfe{}"), ("dataset_dict.json", b"{not json"),
                                               ("train_sft/state.json", b"[1, 2")])
def test_unreadable_datasets_metadata(tmp_path: Path, name: str, content: bytes) -> None:
    src = datasets_folder(tmp_path / "saved", {"train_sft": rows(5)})
    (src / name).write_bytes(content)
    with pytest.raises(DataError, match=rf"cannot read .*{name.split('/')[-1]}"):
        prep(tmp_path, src, splits=["train_sft"], test_split=None, request_split="train_sft", percent=100)


def _replace_prepared(root: Path, split: str, body: bytes) -> None:
    """Make ``split``'s prepared file ``body`` and its manifest entry agree with it (so only the text is wrong)."""
    out = root / env_of(root).config.data.resolved_output_dir
    (out / f"{split}.jsonl").write_bytes(body)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["splits"][split].update(bytes=len(body), rows=body.count(b"\n"), sha256=hashlib.sha256(body).hexdigest())
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"prompt": "x", "prompt_id": "1", "messages": [{"content": "\\ud800 lone", "role": "user"}]}', "lone surrogate"),
    (b'{"prompt": "x", "prompt_id": "1", "messages": [{"content": "\xff\xfe", "role": "user"}]}', "not valid UTF-8"),
    (b'{"prompt": "x", "prompt_id": "1", "messages": [', "not a JSON row"),
    (b'{"prompt": "x", "prompt_id": "1"}', "no messages"),
])
def test_sample_request_from_a_broken_row(project: Path, line: bytes, reason: str) -> None:
    env = env_of(project)
    prepare(env.config.data, project, source="sample", reporter=Q)
    _replace_prepared(project, "test_gen", line + b"\n")
    snap = tree(project)
    with pytest.raises(DataError, match=rf"test_gen\.jsonl:1: .*{reason}") as err:
        sample_request(env, project)
    assert "\n" not in str(err.value)
    assert tree(project) == snap
