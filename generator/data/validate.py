"""Row validation, vectorised with pyarrow compute (one pass over a batch; Python only for the bad rows).

A row is valid when ``prompt`` and ``prompt_id`` are strings (not null) and ``messages`` is a non-empty list of
``{role, content}`` with ``role`` in user/assistant/system and ``content`` a string (not null; empty is allowed
here and reported by ``stats``). The column *types* are checked once per source by ``check_schema``; a source
with the wrong types fails as a whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError

COLUMNS = ("prompt", "prompt_id", "messages")
ROLES = ("user", "assistant", "system")
_ROLES = pa.array(ROLES, pa.large_string())


def check_schema(schema: dict[str, Any] | pl.Schema, where: str) -> None:
    """Fail with a DataError unless the source has the three columns with the expected types."""
    missing = [c for c in COLUMNS if c not in schema]
    if missing:
        raise DataError(f"{where}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (has: {', '.join(schema)})")
    for c in ("prompt", "prompt_id"):
        if schema[c] != pl.String:
            raise DataError(f"{where}: column {c} has type {schema[c]}, expected a string")
    m = schema["messages"]
    ok = isinstance(m, pl.List) and isinstance(m.inner, pl.Struct)
    fields = {f.name: f.dtype for f in m.inner.fields} if ok else {}  # type: ignore[union-attr]
    if not ok or set(fields) != {"role", "content"} or any(t != pl.String for t in fields.values()):
        raise DataError(f"{where}: column messages has type {m}, expected a list of {{role: string, content: string}}")


def _row_reason(prompt: Any, prompt_id: Any, messages: Any) -> str:
    if prompt is None:
        return "prompt is null"
    if prompt_id is None:
        return "prompt_id is null"
    if messages is None:
        return "messages is null"
    if len(messages) == 0:
        return "messages is empty"
    for j, m in enumerate(messages):
        if m is None:
            return f"messages[{j}] is null"
        if m.get("role") not in ROLES:
            return f"messages[{j}].role is {m.get('role')!r}, expected one of {'/'.join(ROLES)}"
        if not isinstance(m.get("content"), str):
            return f"messages[{j}].content is not a string"
    return "malformed"  # pragma: no cover - the vectorised check and this one agree


def bad_mask(prompt: pa.Array, prompt_id: pa.Array, messages: pa.Array) -> np.ndarray:
    """A boolean numpy mask of the malformed rows of one batch."""
    n = len(messages)
    bad = np.zeros(n, dtype=bool)
    if n == 0:
        return bad
    for col in (prompt, prompt_id, messages):
        if col.null_count:
            bad |= col.is_null().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(messages).fill_null(0).to_numpy(zero_copy_only=False)
    bad |= lengths == 0
    flat = messages.flatten()  # the elements of the (valid) lists, in order
    if len(flat):
        role = pc.struct_field(flat, "role")
        if role.type != pa.large_string():
            role = role.cast(pa.large_string())
        ok = pc.fill_null(pc.is_in(role, _ROLES), False)
        content = pc.struct_field(flat, "content")
        if content.null_count:
            ok = pc.and_(ok, content.is_valid())
        if flat.null_count:
            ok = pc.and_(ok, flat.is_valid())
        if not pc.all(ok).as_py():
            parents = pc.list_parent_indices(messages).to_numpy(zero_copy_only=False)
            bad[parents[~ok.to_numpy(zero_copy_only=False)]] = True
    return bad


def _arrow(s: pl.Series) -> pa.Array:
    a = s.to_arrow(compat_level=pl.CompatLevel.newest())
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def problems(frame: pl.DataFrame) -> pl.Series:
    """Per row: null when valid, else the reason (a short string). ``frame`` has the three columns."""
    bad = bad_mask(_arrow(frame["prompt"]), _arrow(frame["prompt_id"]), _arrow(frame["messages"]))
    out: list[str | None] = [None] * frame.height
    if bad.any():
        idx = np.flatnonzero(bad)
        rows = frame[idx.tolist()].select(COLUMNS).rows()
        for i, row in zip(idx.tolist(), rows):
            out[i] = _row_reason(*row)
    return pl.Series("_problem", out, dtype=pl.String)


def problems_of_struct(s: pl.Series) -> pl.Series:
    """``problems`` for a struct Series of the three columns (the form ``Expr.map_batches`` hands over)."""
    return problems(s.struct.unnest())
