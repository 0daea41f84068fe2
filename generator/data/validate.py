"""Row validation, vectorised with pyarrow compute (one pass over a batch; Python only for the bad rows).

A row is valid when ``prompt`` and ``prompt_id`` are strings (not null) and ``messages`` is a non-empty list of
``{role, content}`` with ``role`` in user/assistant/system and ``content`` a string (not null; empty is allowed
here and reported by ``stats``). The column *types* are checked once per source by ``check_schema``; a source
with the wrong types fails as a whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .schema import COLUMNS, ROLES, check_schema  # noqa: F401 - check_schema re-exported

_ROLES: pa.Array | None = None


def _roles() -> pa.Array:
    # Built through polars: pa.array/pa.scalar on Python objects import pandas (0.3 s, a third of a 5 % prepare).
    global _ROLES
    if _ROLES is None:
        _ROLES = pl.Series(ROLES, dtype=pl.String).to_arrow().cast(pa.large_string())
    return _ROLES


def _row_reason(prompt: Any, prompt_id: Any, messages: Any, check_content: bool = True) -> str:
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
        if check_content and not isinstance(m.get("content"), str):
            return f"messages[{j}].content is not a string"
    return "malformed"  # pragma: no cover - the vectorised check and this one agree


def bad_mask(prompt: pa.Array | None, prompt_id: pa.Array | None, messages: pa.Array) -> np.ndarray:
    """A boolean numpy mask of the malformed rows of one batch (``prompt``/``prompt_id`` None: not checked)."""
    n = len(messages)
    bad = np.zeros(n, dtype=bool)
    if n == 0:
        return bad
    for col in (prompt, prompt_id, messages):
        if col is not None and col.null_count:
            bad |= _np(col.is_null())
    bad |= ~(_np(pc.list_value_length(messages)) > 0)  # a null length (null messages) is NaN here: bad too
    flat = messages.flatten()  # the elements of the (valid) lists, in order
    if len(flat):
        role = pc.struct_field(flat, "role")
        if role.type != pa.large_string():
            role = role.cast(pa.large_string())
        ok = pc.is_in(role, value_set=_roles())  # a null role is not in the set: false, not null
        if flat.type.get_field_index("content") >= 0:  # absent when only the role leaf was read
            content = pc.struct_field(flat, "content")
            if content.null_count:
                ok = pc.and_(ok, content.is_valid())
        if flat.null_count:
            ok = pc.and_(ok, flat.is_valid())
        if not pc.all(ok).as_py():
            parents = _np(pc.list_parent_indices(messages))
            bad[parents[~_np(ok)]] = True
    return bad


def _np(a: pa.Array) -> np.ndarray:
    # Through polars: pyarrow's to_numpy(zero_copy_only=False) and pa.scalar import pandas (0.3 s) on first use.
    return pl.from_arrow(a).to_numpy()  # type: ignore[union-attr]


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


# --------------------------------------------------------------------------- parquet: validate from metadata + the role leaf
def _leaf_index(pf: pq.ParquetFile, column: str, leaf: str | None = None) -> int | None:
    for i in range(len(pf.schema)):
        path = pf.schema.column(i).path
        if path == column if leaf is None else (path.startswith(column + ".") and path.endswith("." + leaf)):
            return i
    return None


def _null_count(rg: pq.RowGroupMetaData, index: int | None) -> int | None:
    if index is None:
        return None
    st = rg.column(index).statistics
    return st.null_count if st is not None and st.has_null_count else None


def parquet_problems(files: list[Path], limit: int | None = None, keep: np.ndarray | None = None) -> list[tuple[int, str]]:
    """The malformed rows of parquet files (global index in stored order, reason), without decoding the text.

    Per row group: the column statistics tell whether ``prompt``, ``prompt_id`` or a message ``content`` has a
    null (a null content is always counted in the leaf's null count); only the small ``role`` leaf is decoded to
    check the list structure and the roles. A row group whose statistics are missing or show nulls is decoded
    in full and checked row by row. Only rows below ``limit`` (head) or listed in ``keep`` (random) count.
    """
    out: list[tuple[int, str]] = []
    base = 0
    for path in files:
        pf = pq.ParquetFile(path)
        md = pf.metadata
        i_prompt, i_pid = _leaf_index(pf, "prompt"), _leaf_index(pf, "prompt_id")
        i_content, i_role = _leaf_index(pf, "messages", "content"), _leaf_index(pf, "messages", "role")
        role_path = pf.schema.column(i_role).path if i_role is not None else None
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            n = rg.num_rows
            if limit is not None and base >= limit:
                return out
            if keep is not None:
                lo, hi = np.searchsorted(keep, [base, base + n])
                if lo == hi:
                    base += n
                    continue
            nulls = [_null_count(rg, i) for i in (i_prompt, i_pid, i_content)]
            full = role_path is None or any(c is None or c > 0 for c in nulls)
            if full:
                t = pf.read_row_group(g, columns=list(COLUMNS))
                cols = [t.column(c).combine_chunks() for c in COLUMNS]
            else:
                t = pf.read_row_group(g, columns=[role_path])
                m = t.column("messages").combine_chunks()
                cols = [pa.nulls(0), pa.nulls(0), m]
            bad = _bad_rows(cols, full)
            for j in np.flatnonzero(bad):
                index = base + int(j)
                if (limit is not None and index >= limit) or (keep is not None and not _member(keep, index)):
                    continue
                row = [c[int(j)].as_py() for c in cols] if full else ["", "", cols[2][int(j)].as_py()]
                out.append((index, _row_reason(*row, check_content=full)))
            base += n
    return out


def _bad_rows(cols: list[pa.Array], full: bool) -> np.ndarray:
    if full:
        return bad_mask(*cols)
    return bad_mask(None, None, cols[2])


def _member(keep: np.ndarray, index: int) -> bool:
    k = int(np.searchsorted(keep, index))
    return k < len(keep) and int(keep[k]) == index
