"""Ctrl-C (a real SIGINT to a real ``amlgen data prepare`` process) while it writes: exit 130, ``interrupted`` on
stderr, the previous outputs and manifest exactly as they were, no temp files, no crash of the interpreter.

Each trial waits until the child has started writing a given split (its temp file exists), then sends SIGINT after a
random delay of up to 50 ms. ``AMLGEN_SIGINT_TRIALS`` sets the number of trials (4 by default, to keep the suite
fast; run it with 100 or more when touching the write path).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import make_project
from oshelpers import child_env, cli, tree

from generator.data.synthetic import SCHEMA, conversations

TRIALS = int(os.environ.get("AMLGEN_SIGINT_TRIALS", "4"))
SPLITS = ("train_sft", "test_sft")


@pytest.fixture(scope="module")
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 60 MB (train_sft) and 30 MB (test_sft) of JSON lines: writes long enough (0.1-0.3 s) to land a signal in.
    Rows are repeated (generating them is the slow part) and stored uncompressed (compressing is the other)."""
    out = tmp_path_factory.mktemp("sigsrc")
    (out / "data").mkdir()
    for split, copies in zip(SPLITS, (60, 30)):
        base = pa.Table.from_pylist(list(conversations(200, split=split, profile="full")), schema=SCHEMA)
        pq.write_table(pa.concat_tables([base] * copies), out / "data" / f"{split}-00000-of-00001.parquet",
                       row_group_size=500, compression="none")
    return out


def test_ctrl_c_while_writing_exits_130_and_keeps_the_previous_outputs(tmp_path: Path, big_source: Path) -> None:
    common = {"splits": list(SPLITS), "test_split": "test_sft", "request_split": "test_sft", "output_dir": "data/out"}
    proj = make_project(tmp_path / "proj", env="small", data={**common, "percent": 10})
    make_project(proj, env="big", data={**common, "percent": 100})
    base = ["data", "prepare", "-e", "dev", "--project", str(proj), "--source", str(big_source)]
    first = subprocess.run(cli(*base, "-e", "small"), capture_output=True, text=True, env=child_env())
    assert first.returncode == 0, first.stderr
    out = proj / "data" / "out"
    snap = tree(out)
    rng = random.Random(20240601)
    interrupted = 0
    for i in range(TRIALS):
        split = SPLITS[i % len(SPLITS)]
        proc = subprocess.Popen(cli(*base, "-e", "big", "--force"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=child_env())
        deadline = time.monotonic() + 60
        while not list(out.glob(f".tmp-{split}.jsonl.*")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the signal: put the previous outputs back and go on
            assert subprocess.run(cli(*base, "-e", "small"), capture_output=True, env=child_env()).returncode == 0
            continue
        interrupted += 1
        assert proc.returncode == 130, (i, split, proc.returncode, err)
        assert err.strip().endswith("interrupted"), err
        assert "Traceback" not in err and "Fatal Python error" not in err and "panicked" not in err, err
        assert tree(out) == snap, (i, split)
    assert interrupted >= TRIALS // 2, f"only {interrupted} of {TRIALS} trials were interrupted while writing"
