"""The sample scoring request, in exactly the notebook's shape, from a seeded row of the request split.

``{"input_data": {"input_string": [messages], "parameters": {temperature, top_p, do_sample, max_new_tokens}},
"params": {}}`` with the parameters from the environment's ``inference`` section and the row chosen by
``random.Random(data.seed).randrange(rows)`` over the prepared ``<request_split>.jsonl``. Bytes are
deterministic (fixed key order, 2-space indent, raw UTF-8, trailing newline).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..paths import ensure_inside
from .assets import output_dir
from .files import write_atomic
from .manifest import check_prepared, read_manifest, split_file


def sample_request_path(env: Any, root: Path) -> Path:
    """``<root>/<data output dir>/sample_request.<env>.json``."""
    return output_dir(env, root) / f"sample_request.{env.name}.json"


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def _row(path: Path, index: int, rows: int, env: str) -> tuple[dict[str, Any], int]:
    """Row ``index`` (0-based) of a JSON-lines file and its line number; a DataError naming ``file:line`` when it
    is not a JSON object with a list of messages in valid UTF-8."""
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh):  # noqa: B007  (raw is the row the loop stops at)
            if i == index:
                break
        else:
            raise DataError(f"{path} has fewer rows than its manifest says ({rows}): run 'amlgen data prepare -e {env} --force'")
    where = f"{path}:{index + 1}"
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: the row is not valid UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise DataError(f"{where}: not a JSON row ({exc})") from None
    if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
        raise DataError(f"{where}: the row has no messages list")
    return row, index + 1


def build_sample_request(env: Any, root: Path) -> dict[str, Any]:
    cfg = env.config
    split = cfg.data.request_split
    out_dir = output_dir(env, root)
    path = out_dir / split_file(split)
    if not path.is_file():
        raise DataError(f"{path} does not exist: run 'amlgen data prepare -e {env.name}' first")
    manifest = read_manifest(out_dir) or {}
    entry = (manifest.get("splits") or {}).get(split)
    if entry:
        check_prepared(out_dir, manifest, [split], env=env.name)  # a stale file gives a clear error, not a wrong row
    rows = (entry or {}).get("rows")
    try:
        if rows is None:
            rows = _count_lines(path)
        if rows == 0:
            raise DataError(f"{path} has no rows: cannot build a sample request")
        row, line = _row(path, random.Random(cfg.data.seed).randrange(rows), rows, env.name)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    inf = cfg.inference
    request = {
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
    try:
        dump_request(request)
    except UnicodeEncodeError as exc:  # a JSON escape such as \ud800 decodes to a lone surrogate
        raise DataError(f"{path}:{line}: the row holds text that cannot be encoded as UTF-8 (a lone surrogate, "
                        f"{exc.object[exc.start:exc.end]!r})") from None
    return request


def dump_request(request: dict[str, Any]) -> bytes:
    return (json.dumps(request, indent=2, ensure_ascii=False) + "\n").encode()


def sample_request(env: Any, root: Path, out: Path | None = None) -> Path:
    """Write the sample request (atomically; see ``files.write_atomic``) to ``out`` or ``sample_request_path(env,
    root)``; returns the path. Every failure is a one-line DataError and leaves the previous file as it was."""
    target = Path(out) if out else ensure_inside(root, sample_request_path(env, root), what="data.output_dir")
    write_atomic(target, dump_request(build_sample_request(env, root)))
    return target
