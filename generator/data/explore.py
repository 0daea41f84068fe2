"""``preview`` (the notebook's pandas preview) and ``stats`` of the prepared files (streamed with polars)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DataError
from .assets import output_dir
from .manifest import split_file

PERCENTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


def _file(env: Any, root: Path, split: str) -> Path:
    path = output_dir(env, root) / split_file(split)
    if not path.is_file():
        raise DataError(f"{path} does not exist: run 'amlgen data prepare -e {env.name}' first")
    return path


def preview(env: Any, root: Path, *, split: str | None = None, rows: int = 5) -> str:
    """What the notebook shows: ``pd.read_json(train_sft.jsonl, lines=True).head()`` with unlimited column width."""
    import pandas as pd

    split = split or env.config.data.train_split
    path = _file(env, root, split)
    if rows <= 0:
        raise DataError("--rows must be positive")
    df = pd.read_json(path, lines=True, nrows=rows, dtype=False)
    with pd.option_context("display.max_colwidth", None, "display.width", None):
        return df.head(rows).to_string()


def _dist(expr: pl.Expr, name: str) -> list[pl.Expr]:
    out = [expr.quantile(q, interpolation="nearest").alias(f"{name}_{label}") for label, q in PERCENTILES]
    return out + [expr.max().alias(f"{name}_max"), expr.mean().alias(f"{name}_mean")]


def split_stats(path: Path) -> dict[str, Any]:
    lf = pl.scan_ndjson(path, schema={
        "prompt": pl.String, "prompt_id": pl.String,
        "messages": pl.List(pl.Struct({"content": pl.String, "role": pl.String})),
    })
    roles = pl.col("messages").list.eval(pl.element().struct.field("role"))
    conv = lf.select(
        pl.len().alias("rows"),
        *_dist(pl.col("messages").list.len(), "turns"),
        (roles.list.first() != "user").sum().alias("not_starting_with_user"),
        roles.list.eval(pl.element() == pl.element().shift(1)).list.any().sum().alias("repeated_role"),
        pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars() == 0).list.any().sum().alias("empty_content"),
    )
    chars = lf.select(pl.col("messages").explode().struct.field("content").str.len_chars().alias("c")).select(
        pl.len().alias("messages"), *_dist(pl.col("c"), "chars")
    )
    a, b = pl.collect_all([conv, chars], engine="streaming")
    row = {**a.row(0, named=True), **b.row(0, named=True)}
    if row["rows"] == 0:
        row["messages"] = 0
    return {
        "rows": row["rows"],
        "messages": row["messages"],
        "turns": {k: _num(row[f"turns_{k}"]) for k in ("p50", "p90", "p99", "max", "mean")},
        "chars_per_message": {k: _num(row[f"chars_{k}"]) for k in ("p50", "p90", "p99", "max", "mean")},
        "problems": {k: int(row[k] or 0) for k in ("not_starting_with_user", "repeated_role", "empty_content")},
    }


def _num(v: Any) -> Any:
    if v is None:
        return None
    return round(float(v), 1) if isinstance(v, float) and not float(v).is_integer() else int(v)


def stats(env: Any, root: Path, *, splits: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per split: rows, messages, turns per conversation and characters per message (p50/p90/p99/max/mean),
    and role-order problems (not starting with user, the same role twice in a row, empty content)."""
    names = splits or list(env.config.data.splits)
    return {s: split_stats(_file(env, root, s)) for s in names}


def format_stats(result: dict[str, dict[str, Any]]) -> str:
    lines = []
    for split, st in result.items():
        t, c, p = st["turns"], st["chars_per_message"], st["problems"]
        lines.append(f"{split}: {st['rows']:,} rows, {st['messages']:,} messages")
        lines.append(f"  turns/conversation  p50 {t['p50']}  p90 {t['p90']}  p99 {t['p99']}  max {t['max']}  mean {t['mean']}")
        lines.append(f"  chars/message       p50 {c['p50']}  p90 {c['p90']}  p99 {c['p99']}  max {c['max']}  mean {c['mean']}")
        lines.append(
            f"  role order          not starting with user {p['not_starting_with_user']}, "
            f"same role twice {p['repeated_role']}, empty content {p['empty_content']}"
        )
    return "\n".join(lines)
