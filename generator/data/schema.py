"""What a row of the dataset is: the three columns, the message roles, and the column types a source must have.

Polars only (no pyarrow, no numpy), so the common path of ``prepare`` never imports them: ``valid_row`` is the row
check as a polars expression, applied in the same query that writes the rows. ``validate`` holds the same check
in pyarrow, which names each malformed row and its reason when there are any.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ..errors import DataError

COLUMNS = ("prompt", "prompt_id", "messages")
ROLES = ("user", "assistant", "system")


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


def valid_row() -> pl.Expr:
    """True for a valid row: ``prompt`` and ``prompt_id`` not null, ``messages`` a non-empty list of non-null
    ``{role, content}`` with ``role`` one of ``ROLES`` and ``content`` not null (``validate.bad_mask`` in pyarrow)."""
    message_ok = (
        pl.element().is_not_null()
        & pl.element().struct.field("role").is_in(list(ROLES)).fill_null(False)
        & pl.element().struct.field("content").is_not_null()
    )
    messages = pl.col("messages")
    return (
        pl.col("prompt").is_not_null()
        & pl.col("prompt_id").is_not_null()
        & (messages.list.len() > 0).fill_null(False)
        & messages.list.eval(message_ok).list.all().fill_null(False)
    )
