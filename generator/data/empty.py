"""Splits that come out empty: which are errors, which are warnings, and their messages.

The training split (``data.train_split``) and the request split (``data.request_split``) must have rows: the
pipeline cannot fine-tune on nothing, and the sample request is built from a row of the request split (without one,
``amlgen up`` would fail at its very end, after fine-tuning and deploying). When one would be empty (the source has
none, the percentage rounds to 0 rows, or every selected row is malformed and excluded) ``prepare`` fails and
nothing is written; the first two are caught before anything is read.

An empty test or validation split, or an empty split that has no role, is written (an empty file) with a warning:
shown through the reporter, again on runs that find everything up to date, and kept in the manifest's ``warnings``.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError

ROLE_KEYS = ("train_split", "validation_split", "test_split", "request_split")


def _subject(data: Any, split: str) -> str:
    roles = [f"data.{key}" for key in ROLE_KEYS if getattr(data, key) == split]
    return f"split {split}" + (f" ({', '.join(roles)})" if roles else "")


def _required(data: Any, split: str) -> bool:
    return split in (data.train_split, data.request_split)


def _error(data: Any, split: str, reason: str) -> DataError:
    why = ""
    if split == data.request_split and split != data.train_split:
        why = " (the sample request needs a row: raise data.percent or choose another data.request_split)"
    return DataError(f"{_subject(data, split)} has no rows: {reason}; nothing was written{why}")


def _too_few(data: Any, source_rows: int) -> str:
    return "the source has none" if source_rows == 0 else f"{data.percent:g}% of {source_rows:,} rows rounds to 0"


def required_rows(data: Any, split: str, source_rows: int, selected: int) -> None:
    """Fail before anything is written when a required split will select no rows."""
    if selected == 0 and _required(data, split):
        raise _error(data, split, _too_few(data, source_rows))


def empty_split(data: Any, split: str, source_rows: int, selected: int, rows: int,
                examples: list[tuple[int, str]]) -> str | None:
    """The warning for a split that was written without rows (None when it has rows); raises for a required one."""
    if rows:
        return None
    if selected == 0:
        reason = _too_few(data, source_rows)
    else:
        reason = f"all {selected:,} selected rows are malformed and excluded"
        if examples:
            reason += f" (first: row {examples[0][0]}: {examples[0][1]})"
    if _required(data, split):
        raise _error(data, split, reason)
    role = next((r for r in ("test", "validation") if getattr(data, f"{r}_split") == split), None)
    return f"{_subject(data, split)} has no rows: {reason}" + (f"; the pipeline's {role} input is empty" if role else "")
