"""The sample scoring request, in exactly the notebook's shape, from a seeded row of the request split.

``{"input_data": {"input_string": [messages], "parameters": {temperature, top_p, do_sample, max_new_tokens}},
"params": {}}`` with the parameters from the environment's ``inference`` section and the row chosen by
``random.Random(data.seed).randrange(rows)`` over the prepared ``<request_split>.jsonl``. Bytes are
deterministic (fixed key order, 2-space indent, raw UTF-8, trailing newline).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from ..errors import DataError
from .assets import output_dir
from .preparation import read_manifest, split_file


def sample_request_path(env: Any, root: Path) -> Path:
    """``<root>/<data output dir>/sample_request.<env>.json``."""
    return output_dir(env, root) / f"sample_request.{env.name}.json"


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def build_sample_request(env: Any, root: Path) -> dict[str, Any]:
    cfg = env.config
    split = cfg.data.request_split
    out_dir = output_dir(env, root)
    path = out_dir / split_file(split)
    if not path.is_file():
        raise DataError(f"{path} does not exist: run 'amlgen data prepare -e {env.name}' first")
    manifest = read_manifest(out_dir) or {}
    rows = ((manifest.get("splits") or {}).get(split) or {}).get("rows")
    if rows is None:
        rows = _count_lines(path)
    if rows == 0:
        raise DataError(f"{path} has no rows: cannot build a sample request")
    index = random.Random(cfg.data.seed).randrange(rows)
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i == index:
                row = json.loads(line)
                break
        else:
            raise DataError(f"{path} has fewer rows than its manifest says ({rows}): run 'amlgen data prepare -e {env.name} --force'")
    inf = cfg.inference
    return {
        "input_data": {
            "input_string": [row["messages"]],
            "parameters": {
                "temperature": inf.temperature,
                "top_p": inf.top_p,
                "do_sample": inf.do_sample,
                "max_new_tokens": inf.max_new_tokens,
            },
        },
        "params": {},
    }


def dump_request(request: dict[str, Any]) -> bytes:
    return (json.dumps(request, indent=2, ensure_ascii=False) + "\n").encode()


def sample_request(env: Any, root: Path, out: Path | None = None) -> Path:
    """Write the sample request (atomically) to ``out`` or ``sample_request_path(env, root)``; returns the path."""
    target = Path(out) if out else sample_request_path(env, root)
    body = dump_request(build_sample_request(env, root))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}.{os.getpid()}"
    try:
        tmp.write_bytes(body)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
