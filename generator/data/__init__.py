"""The dataset step: ultrachat_200k (or a local copy) -> ``<split>.jsonl`` + ``manifest.json``.

Public API (``generator.data``):

- ``prepare(data, root, *, source=None, force=False, reporter=None) -> PrepareResult``: write the splits
  (see ``generator.data.preparation`` for sampling, validation, atomicity and the manifest)
- ``preview(env, root, *, split=None, rows=5) -> str`` and ``stats(env, root, *, splits=None) -> dict``
- ``sample_request(env, root, out=None) -> Path``, ``build_sample_request(env, root) -> dict``,
  ``sample_request_path(env, root) -> Path``
- ``data_assets(env, manifest) -> list[DataAsset]`` (pure) and ``load_manifest(env, root) -> dict | None``:
  the contract for spec rendering is in ``generator.data.assets``
- ``data_identity(manifest) -> str`` (pure) and ``check_prepared(output_dir, manifest, files=None, *, env=None)``:
  the prepared data's identity and the check that the files on disk match the manifest (``generator.data.manifest``)
- ``head_count(percent, num_rows) -> int``: rows of datasets' ``split[0%:percent%]``

The CLI is ``generator.data.cli.app`` (mounted as ``amlgen data``).
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy exports: `amlgen render --check` imports this package (for the CLI and the data-asset contract) and
# must stay fast, so pyarrow/polars load only when a data function is used.
_EXPORTS = {
    "DataAsset": "assets", "asset_name": "assets", "data_assets": "assets", "load_manifest": "assets",
    "format_stats": "explore", "preview": "explore", "stats": "explore",
    "MANIFEST": "manifest", "check_prepared": "manifest", "data_identity": "manifest", "read_manifest": "manifest",
    "PrepareResult": "preparation", "SplitResult": "preparation",
    "head_count": "preparation",
    "prepare": "preparation",
    "build_sample_request": "request", "sample_request": "request", "sample_request_path": "request",
    "SAMPLE": "source", "SAMPLE_DIR": "source",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
