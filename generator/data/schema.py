"""What a row of the dataset is: the three columns, the message roles, and the column types a source must have.

Polars only (no pyarrow, no numpy), so the common path of ``prepare`` starts without importing them; the row checks
that need pyarrow are in ``validate`` and run on a thread.
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
